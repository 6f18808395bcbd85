"""Recording the ops that would make a GPU wait on the host, and running a few training steps under it.

Checked on the CPU by recording every op a step dispatches: ``.item()`` / ``bool(t)`` / ``int(t)``
(``_local_scalar_dense``), ops whose output size depends on the data (``nonzero``, ``unique``,
``masked_select``, boolean-mask indexing, ``repeat_interleave`` without ``output_size``) and
copies to another device. On a GPU each of those is a host-device synchronisation.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import torch
from hydra.utils import instantiate
from torch.utils._python_dispatch import TorchDispatchMode

from recsys_pyg.losses import build_loss
from recsys_pyg.samplers import pairs
from recsys_pyg.training import train_step
from recsys_pyg.training.hardness import HardnessMeter

aten = torch.ops.aten
SYNCING = {
    aten._local_scalar_dense.default,
    aten.nonzero.default,
    aten.masked_select.default,
    aten._unique2.default,
    aten.unique_dim.default,
    aten.unique_consecutive.default,
}


class SyncRecorder(TorchDispatchMode):
    """Records the syncing ops dispatched inside it; reads of the tensors in ``allowed`` are not counted."""

    def __init__(self, allowed: set[int] = frozenset()) -> None:
        super().__init__()
        self.found: list[str] = []
        self.allowed = allowed

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs, before = kwargs or {}, len(self.found)
        if func is aten._local_scalar_dense.default and id(args[0]) in self.allowed:
            pass
        elif func in SYNCING:
            self.found.append(str(func))
        elif func is aten.repeat_interleave.Tensor and kwargs.get("output_size") is None:
            self.found.append(str(func))
        elif func in (aten.index.Tensor, aten.index_put_.default, aten.index_put.default):
            if any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None):
                self.found.append(f"{func} with a boolean mask")
        elif func is aten._to_copy.default and "device" in kwargs and kwargs["device"] != args[0].device:
            self.found.append(f"copy to {kwargs['device']}")
        if len(self.found) > before:  # where in our code: the innermost recsys_pyg frame
            frames = [f for f in traceback.extract_stack() if "recsys_pyg" in f.filename]
            self.found[-1] += f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        return func(*args, **kwargs)


def setup(cfg_factory, tmp_path, *overrides):
    cfg = cfg_factory("debug=default", f"paths.data_dir={tmp_path / 'cache'}", *overrides)
    data = instantiate(cfg.dataset)
    graph = data.graph
    model = instantiate(cfg.model)(num_users=data.num_users, num_items=data.num_items)
    sampler = instantiate(cfg.sampler)(graph=graph, generator=torch.Generator().manual_seed(0))
    criterion = build_loss(cfg.loss)
    optimizer = instantiate(cfg.optimizer)(params=model.parameters())
    return graph, model, sampler, criterion, optimizer


def syncs_in_steps(graph, model, sampler, criterion, optimizer, steps=3) -> list[str]:
    """The syncing ops of ``steps`` sampling + training steps, on the paths an accelerator takes (the
    samplers' CPU fast paths have data-dependent shapes: there is no device on the CPU to wait on)."""
    host, pairs.HOST_FAST_PATHS = pairs.HOST_FAST_PATHS, False
    try:
        return _syncs_in_steps(graph, model, sampler, criterion, optimizer, steps)
    finally:
        pairs.HOST_FAST_PATHS = host


def _syncs_in_steps(graph, model, sampler, criterion, optimizer, steps) -> list[str]:
    hardness = HardnessMeter()
    model.train()
    idx = torch.randperm(graph.num_edges, generator=torch.Generator().manual_seed(0))
    found: list[str] = []
    for b in range(steps + 1):
        batch = idx[b * 256 : (b + 1) * 256]
        users, pos = graph.user[batch], graph.item[batch]
        if b == 0:  # the first step builds what is cached once per run (normalised adjacency, optimizer state)
            loss = train_step(model, graph, users, pos, sampler.sample(users, pos, 3), criterion, optimizer, hardness)
            # torch's Adam keeps its step counter on the host and reads it there: no device sync
            host_steps = {id(s["step"]) for s in optimizer.state.values() if "step" in s}
            continue
        with SyncRecorder(allowed=host_steps) as recorder:
            neg = sampler.sample(users, pos, 3)
            loss = train_step(model, graph, users, pos, neg, criterion, optimizer, hardness)
        found += recorder.found
    assert torch.isfinite(loss)
    return found
