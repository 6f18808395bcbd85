"""Time the PPR hard-negative pool for every user of a synthetic graph and check its memory bound.

    python scripts/bench_ppr.py                                  # 30k users x 41k items x 1M edges
    python scripts/bench_ppr.py --users 2000 --items 3000 --interactions 50000 --chunk-size 256

The synthetic graph is generated in a child process and handed over as a file, so this
process's peak RSS (``ru_maxrss``) covers only torch, the graph and the pool computation.
Asserts that the peak stays under the RSS before the computation plus
:func:`recsys_pyg.samplers.ppr.ppr_memory_bound`.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path


def _generate(users: int, items: int, interactions: int, path: str) -> None:
    import torch

    from recsys_pyg.data import make_synthetic

    data = make_synthetic(users, items, interactions)
    torch.save({"user": data.user, "item": data.item}, path)


def _rss_bytes() -> int:
    """Current resident set size, from /proc (Linux); falls back to the peak so far."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()
    except OSError:
        return _peak_rss_bytes()


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=30_000)
    parser.add_argument("--items", type=int, default=41_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=1024, help="users per PPR block (sets the memory bound)")
    parser.add_argument("--iterations", type=int, default=20, help="PPR power iterations")
    parser.add_argument("--alpha", type=float, default=0.15, help="PPR restart probability")
    parser.add_argument("--window", type=float, nargs=2, default=(0.02, 0.10), help="rank window, item fractions")
    parser.add_argument("--pool-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "edges.pt")
        t0 = time.time()
        child = mp.get_context("spawn").Process(
            target=_generate, args=(args.users, args.items, args.interactions, path)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"generating the synthetic graph failed (exit code {child.exitcode})")
        print(f"synthetic graph generated in {time.time() - t0:.1f}s (child process)")

        import torch

        from recsys_pyg.data import BipartiteGraph
        from recsys_pyg.samplers.ppr import compute_ppr_pool, ppr_memory_bound

        if args.threads:
            torch.set_num_threads(args.threads)
        edges = torch.load(path, weights_only=True)
    graph = BipartiteGraph(edges["user"], edges["item"], args.users, args.items)
    del edges
    print(f"{graph}, {torch.get_num_threads()} threads")

    rss_before = _rss_bytes()
    extra = ppr_memory_bound(graph.num_users, graph.num_items, graph.num_edges, args.chunk_size, args.pool_size)
    bound = rss_before + extra
    t0 = time.time()
    hard = compute_ppr_pool(
        graph,
        alpha=args.alpha,
        num_iterations=args.iterations,
        window=tuple(args.window),
        pool_size=args.pool_size,
        chunk_size=args.chunk_size,
    )
    wall = time.time() - t0
    peak = _peak_rss_bytes()

    mib = 2**20
    lo, hi = hard.window
    print(
        f"PPR pool: {graph.num_users} users, chunk {args.chunk_size}, {args.iterations} iterations, "
        f"window [{lo}, {hi}), pool {args.pool_size}: {wall:.1f}s ({wall / graph.num_users * 1e3:.2f} ms/user)"
    )
    print(f"pool sizes: mean {hard.count.double().mean():.1f}, empty for {int((hard.count == 0).sum())} users")
    print(
        f"peak RSS {peak / mib:.0f} MiB; bound {bound / mib:.0f} MiB "
        f"= RSS before {rss_before / mib:.0f} MiB + ppr_memory_bound {extra / mib:.0f} MiB"
    )
    assert peak <= bound, f"peak RSS {peak / mib:.0f} MiB exceeds the bound {bound / mib:.0f} MiB"


if __name__ == "__main__":
    main()
