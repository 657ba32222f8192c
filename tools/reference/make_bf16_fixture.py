#!/usr/bin/env python3
"""Writes protocol/src/test/resources/reference/bf16.txt: float32 bit patterns and the bfloat16 bits
PyTorch rounds them to (tensor.to(torch.bfloat16), round to nearest even, NaN -> 0x7fc0).
BFloat16Test (module protocol) compares io.mert.protocol.frame.BFloat16 with every line.
Run from the repository root: /usr/bin/python3 tools/reference/make_bf16_fixture.py
"""
import os
import random
import struct

import torch

OUT = "protocol/src/test/resources/reference/bf16.txt"

special = [
    0x00000000, 0x80000000,              # +-0
    0x7F800000, 0xFF800000,              # +-inf
    0x7FC00000, 0xFFC00000, 0x7F800001,  # quiet NaNs, a signalling NaN with the lowest payload bit
    0x7FFFFFFF, 0xFFFFFFFF, 0x7F80FFFF,  # NaNs whose rounding would carry into the sign or make them inf
    0x7F7FFFFF, 0xFF7FFFFF,              # +-max float: rounds up to inf
    0x7F7F7FFF, 0x7F7F8000,              # just below / at the tie to the largest bfloat16 vs inf
    0x00000001, 0x80000001, 0x007FFFFF,  # subnormals
    0x00008000, 0x00018000, 0x00807FFF,  # subnormal ties (to even: down, up), below a tie
    0x3F800000, 0x3F808000, 0x3F818000,  # 1.0, the tie 1+2^-8 (to even: down), 1+3*2^-8 (tie, up)
    0x3F808001, 0x3F807FFF, 0xBF808000,  # just above/below a tie, a negative tie
    0x3F7FFFFF, 0x477FFFFF,              # carries into the exponent
]

rnd = random.Random(20240517)
patterns = list(special)
for _ in range(2000):
    patterns.append(rnd.getrandbits(32))              # any bits: every exponent, NaNs included
for _ in range(2000):                                 # ordinary magnitudes, and exact ties
    x = struct.unpack("<I", struct.pack("<f", rnd.gauss(0, 1) * 10 ** rnd.randint(-6, 6)))[0]
    patterns.append(x if rnd.random() < 0.8 else (x & 0xFFFF0000) | 0x8000)

ints = torch.tensor([p - (1 << 32) if p >= 1 << 31 else p for p in patterns], dtype=torch.int32)
bf = ints.view(torch.float32).to(torch.bfloat16).view(torch.int16)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    f.write("# float32 bits -> bfloat16 bits from torch %s tensor.to(torch.bfloat16); tools/reference/make_bf16_fixture.py\n"
            % torch.__version__)
    for p, b in zip(patterns, bf.tolist()):
        f.write("%08x %04x\n" % (p, b & 0xFFFF))
print("wrote", len(patterns), "lines to", OUT)
