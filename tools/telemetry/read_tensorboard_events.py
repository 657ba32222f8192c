#!/usr/bin/python3
"""Reads TensorBoard event files with TensorBoard's own reader and prints the scalars as JSON.

    read_tensorboard_events.py --tensorboard-src TB_CHECKOUT PATH

PATH is a directory (read the way `tensorboard --logdir` reads one run: every events file in name
order, through EventAccumulator, including its purge of data replaced after a SessionLog START) or one
event file (every event as stored, through EventFileLoader). Output:

    {"files": [...], "file_version": 2.0,
     "scalars": {tag: [[step, value], ...]},          # EventAccumulator view (directory)
     "events": [{"wall_time":..., "step":..., "what":..., "values": {tag: value}}]}   # single file

Floats are printed as Python reprs of the float32 values, NaN/inf as the strings "nan"/"inf"/"-inf".
The TensorBoard source is a checkout of github.com/tensorflow/tensorboard (see tb_source.py); it is
used as is and never copied into this repository.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tb_source  # noqa: E402


def num(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def read_dir(path):
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(path, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    scalars = {}
    for tag in sorted(acc.Tags()["scalars"]):
        scalars[tag] = [[e.step, num(e.value)] for e in acc.Scalars(tag)]
    files = sorted(f for f in os.listdir(path) if "tfevents" in f)
    return {"files": files, "file_version": acc.file_version,
            "scalars": scalars}


def read_file(path):
    from tensorboard.backend.event_processing import event_file_loader

    events = []
    for e in event_file_loader.LegacyEventFileLoader(path).Load():
        what = e.WhichOneof("what")
        item = {"wall_time": e.wall_time, "step": e.step, "what": what}
        if what == "file_version":
            item["file_version"] = e.file_version
        elif what == "summary":
            item["values"] = [[v.tag, num(v.simple_value)] for v in e.summary.value]
        elif what == "session_log":
            item["status"] = e.session_log.status
        events.append(item)
    return {"events": events}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tensorboard-src", help="tensorboard source checkout (default: $MERT_TENSORBOARD_SRC)")
    p.add_argument("path", help="a run's tensorboard directory, or one events file")
    a = p.parse_args()
    tb_source.prepare(tb_source.source_dir(a.tensorboard_src))
    out = read_dir(a.path) if os.path.isdir(a.path) else read_file(a.path)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
