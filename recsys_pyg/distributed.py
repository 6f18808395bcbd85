"""Data-parallel runs under ``torchrun``: which process this is, and the few collectives a run needs.

    torchrun --nproc_per_node=2 -m recsys_pyg.train train.batch_size=2048 ...

Every rank builds the same parts from the same seed, so they shuffle the same permutation and draw
the same negatives; each global batch of ``train.batch_size`` edges is then split into contiguous
per-rank rows (:meth:`Dist.rows`), and ``DistributedDataParallel`` averages the gradients. The
effective batch is ``train.batch_size``, as in one process, and a loss that is a mean over rows (BPR,
softmax, CCL with their L2) gets the one-process gradient up to floating-point summation order.
Batch-level terms (DirectAU's uniformity, SimGCL/XSimGCL's InfoNCE, in-batch statistics) are computed
over each rank's rows: a different, smaller batch for them. Evaluation is sharded by users and its
metric sums and user counts are all-reduced (never averages of averages); every rank gets the same
metrics, so keep-best and early stopping decide alike. Rank 0 alone writes the record, checkpoints,
the export and W&B. Backend: ``nccl`` when the run is on CUDA, ``gloo`` on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: ``rank`` of ``world`` processes (1 outside torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """The one process that writes files and logs."""
        return self.rank == 0

    def rows(self, n: int) -> tuple[int, int]:
        """This rank's contiguous ``[lo, hi)`` of ``n`` rows (sizes differ by at most one, as ``tensor_split``)."""
        base, extra = divmod(n, self.world)
        lo = self.rank * base + min(self.rank, extra)
        return lo, lo + base + (1 if self.rank < extra else 0)

    def sum(self, tensor: Tensor) -> Tensor:
        """``tensor`` summed over ranks, in place (itself when one process)."""
        if self.active:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def max(self, value: int, device: torch.device | str = "cpu") -> int:
        """The largest ``value`` over ranks (every rank learns the signal that stopped the run)."""
        if not self.active:
            return value
        t = torch.tensor([float(value)], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def any(self, flag: bool, device: torch.device | str = "cpu") -> bool:
        """Whether any rank says ``flag`` (a signal reached one of them: all stop at the same step)."""
        if not self.active:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())


def from_slurm() -> None:
    """In a SLURM job of several tasks (``hydra/launcher=slurm_ddp``: submitit starts one process per
    task) with no torchrun variables, export them from SLURM's with submitit's own helper: each task
    then joins the group exactly as a torchrun rank does (``MASTER_ADDR`` = the first node)."""
    submitit_job = os.environ.get("SUBMITIT_EXECUTOR") == "slurm"
    if not submitit_job or "WORLD_SIZE" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    from submitit.helpers import TorchDistributedEnvironment

    TorchDistributedEnvironment().export(set_cuda_visible_devices=False)


class PeerLostError(RuntimeError):
    """A collective that did not complete: another rank is stopped, dead or hung (or left the group)."""


# How backends report a peer gone or silent (gloo: "Timed out waiting ...", "Connection closed by peer").
PEER_LOST = ("timed out", "timeout", "connection closed", "connection reset", "broken pipe", "socket")


@contextmanager
def peers_watched(where: Dist, timeout_s: float | None) -> Iterator[None]:
    """Re-raise a collective's failure (a timeout, a peer gone) as :class:`PeerLostError` saying which rank saw
    it and what to look at; every live rank then leaves through the same path (the record marks it failed)."""
    try:
        yield
    except RuntimeError as err:
        message = str(err)
        if not where.active or isinstance(err, PeerLostError) or not any(p in message.lower() for p in PEER_LOST):
            raise
        limit = f"within train.dist_timeout_s={timeout_s:g}s " if timeout_s else ""
        raise PeerLostError(
            f"rank {where.rank} of {where.world}: a collective did not complete {limit}- another rank is stopped, "
            f"dead or hung (see its log, train.rank<r>.log); the run stops ({message.splitlines()[0][:300]})"
        ) from err


def process_rank() -> int:
    """This process's rank from torchrun's (or SLURM's) variables, before it joins the group: rank 0 takes the
    run folder and writes the record, so it must know before anything can fail."""
    from_slurm()
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def init_distributed(device: torch.device, timeout_s: float | None = None) -> tuple[Dist, torch.device]:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1) or as a multi-task SLURM job;
    returns this process's :class:`Dist` and its device (``cuda:<local rank>`` when the run is on CUDA).

    ``timeout_s`` (``train.dist_timeout_s``) bounds every collective: a rank stopped or lost makes the others
    fail after it (:func:`peers_watched`) instead of waiting in an all-reduce for torch's default 30 minutes."""
    from_slurm()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        timeout = {"timeout": timedelta(seconds=float(timeout_s))} if timeout_s else {}
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", **timeout)
    return Dist(dist.get_rank(), dist.get_world_size(), local), device


def wrap(model: torch.nn.Module, where: Dist, device: torch.device) -> torch.nn.Module:
    """``model`` in ``DistributedDataParallel`` when the run is distributed (the module itself otherwise).

    Sparse embedding gradients are refused: DDP's reducer buckets dense gradients only.
    """
    if not where.active:
        return model
    sparse = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding) and m.sparse]
    if sparse:
        raise ValueError(
            f"model.sparse=true (sparse embedding gradients in {sparse}) cannot be all-reduced by "
            "DistributedDataParallel: run under torchrun with model.sparse=false and a dense optimizer "
            "(optimizer=adam), or in one process"
        )
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def cleanup() -> None:
    """Leave the process group, if this process joined one; ``train`` calls it however the run ends."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
