#!/usr/bin/env python3
"""Step-time and scaling-efficiency model for mert-trainer on N GPUs (docs/scaling.md).

T(1) = Tc + Tcoord                      one worker: no allreduce
T(N) = Tc + Tpcie + exposed(Tring(N)) + Tcoord
exposed(Tring) = max(0, Tring - overlap * 2/3 * Tc)   today overlap = 0: the allreduce starts after the
                                                      whole backward; DDP-style buckets hide part of it
Tring(N) = 2(N-1)/N * S / min(busbw, nic) + 2(N-1) * alpha
E(N) = T(1) / T(N)                      weak scaling: the per-GPU batch is fixed, as in MERT

Every input is a command-line option so that users can plug in their own measured figures.
"""
import argparse


def step_times(n, a):
    wire = a.params * (2 if a.wire == "bf16" else 4)
    t1 = a.compute + a.coord
    if n == 1:
        return t1, 0.0, t1
    # Inside one node only IPC hops; across nodes the slowest hop is the node's NIC.
    link = a.busbw if n <= a.gpus_per_node else min(a.busbw, a.nic)
    ring = 2 * (n - 1) / n * wire / (link * 1e9) + 2 * (n - 1) * a.alpha * 1e-6
    pcie = 2 * a.params * 4 / (a.pcie * 1e9)
    exposed = max(0.0, ring - a.overlap * 2 / 3 * a.compute)  # backward is about 2/3 of a step
    return t1, ring, a.compute + pcie + exposed + a.coord


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", type=float, default=95_548_112, help="parameters (MERT-95M as built here)")
    p.add_argument("--compute", type=float, default=0.49, help="forward+backward+update seconds per step on one GPU")
    p.add_argument("--coord", type=float, default=0.033, help="coordinator round trip per step, seconds")
    p.add_argument("--busbw", type=float, default=2.0, help="allreduce busbw of one rank over IPC, GB/s")
    p.add_argument("--nic", type=float, default=10.0, help="usable NIC bandwidth per node, GB/s")
    p.add_argument("--alpha", type=float, default=30.0, help="per-hop latency, microseconds")
    p.add_argument("--pcie", type=float, default=25.0, help="GPU<->host copy bandwidth, GB/s")
    p.add_argument("--wire", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--overlap", type=float, default=0.0,
                   help="fraction of the backward pass that can hide the allreduce (0: mert today; DDP buckets: ~0.8)")
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--gpus", default="1,8,16,32,64")
    a = p.parse_args()
    print(f"params {a.params:,.0f}, compute {a.compute * 1e3:.0f} ms, coord {a.coord * 1e3:.0f} ms, "
          f"busbw {a.busbw} GB/s, nic {a.nic} GB/s, alpha {a.alpha} us, pcie {a.pcie} GB/s, wire {a.wire}, overlap {a.overlap}")
    print(f"{'GPUs':>5} {'allreduce ms':>13} {'step ms':>8} {'efficiency':>11}")
    for n in (int(x) for x in a.gpus.split(",")):
        t1, ring, tn = step_times(n, a)
        print(f"{n:>5} {ring * 1e3:>13.1f} {tn * 1e3:>8.1f} {t1 / tn:>11.2f}")


if __name__ == "__main__":
    main()
