"""Data-parallel training under ``torchrun``: which process this is, and its share of the data.

``torchrun --nproc_per_node N -m layoutlmv2.cli train ...`` starts N processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` set; `distributed_context` joins them into one process group
(NCCL on CUDA, gloo on the CPU) and pins each CUDA process to GPU ``LOCAL_RANK``. The `Trainer`
wraps the model in `DistributedDataParallel`, gives each rank every N-th window of the epoch's
shared random order (`shard`, padded by wrapping so every rank runs the same number of batches,
as `torch.utils.data.DistributedSampler` does), and lets only rank 0 write files and evaluate.
One process (no ``WORLD_SIZE``, or 1) is the plain single-process path.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

__all__ = ["DistributedContext", "distributed_context", "shard"]


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of ``value`` over the ranks (``value`` itself in one process)."""
        if not self.enabled:
            return value
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size


def distributed_context(device: torch.device) -> DistributedContext:
    """This process's place in a ``torchrun`` job (joining the process group on first use)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
        logger.info("distributed training: rank %d of %d (%s)", rank, world_size, backend)
    return DistributedContext(rank, world_size, local_rank)


def shard(order: Sequence[int], rank: int, world_size: int) -> list[int]:
    """Rank ``rank``'s share of ``order``: every ``world_size``-th item, the order first padded by
    wrapping around so that all ranks get the same count."""
    order = list(order)
    if world_size <= 1:
        return order
    if not order:
        raise ValueError("no training windows to share between the ranks")
    total = -(-len(order) // world_size) * world_size
    padded = (order * (total // len(order) + 1))[:total]
    return padded[rank::world_size]
