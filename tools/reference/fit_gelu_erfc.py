#!/usr/bin/env python3
"""Fits the polynomial GeluVector uses for erfc: erfc(z) = exp(-z^2) * R(t), t = 1 / (1 + P z), R a polynomial of
degree 8 in t, least squares in relative error on Chebyshev nodes of t for z in [0, 9.5] (beyond, exp(-z^2) underflows
float32). Prints P, the coefficients (constant term first) and the largest relative error of R evaluated in float32
as the Java code does. Needs only Python's math and numpy (Debian: python3-numpy).

    /usr/bin/python3 tools/reference/fit_gelu_erfc.py
"""
import math

import numpy as np

P = 0.425
DEGREE = 8
Z_MAX = 9.5


def exact(z):
    return math.erfc(z) * math.exp(z * z)


def fit(n=4000):
    t_min = 1 / (1 + P * Z_MAX)
    k = np.arange(n)
    t = (t_min + 1) / 2 + (1 - t_min) / 2 * np.cos(np.pi * (k + 0.5) / n)
    z = (1 / t - 1) / P
    r = np.array([exact(v) for v in z])
    a = np.vander(t, DEGREE + 1, increasing=True) / r[:, None]
    c, *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    return c


def float32_error(c):
    z = np.linspace(0, Z_MAX, 20001).astype(np.float32)
    t = (np.float32(1) / (np.float32(1) + np.float32(P) * z)).astype(np.float32)
    r = np.zeros_like(t)
    for ci in c.astype(np.float32)[::-1]:
        r = (r * t + ci).astype(np.float32)
    want = np.array([exact(float(v)) for v in z])
    return float(np.max(np.abs(r / want - 1)))


if __name__ == "__main__":
    c = fit()
    print("P =", P)
    for i, ci in enumerate(c):
        print(f"c{i} = {float(np.float32(ci))!r}f")
    print("max relative error of R in float32:", float32_error(c))
