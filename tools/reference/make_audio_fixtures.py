#!/usr/bin/env python3
"""Writes the reference fixtures for mert-trainer's audio decoders, resampler and k-means.

Run by hand (not by CI), from the repository root:

    /usr/bin/python3 tools/reference/make_audio_fixtures.py

Needs Debian's sox (+ libsox-fmt-mp3), flac, vorbis-tools, lame, python3-numpy, python3-soundfile and
python3-sklearn. It rewrites data/src/test/resources/audio/ and data/src/test/resources/kmeans/;
the Java tests (AudioDecoderReferenceTest, ResamplerSoxReferenceTest, KMeansSklearnReferenceTest)
only read the committed files. See tools/reference/README.md.

Codecs: each signal is rendered once as 16-bit PCM ("source"), encoded with the reference encoder
and decoded again with the reference decoder ("reference PCM"):
  FLAC   flac -8 / flac -d   (lossless: the script asserts the decode equals the source bit for bit)
  Vorbis oggenc -q 5 / oggdec
  MP3    lame -b 192 / sox   (LAME writes a Xing/LAME tag with the encoder delay and padding)
Resampling: sox rate -v (very high quality) to 24 kHz from 16, 22.05 and 44.1 kHz, written as float.
k-means: sklearn.cluster.KMeans(init=<explicit centroids>, n_init=1, algorithm="lloyd", tol=0).
"""
import json
import os
import subprocess
import sys

import numpy as np
import soundfile as sf

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
AUDIO = os.path.join(ROOT, "data", "src", "test", "resources", "audio")
KMEANS = os.path.join(ROOT, "data", "src", "test", "resources", "kmeans")


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def chord(rate, seconds, channels, seed):
    """A decaying A-major chord, then 0.1 s of silence and 0.15 s of quiet noise (exercises the
    constant and verbatim paths of a FLAC encoder). Channel c is detuned so channels differ."""
    rng = np.random.default_rng(seed)
    n = int(round(rate * seconds))
    tail = int(round(rate * 0.25))
    t = np.arange(n - tail) / rate
    out = np.zeros((n, channels))
    for c in range(channels):
        x = np.zeros_like(t)
        for k, f in enumerate([220.0, 277.18, 329.63, 440.0]):
            f = f * (1 + 0.003 * c)
            x += 0.18 / (k + 1) ** 0.5 * np.sin(2 * np.pi * f * t + c + k) * np.exp(-1.2 * t)
        x *= np.minimum(1, t / 0.01)  # 10 ms fade-in, no click
        out[: n - tail, c] = x
        silence = int(round(rate * 0.1))
        out[n - tail + silence:, c] = 0.02 * rng.standard_normal(tail - silence)
    return out


def write_pcm16(path, x, rate):
    sf.write(path, x, rate, subtype="PCM_16")


def codecs():
    cases = [
        # name, rate, seconds, channels, flac bits (chord44s uses FIXED + MID_SIDE, chord22m LPC)
        ("chord44s", 44100, 1.0, 2, 16),
        ("chord22m", 22050, 1.5, 1, 16),
    ]
    for name, rate, seconds, channels, _ in cases:
        src = os.path.join(AUDIO, name + ".src.tmp.wav")
        write_pcm16(src, chord(rate, seconds, channels, seed=rate), rate)
        flac = os.path.join(AUDIO, name + ".flac")
        run("flac", "-8", "-f", "--silent", "-o", flac, src)
        ref = os.path.join(AUDIO, name + ".wav")  # flac -d output == source: the one lossless reference
        run("flac", "-d", "-f", "--silent", "-o", ref, flac)
        a, _ = sf.read(src, dtype="int16")
        b, _ = sf.read(ref, dtype="int16")
        assert np.array_equal(a, b), "flac round trip is not lossless?"
        ogg = os.path.join(AUDIO, name + ".ogg")
        run("oggenc", "-Q", "-q", "5", "--serial", "2306", "-o", ogg, src)  # fixed serial: reproducible bytes
        run("oggdec", "-Q", "-b", "16", "-o", os.path.join(AUDIO, name + ".ogg.wav"), ogg)
        mp3 = os.path.join(AUDIO, name + ".mp3")
        run("lame", "--quiet", "-b", "192", src, mp3)
        run("sox", mp3, "-b", "16", os.path.join(AUDIO, name + ".mp3.sox.wav"))
        os.remove(src)
    # A 24-bit FLAC (another bit depth and the wasted-bits path: the low byte of this one is zero for
    # half of it), 0.5 s mono at 22.05 kHz.
    rate = 22050
    x = chord(rate, 0.5, 1, seed=7)[:, 0]
    q = np.round(x * 2 ** 23).astype(np.int64)
    q[: len(q) // 2] &= ~0xFF
    src = os.path.join(AUDIO, "chord24bit.src.tmp.wav")
    sf.write(src, (q.astype(np.int32) << 8), rate, subtype="PCM_24")
    flac = os.path.join(AUDIO, "chord24bit.flac")
    run("flac", "-8", "-f", "--silent", "-o", flac, src)
    run("flac", "-d", "-f", "--silent", "-o", os.path.join(AUDIO, "chord24bit.wav"), flac)
    os.remove(src)
    # Coding paths the chord does not reach (checked with `flac -a`): 0.3 s stereo at 22.05 kHz, 576-sample
    # blocks, exhaustive model search. A tone with a silent right channel (CONSTANT subframes), full-scale
    # white noise (VERBATIM), then two nearly equal channels (LEFT_SIDE / MID_SIDE decorrelation).
    rng = np.random.default_rng(5)
    n = rate * 3 // 10
    t = np.arange(n) / rate
    x = np.zeros((n, 2))
    a = n // 3
    x[:a, 0] = 0.5 * np.sin(2 * np.pi * 330 * t[:a])
    x[a:2 * a, :] = rng.uniform(-0.99, 0.99, (a, 2))
    noise = 0.5 * rng.uniform(-1, 1, n - 2 * a)
    x[2 * a:, 0] = noise
    x[2 * a:, 1] = noise + 0.01 * np.sin(2 * np.pi * 1000 * t[2 * a:])
    src = os.path.join(AUDIO, "edge22s.src.tmp.wav")
    write_pcm16(src, x, rate)
    flac = os.path.join(AUDIO, "edge22s.flac")
    run("flac", "-8", "-e", "-p", "-b", "576", "-f", "--silent", "-o", flac, src)
    run("flac", "-d", "-f", "--silent", "-o", os.path.join(AUDIO, "edge22s.wav"), flac)
    os.remove(src)


def resampling():
    """1 s mono at 16, 22.05 and 44.1 kHz: a chord plus a linear chirp up to 45% of the input rate
    (so part of it lies above the 12 kHz output Nyquist frequency and must be filtered out)."""
    for rate in (16000, 22050, 44100):
        n = rate
        t = np.arange(n) / rate
        f1 = 0.45 * rate
        x = 0.3 * chord(rate, 1.0, 1, seed=rate + 1)[:, 0]
        x += 0.25 * np.sin(2 * np.pi * (50 * t + (f1 - 50) * t ** 2 / 2))
        src = os.path.join(AUDIO, "resample_%d.wav" % rate)
        write_pcm16(src, x, rate)
        run("sox", "-D", src, "-e", "floating-point", "-b", "32",
            os.path.join(AUDIO, "resample_%d_to_24000.sox.wav" % rate), "rate", "-v", "24000")


def kmeans():
    from sklearn.cluster import KMeans
    rng = np.random.default_rng(2306)
    k, dim, per = 6, 5, 50
    centres = rng.normal(0, 3.0, (k, dim))
    data = np.concatenate([c + rng.normal(0, 1.3, (per, dim)) for c in centres]).astype(np.float32)
    rng.shuffle(data)
    # A poor start (6 points of the first 40 rows) so Lloyd needs several iterations.
    init = data[rng.choice(40, k, replace=False)].copy()
    km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", tol=0.0, max_iter=300)
    km.fit(data.astype(np.float64))  # float64 like our accumulation
    os.makedirs(KMEANS, exist_ok=True)
    np.save(os.path.join(KMEANS, "data.npy"), data)
    np.save(os.path.join(KMEANS, "init.npy"), init)
    np.save(os.path.join(KMEANS, "centroids.npy"), km.cluster_centers_)
    np.save(os.path.join(KMEANS, "labels.npy"), km.labels_.astype(np.float32))  # float: our Npy reader reads floats
    with open(os.path.join(KMEANS, "result.json"), "w") as f:
        json.dump({"inertia": float(km.inertia_), "n_iter": int(km.n_iter_),
                   "sklearn": __import__("sklearn").__version__}, f, indent=1)
    print("k-means: n_iter %d, inertia %.6f" % (km.n_iter_, km.inertia_))


def main():
    os.makedirs(AUDIO, exist_ok=True)
    codecs()
    resampling()
    kmeans()
    total = 0
    for d in (AUDIO, KMEANS):
        for f in sorted(os.listdir(d)):
            size = os.path.getsize(os.path.join(d, f))
            total += size
            print("%8d  %s" % (size, os.path.join(os.path.basename(d), f)))
    print("%8d  total bytes" % total)
    if total > 1_500_000:
        sys.exit("fixtures exceed 1.5 MB")


if __name__ == "__main__":
    main()
