#!/usr/bin/env python3
"""The peer of `mert prepare-labels --teacher encodec`'s speed: Meta's encodec package (the code MERT
labels with), full-size 24 kHz model with random weights (speed does not depend on them), bandwidth
6.0, encoding SECONDS of audio on THREADS torch threads, on the CPU. Prints seconds of audio per second.

    /usr/bin/python3 tools/bench/encodec_torch_speed.py /tmp/encodec-ref 30 1

The first argument is a directory holding the fetched `encodec` package (see
tools/reference/make_encodec_fixtures.py); einops is shimmed when missing.
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from make_encodec_fixtures import shim_einops  # noqa: E402


def main():
    src, seconds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, os.path.abspath(src))
    shim_einops()
    from encodec import EncodecModel
    torch.set_num_threads(threads)
    model = EncodecModel.encodec_model_24khz(pretrained=False)
    for layer in model.quantizer.vq.layers:
        layer._codebook.embed.normal_()
        layer._codebook.inited.fill_(1.0)
    model.set_target_bandwidth(6.0)
    x = 0.1 * torch.randn(1, 1, seconds * 24000)
    with torch.no_grad():
        model.encode(x[..., :24000])  # warm-up
        for _ in range(3):
            t0 = time.perf_counter()
            codes = model.encode(x)[0][0]
            dt = time.perf_counter() - t0
            print("torch encodec: %d s of audio in %.2f s = %.2f s of audio per second (%d thread(s), load %.1f, codes %s)"
                  % (seconds, dt, seconds / dt, threads, os.getloadavg()[0], tuple(codes.shape)))


if __name__ == "__main__":
    main()
