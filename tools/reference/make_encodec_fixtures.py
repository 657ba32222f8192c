#!/usr/bin/env python3
"""Writes the EnCodec teacher fixtures of mert-trainer (model/src/test/resources/reference/encodec/).

The reference is Meta's own `encodec` package (github.com/facebookresearch/encodec, MIT), the code
MERT's scripts/prepare_codecs_from_manifest.py labels with: EncodecModel.encodec_model_24khz(),
set_target_bandwidth(6.0), model.encode(wav) -> codes [1, 8, frames]. Its source is NOT part of this
repository: fetch it, unpack its `encodec/` package anywhere outside the repository and pass the
directory that holds it:

    git --git-dir=<mirror of facebookresearch/encodec> archive HEAD encodec | tar x -C /tmp/encodec-ref
    /usr/bin/python3 tools/reference/make_encodec_fixtures.py /tmp/encodec-ref     # ~10 s

Debian's python3-torch and python3-numpy are enough: the `einops` calls the package makes are the five
patterns shimmed below when einops is not installed.

Files written:
- layout_24khz.json: every tensor of the full-size 24 kHz model (encodec_model_24khz(pretrained=False),
  32 codebooks), under the key names of HuggingFace's facebook/encodec_24khz model.safetensors
  (transformers' convert_encodec_checkpoint_to_pytorch.py mapping, transcribed in HF_MAPPING), with
  shapes. No weights: the Java test checks its loader expects exactly these encoder/quantizer keys.
- model.safetensors: a reduced-width model built by the same package classes (SEANetEncoder /
  SEANetDecoder with n_filters=4, dimension=16; ResidualVectorQuantizer with 9 codebooks of 1024
  codes) with seeded random weights, renamed to the HF keys, stored as F16 (the reference below is
  computed from the F16-rounded weights, so widening them back to F32 in Java is exact).
  Codebooks: the package would k-means them on the first training batch; instead every stage gets
  1024 distinct encoder frames (residuals of the earlier stages, plus jitter) of a 20 s seeded
  signal, so the test audio's frames have many close competitors, and `inited` is set. The decoder and
  the codebooks' `embed_avg` (training-only EMA sums) are left out of this file to keep it small.
- cases.safetensors: per case `<case>.wave` (the 24 kHz input, rounded to F16 and stored so), `<case>.emb` (encoder output
  [dimension, frames], before quantisation) and `<case>.codes` ([8, frames], as floats), from
  model.encode at bandwidth 6.0 in float32.
- case.json: the reduced architecture and the cases.

Cases: `music` (3 s, odd length: the three 1 s chord+chirp clips data/src/test/resources/audio/
resample_*_to_24000.sox.wav, sox-resampled, joined), `sweep` (1.5 s exponential sine sweep 20 Hz ->
11 kHz plus quiet noise), `short` (250 samples: one frame, exercises the zero-extended reflect
padding of the deep layers).
"""
import json
import math
import os
import struct
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
AUDIO = os.path.join(ROOT, "data", "src", "test", "resources", "audio")
OUT = os.path.join(ROOT, "model", "src", "test", "resources", "reference", "encodec")

N_FILTERS = 4
DIMENSION = 16
N_Q = 9            # bandwidths [1.5, 3, 6, 6.75] kbps -> 9 codebooks in the file, 8 used at 6 kbps
BINS = 1024
BANDWIDTH = 6.0
SEED = 2306

# transformers/models/encodec/convert_encodec_checkpoint_to_pytorch.py, MAPPING_24K (original -> HF).
# `*` is the codebook index; the weight suffix (weight_g, weight_v, bias, weight_ih_l0, ...) is kept.
HF_MAPPING = {
    "quantizer.vq.layers.*._codebook.inited": "quantizer.layers.*.codebook.inited",
    "quantizer.vq.layers.*._codebook.cluster_size": "quantizer.layers.*.codebook.cluster_size",
    "quantizer.vq.layers.*._codebook.embed": "quantizer.layers.*.codebook.embed",
    "quantizer.vq.layers.*._codebook.embed_avg": "quantizer.layers.*.codebook.embed_avg",
    "encoder.model.0.conv.conv": "encoder.layers.0.conv",
    "encoder.model.1.block.1.conv.conv": "encoder.layers.1.block.1.conv",
    "encoder.model.1.block.3.conv.conv": "encoder.layers.1.block.3.conv",
    "encoder.model.1.shortcut.conv.conv": "encoder.layers.1.shortcut.conv",
    "encoder.model.3.conv.conv": "encoder.layers.3.conv",
    "encoder.model.4.block.1.conv.conv": "encoder.layers.4.block.1.conv",
    "encoder.model.4.block.3.conv.conv": "encoder.layers.4.block.3.conv",
    "encoder.model.4.shortcut.conv.conv": "encoder.layers.4.shortcut.conv",
    "encoder.model.6.conv.conv": "encoder.layers.6.conv",
    "encoder.model.7.block.1.conv.conv": "encoder.layers.7.block.1.conv",
    "encoder.model.7.block.3.conv.conv": "encoder.layers.7.block.3.conv",
    "encoder.model.7.shortcut.conv.conv": "encoder.layers.7.shortcut.conv",
    "encoder.model.9.conv.conv": "encoder.layers.9.conv",
    "encoder.model.10.block.1.conv.conv": "encoder.layers.10.block.1.conv",
    "encoder.model.10.block.3.conv.conv": "encoder.layers.10.block.3.conv",
    "encoder.model.10.shortcut.conv.conv": "encoder.layers.10.shortcut.conv",
    "encoder.model.12.conv.conv": "encoder.layers.12.conv",
    "encoder.model.13.lstm": "encoder.layers.13.lstm",
    "encoder.model.15.conv.conv": "encoder.layers.15.conv",
    "decoder.model.0.conv.conv": "decoder.layers.0.conv",
    "decoder.model.1.lstm": "decoder.layers.1.lstm",
    "decoder.model.3.convtr.convtr": "decoder.layers.3.conv",
    "decoder.model.4.block.1.conv.conv": "decoder.layers.4.block.1.conv",
    "decoder.model.4.block.3.conv.conv": "decoder.layers.4.block.3.conv",
    "decoder.model.4.shortcut.conv.conv": "decoder.layers.4.shortcut.conv",
    "decoder.model.6.convtr.convtr": "decoder.layers.6.conv",
    "decoder.model.7.block.1.conv.conv": "decoder.layers.7.block.1.conv",
    "decoder.model.7.block.3.conv.conv": "decoder.layers.7.block.3.conv",
    "decoder.model.7.shortcut.conv.conv": "decoder.layers.7.shortcut.conv",
    "decoder.model.9.convtr.convtr": "decoder.layers.9.conv",
    "decoder.model.10.block.1.conv.conv": "decoder.layers.10.block.1.conv",
    "decoder.model.10.block.3.conv.conv": "decoder.layers.10.block.3.conv",
    "decoder.model.10.shortcut.conv.conv": "decoder.layers.10.shortcut.conv",
    "decoder.model.12.convtr.convtr": "decoder.layers.12.conv",
    "decoder.model.13.block.1.conv.conv": "decoder.layers.13.block.1.conv",
    "decoder.model.13.block.3.conv.conv": "decoder.layers.13.block.3.conv",
    "decoder.model.13.shortcut.conv.conv": "decoder.layers.13.shortcut.conv",
    "decoder.model.15.conv.conv": "decoder.layers.15.conv",
}


def hf_name(name):
    """Original state-dict name -> HF name (the table above; every name must match exactly one entry)."""
    hits = []
    for src, dst in HF_MAPPING.items():
        if "*" in src:
            prefix, suffix = src.split(".*.")
            parts = name.split(".")
            if name.startswith(prefix + ".") and len(parts) == len(src.split(".")) and \
                    ".".join(parts[len(prefix.split(".")) + 1:]) == suffix:
                hits.append(dst.replace("*", parts[len(prefix.split("."))]))
        elif name.startswith(src + "."):
            hits.append(dst + name[len(src):])
    if len(hits) != 1:
        raise ValueError("%s maps to %s" % (name, hits))
    return hits[0]


def shim_einops():
    """The einops patterns encodec uses, for systems without einops (only when it is missing)."""
    try:
        import einops  # noqa: F401
        return
    except ImportError:
        pass

    def rearrange(x, pattern):
        if pattern == "... d -> (...) d":
            return x.reshape(-1, x.shape[-1])
        if pattern == "n d -> n () d":
            return x[:, None, :]
        if pattern == "c d -> () c d":
            return x[None, :, :]
        if pattern in ("b d n -> b n d", "b n d -> b d n"):
            return x.permute(0, 2, 1)
        raise NotImplementedError(pattern)

    def repeat(x, pattern, **sizes):
        if pattern == "n -> n d":
            return x[:, None].expand(x.shape[0], sizes["d"])
        raise NotImplementedError(pattern)

    mod = types.ModuleType("einops")
    mod.rearrange = rearrange
    mod.repeat = repeat
    sys.modules["einops"] = mod


def read_wav_float(path):
    """A RIFF/WAVE file's samples as float32 (IEEE float 32-bit or PCM 16-bit, mono), and its rate."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", path
    pos, fmt, rate, samples = 12, None, None, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", body[:8])
            bits = struct.unpack("<H", body[14:16])[0]
            if fmt == 0xFFFE:
                fmt = struct.unpack("<H", body[24:26])[0]
            assert channels == 1, path
        elif cid == b"data":
            if fmt == 3 and bits == 32:
                samples = np.frombuffer(body, dtype="<f4").astype(np.float32)
            elif fmt == 1 and bits == 16:
                samples = np.frombuffer(body, dtype="<i2").astype(np.float32) / 32768.0
            else:
                raise ValueError("%s: format %s bits %s" % (path, fmt, bits))
        pos += 8 + size + (size & 1)
    return samples, rate


def write_safetensors(path, tensors):
    """safetensors by hand: u64 LE header size, JSON header, raw LE data; tensors: name -> ("F16"|"F32", array)."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, array) in tensors.items():
        a = np.ascontiguousarray(np.asarray(array, dtype={"F16": "<f2", "F32": "<f4"}[dtype]))
        data = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(path + ".tmp", path)


def write_json(path, obj):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)


def full_layout(EncodecModel):
    model = EncodecModel.encodec_model_24khz(pretrained=False)
    tensors = {hf_name(k): list(v.shape) for k, v in model.state_dict().items()}
    return {"source": "encodec.EncodecModel.encodec_model_24khz(pretrained=False), keys renamed as "
                      "transformers' convert_encodec_checkpoint_to_pytorch.py does (MAPPING_24K)",
            "n_q": model.quantizer.n_q, "bins": model.quantizer.bins, "dimension": model.quantizer.dimension,
            "frame_rate": model.frame_rate, "sample_rate": model.sample_rate,
            "codebooks_at_6kbps": model.quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, BANDWIDTH),
            "tensors": tensors}


def small_model(encodec):
    m = encodec.modules
    qt = encodec.quantization
    encoder = m.SEANetEncoder(channels=1, dimension=DIMENSION, n_filters=N_FILTERS, norm="weight_norm", causal=True)
    decoder = m.SEANetDecoder(channels=1, dimension=DIMENSION, n_filters=N_FILTERS, norm="weight_norm", causal=True)
    quantizer = qt.ResidualVectorQuantizer(dimension=DIMENSION, n_q=N_Q, bins=BINS)
    bandwidths = [1.5, 3.0, 6.0, 6.75]
    model = encodec.EncodecModel(encoder, decoder, quantizer, bandwidths, 24000, 1, normalize=False, segment=None,
                                 name="reduced")
    assert quantizer.get_num_quantizers_for_bandwidth(model.frame_rate, bandwidths[-1]) == N_Q
    # Weights away from torch's defaults (weight_g starts at ||v||, biases at small values): perturb g and b.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(0.5 + torch.rand_like(p))
            elif "bias" in name:
                p.copy_(0.1 * torch.randn_like(p))
    return model


def round_to_f16(model):
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            t.copy_(t.half().float())


def init_codebooks(model, signal, rng):
    """Each stage: 1024 distinct frames of the stage's residual on `signal`, plus jitter; then the next residual."""
    with torch.no_grad():
        emb = model.encoder(torch.from_numpy(signal)[None, None])            # [1, D, T]
        residual = emb[0].t().contiguous()                                  # [T, D]
        assert residual.shape[0] >= BINS, residual.shape
        for layer in model.quantizer.vq.layers:
            book = layer._codebook
            pick = torch.from_numpy(rng.choice(residual.shape[0], BINS, replace=False))
            jitter = 0.05 * residual.std() * torch.from_numpy(rng.standard_normal((BINS, DIMENSION)).astype(np.float32))
            book.embed.copy_(residual[pick] + jitter)
            book.embed_avg.copy_(book.embed)
            book.cluster_size.fill_(1.0)
            book.inited.fill_(1.0)
            d = torch.cdist(residual.double(), book.embed.double())
            residual = residual - book.embed[d.argmin(dim=1)]


def test_signals(rng):
    music = np.concatenate([read_wav_float(os.path.join(AUDIO, "resample_%d_to_24000.sox.wav" % r))[0]
                            for r in (16000, 22050, 44100)])
    music = music[:3 * 24000 - 123].astype(np.float32)
    t = np.arange(int(1.5 * 24000) + 17) / 24000.0
    f0, f1, dur = 20.0, 11000.0, t[-1]
    k = math.log(f1 / f0)
    sweep = 0.6 * np.sin(2 * np.pi * f0 * dur / k * (np.exp(t / dur * k) - 1)) + 0.01 * rng.standard_normal(t.size)
    short = 0.3 * rng.standard_normal(250)
    return {"music": music, "sweep": sweep.astype(np.float32), "short": short.astype(np.float32)}


def init_signal(rng):
    """20 s of seeded chords, clicks and noise at 24 kHz (more than 1024 frames, no two alike)."""
    sr, n = 24000, 20 * 24000
    t = np.arange(n) / sr
    x = 0.02 * rng.standard_normal(n)
    for start in range(0, n, sr // 2):
        f = 55.0 * 2 ** (rng.integers(0, 48) / 12.0)
        seg = slice(start, min(n, start + sr))
        env = np.exp(-3.0 * (t[seg] - t[start]))
        for h in (1, 1.25, 1.5):
            x[seg] += rng.uniform(0.05, 0.3) * env * np.sin(2 * np.pi * f * h * t[seg])
    return x.astype(np.float32)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_encodec_fixtures.py <directory holding the encodec package>")
    sys.path.insert(0, os.path.abspath(sys.argv[1]))
    shim_einops()
    import encodec
    from encodec import EncodecModel

    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    write_json(os.path.join(OUT, "layout_24khz.json"), full_layout(EncodecModel))

    model = small_model(encodec)
    round_to_f16(model)
    init_codebooks(model, init_signal(rng), rng)
    round_to_f16(model)
    model.eval()
    model.set_target_bandwidth(BANDWIDTH)
    # The decoder and the codebooks' EMA sums (embed_avg) are left out to keep the fixture small: the
    # encoder never reads them (the full-size key list in layout_24khz.json has them).
    state = {hf_name(k): v.numpy() for k, v in model.state_dict().items()
             if not k.startswith("decoder.") and not k.endswith("embed_avg")}
    write_safetensors(os.path.join(OUT, "model.safetensors"), {k: ("F16", v) for k, v in state.items()})

    cases, summary = {}, {}
    for name, wave in test_signals(rng).items():
        wave = wave.astype(np.float16).astype(np.float32)   # stored as F16, exactly
        x = torch.from_numpy(wave)[None, None]
        with torch.no_grad():
            frames = model.encode(x)
            emb = model.encoder(x)[0]
        assert len(frames) == 1 and frames[0][1] is None   # one segment, no normalisation (24 kHz model)
        codes = frames[0][0][0]
        assert codes.shape[0] == 8 and codes.shape[1] == emb.shape[1] == math.ceil(wave.size / 320), codes.shape
        cases[name + ".wave"] = ("F16", wave)
        cases[name + ".emb"] = ("F32", emb.numpy())
        cases[name + ".codes"] = ("F32", codes.numpy().astype(np.float32))
        summary[name] = {"samples": int(wave.size), "frames": int(codes.shape[1]),
                         "distinct_codes_per_codebook": [int(len(set(c.tolist()))) for c in codes]}
    write_safetensors(os.path.join(OUT, "cases.safetensors"), cases)
    write_json(os.path.join(OUT, "case.json"), {
        "n_filters": N_FILTERS, "dimension": DIMENSION, "n_q_in_file": N_Q, "bins": BINS, "bandwidth": BANDWIDTH,
        "codebooks": 8, "ratios": [8, 5, 4, 2], "causal": True, "pad_mode": "reflect", "seed": SEED,
        "torch": torch.__version__, "cases": summary})
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
