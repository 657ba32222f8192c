#!/usr/bin/python3
"""Writes the golden TensorBoard event file the Java tests compare against, with TensorBoard's own writer.

    make_tfevents_golden.py --tensorboard-src TB_CHECKOUT OUT_FILE

Uses tensorboard/summary/writer/event_file_writer.py (EventFileWriter: file_version event, RecordWriter's
framing and masked CRC32C) from a checkout of github.com/tensorflow/tensorboard, under Debian's
python3-protobuf. time.time() is pinned so the file is reproducible; the events are the ones
TfEventsGoldenTest rebuilds in Java (keep both lists in step).
"""
import argparse
import glob
import math
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tb_source  # noqa: E402

FILE_VERSION_WALL_TIME = 1700000000.25

# (wall_time, step, [(tag, value)]) or (wall_time, step, "START")
EVENTS = [
    (1700000001.5, 1, [("train/loss", 6.2146), ("train/acoustic_loss_0", 6.2146), ("train/masked_accuracy_0", 0.0),
                       ("train/lr", 5e-05), ("perf/samples_per_s", 12.75)]),
    (1700000002.125, 2, [("train/loss", 5.75), ("train/cqt_loss", -0.0), ("train/grad_norm", 1e-30)]),
    (1700000003.0, 3, [("train/loss", math.nan), ("train/grad_norm", math.inf), ("cluster/world_size", 2.0)]),
    (1700000004.0, 3, "START"),
    (1700000005.0, 0, [("train/loss", -1.5)]),
    (1700000006.0, 2 ** 40 + 7, [("events/worker_lost", 3.0), ("ünïcode/tag", 3.14159)]),
]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tensorboard-src", help="tensorboard source checkout (default: $MERT_TENSORBOARD_SRC)")
    p.add_argument("out", help="the event file to write")
    a = p.parse_args()
    tb_source.prepare(tb_source.source_dir(a.tensorboard_src))
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    real_time = time.time
    time.time = lambda: FILE_VERSION_WALL_TIME  # the file_version event and the file name
    logdir = tempfile.mkdtemp(prefix="tb-golden-")
    try:
        w = EventFileWriter(logdir)
        time.time = real_time  # the writer thread's flush timing
        for wall, step, what in EVENTS:
            if what == "START":
                e = event_pb2.Event(wall_time=wall, step=step,
                                    session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
            else:
                e = event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(
                    value=[summary_pb2.Summary.Value(tag=t, simple_value=v) for t, v in what]))
            w.add_event(e)
        w.close()
        (written,) = glob.glob(os.path.join(logdir, "events.out.tfevents.*"))
        shutil.copy(written, a.out)
        print("%s: %d bytes, %d events + file_version" % (a.out, os.path.getsize(a.out), len(EVENTS)))
    finally:
        shutil.rmtree(logdir, True)


if __name__ == "__main__":
    main()
