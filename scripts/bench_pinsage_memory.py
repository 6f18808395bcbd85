"""Peak memory of PinSAGE training: mini-batch (the batch's sampled neighbourhoods) vs full graph.

Each mode runs in its own process on the same synthetic graph: the data, the random-walk
neighbourhoods and the model are built first, then the peak-RSS counter is reset
(``/proc/self/clear_refs``) and ``--steps`` training steps run; the figure is the peak
resident memory of those steps. Full-graph mode computes every embedding with gradients
each step, as a full-graph model must.

    python scripts/bench_pinsage_memory.py                 # 30k users x 41k items x 1M interactions
    python scripts/bench_pinsage_memory.py --users 3000 --items 4000 --interactions 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def rss_mib(field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of this process, MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(args: argparse.Namespace) -> dict:
    import torch

    from recsys_pyg.data import BipartiteGraph, make_synthetic
    from recsys_pyg.losses import bpr_loss
    from recsys_pyg.models import PinSAGE
    from recsys_pyg.samplers import UniformSampler

    torch.manual_seed(0)
    data = make_synthetic(args.users, args.items, args.interactions, seed=0)
    graph = BipartiteGraph(data.user, data.item, args.users, args.items)
    model = PinSAGE(args.users, args.items, embedding_dim=args.dim, hidden_dim=args.dim, num_layers=args.layers)
    model.neighborhoods(graph)  # computed once, before measuring
    sampler = UniformSampler(graph, 1, torch.Generator().manual_seed(0))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    base = rss_mib("VmRSS")
    start = time.time()
    for step in range(args.steps):
        idx = torch.randint(graph.num_edges, (args.batch_size,), generator=torch.Generator().manual_seed(step))
        users, pos = graph.user[idx], graph.item[idx]
        neg = sampler.sample(users).items[:, 0]
        if args.mode == "minibatch":
            u, items = model(graph, users, torch.cat([pos, neg]))
        else:
            all_u, all_i = model(graph)
            u, items = all_u[users], all_i[torch.cat([pos, neg])]
        p, n = items[: len(pos)], items[len(pos) :]
        loss = bpr_loss((u * p).sum(-1), (u * n).sum(-1)[:, None])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {
        "mode": args.mode,
        "peak_rss_mib": rss_mib(),
        "rss_before_mib": base,
        "step_time_s": (time.time() - start) / args.steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=30_000)
    parser.add_argument("--items", type=int, default=41_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--mode", choices=["minibatch", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args)))
        return
    rows = []
    for mode in ("minibatch", "full"):
        cmd = [sys.executable, __file__, "--mode", mode] + [
            f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "mode"
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"PinSAGE, {args.users} users x {args.items} items x {args.interactions} interactions, "
        f"d={args.dim}, {args.layers} layers, batch {args.batch_size}, {args.steps} steps"
    )
    print("| mode | peak RSS during training (MiB) | RSS before (MiB) | step time (s) |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['peak_rss_mib']:.0f} | {r['rss_before_mib']:.0f} | {r['step_time_s']:.2f} |")
    mini, full = rows
    growth = (mini["peak_rss_mib"] - mini["rss_before_mib"], full["peak_rss_mib"] - full["rss_before_mib"])
    print(
        f"memory added by training: mini-batch {growth[0]:.0f} MiB vs full graph {growth[1]:.0f} MiB "
        f"(ratio {growth[0] / max(growth[1], 1e-9):.2f})"
    )


if __name__ == "__main__":
    main()
