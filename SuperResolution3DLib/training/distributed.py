"""Data-parallel training across processes, GPUs and machines (``torchrun`` + PyTorch DDP).

Launch any training config with, for example::

    torchrun --nproc_per_node 4 -m SuperResolution3DLib.cli train configs/gan_paper.yaml
    torchrun --nnodes 2 --node_rank 0 --master_addr HOST --master_port 29500 --nproc_per_node 8 \
        -m SuperResolution3DLib.cli train configs/gan_paper.yaml

``torchrun`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``;
``init_distributed()`` reads them and starts a process group (NCCL on GPUs, gloo on CPU). Without
them it returns a single-process context and nothing changes.

Sampling: the training data are random patches, so the distributed sampler is a random stream
per rank: rank ``r`` draws its patches from ``numpy.random.default_rng([seed, r])`` (rank 0 of
a single process keeps ``default_rng(seed)``), so ranks see different patches and a run is
reproducible for a given world size. ``optim.batch_size`` is per process; the effective batch
is ``batch_size * world_size``. Every rank loads every training volume.

Logging, validation, PNGs, checkpoints and the model export happen on rank 0 only. A checkpoint
holds the random-number states of every rank (gathered before rank 0 writes), so a resumed run
with the same world size continues exactly. Multi-machine runs need ``output_dir`` on a shared
file system for resuming.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistributedContext:
    """Where this process stands in a (possibly single-process) data-parallel job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: Optional[str] = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_gather_object(self, value: Any) -> List[Any]:
        """Every rank's ``value`` (a picklable object), in rank order."""
        if not self.enabled:
            return [value]
        gathered: List[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast_object(self, value: Any, source: int = 0) -> Any:
        if not self.enabled:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=source)
        return box[0]

    def device(self, name: str = "auto") -> torch.device:
        """This process's compute device: ``cuda:LOCAL_RANK`` under torchrun with CUDA, else ``name``
        as ``core.devices.select_device`` resolves it."""
        from SuperResolution3DLib.core.devices import select_device

        if self.enabled and torch.cuda.is_available() and name != "cpu":
            return torch.device("cuda", self.local_rank)
        return select_device(name)


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(backend: Optional[str] = None) -> DistributedContext:
    """Join the process group ``torchrun`` describes (NCCL on CUDA, gloo on CPU), or run alone."""
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_backend())
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 2:
        return DistributedContext()
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank, world_size, local_rank, backend, owns_group=True)


def cleanup_distributed(context: DistributedContext) -> None:
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def rank_rng(seed: int, rank: int) -> np.random.Generator:
    """Rank ``rank``'s patch stream: ``default_rng(seed)`` for rank 0, ``default_rng([seed, rank])`` otherwise."""
    return np.random.default_rng(seed if rank == 0 else [seed, rank])


def wrap_ddp(module: nn.Module, context: DistributedContext) -> nn.Module:
    """``module`` in ``DistributedDataParallel`` when several processes train, else unchanged.

    Parameters (and buffers, such as spectral-norm vectors) are broadcast from rank 0 when wrapped,
    so all ranks start from identical weights.
    """
    if not context.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [context.local_rank] if next(module.parameters()).is_cuda else None
    return DistributedDataParallel(module, device_ids=device_ids)


def main_only(function: Callable[..., Any], context: DistributedContext) -> Callable[..., Any]:
    """``function`` on rank 0, a no-op elsewhere (for ``log`` callbacks)."""
    if context.is_main:
        return function

    def silent(*args: Any, **kwargs: Any) -> None:
        return None

    return silent
