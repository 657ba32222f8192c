#!/usr/bin/env python3
"""Writes model/src/test/resources/reference/loss_scaler.txt: what fairseq's own DynamicLossScaler
(fairseq/optim/dynamic_loss_scaler.py) does with sequences of updates that do or do not overflow.
DynamicLossScalerTest replays each sequence on io.mert.model.optim.DynamicLossScaler and compares every state.

fairseq is not committed here: fetch that one file (it imports nothing) and pass its path:
  /usr/bin/python3 tools/reference/make_loss_scaler_fixture.py /path/to/dynamic_loss_scaler.py
(fairseq commit 0d77035ea39e28f30eb20030547fecaee39ff25d was used for the committed fixture.)

Format: a line "scenario init_scale scale_window tolerance min_loss_scale threshold|none", then one line per update:
"event outcome scale iter last_overflow_iter last_rescale_iter overflows_since_rescale" with event ok|inf|nan and
outcome applied|overflow|min_scale (fairseq raised FloatingPointError; the scenario ends there).
"""
import importlib.util
import random
import sys

spec = importlib.util.spec_from_file_location("dls", sys.argv[1])
dls = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dls)

OUT = "model/src/test/resources/reference/loss_scaler.txt"

scenarios = [
    # (init_scale, scale_window, tolerance, min_loss_scale, threshold, overflow probability, updates, seed)
    (128.0, 4, 0.0, 1e-4, None, 0.2, 60, 1),
    (2.0 ** 15, 3, 0.25, 1e-4, None, 0.35, 80, 2),
    (2.0 ** 15, 16384, 0.0, 1e-4, None, 0.05, 50, 3),
    (8.0, 2, 0.0, 1e-4, 2.0, 0.6, 40, 4),
    (1.0, 5, 0.0, 0.25, None, 0.7, 40, 5),   # ends at the minimum scale
    (64.0, 1, 0.5, 1e-4, None, 0.5, 50, 6),
]

lines = []
for init, window, tol, min_scale, threshold, p, n, seed in scenarios:
    rnd = random.Random(seed)
    s = dls.DynamicLossScaler(init_scale=init, scale_window=window, tolerance=tol, threshold=threshold,
                              min_loss_scale=min_scale)
    lines.append("scenario %r %d %r %r %s" % (init, window, tol, min_scale, "none" if threshold is None else repr(threshold)))
    for _ in range(n):
        r = rnd.random()
        event = "ok" if r >= p else ("inf" if r < p / 2 else "nan")
        norm = 1.0 if event == "ok" else (float("inf") if event == "inf" else float("nan"))
        outcome = "applied"
        try:
            s.check_overflow(norm)
            s.update()
        except OverflowError:
            outcome = "overflow"
        except FloatingPointError:
            outcome = "min_scale"
        lines.append("%s %s %r %d %d %d %d" % (event, outcome, s.loss_scale, s._iter, s._last_overflow_iter,
                                               s._last_rescale_iter, s._overflows_since_rescale))
        if outcome == "min_scale":
            break

with open(OUT, "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote", OUT, len(lines), "lines")
