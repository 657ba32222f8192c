#!/usr/bin/env python3
"""Writes the HuggingFace interop fixtures of mert-trainer (model/src/test/resources/reference/hf/).

1. layouts.json: for MERT-v1-95M and MERT-v1-330M, torchaudio's wav2vec2_model built with the
   hyperparameters of MERT's published HF configs (scripts/hf_config/mert_base.json and
   mert_large.json of github.com/yizhilll/MERT, architecture keys transcribed below), its parameter
   count, and every parameter under its HuggingFace name and shape (torchaudio -> HF names are the
   inverse of torchaudio.models.wav2vec2.utils.import_huggingface_model). HF's MERTModel holds one
   tensor torchaudio's encoder does not: masked_spec_embed [hidden_size] (created because
   mask_time_prob > 0 in both configs); it is added under its own entry, not folded into the count.
2. postln/: the torchaudio-made model of reference/postln/model.safetensors (written by
   make_fixtures.py) as a HuggingFace model directory: config.json + pytorch_model.bin (torch.save of
   the HF-named state dict, weight norm as weight_g / weight_v, without MERT's pre-training heads).
   preln/: only config.json (the test builds model.safetensors from reference/preln/).
3. pickle/: torch.save of a small state dict with float32 / float16 / bfloat16 / float64 tensors,
   a transposed (strided) view and two views sharing one storage, plus the same tensors widened to
   float32 in a safetensors file; and hostile pickles the Java unpickler must refuse.

Run by hand after make_fixtures.py, from the repository root:

    /usr/bin/python3 tools/reference/make_hf_fixtures.py
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import torch
import torchaudio
from torchaudio.models import wav2vec2_model

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_fixtures import hf_name, write_json, write_safetensors  # noqa: E402

REF = os.path.join(HERE, "..", "..", "model", "src", "test", "resources", "reference")
OUT = os.path.join(REF, "hf")

CONV = dict(conv_dim=[512] * 7, conv_kernel=[10, 3, 3, 3, 3, 2, 2], conv_stride=[5, 2, 2, 2, 2, 2, 2])
# Architecture keys of MERT's scripts/hf_config/*.json (the dropout-type knobs do not change the layout).
HF_CONFIGS = {
    "MERT-95M": dict(CONV, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                     feat_extract_norm="group", do_stable_layer_norm=False, conv_bias=False,
                     num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, feat_proj_layer_norm=True,
                     hidden_act="gelu", feat_extract_activation="gelu", layer_norm_eps=1e-5, sample_rate=24000),
    "MERT-330M": dict(CONV, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                      feat_extract_norm="group", do_stable_layer_norm=True, conv_bias=False,
                      num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
                      hidden_act="gelu", feat_extract_activation="gelu", layer_norm_eps=1e-5, sample_rate=24000,
                      attention_relax=32.0),
}


def torchaudio_model(hf):
    return wav2vec2_model(
        extractor_mode="group_norm" if hf["feat_extract_norm"] == "group" else "layer_norm",
        extractor_conv_layer_config=list(zip(hf["conv_dim"], hf["conv_kernel"], hf["conv_stride"])),
        extractor_conv_bias=hf["conv_bias"],
        encoder_embed_dim=hf["hidden_size"],
        encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=hf["num_conv_pos_embeddings"],
        encoder_pos_conv_groups=hf["num_conv_pos_embedding_groups"],
        encoder_num_layers=hf["num_hidden_layers"],
        encoder_num_heads=hf["num_attention_heads"],
        encoder_attention_dropout=0.0,
        encoder_ff_interm_features=hf["intermediate_size"],
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0,
        encoder_layer_norm_first=hf["do_stable_layer_norm"],
        encoder_layer_drop=0.0,
        aux_num_out=None,
    )


def make_layouts():
    out = {}
    for preset, hf in HF_CONFIGS.items():
        model = torchaudio_model(hf)
        tensors = [[hf_name(n), list(p.shape)] for n, p in model.named_parameters()]
        count = sum(p.numel() for p in model.parameters())
        out[preset] = {
            "hf_config": hf,
            "torchaudio_parameters": count,
            "torchaudio_tensors": tensors,
            "hf_only_tensors": [["masked_spec_embed", [hf["hidden_size"]]]],
        }
        print("%s: torchaudio wav2vec2_model has %d parameters in %d tensors" % (preset, count, len(tensors)))
        del model
    out["generator"] = {"torch": torch.__version__, "torchaudio": torchaudio.__version__,
                        "script": "tools/reference/make_hf_fixtures.py"}
    write_json(os.path.join(OUT, "layouts.json"), out)


# ----------------------------------------------------------------------------- HF model directories

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = collections.OrderedDict()
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        assert t["dtype"] == "F32"
        out[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype="<f4").reshape(t["shape"]).copy())
    return out


HEADS = ("final_proj.", "label_embs_concat", "encoder_cqt_model.")


def hf_config_for(case):
    c = json.load(open(os.path.join(REF, case, "case.json")))["config"]
    layers = c["conv_feature_layers"]
    return {
        "model_type": "mert_model",
        "architectures": ["MERTModel"],
        "hidden_size": c["encoder_embed_dim"],
        "num_hidden_layers": c["encoder_layers"],
        "num_attention_heads": c["encoder_attention_heads"],
        "intermediate_size": c["encoder_ffn_embed_dim"],
        "conv_dim": [l[0] for l in layers],
        "conv_kernel": [l[1] for l in layers],
        "conv_stride": [l[2] for l in layers],
        "num_feat_extract_layers": len(layers),
        "conv_bias": False,
        "feat_extract_norm": "group" if c["extractor_mode"] == "default" else "layer",
        "feat_extract_activation": "gelu",
        "hidden_act": "gelu",
        "do_stable_layer_norm": c["layer_norm_first"],
        "num_conv_pos_embeddings": c["conv_pos"],
        "num_conv_pos_embedding_groups": c["conv_pos_groups"],
        "feat_proj_layer_norm": True,
        "layer_norm_eps": 1e-5,
        "sample_rate": 24000,
        "hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0,
        "layerdrop": 0.0, "mask_time_prob": 0.05,
    }


def make_hf_dirs():
    for case in ("postln", "preln"):
        d = os.path.join(OUT, case)
        os.makedirs(d, exist_ok=True)
        write_json(os.path.join(d, "config.json"), hf_config_for(case))
    state = collections.OrderedDict(
        (k, v) for k, v in read_safetensors(os.path.join(REF, "postln", "model.safetensors")).items()
        if not k.startswith(HEADS))
    # A real HF state dict carries _metadata (module versions); keep it so the BUILD opcode is exercised.
    state._metadata = collections.OrderedDict([("", {"version": 1})])
    torch.save(state, os.path.join(OUT, "postln", "pytorch_model.bin"))
    print("postln: %d tensors in pytorch_model.bin" % len(state))


# ----------------------------------------------------------------------------- pickles

class Evil:
    """Pickles as a call of an arbitrary callable; pickling it does not run anything."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def torch_zip(path, pickled):
    """A torch.save-style zip holding the given data.pkl bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickled)
        z.writestr("archive/version", "3\n")


def make_pickles():
    d = os.path.join(OUT, "pickle")
    os.makedirs(d, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    base = torch.randn(6, 5, generator=g)
    shared = torch.randn(40, generator=g)
    state = collections.OrderedDict([
        ("f32", torch.randn(3, 4, generator=g)),
        ("f16", torch.randn(2, 3, 2, generator=g).half()),
        ("bf16", torch.randn(7, generator=g).bfloat16()),
        ("f64", torch.randn(2, 2, generator=g).double()),
        ("transposed", base.t()),            # strides (1, 5)
        ("shared_a", shared[3:13].view(2, 5)),  # storage offset 3
        ("shared_b", shared[20:40:4]),       # offset 20, stride 4
        ("scalar", torch.tensor(2.5)),
        ("empty", torch.zeros(0, 3)),
    ])
    torch.save(state, os.path.join(d, "state.bin"))
    write_safetensors(os.path.join(d, "state.safetensors"), {k: v.float().numpy() for k, v in state.items()})

    import os as os_module
    import builtins
    hostile = {
        "os_system": Evil(os_module.system, ("echo pwned",)),
        "builtins_eval": Evil(builtins.eval, ("1+1",)),
        # an allow-listed module but a callable outside the list
        "torch_load": Evil(torch.load, ("/etc/passwd",)),
    }
    for name, obj in hostile.items():
        raw = pickle.dumps(collections.OrderedDict([("w", obj)]), protocol=2)
        with open(os.path.join(d, "hostile_%s.pkl" % name), "wb") as f:
            f.write(raw)
        torch_zip(os.path.join(d, "hostile_%s.bin" % name), raw)
    # REDUCE applied to an allow-listed storage type (a class, not a function we allow to be called)
    raw = pickle.dumps(collections.OrderedDict([("w", Evil(torch.FloatStorage, (10,)))]), protocol=2)
    with open(os.path.join(d, "hostile_storage_call.pkl"), "wb") as f:
        f.write(raw)


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    make_layouts()
    make_hf_dirs()
    make_pickles()
    total = 0
    for root, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print("hf fixtures: %d bytes under %s" % (total, os.path.normpath(OUT)))


if __name__ == "__main__":
    sys.exit(main())
