#!/usr/bin/python3
"""Fixture for MiniBatchKMeansSklearnReferenceTest (module data).

Run with Debian's python3-torch, python3-torchaudio and python3-sklearn:

    /usr/bin/python3 tools/reference/make_minibatch_kmeans_fixture.py

Features: HuBERT's MFCC teacher features (fairseq examples/hubert/simple_kmeans/dump_mfcc_feature.py:
torchaudio.compliance.kaldi.mfcc(use_energy=False) + first and second deltas, 39-dim, 100 Hz) of 20 s of
synthetic music made here with a fixed seed (a melody of harmonic notes with decaying envelopes over a
bass line and some noise), 16 kHz. Written to data/src/test/resources/kmeans/minibatch/:

  features.npy  float32 [frames, 39]
  result.json   inertia of sklearn KMeans (k-means++, n_init=10, Lloyd) and of sklearn MiniBatchKMeans
                with HuBERT's learn_kmeans.py settings (tol=0, max_no_improvement=100,
                reassignment_ratio=0, init_size=None) at the batch size and n_init recorded there,
                both on all frames: KMeans for 5 seeds (best kept as kmeans_inertia), MiniBatchKMeans for 40
                seeds (mean, std, min, max; inertia of the fitted centres over all frames).
"""
import json
import os

import numpy as np
import sklearn
import torch
import torchaudio
from sklearn.cluster import KMeans, MiniBatchKMeans

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "data", "src", "test", "resources", "kmeans", "minibatch")
SR = 16000
K = 20
BATCH = 256
N_INIT = 3
MAX_ITER = 100
SEEDS = list(range(5))  # KMeans (each with n_init=10)
MB_SEEDS = list(range(40))  # MiniBatchKMeans: its spread over seeds is several percent


def music(seconds, rng):
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    note_len = 0.25
    scale = [0, 2, 4, 5, 7, 9, 11, 12]
    for i in range(int(seconds / note_len)):
        start = int(i * note_len * SR)
        n = int(note_len * SR)
        seg = t[:n]
        f0 = 220.0 * 2 ** (scale[rng.integers(len(scale))] / 12 + rng.integers(0, 2))
        env = np.exp(-seg * rng.uniform(3, 12))
        tone = sum((0.6 / h) * np.sin(2 * np.pi * f0 * h * seg + rng.uniform(0, 2 * np.pi)) for h in range(1, 6))
        y[start:start + n] += env * tone
    bass = 0.3 * np.sin(2 * np.pi * 55.0 * 2 ** (np.floor(t / 2) % 4 / 12) * t)
    y += bass + 0.02 * rng.standard_normal(len(t))
    return (y / np.max(np.abs(y)) * 0.8).astype(np.float32)


def mfcc39(wav):
    x = torch.from_numpy(wav).view(1, -1)
    with torch.no_grad():
        m = torchaudio.compliance.kaldi.mfcc(waveform=x, sample_frequency=SR, use_energy=False)  # (time, 13)
        m = m.transpose(0, 1)
        d1 = torchaudio.functional.compute_deltas(m)
        d2 = torchaudio.functional.compute_deltas(d1)
        return torch.cat([m, d1, d2], dim=0).transpose(0, 1).contiguous().numpy().astype(np.float32)


def main():
    rng = np.random.default_rng(20261201)
    feats = mfcc39(music(20.0, rng))
    x = feats.astype(np.float64)
    km = {s: float(KMeans(n_clusters=K, init="k-means++", n_init=10, algorithm="lloyd", random_state=s).fit(x).inertia_)
          for s in SEEDS}
    mb = {}
    for s in MB_SEEDS:
        m = MiniBatchKMeans(n_clusters=K, init="k-means++", max_iter=MAX_ITER, batch_size=BATCH, tol=0.0,
                            max_no_improvement=100, n_init=N_INIT, reassignment_ratio=0.0, compute_labels=False,
                            init_size=None, random_state=s).fit(x)
        mb[s] = float(((x[:, None, :] - m.cluster_centers_[None, :, :]) ** 2).sum(-1).min(1).sum())
    mbv = np.array(list(mb.values()))
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "features.npy"), feats)
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump({"sklearn": sklearn.__version__, "frames": int(feats.shape[0]), "dim": int(feats.shape[1]),
                   "k": K, "batch_size": BATCH, "n_init": N_INIT, "max_iter": MAX_ITER,
                   "kmeans_inertia": min(km.values()), "kmeans_inertia_by_seed": km,
                   "minibatch_inertia_by_seed": mb,
                   "minibatch_inertia_mean": float(mbv.mean()), "minibatch_inertia_std": float(mbv.std()),
                   "minibatch_inertia_min": float(mbv.min()), "minibatch_inertia_max": float(mbv.max())}, f, indent=1)
    print(json.dumps(json.load(open(os.path.join(OUT, "result.json"))), indent=1))


if __name__ == "__main__":
    main()
