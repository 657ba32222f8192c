#!/usr/bin/env python3
"""Peer benchmark for `mert bench allreduce`: PyTorch Gloo allreduce, ranks as separate processes on loopback.

Usage (the launcher; it starts one process per rank and prints one line per size):

    gloo_allreduce.py --world-size 2 --plan 4096:2000:200,65536:1000:100 --trials 5

--plan is a comma-separated list of BYTES:ITERS:WARMUP. For every size each rank runs WARMUP allreduces,
then TRIALS timed loops of ITERS in-place float32 SUM allreduces. Output, one line per size:

    gloo BYTES ITERS T1,T2,...      (Ti: seconds of trial i, the slowest rank's)

Each rank checks the first result against the exact sum and exits non-zero when it is wrong.
"""
import argparse
import datetime
import os
import socket
import subprocess
import sys
import time


def parse_plan(text):
    plan = []
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) != 3:
            raise SystemExit(f"--plan item {item!r} is not BYTES:ITERS:WARMUP")
        size, iters, warmup = (int(p) for p in parts)
        if size <= 0 or size % 4 or iters <= 0 or warmup < 0:
            raise SystemExit(f"--plan item {item!r}: BYTES must be a positive multiple of 4, ITERS > 0, WARMUP >= 0")
        plan.append((size, iters, warmup))
    return plan


def run_rank(args):
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)  # Gloo's own I/O threads do the work; keep the compute pool from competing
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}",
                            rank=args.rank, world_size=args.world_size,
                            timeout=datetime.timedelta(seconds=120))  # a dead peer fails the run, not hangs it
    n = args.world_size
    for size, iters, warmup in parse_plan(args.plan):
        count = size // 4
        # small integers: the float32 sum is exact, so the check can be exact
        pattern = (torch.arange(count, dtype=torch.float32) % 7)
        x = pattern + args.rank
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        expected = pattern * n + n * (n - 1) / 2
        if not torch.equal(x, expected):
            print(f"gloo rank {args.rank}: wrong sum for {size} bytes", file=sys.stderr)
            sys.exit(3)
        for _ in range(warmup):
            dist.all_reduce(x, op=dist.ReduceOp.SUM)
        for trial in range(args.trials):
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(iters):
                dist.all_reduce(x, op=dist.ReduceOp.SUM)
            elapsed = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
            dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
            if args.rank == 0:
                print(f"trial {size} {iters} {trial} {elapsed.item():.9f}", flush=True)
            # keep values finite and away from denormals whatever the iteration count
            x.fill_(1.0)
    dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args):
    port = free_port()
    env = dict(os.environ, GLOO_SOCKET_IFNAME=os.environ.get("GLOO_SOCKET_IFNAME", "lo"), OMP_NUM_THREADS="1")
    procs = []
    for rank in range(args.world_size):
        cmd = [sys.executable, os.path.abspath(__file__), "--rank", str(rank), "--port", str(port),
               "--world-size", str(args.world_size), "--plan", args.plan, "--trials", str(args.trials)]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                                      text=True))
    trials = {}
    for line in procs[0].stdout:
        parts = line.split()
        if len(parts) == 5 and parts[0] == "trial":
            trials.setdefault((int(parts[1]), int(parts[2])), []).append(parts[4])
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"gloo ranks exited with {codes}")
    for size, iters, _ in parse_plan(args.plan):
        times = trials.get((size, iters))
        if not times:
            raise SystemExit(f"no timings for {size} bytes")
        print(f"gloo {size} {iters} {','.join(times)}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world-size", type=int, required=True)
    p.add_argument("--plan", required=True, help="BYTES:ITERS:WARMUP,...")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.world_size < 2:
        raise SystemExit("--world-size must be at least 2")
    parse_plan(args.plan)
    if args.rank is None:
        launch(args)
    else:
        run_rank(args)


if __name__ == "__main__":
    main()
