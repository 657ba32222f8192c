#!/usr/bin/env python3
"""Peer benchmark for `mert bench step`: one MERT training step in PyTorch on the CPU.

The encoder is torchaudio's wav2vec2/HuBERT (the implementation our TorchReferenceTest proves our
SameDiff graph equal to); MERT's pre-training heads and loss are plain torch ops, as in
tools/reference/make_fixtures.py. The benchmark writes, into DIR:

    spec.json           architecture, threads, seconds, warmup
    model.safetensors   the same initial weights as the Java side, under HuggingFace key names
    wave.npy [B,T] f4, mask.npy [B,F] u1, labels.npy [S,B,F] i4, cqt.npy [B,F,bins] f4

and runs `torch_step.py DIR`. Each step is forward + backward + torch.optim.AdamW (fairseq's
betas/eps/weight decay). Output, one JSON line on stdout:

    {"step_ms": [...], "peak_rss_bytes": N, "loss0": x, "threads": n, "torch": "2.x"}

Run by the benchmark, not by hand; Debian's python3-torch and python3-torchaudio are enough.
"""
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
from torchaudio.models import wav2vec2_model


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} is {info['dtype']}, expected F32")
        b, e = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype="<f4").reshape(info["shape"]).copy())
    return out


def torchaudio_name(hf):
    """HuggingFace key -> torchaudio key (torchaudio's import_huggingface_model mapping, inverted)."""
    for hf_prefix, ta_prefix in (("feature_extractor.", "feature_extractor."),
                                 ("feature_projection.", "encoder.feature_projection."),
                                 ("encoder.", "encoder.transformer.")):
        if hf.startswith(hf_prefix):
            return ta_prefix + hf[len(hf_prefix):]
    return None


class Heads(torch.nn.Module):
    def __init__(self, embed, final_dim, label_classes, cqt_bins):
        super().__init__()
        self.masked_spec_embed = torch.nn.Parameter(torch.zeros(embed))
        self.final_proj = torch.nn.Linear(embed, final_dim * len(label_classes))
        self.label_embs_concat = torch.nn.Parameter(torch.zeros(sum(label_classes), final_dim))
        self.encoder_cqt_model = torch.nn.Module()
        self.encoder_cqt_model.fc = torch.nn.Linear(embed, cqt_bins)


class GradMultiply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.new(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def build(spec):
    model = wav2vec2_model(
        extractor_mode="group_norm" if spec["extractor_mode"] == "default" else "layer_norm",
        extractor_conv_layer_config=[tuple(c) for c in spec["conv_layers"]],
        extractor_conv_bias=False,
        encoder_embed_dim=spec["encoder_embed_dim"],
        encoder_projection_dropout=spec["dropout_input"],
        encoder_pos_conv_kernel=spec["conv_pos"],
        encoder_pos_conv_groups=spec["conv_pos_groups"],
        encoder_num_layers=spec["encoder_layers"],
        encoder_num_heads=spec["encoder_attention_heads"],
        encoder_attention_dropout=spec["attention_dropout"],
        encoder_ff_interm_features=spec["encoder_ffn_embed_dim"],
        encoder_ff_interm_dropout=spec["activation_dropout"],
        encoder_dropout=spec["dropout"],
        encoder_layer_norm_first=spec["layer_norm_first"],
        encoder_layer_drop=spec["encoder_layerdrop"],
        aux_num_out=None,
    )
    heads = Heads(spec["encoder_embed_dim"], spec["final_dim"], spec["label_classes"], spec["cqt_bins"])
    return model, heads


def load_weights(model, heads, weights):
    ta = dict(model.named_parameters())
    hd = dict(heads.named_parameters())
    used = set()
    with torch.no_grad():
        for hf, value in weights.items():
            name = torchaudio_name(hf)
            target = ta.get(name) if name is not None else None
            if target is None:
                target = hd.get(hf)
            if target is None:
                raise SystemExit(f"weight {hf} has no place in the torch model")
            if tuple(target.shape) != tuple(value.shape):
                raise SystemExit(f"weight {hf}: shape {tuple(value.shape)}, torch wants {tuple(target.shape)}")
            target.copy_(value)
            used.add(id(target))
    missing = [n for n, p in list(ta.items()) + list(hd.items()) if id(p) not in used]
    if missing:
        raise SystemExit("torch parameters without a weight: " + ", ".join(missing))


def loss_of(spec, model, heads, wave, mask, labels, cqt):
    feats, _ = model.feature_extractor(wave, None)
    if spec["feature_grad_mult"] != 1.0:
        feats = GradMultiply.apply(feats, spec["feature_grad_mult"])
    penalty = feats.float().pow(2).mean()
    x, _ = model.encoder._preprocess(feats, None)
    x = torch.where(mask.unsqueeze(-1), heads.masked_spec_embed.to(x.dtype), x)
    x = model.encoder.transformer(x)
    xm = x[mask]
    n = xm.shape[0]
    classes = spec["label_classes"]
    proj = heads.final_proj(xm).chunk(len(classes), dim=-1)
    embs = heads.label_embs_concat.split(classes, 0)
    loss = 0.0
    for s in range(len(classes)):
        cos = torch.nn.functional.cosine_similarity(proj[s].unsqueeze(1), embs[s].unsqueeze(0), dim=-1)
        loss = loss + torch.nn.functional.cross_entropy(cos / spec["logit_temp"], labels[s][mask], reduction="sum")
    mse = torch.nn.functional.mse_loss(heads.encoder_cqt_model.fc(xm), cqt[mask])
    w = spec["loss_weights"]
    return loss + w[0] * penalty * n + w[1] * mse * n


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: torch_step.py DIR")
    d = sys.argv[1]
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    model, heads = build(spec)
    load_weights(model, heads, read_safetensors(os.path.join(d, "model.safetensors")))
    model.train()
    wave = torch.from_numpy(np.load(os.path.join(d, "wave.npy")))
    mask = torch.from_numpy(np.load(os.path.join(d, "mask.npy")).astype(bool))
    labels = [torch.from_numpy(a.astype(np.int64)) for a in np.load(os.path.join(d, "labels.npy"))]
    cqt = torch.from_numpy(np.load(os.path.join(d, "cqt.npy")))
    params = list(model.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=spec["lr"], betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_of(spec, model, heads, wave, mask, labels, cqt)
        loss.backward()
        opt.step()
        return loss.item()

    loss0 = None
    for _ in range(spec["warmup"]):
        v = step()
        loss0 = v if loss0 is None else loss0
    times = []
    deadline = time.perf_counter() + spec["seconds"]
    while len(times) < spec["min_steps"] or (time.perf_counter() < deadline and len(times) < spec["max_steps"]):
        t0 = time.perf_counter()
        v = step()
        times.append((time.perf_counter() - t0) * 1000.0)
        loss0 = v if loss0 is None else loss0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    print(json.dumps({"step_ms": times, "peak_rss_bytes": rss, "loss0": loss0, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
