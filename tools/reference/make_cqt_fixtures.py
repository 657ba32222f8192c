#!/usr/bin/env python3
"""Writes the fixtures that CqtNnAudioReferenceTest compares our CQT (io.mert.model.features.Cqt) against:
nnAudio's own CQT, built with exactly the arguments MERT passes (mert_fairseq/models/mert/mert_model.py,
class model_cqt_pred, and mert_fairseq/data/mert_dataset.py):

    nnAudioFeatures.cqt.CQT(sr=24000, hop_length=24000 // 75, fmin=32.7, fmax=None, n_bins=336,
                            bins_per_octave=336 // 7, filter_scale=1, norm=1, window='hann', center=True,
                            pad_mode='constant', trainable=False, output_format='Magnitude')

and called as MERT calls it (spec_layer(x) on a float32 [batch, samples] tensor, default
normalization_type 'librosa'); MERT then only transposes to [batch, frames, bins]: no log, no scaling.

Run by hand (never by CI), from the repository root, with nnAudio's source tree (not installed, not
committed; e.g. the Installation/ directory of github.com/KinWaiCheuk/nnAudio):

    /usr/bin/python3 tools/reference/make_cqt_fixtures.py /tmp/nnaudio [--music FILE --music-start SECONDS]

Needs Debian's python3-torch, python3-scipy, python3-numpy, and sox (to cut and resample the music).
Writes model/src/test/resources/reference/cqt/:
  NAME_wave.npy   float32 [samples] at 24 kHz, the input
  NAME_cqt.npy    float32 [frames, bins], nnAudio's output for it (frames = 1 + samples // 320)
  NAME_cqt64.npy  the same nnAudio module cast to float64 (.double()), rounded to float32 when saved: nnAudio's
                  transform without its float32 round-off
  cases.json      the nnAudio arguments, its version/commit, the sources and nnAudio's own float32 error
                  (against the same module run in float64)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "model", "src", "test", "resources", "reference", "cqt")

SR = 24000
LABEL_RATE = 75
N_BINS = 336
ARGS = dict(sr=SR, hop_length=SR // LABEL_RATE, fmin=32.7, fmax=None, n_bins=N_BINS, bins_per_octave=N_BINS // 7,
            filter_scale=1, norm=1, window="hann", center=True, pad_mode="constant", trainable=False,
            output_format="Magnitude", verbose=False)


def sweep(seconds, seed):
    """Exponential sine sweep from 30 Hz to 11 kHz (covers every CQT bin: 32.7 Hz .. 8.0 kHz), a little noise."""
    n = int(SR * seconds)
    t = np.arange(n) / SR
    f0, f1 = 30.0, 11000.0
    k = np.log(f1 / f0) / seconds
    phase = 2 * np.pi * f0 * (np.exp(k * t) - 1) / k
    rng = np.random.default_rng(seed)
    x = 0.5 * np.sin(phase) + 0.01 * rng.standard_normal(n)
    return x.astype(np.float32)


def music(path, start, seconds):
    """Cut [start, start + seconds) of an audio file, downmixed to mono at 24 kHz by sox (rate -v)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "cut.wav")
        subprocess.run(["sox", path, "-r", str(SR), "-c", "1", "-b", "16", wav, "trim", str(start), str(seconds),
                        "rate", "-v", str(SR)], check=True)
        with wave.open(wav, "rb") as w:
            assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0)


def save(name, x, layer, layer64, torch, report):
    with torch.no_grad():
        y = layer(torch.from_numpy(x)[None, :])[0].numpy().T  # MERT: transpose to [frames, bins]
        y64 = layer64(torch.from_numpy(x.astype(np.float64))[None, :])[0].numpy().T
    assert y.dtype == np.float32 and y.shape == (1 + len(x) // ARGS["hop_length"], N_BINS), y.shape
    np.save(os.path.join(OUT, name + "_wave.npy"), x.astype("<f4"))
    np.save(os.path.join(OUT, name + "_cqt.npy"), np.ascontiguousarray(y).astype("<f4"))
    np.save(os.path.join(OUT, name + "_cqt64.npy"), np.ascontiguousarray(y64).astype("<f4"))
    err = np.abs(y.astype(np.float64) - y64)
    floor = 1e-2 * y64.max(axis=1, keepdims=True)
    sel = y64 >= floor
    report[name] = dict(samples=int(len(x)), frames=int(y.shape[0]), max=float(y64.max()),
                        float32_max_abs_error_over_max=float(err.max() / y64.max()),
                        float32_max_rel_error_above_1pct_of_frame_max=float((err[sel] / y64[sel]).max()))
    print(name, report[name])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nnaudio", help="directory holding nnAudio's python package (the one containing nnAudio/)")
    ap.add_argument("--music", help="a music file sox can read")
    ap.add_argument("--music-start", type=float, default=30.0)
    ap.add_argument("--music-source", default="", help="what the music is and its licence, for cases.json")
    ap.add_argument("--seconds", type=float, default=1.5)
    a = ap.parse_args()

    sys.path.insert(0, os.path.abspath(a.nnaudio))
    import torch
    import nnAudio
    from nnAudio import features as nnAudioFeatures
    torch.set_num_threads(2)

    os.makedirs(OUT, exist_ok=True)
    layer = nnAudioFeatures.cqt.CQT(**ARGS)
    layer64 = nnAudioFeatures.cqt.CQT(**ARGS).double()
    assert type(layer).__mro__[1].__name__ == "CQT1992v2", type(layer).__mro__
    report = {}
    save("sweep", sweep(1.5, 3), layer, layer64, torch, report)
    if a.music:
        save("music", music(a.music, a.music_start, a.seconds), layer, layer64, torch, report)
    args = {k: v for k, v in ARGS.items() if k != "verbose"}
    meta = dict(nnaudio_version=nnAudio.__version__, torch_version=torch.__version__, nnaudio_arguments=args,
                kernel_width=int(layer.kernel_width), music_source=a.music_source,
                music_start_seconds=a.music_start if a.music else None, cases=report)
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
