#!/usr/bin/env python3
"""Writes the reference fixtures that prove mert-trainer's SameDiff MERT equal to torchaudio's.

The encoder is torchaudio's own wav2vec2/HuBERT implementation (torchaudio.models.wav2vec2_model,
Debian python3-torchaudio 0.13); the pre-training heads (final_proj chunked per label stream,
cosine logits against label_embs_concat / logit_temp, masked cross-entropy, feature penalty, CQT
head MSE) are written here with plain torch ops, following fairseq's HuBERT / MERT, and the
masked-frame logits are cross-checked against torchaudio's own HuBERT _compute_logits.
Everything that becomes an expected value is computed in float64 from float32-representable
weights and inputs, so the fixtures hold the exact answer rounded once.

Run by hand (not by CI), from the repository root:

    /usr/bin/python3 tools/reference/make_fixtures.py

It rewrites model/src/test/resources/reference/. See tools/reference/README.md.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torchaudio
from torchaudio.models import wav2vec2_model
from torchaudio.models.wav2vec2 import components

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "model", "src", "test", "resources", "reference")

SAMPLES = 4800
CLIPS = 2
CHANNELS = 16
CONV_LAYERS = [(CHANNELS, 10, 5)] + [(CHANNELS, 3, 2)] * 4 + [(CHANNELS, 2, 2)] * 2

CASES = {
    # HuBERT / MERT-95M style: group norm on the first conv, post-LN encoder, two label streams.
    "postln": dict(extractor_mode="default", layer_norm_first=False, feature_grad_mult=0.1,
                   label_classes=[12, 20], seed=101),
    # MERT-330M style: layer norm in every conv block, pre-LN encoder, one label stream.
    "preln": dict(extractor_mode="layer_norm", layer_norm_first=True, feature_grad_mult=1.0,
                  label_classes=[32], seed=202),
}
COMMON = dict(encoder_layers=2, encoder_embed_dim=64, encoder_ffn_embed_dim=128, encoder_attention_heads=4,
              conv_pos=16, conv_pos_groups=4, final_dim=16, logit_temp=0.1, cqt_bins=24, loss_weights=[10.0, 1.0])

# Gradients stored per case: a few tensors of every kind (whole tensors, kept small).
GRAD_NAMES = [
    "feature_extractor.conv_layers.0.conv.weight",
    "feature_extractor.conv_layers.0.layer_norm.weight",
    "feature_extractor.conv_layers.0.layer_norm.bias",
    "feature_extractor.conv_layers.6.conv.weight",
    "feature_projection.layer_norm.weight",
    "feature_projection.layer_norm.bias",
    "feature_projection.projection.weight",
    "feature_projection.projection.bias",
    "masked_spec_embed",
    "encoder.pos_conv_embed.conv.weight_g",
    "encoder.pos_conv_embed.conv.bias",
    "encoder.layer_norm.weight",
    "encoder.layer_norm.bias",
    "encoder.layers.0.attention.q_proj.bias",
    "encoder.layers.0.attention.v_proj.bias",
    "encoder.layers.0.attention.out_proj.bias",
    "encoder.layers.0.layer_norm.weight",
    "encoder.layers.1.feed_forward.intermediate_dense.bias",
    "encoder.layers.1.feed_forward.output_dense.bias",
    "encoder.layers.1.final_layer_norm.weight",
    "encoder.layers.1.final_layer_norm.bias",
    "final_proj.weight",
    "final_proj.bias",
    "label_embs_concat",
    "encoder_cqt_model.fc.weight",
    "encoder_cqt_model.fc.bias",
]
LAYER_NORM_MODE_GRADS = ["feature_extractor.conv_layers.3.layer_norm.bias"]
# Stored as a leading slice along dim 0 (the first conv group) to keep the fixtures small.
GRAD_SLICES = {"encoder.pos_conv_embed.conv.weight_v": 16}


# ----------------------------------------------------------------------------- file formats

def write_safetensors(path, tensors, metadata=None):
    """The safetensors layout, written by hand: u64 LE header size, JSON header, raw F32 LE data."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        a = np.ascontiguousarray(np.asarray(array, dtype="<f4"))
        data = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- names

def hf_name(torchaudio_name):
    """torchaudio state-dict key -> HuggingFace Wav2Vec2/Hubert key.

    Inverse of torchaudio.models.wav2vec2.utils.import_huggingface_model, which loads HF's
    feature_extractor, feature_projection and encoder state dicts into torchaudio's
    feature_extractor, encoder.feature_projection and encoder.transformer unchanged.
    """
    for ta, hf in (("feature_extractor.", "feature_extractor."),
                   ("encoder.feature_projection.", "feature_projection."),
                   ("encoder.transformer.", "encoder.")):
        if torchaudio_name.startswith(ta):
            return hf + torchaudio_name[len(ta):]
    raise ValueError("no HF name for torchaudio parameter " + torchaudio_name)


# ----------------------------------------------------------------------------- model

class Heads(torch.nn.Module):
    """MERT's pre-training parameters outside the encoder, under MERT's fairseq names."""

    def __init__(self, embed, final_dim, label_classes, cqt_bins):
        super().__init__()
        self.masked_spec_embed = torch.nn.Parameter(torch.empty(embed).uniform_())
        self.final_proj = torch.nn.Linear(embed, final_dim * len(label_classes))
        self.label_embs_concat = torch.nn.Parameter(torch.empty(sum(label_classes), final_dim).uniform_())
        self.encoder_cqt_model = torch.nn.Module()
        self.encoder_cqt_model.fc = torch.nn.Linear(embed, cqt_bins)


def build(case):
    cfg = dict(COMMON, **case)
    torch.manual_seed(case["seed"])
    model = wav2vec2_model(
        extractor_mode="group_norm" if cfg["extractor_mode"] == "default" else "layer_norm",
        extractor_conv_layer_config=CONV_LAYERS,
        extractor_conv_bias=False,
        encoder_embed_dim=cfg["encoder_embed_dim"],
        encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=cfg["conv_pos"],
        encoder_pos_conv_groups=cfg["conv_pos_groups"],
        encoder_num_layers=cfg["encoder_layers"],
        encoder_num_heads=cfg["encoder_attention_heads"],
        encoder_attention_dropout=0.0,
        encoder_ff_interm_features=cfg["encoder_ffn_embed_dim"],
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0,
        encoder_layer_norm_first=cfg["layer_norm_first"],
        encoder_layer_drop=0.0,
        aux_num_out=None,
    )
    heads = Heads(cfg["encoder_embed_dim"], cfg["final_dim"], cfg["label_classes"], cfg["cqt_bins"])
    with torch.no_grad():
        # fairseq's ConvFeatureExtractionModel init (kaiming normal, fan-in): torchaudio's default
        # conv init shrinks the signal through the unnormalised blocks to ~1e-4, which is unlike any
        # real model and would leave the feature penalty with no weight in the loss.
        for block in model.feature_extractor.conv_layers:
            torch.nn.init.kaiming_normal_(block.conv.weight)
        # Norm gains/biases and weight_g away from their defaults (1, 0, |v|), so a swapped or
        # ignored parameter cannot go unnoticed.
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.2 * torch.randn_like(p))
            if name.endswith("weight_g"):
                p.mul_(1.0 + 0.3 * torch.rand_like(p))
    model.eval()
    return cfg, model, heads


def params_hf(model, heads):
    out = {}
    for name, p in model.named_parameters():
        out[hf_name(name)] = p
    for name, p in heads.named_parameters():
        out[name] = p
    return out


def inputs(cfg, frames, rng):
    t = np.arange(SAMPLES) / 24000.0
    # clip 0 at the level of real music, clip 1 very quiet: there the first conv block's norm sees
    # a variance below its eps (1e-5), so a wrong eps cannot hide.
    level = [1.0, 0.005]
    wave = np.stack([level[b] * (0.3 * np.sin(2 * np.pi * (220.0 + 110.0 * b) * t) + 0.05 * rng.uniform(-1, 1, SAMPLES))
                     for b in range(CLIPS)]).astype(np.float32)
    mask = np.zeros((CLIPS, frames), dtype=bool)
    for b in range(CLIPS):  # spans of 5 from random starts, roughly half the frames
        for s in rng.choice(frames - 4, size=2, replace=False):
            mask[b, s:s + 5] = True
    labels = [rng.integers(0, k, size=(CLIPS, frames)) for k in cfg["label_classes"]]
    cqt = rng.uniform(0, 1, size=(CLIPS, frames, cfg["cqt_bins"])).astype(np.float32)
    return wave, mask, labels, cqt


def hidden_states(model, wave, layer_norm_first):
    """HF output_hidden_states semantics, built from torchaudio's modules.

    [0] is the encoder input after pos-conv (post-LN: plus the encoder layer norm), then every
    layer's output; with pre-LN the last entry carries the final layer norm, as HF's
    Wav2Vec2EncoderStableLayerNorm reports it.
    """
    feats, _ = model.feature_extractor(wave, None)
    x, _ = model.encoder._preprocess(feats, None)
    tr = model.encoder.transformer
    x = tr._preprocess(x)  # pos conv; torchaudio's transformer flag is the negation of layer_norm_first
    states = [x]
    for layer in tr.layers:
        x = layer(x, None)
        states.append(x)
    if layer_norm_first:
        states[-1] = tr.layer_norm(x)
    # torchaudio's own end-to-end forward must give the last state.
    full, _ = model(wave)
    assert torch.allclose(full, states[-1], rtol=0, atol=1e-12), "composed hidden states disagree with model()"
    return states


def pretraining_loss(cfg, model, heads, wave, mask, labels, cqt):
    """fairseq HuBERT criterion on MERT's outputs, as mert-trainer's StepStats defines it."""
    feats, _ = model.feature_extractor(wave, None)
    if cfg["feature_grad_mult"] != 1.0:
        feats = components.GradMultiply.apply(feats, cfg["feature_grad_mult"])
    penalty = feats.pow(2).mean()
    x, _ = model.encoder._preprocess(feats, None)
    x = x.clone()
    x[mask] = heads.masked_spec_embed.to(x.dtype)  # as torchaudio's MaskGenerator / fairseq apply_mask
    x = model.encoder.transformer(x)
    xm = x[mask]
    n = xm.shape[0]
    proj = heads.final_proj(xm).chunk(len(cfg["label_classes"]), dim=-1)
    embs = heads.label_embs_concat.split(cfg["label_classes"], 0)
    ce, correct = [], []
    for s, k in enumerate(cfg["label_classes"]):
        target = labels[s][mask]
        cos = torch.nn.functional.cosine_similarity(proj[s].unsqueeze(1), embs[s].unsqueeze(0), dim=-1)
        logits = cos / cfg["logit_temp"]
        ce_s = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
        # torchaudio's HuBERT logits (positive first, then every class with the positive's duplicate
        # at -inf; target index 0) must give the same cross-entropy.
        assert cfg["logit_temp"] == 0.1, "torchaudio's _compute_logits hard-codes logit_temp 0.1"
        ta_logits = components._compute_logits(proj[s], target, embs[s])
        ta_ce = torch.nn.functional.cross_entropy(ta_logits.double(), torch.zeros(n, dtype=torch.long), reduction="sum")
        assert abs(ta_ce.item() - ce_s.item()) <= 1e-5 * abs(ce_s.item()), (ta_ce.item(), ce_s.item())
        ce.append(ce_s)
        correct.append(int((logits.argmax(dim=1) == target).sum()))
    cqt_pred = heads.encoder_cqt_model.fc(xm)
    mse = torch.nn.functional.mse_loss(cqt_pred, cqt[mask])
    w = cfg["loss_weights"]
    loss = sum(ce) + w[0] * penalty * n + w[1] * mse * n
    return loss, ce, correct, penalty, mse, n


def make_case(name, case):
    cfg, model, heads = build(case)
    named = params_hf(model, heads)
    frames = None
    rng = np.random.default_rng(case["seed"])
    with torch.no_grad():
        frames = model.feature_extractor(torch.zeros(1, SAMPLES), None)[0].shape[1]
    wave, mask, labels, cqt = inputs(cfg, frames, rng)

    model.double()
    heads.double()
    wave_t = torch.from_numpy(wave).double()
    with torch.no_grad():
        states = hidden_states(model, wave_t, cfg["layer_norm_first"])
    loss, ce, correct, penalty, mse, n = pretraining_loss(
        cfg, model, heads, wave_t, torch.from_numpy(mask), [torch.from_numpy(l) for l in labels],
        torch.from_numpy(cqt).double())
    model.zero_grad()
    heads.zero_grad()
    loss.backward()

    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    meta = {"torch": torch.__version__, "torchaudio": torchaudio.__version__, "case": name}
    write_safetensors(os.path.join(d, "model.safetensors"),
                      {k: p.detach().float().numpy() for k, p in named.items()}, meta)
    tensors = {"waveform": wave, "mask": mask.astype(np.float32), "cqt": cqt}
    for s, l in enumerate(labels):
        tensors["labels_%d" % s] = l.astype(np.float32)
    write_safetensors(os.path.join(d, "inputs.safetensors"), tensors, meta)
    expected = {}
    for i, h in enumerate(states):
        expected["hidden_%d" % i] = h.numpy()
    grad_names = GRAD_NAMES + (LAYER_NORM_MODE_GRADS if cfg["extractor_mode"] == "layer_norm" else [])
    for g in grad_names:
        expected["grad." + g] = named[g].grad.numpy()
    for g, rows in GRAD_SLICES.items():
        expected["grad." + g] = named[g].grad[:rows].numpy()
        grad_names.append(g)
    write_safetensors(os.path.join(d, "expected.safetensors"), expected, meta)
    write_json(os.path.join(d, "case.json"), {
        "config": {
            "conv_feature_layers": [list(c) for c in CONV_LAYERS],
            "extractor_mode": cfg["extractor_mode"],
            "encoder_layers": cfg["encoder_layers"],
            "encoder_embed_dim": cfg["encoder_embed_dim"],
            "encoder_ffn_embed_dim": cfg["encoder_ffn_embed_dim"],
            "encoder_attention_heads": cfg["encoder_attention_heads"],
            "layer_norm_first": cfg["layer_norm_first"],
            "conv_pos": cfg["conv_pos"],
            "conv_pos_groups": cfg["conv_pos_groups"],
            "final_dim": cfg["final_dim"],
            "logit_temp": cfg["logit_temp"],
            "feature_grad_mult": cfg["feature_grad_mult"],
            "label_classes": cfg["label_classes"],
            "cqt_bins": cfg["cqt_bins"],
            "loss_weights": cfg["loss_weights"],
        },
        "clips": CLIPS,
        "samples": SAMPLES,
        "frames": frames,
        "expected": {
            "loss": loss.item(),
            "cross_entropy_sum": [c.item() for c in ce],
            "correct": correct,
            "feature_penalty": penalty.item(),
            "cqt_mse": mse.item(),
            "masked_frames": n,
        },
        "gradients": grad_names,
        "generator": {"torch": torch.__version__, "torchaudio": torchaudio.__version__,
                      "script": "tools/reference/make_fixtures.py"},
    })
    print("%s: frames %d, masked %d, loss %.10g" % (name, frames, n, loss.item()))


# ----------------------------------------------------------------------------- optimizer

def polynomial_decay_lr(num_updates, peak, warmup, total, end, power):
    """fairseq's PolynomialDecayLRSchedule.step_update(num_updates)."""
    if warmup > 0 and num_updates <= warmup:
        return num_updates / float(warmup) * peak
    if num_updates >= total:
        return end
    pct_remaining = 1 - (num_updates - warmup) / (total - warmup)
    return (peak - end) * pct_remaining ** power + end


def make_adam():
    """10 updates of fairseq's Adam (decoupled weight decay) in float32 torch ops, fed fixed gradients."""
    torch.manual_seed(303)
    size = 256
    beta1, beta2, eps, wd = 0.9, 0.98, 1e-6, 0.01
    sched = dict(peak=0.05, warmup=3, total=12, end=0.001, power=2.0)
    p = torch.randn(size, dtype=torch.float32)
    # gradients of varied scale, some tiny, so eps matters for a few entries
    scales = torch.exp(torch.empty(size).uniform_(math.log(1e-7), math.log(1.0)))
    grads = torch.randn(10, size) * scales
    exp_avg = torch.zeros(size)
    exp_avg_sq = torch.zeros(size)
    p0 = p.clone()
    params, lrs = [], []
    for step in range(1, 11):
        lr = polynomial_decay_lr(step - 1, **sched)
        g = grads[step - 1]
        # torch.optim-style in-place ops, as fairseq.optim.adam.Adam.step does them
        exp_avg.mul_(beta1).add_(g, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        denom = exp_avg_sq.sqrt().add_(eps)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr * math.sqrt(bias_correction2) / bias_correction1
        if wd != 0:
            p.add_(p, alpha=-wd * lr)
        p.addcdiv_(exp_avg, denom, value=-step_size)
        params.append(p.clone())
        lrs.append(lr)
    d = os.path.join(OUT, "adam")
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "adam.safetensors"), {
        "params_0": p0.numpy(), "grads": grads.numpy(), "params": torch.stack(params).numpy(),
        "exp_avg": exp_avg.numpy(), "exp_avg_sq": exp_avg_sq.numpy()})
    write_json(os.path.join(d, "adam.json"), {
        "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": wd, "schedule": sched, "lrs": lrs,
        "generator": {"torch": torch.__version__, "script": "tools/reference/make_fixtures.py"}})
    print("adam: lrs", lrs)


def main():
    torch.set_num_threads(1)
    for name, case in CASES.items():
        make_case(name, case)
    make_adam()
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("fixtures: %d bytes under %s" % (total, os.path.normpath(OUT)))


if __name__ == "__main__":
    sys.exit(main())
