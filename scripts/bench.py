"""Speed and memory benchmark: training and full-ranking evaluation, ours beside naive references.

    python scripts/bench.py                    # Gowalla-sized synthetic data (~30k x 41k, ~810k train edges)
    python scripts/bench.py --size tiny        # a few minutes (31 rows, one process each); what the slow test runs
    python scripts/bench.py --scaling          # + epoch time at 1e5, 1e6, 1e7 edges (LightGCN, sampled, PinSAGE)
    python scripts/bench.py --only fit         # MF and the fit-only models: fit, full-ranking time, ratio to MF's

Every row runs in its own process on the same cached dataset, so each peak RSS is that row's
own. Train time per batch is the median over ``--batches`` batches (after 5 warm-up batches, which
also let the optimizer's state pages be touched once) of
batch 2048, d = 64; the epoch time is extrapolated as batches-per-epoch x (train + sampling) per
batch. Sampling is timed as a run does it (``train.sample_batches=64``): one call draws 64 batches'
negatives right after a training step, and its time is divided by 64. Evaluation ranks every
item for every test user (K = 20 and 100, training items masked, chunks of 1024 users); "eval
rank" is the ranking alone, "eval total" adds the model's forward.

MF and PinSAGE run with sparse embedding gradients and ``MixedAdam`` (``model.sparse=true
optimizer=mixed_adam``), so a step touches only the batch's rows; LightGCN and NGCF propagate
the whole table, so they keep dense gradients and torch's Adam. ``lightgcn-sampled`` is
LightGCN trained on neighbour-sampled subgraphs (``model.fanout=[10,10,10]
model.max_hop_nodes=16384 model.sparse=true optimizer=mixed_adam``): a batch's cost is bounded
whatever the graph's size, so its epoch grows linearly with the edges; it evaluates exactly,
like LightGCN. In the scaling rows, ``pinsage-capped`` is PinSAGE with ``model.max_hop_nodes=8192``
(at most 8192 nodes per layer beyond the next layer's, reweighted so the pooling stays unbiased).

The sparse-dense product of LightGCN/NGCF is chosen as a run chooses it (``spmm_backend=auto``):
torch's, unless ``torch_sparse`` is installed and measured faster on the graph; the
``spmm backends`` line gives both timings when it is installed.

Sampler rows (``sampler:<model>:<sampler>:<loss>``): every negative sampler of ``conf/sampler/`` with
its default options, for MF and LightGCN, with BPR and the sampled softmax (``conf/loss/``), built
from the same YAML a run uses. The sampling share is the sampler's time over sampling + training
step, timed as ``train_epoch`` times it (a chunkable sampler draws 64 batches per call, the others
one batch per call); ``curriculum`` is timed at epoch 7, its most hard negatives (6). The PPR pools
of ``ppr_hard``/``curriculum`` are built once per run and cached on disk: here with 2 power
iterations instead of 20 (the per-batch draw does not depend on them), their build time reported
apart (``scripts/bench_ppr.py`` measures the full build).

Fit-only rows (``fit:<model>``, ``--only fit`` runs them beside MF alone): every fit-only model of ``conf/model/`` built
from its YAML, fitted, then ranking every test user through the same evaluator as MF's row; the table gives fit and
evaluation seconds and the evaluation over MF's ``eval total`` in the same run. EASE and Turbo-CF report their memory
refusal where items^2 does not fit.

Reference rows, measured in the same run:
- ``naive LGConv``: LightGCN through PyG's ``LGConv`` on the edge list with autograd and the
  normalisation recomputed on every call, as PyG's LightGCN example does;
- ``bare GEMM``: ``U @ I.T`` then ``topk(100)`` over all users in the same chunks, no masking, no
  metrics: the physical floor for evaluation. It is measured in every model's process on that
  model's own embeddings (its ``d``), right after the evaluator, and the ratio is taken there;
  the ``bare_gemm`` row is the same floor for random d = 64 embeddings.

Writes ``<out>/bench.md`` and ``<out>/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

SIZES = {"gowalla": (30_000, 41_000, 1_160_000), "tiny": (600, 800, 20_000)}
MODELS = ["mf", "lightgcn", "lightgcn-sampled", "ngcf", "pinsage"]
FIT_ONLY = ["gfcf", "chebycf", "bspm", "turbocf", "itemknn", "ease"]  # conf/model/<name>.yaml, its defaults
DENSE_RANK = {"gfcf": "k", "chebycf": "eta", "bspm": "eta"}  # the attribute holding a filter's ideal-term rank
SAMPLERS = ["uniform", "popularity", "shared", "in_batch", "ppr_hard", "curriculum", "shared,groups=16"]  # name[,key=v]
SAMPLER_ROWS = [f"sampler:{m}:{s}:{loss}" for m in ("mf", "lightgcn") for s in SAMPLERS for loss in ("bpr", "softmax")]
CONF = Path(__file__).resolve().parent.parent / "conf"
WARMUP = 5  # batches run before timing
CHUNK = 64  # batches per sampler call, the default train.sample_batches
PINSAGE_CAP = 8192  # pinsage-capped (scaling rows): model.max_hop_nodes
SAMPLED = {"fanout": [10, 10, 10], "max_hop_nodes": 16384}


def rss_mib(field: str = "VmHWM") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_data(size: str, path: Path) -> dict:
    from recsys_pyg.data import make_synthetic, temporal_split

    users, items, interactions = SIZES[size]
    t = time.time()
    split = temporal_split(make_synthetic(users, items, interactions, seed=0), 0.1, 0.2)
    parts = {name: getattr(split, name) for name in ("train", "test")}
    # tensors and ints only, so the rows load it with weights_only=True (a pickle could run code)
    torch.save({name: {"user": part.user, "item": part.item, "num_users": part.num_users,
                       "num_items": part.num_items} for name, part in parts.items()}, path)  # fmt: skip
    return {"users": users, "items": items, "train_edges": len(split.train), "generate_s": time.time() - t}


def power_law_edges(num_edges: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """O(E) random bipartite graph with Gowalla's proportions and Zipf item popularity (scaling rows)."""
    gen = torch.Generator().manual_seed(seed)
    num_users, num_items = max(num_edges // 27, 10), max(num_edges // 20, 10)
    pop = 1.0 / torch.arange(1, num_items + 1).double() ** 0.8
    user = torch.randint(num_users, (num_edges,), generator=gen)
    item = torch.multinomial(pop, num_edges, replacement=True, generator=gen)
    return user, item, num_users, num_items


def build_model(name: str, num_users: int, num_items: int) -> torch.nn.Module:
    from recsys_pyg.models import MF, NGCF, LightGCN, PinSAGE

    if name == "mf":
        return MF(num_users, num_items, 64, sparse=True)
    if name in ("lightgcn", "naive"):
        return LightGCN(num_users, num_items, 64, 3)
    if name == "lightgcn-sampled":
        return LightGCN(num_users, num_items, 64, 3, **SAMPLED, sparse=True)
    if name == "ngcf":
        return NGCF(num_users, num_items, 64, 3, message_dropout=0.1)
    cap = PINSAGE_CAP if name == "pinsage-capped" else None
    return PinSAGE(num_users, num_items, 64, 64, 2, sparse=True, max_hop_nodes=cap)


class NaiveLightGCN(torch.nn.Module):
    """PyG's example path: ``LGConv`` (normalize=True) on the edge list, autograd, every call."""

    def __init__(self, num_users: int, num_items: int, num_layers: int = 3) -> None:
        from torch_geometric.nn import LGConv

        super().__init__()
        self.num_users, self.num_layers = num_users, num_layers
        self.embedding = torch.nn.Embedding(num_users + num_items, 64)
        torch.nn.init.normal_(self.embedding.weight, std=0.1)
        self.conv = LGConv()

    def forward(self, graph, users=None, items=None):
        x = self.embedding.weight
        out = x / (self.num_layers + 1)
        for _ in range(self.num_layers):
            x = self.conv(x, graph.edge_index)
            out = out + x / (self.num_layers + 1)
        u, i = out[: self.num_users], out[self.num_users :]
        return (u if users is None else u[users]), (i if items is None else i[items])

    def l2_penalty(self, users, items):
        from recsys_pyg.models.common import embedding_l2

        return embedding_l2(self.embedding, users, items + self.num_users)


def bare_gemm_topk(u: torch.Tensor, i: torch.Tensor, users: torch.Tensor, k: int) -> float:
    """Seconds for ``U @ I.T`` and ``topk(k)`` over ``users`` in chunks of 1024: no masking, no metrics."""
    (u[:64] @ i.T).topk(k, dim=1)  # warm-up
    t = time.time()
    for s in range(0, users.numel(), 1024):
        (u[users[s : s + 1024]] @ i.T).topk(k, dim=1)
    return time.time() - t


def sampler_row(row: str, graph, batches: int) -> dict:
    """Sampling share of one sampler x model x loss, built from the YAML a run uses (see the docstring)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from recsys_pyg.contracts import check_sampler
    from recsys_pyg.losses import build_loss
    from recsys_pyg.optim import MixedAdam
    from recsys_pyg.training import train_step
    from recsys_pyg.training.hardness import HardnessMeter

    _, name, sampler_spec, loss_name = row.split(":")
    sampler_name, *options = sampler_spec.split(",")  # a sampler's YAML, then options over it (groups=16)
    spec = OmegaConf.merge(OmegaConf.load(CONF / "sampler" / f"{sampler_name}.yaml"), OmegaConf.from_dotlist(options))
    if "cache_dir" in spec:  # PPR pools: not cached across rows, 2 iterations (see the docstring)
        spec.cache_dir, spec.num_iterations = None, 2
    t = time.time()
    sampler = instantiate(spec)(graph=graph, generator=torch.Generator().manual_seed(0))
    setup_s = time.time() - t
    criterion = build_loss(OmegaConf.load(CONF / "loss" / f"{loss_name}.yaml"))
    model = build_model(name, graph.num_users, graph.num_items)
    sparse = any(isinstance(m, torch.nn.Embedding) and m.sparse for m in model.modules())
    # fused, as conf/optimizer/adam.yaml
    optimizer = (
        MixedAdam(model.parameters(), lr=1e-3) if sparse else torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    )
    chunk = CHUNK if check_sampler(sampler) else 1
    epoch = 7  # the curriculum's most hard negatives; the others ignore it
    gen, hardness = torch.Generator().manual_seed(0), HardnessMeter()
    sample_t, train_t = [], []
    model.train()
    for b in range(batches + WARMUP):
        idx = torch.randint(graph.num_edges, (2048 * chunk,), generator=gen)
        users, pos = graph.user[idx], graph.item[idx]
        t = time.time()
        drawn = sampler.sample(users, pos, epoch)
        ts = (time.time() - t) / chunk
        neg = drawn.rows(0, 2048) if chunk > 1 else drawn
        t = time.time()
        train_step(model, graph, users[:2048], pos[:2048], neg, criterion, optimizer, hardness)
        if b >= WARMUP:
            sample_t.append(ts)
            train_t.append(time.time() - t)
    sample, step = statistics.median(sample_t), statistics.median(train_t)
    return {"row": row, "setup_s": setup_s, "sample_per_batch_s": sample, "train_per_batch_s": step,
            "epoch_s": -(-graph.num_edges // 2048) * (sample + step), "sampling_share": sample / (sample + step),
            "peak_rss_mib": rss_mib()}  # fmt: skip


def worker(args: argparse.Namespace) -> dict:
    from omegaconf import OmegaConf

    from recsys_pyg.data import BipartiteGraph
    from recsys_pyg.data.graph import CSR
    from recsys_pyg.data.neighbor_sampling import sample_subgraph
    from recsys_pyg.evaluation import Evaluator
    from recsys_pyg.losses import build_loss
    from recsys_pyg.models.propagation import available_backends, choose_backend, set_backend
    from recsys_pyg.optim import MixedAdam
    from recsys_pyg.samplers import UniformSampler
    from recsys_pyg.training import train_step
    from recsys_pyg.training.hardness import HardnessMeter

    torch.manual_seed(0)
    if args.row.startswith("scale"):
        user, item, num_users, num_items = power_law_edges(int(float(args.row.split(":")[1])))
        graph = BipartiteGraph(user, item, num_users, num_items)
        truth = None
    else:
        split = torch.load(args.data, weights_only=True)
        train, test = split["train"], split["test"]
        num_users, num_items = train["num_users"], train["num_items"]
        graph = BipartiteGraph(train["user"], train["item"], num_users, num_items)
        truth = CSR.from_pairs(test["user"], test["item"], num_users, num_items)
    if args.row.startswith("sampler:"):
        return sampler_row(args.row, graph, args.batches)
    if args.row.startswith("fit:"):
        return fit_row(args.row, graph, truth)
    t = time.time()
    _ = graph.adj  # normalised adjacency, built once
    out: dict = {"row": args.row, "edges": graph.num_edges, "adj_s": time.time() - t}
    backends = available_backends()
    if len(backends) > 1:  # as a run with spmm_backend=auto does
        out["spmm_backend"], out["spmm_s"] = choose_backend(graph.adj, 64, backends)
        set_backend(backends[out["spmm_backend"]])
    evaluator = Evaluator(ks=[20, 100], chunk_size=1024)

    if args.row == "bare_gemm":
        u, i = torch.randn(num_users, 64), torch.randn(num_items, 64)
        out["eval_rank_s"] = bare_gemm_topk(u, i, torch.nonzero(truth.degree() > 0).flatten(), 100)
        out["peak_rss_mib"] = rss_mib()
        return out

    name = args.row.split(":")[0].removeprefix("scale-")
    model = NaiveLightGCN(num_users, num_items) if name == "naive" else build_model(name, num_users, num_items)
    if name.startswith("pinsage"):
        t = time.time()
        model.neighborhoods(graph)
        out["walks_s"] = time.time() - t
    sampler = UniformSampler(graph, 1, torch.Generator().manual_seed(0))
    sparse = any(isinstance(m, torch.nn.Embedding) and m.sparse for m in model.modules())
    # fused, as conf/optimizer/adam.yaml
    optimizer = (
        MixedAdam(model.parameters(), lr=1e-3) if sparse else torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    )
    gen = torch.Generator().manual_seed(0)
    n_batches = args.batches if name != "naive" else max(2, args.batches // 4)
    sample_t, train_t = [], []
    criterion, hardness = build_loss(OmegaConf.load(CONF / "loss" / "bpr.yaml")), HardnessMeter()
    model.train()
    # As a run does (train.sample_batches): the sampler draws CHUNK batches per call, right after a
    # training step (so with the caches the step left); its time per batch is the call's / CHUNK.
    for b in range(n_batches + WARMUP):
        idx = torch.randint(graph.num_edges, (2048 * CHUNK,), generator=gen)
        users, pos = graph.user[idx], graph.item[idx]
        t = time.time()
        drawn = sampler.sample(users, pos, 1)
        ts = (time.time() - t) / CHUNK
        users, pos, neg = users[:2048], pos[:2048], drawn.rows(0, 2048)
        t = time.time()
        train_step(model, graph, users, pos, neg, criterion, optimizer, hardness)
        if b >= WARMUP:  # warm-up batches are not counted
            sample_t.append(ts)
            train_t.append(time.time() - t)
    batches_per_epoch = -(-graph.num_edges // 2048)
    # the median: a 2-core shared machine has stray slow batches that a mean would carry
    out["sample_per_batch_s"] = statistics.median(sample_t)
    out["train_per_batch_s"] = statistics.median(train_t)
    out["epoch_s"] = batches_per_epoch * (out["sample_per_batch_s"] + out["train_per_batch_s"])
    out["sampling_share"] = out["sample_per_batch_s"] / (out["sample_per_batch_s"] + out["train_per_batch_s"])
    # nodes a batch computes on (the last batch's): what bounds its work
    items = torch.cat([pos, neg.items.flatten()])
    if getattr(model, "fanout", None) is not None:
        seeds = torch.unique(torch.cat([users, items + num_users]))
        sub = sample_subgraph(graph.adj, seeds, model.fanout, model.max_hop_nodes)
        out["batch_nodes"], out["subgraph_edges"] = sub.nodes.numel(), sub.num_edges
    elif name.startswith("pinsage"):
        sides = (("user", users), ("item", items))
        out["batch_nodes"] = sum(model.node_sets(graph, side, ids)[0][0].numel() for side, ids in sides)
    elif name == "mf":
        out["batch_nodes"] = users.unique().numel() + items.unique().numel()
    else:  # full-graph propagation
        out["batch_nodes"] = graph.num_nodes
    if truth is not None and name != "naive":
        model.eval()
        with torch.no_grad():
            t = time.time()
            u, i = model(graph)
            forward_s = time.time() - t
            (u[:64] @ i.T).topk(100, dim=1)  # warm-up
            t = time.time()
            evaluator.evaluate(u, i, truth, [graph.user_items])
            out["eval_rank_s"] = time.time() - t
            out["eval_total_s"] = forward_s + out["eval_rank_s"]
            # the floor for these very embeddings (same d, same K, same chunks), measured right after
            out["eval_floor_s"] = bare_gemm_topk(u, i, torch.nonzero(truth.degree() > 0).flatten(), 100)
    out["peak_rss_mib"] = rss_mib()
    return out


def fit_row(row: str, graph, truth) -> dict:
    """A fit-only model built from its YAML (the defaults a run gets): fit seconds, then the full ranking of every
    test user by the evaluator MF's row uses (K = 20 and 100, chunks of 1024, training items masked); a model
    that refuses the data (EASE and Turbo-CF where items^2 does not fit) is reported with its message."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from recsys_pyg.evaluation import Evaluator

    name = row.split(":")[1]
    out: dict = {"row": row}
    try:
        model = instantiate(OmegaConf.load(CONF / "model" / f"{name}.yaml"))(graph.num_users, graph.num_items)
    except ValueError as err:  # a memory refusal: what it needs against what there is
        return {**out, "refused": str(err).split(":")[0], "peak_rss_mib": rss_mib()}
    t = time.time()
    model.fit(graph)
    out["fit_s"] = time.time() - t
    t = time.time()
    Evaluator(ks=[20, 100], chunk_size=1024).evaluate_scores(model.score, truth, [graph.user_items])
    out["eval_total_s"] = time.time() - t
    rank = getattr(model, DENSE_RANK.get(name, ""), 0) if getattr(model, "alpha", 1) else 0  # alpha 0: no ideal term
    if rank:  # the floor its ideal term sets: a (U, rank) x (rank, I) GEMM and the top-k, nothing else
        g = torch.Generator().manual_seed(0)
        u, i = torch.randn(graph.num_users, rank, generator=g), torch.randn(graph.num_items, rank, generator=g)
        out.update(rank=rank, floor_s=bare_gemm_topk(u, i, torch.nonzero(truth.degree() > 0).flatten(), 100))
    out["peak_rss_mib"] = rss_mib()
    return out


def fit_report(rows: list[dict], mf: dict) -> list[str]:
    """Fit-only models: fit and full-ranking seconds, and their evaluation against MF's, measured in this run."""
    base = mf.get("eval_total_s")
    lines = [
        "",
        "Fit-only models (their YAML defaults): fit, then the full ranking of every test user by the same evaluator "
        "(K = 20, 100; chunks of 1024); ratio = eval / MF's eval total in this run (target <= 2). Floor: what the "
        "ideal low-pass term alone costs, a bare GEMM of its rank over every user and the top-k (MF's is d = 64), "
        "over MF's eval total.",
        "",
        "| model | fit (s) | eval (s) | eval / MF's | <= 2 | ideal rank | its GEMM floor / MF's | peak RSS (MiB) |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        name = r["row"].split(":")[1]
        if "error" in r or "refused" in r:
            why = r.get("refused") or "error: " + r["error"]
            lines.append(f"| {name} | {why} | | | | | | {fmt(r.get('peak_rss_mib'), 0)} |")
            continue
        ratio = r["eval_total_s"] / base if base else None
        met = "-" if ratio is None else ("yes" if ratio <= 2 else "NO")
        floor = r["floor_s"] / base if base and "floor_s" in r else None
        lines.append(f"| {name} | {r['fit_s']:.1f} | {r['eval_total_s']:.1f} | {fmt(ratio, 2)} | {met} "
                     f"| {r.get('rank', '-')} | {fmt(floor, 2)} | {r['peak_rss_mib']:.0f} |")  # fmt: skip
    return lines


def run_row(row: str, data: Path, batches: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--row", row, "--data", str(data), "--batches", str(batches)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"row": row, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def sampler_report(rows: list[dict]) -> list[str]:
    """The sampler x model x loss table: sampling share of each, and whether it is within 10%."""
    lines = [
        "",
        "Every sampler (default options; shared also with a set per block of 128 rows, groups=16) x loss, batch "
        "2048, d = 64: the sampling share of the epoch (sample / (sample + training step)); PPR pools built once "
        "per run (2 iterations here).",
        "",
        "| model | sampler | loss | sample/batch (ms) | train/batch (ms) | sampling share | <= 0.10 | setup (s) |",
        "|---|---|---|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        _, model, sampler, loss = r["row"].split(":")
        if "error" in r:
            lines.append(f"| {model} | {sampler} | {loss} | error: {r['error']} |")
            continue
        share = r["sampling_share"]
        lines.append(
            f"| {model} | {sampler} | {loss} | {r['sample_per_batch_s'] * 1000:.2f} | "
            f"{r['train_per_batch_s'] * 1000:.1f} | {share:.3f} | {'yes' if share <= 0.10 else 'NO'} | "
            f"{r['setup_s']:.1f} |"
        )
    return lines


def report(
    meta: dict, rows: list[dict], scaling: list[dict], sampler_rows: list[dict] = (), fit_rows: list[dict] = ()
) -> str:
    by = {r["row"]: r for r in rows}
    lines = [
        f"Synthetic {meta['size']}: {meta['users']} users x {meta['items']} items, "
        f"{meta['train_edges']} training edges; batch 2048, d = 64, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}.",
        "",
        "| row | sample/batch (ms) | train/batch (ms) | epoch (s, extrapolated) | sampling share | eval rank (s) "
        "| eval total (s) | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['row']} | error: {r['error']} |")
            continue
        ms = lambda k, r=r: fmt(r[k] * 1000, 1) if k in r else "-"  # noqa: E731
        lines.append(
            f"| {r['row']} | {ms('sample_per_batch_s')} | {ms('train_per_batch_s')} | {fmt(r.get('epoch_s'), 1)} "
            f"| {fmt(r.get('sampling_share'), 3)} | {fmt(r.get('eval_rank_s'), 2)} | {fmt(r.get('eval_total_s'), 2)} "
            f"| {r['peak_rss_mib']:.0f} |"
        )
    ours, naive = by.get("lightgcn", {}), by.get("naive", {})
    checks = []
    if "train_per_batch_s" in ours and "train_per_batch_s" in naive:
        ratio = ours["train_per_batch_s"] / naive["train_per_batch_s"]
        checks.append(("LightGCN train/batch, ours / naive LGConv", ratio, "<= 0.33", ratio <= 0.33))
    sampled = by.get("lightgcn-sampled", {})
    if "train_per_batch_s" in sampled and "train_per_batch_s" in naive:
        ratio = sampled["train_per_batch_s"] / naive["train_per_batch_s"]
        checks.append(("LightGCN sampled train/batch, ours / naive LGConv", ratio, "<= 0.33", ratio <= 0.33))
    for name in MODELS:
        r = by.get(name, {})
        if "eval_rank_s" in r and "eval_floor_s" in r:
            ratio = r["eval_rank_s"] / r["eval_floor_s"]
            checks.append(
                (
                    f"{name} eval (masked, 4 metrics, K=20,100) / bare GEMM+topk(100), same d",
                    ratio,
                    "<= 1.5",
                    ratio <= 1.5,
                )
            )
        if "sampling_share" in r:
            checks.append(
                (f"{name} sampling share of the epoch", r["sampling_share"], "<= 0.10", r["sampling_share"] <= 0.10)
            )
    if "peak_rss_mib" in ours:
        checks.append(("LightGCN peak RSS (GiB)", ours["peak_rss_mib"] / 1024, "<= 2", ours["peak_rss_mib"] <= 2048))
    spmm = next((r for r in rows if "spmm_s" in r), None)
    lines += [
        "",
        "spmm backends: torch_sparse not installed, torch's CSR matmul used (pip install recsys_pyg[sparse] to compare)"
        if spmm is None
        else "spmm backends (s per product, Gowalla adjacency, d = 64): "
        + ", ".join(f"{k} {v:.4f}" for k, v in spmm["spmm_s"].items())
        + f"; chosen: {spmm['spmm_backend']}",
    ]
    lines += ["", "| ratio | value | target | met |", "|---|---:|---|---|"]
    lines += [f"| {n} | {v:.3f} | {t} | {'yes' if ok else 'NO'} |" for n, v, t, ok in checks]
    if fit_rows:
        lines += fit_report(list(fit_rows), by.get("mf", {}))
    if sampler_rows:
        lines += sampler_report(list(sampler_rows))
    if scaling:
        lines += [
            "",
            "Epoch time vs edges (power-law graph, extrapolated from batches). MF's batch touches its own rows "
            "only. Full-graph LightGCN propagates every "
            "edge in every batch (epoch ~ E^2 at a fixed batch size). Sampled LightGCN and PinSAGE touch only the "
            "batch's sampled subgraph, bounded whatever the graph's size, so their epoch is ~ E once the graph is "
            "larger than that bound (below it, the subgraph is the whole graph and a batch is cheaper). PinSAGE's "
            "random walks run once per run, timed apart.",
            "",
            "| model | edges | train/batch (ms) | epoch (s) | epoch per 1e6 edges (s) | nodes/batch "
            "| walks (s) | peak RSS (MiB) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        per_edge: dict[str, dict[str, float]] = {}
        by_scale = {}
        for r in scaling:
            if "error" in r:
                lines.append(f"| {r['row']} | error: {r['error']} |")
                continue
            model, edges = r["row"].split(":")[0].removeprefix("scale-"), r["row"].split(":")[1]
            per_edge.setdefault(model, {})[edges] = r["epoch_s"] / (r["edges"] / 1e6)
            by_scale[model, edges] = r
            lines.append(
                f"| {model} | {r['edges']} | {r['train_per_batch_s'] * 1000:.1f} | {r['epoch_s']:.1f} | "
                f"{per_edge[model][edges]:.1f} | {r.get('batch_nodes', '-')} | {fmt(r.get('walks_s'), 1)} "
                f"| {r['peak_rss_mib']:.0f} |"
            )
        lines += [
            "",
            "Ratios from 1e6 to 1e7 edges. A batch's work is bounded when the nodes it computes on stop growing "
            "with the graph (within 25% over 10x the edges): then the epoch's work is linear in the edges. Its "
            "time per edge can still grow, as the random reads into a 10x larger adjacency and tables miss the "
            "caches more often.",
            "",
            "| model | nodes/batch | epoch per edge | batch work bounded |",
            "|---|---:|---:|---|",
        ]
        for model, v in per_edge.items():
            small, large = by_scale.get((model, "1e6")), by_scale.get((model, "1e7"))
            if small is None or large is None:
                continue
            nodes = large["batch_nodes"] / small["batch_nodes"]
            ok = "yes" if nodes <= 1.25 else "no"
            lines.append(f"| {model} | {nodes:.2f} | {v['1e7'] / v['1e6']:.2f} | {ok} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="gowalla")
    parser.add_argument("--batches", type=int, default=20, help="measured batches per row")
    parser.add_argument("--scaling", action="store_true", help="add the 1e5 / 1e6 / 1e7 edge scaling rows")
    parser.add_argument("--only", choices=["models", "samplers", "fit"],
                        help="only the model rows, the sampler rows, or MF and the fit-only models")  # fmt: skip
    parser.add_argument("--fit-models", nargs="+", choices=FIT_ONLY, default=FIT_ONLY, metavar="MODEL",
                        help=f"the fit-only models to run (default all: {' '.join(FIT_ONLY)})")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("bench_results"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "split.pt"
        meta = {"size": args.size, **make_data(args.size, data)}
        print(f"data: {meta}", flush=True)
        rows, sampler_rows, fit_rows = [], [], []
        model_rows = {None: [*MODELS, "naive", "bare_gemm"], "models": [*MODELS, "naive", "bare_gemm"], "fit": ["mf"]}
        for row in model_rows.get(args.only, []):
            rows.append(run_row(row, data, args.batches))
            print(f"  {row}: {rows[-1]}", flush=True)
        for row in [f"fit:{name}" for name in args.fit_models] if args.only in (None, "fit") else []:
            fit_rows.append(run_row(row, data, args.batches))
            print(f"  {row}: {fit_rows[-1]}", flush=True)
        for row in SAMPLER_ROWS if args.only in (None, "samplers") else []:
            sampler_rows.append(run_row(row, data, args.batches))
            print(f"  {row}: {sampler_rows[-1]}", flush=True)
        scaling = []
        if args.scaling:
            for model in ("mf", "lightgcn", "lightgcn-sampled", "pinsage", "pinsage-capped"):
                for edges in ("1e5", "1e6", "1e7"):
                    # full-graph LightGCN takes seconds per batch at 1e7: fewer measured batches there
                    scaling.append(run_row(f"scale-{model}:{edges}", data, 2 if model == "lightgcn" else 20))
                    print(f"  scale {model} {edges}: {scaling[-1]}", flush=True)
    text = report(meta, rows, scaling, sampler_rows, fit_rows)
    print()
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(text + "\n")
    record = {"meta": meta, "rows": rows, "samplers": sampler_rows, "fit_only": fit_rows, "scaling": scaling}
    (args.out / "bench.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
