"""Frozen batch norm for the visual trunk, and its conversion to SyncBatchNorm for training.

The published checkpoints were pre-trained with synchronised batch norm; transformers runs them
frozen (fixed running statistics, detectron2's `FrozenBatchNorm2d`, eps 1e-5). We do the same by
default. Nothing converts implicitly: `convert_sync_batchnorm` in the config is kept only for
config.json compatibility. Call `synchronize_batch_norm(model)` (or the model method of the same
name) inside an initialised `torch.distributed` job to train the statistics across processes.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine terms, all stored as buffers.

    Buffers (not parameters) so that optimisers and DDP never see them; the state-dict names
    (`weight`, `bias`, `running_mean`, `running_var`) are those of the checkpoints.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, device=None, dtype=None) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        factory = {"device": device, "dtype": dtype}
        self.register_buffer("weight", torch.ones(num_features, **factory))
        self.register_buffer("bias", torch.zeros(num_features, **factory))
        self.register_buffer("running_mean", torch.zeros(num_features, **factory))
        self.register_buffer("running_var", torch.ones(num_features, **factory) - eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


def processes_per_node() -> int:
    """`LOCAL_WORLD_SIZE` when set (torchrun sets it), else the number of CUDA devices."""
    local = os.environ.get("LOCAL_WORLD_SIZE")
    if local:
        return int(local)
    return torch.cuda.device_count()


def node_process_group(world_size: int, rank: int, per_node: int):
    """One process group per node, as the reference groups its SyncBatchNorm layers.

    Every rank must call this (new_group is collective); returns the group of `rank`'s node.
    """
    if per_node <= 0 or world_size % per_node:
        raise ValueError(
            f"cannot split world_size={world_size} into nodes of {per_node} processes: set LOCAL_WORLD_SIZE "
            "(torchrun sets it) to the number of processes per node, which must divide the world size"
        )
    groups = [
        torch.distributed.new_group(ranks=list(range(start, start + per_node)))
        for start in range(0, world_size, per_node)
    ]
    return groups[rank // per_node]


def convert_frozen_to_sync(module: nn.Module, process_group=None) -> nn.Module:
    """Replace every FrozenBatchNorm2d below `module` by a trainable SyncBatchNorm.

    Weights and running statistics carry over exactly.
    """
    if isinstance(module, FrozenBatchNorm2d):
        sync = nn.SyncBatchNorm(module.num_features, eps=module.eps, affine=True, track_running_stats=True,
                                process_group=process_group)
        sync = sync.to(device=module.weight.device, dtype=module.weight.dtype)
        sync.train(module.training)  # a new module starts in training mode; an eval model must stay eval
        with torch.no_grad():
            sync.weight.copy_(module.weight)
            sync.bias.copy_(module.bias)
            sync.running_mean.copy_(module.running_mean)
            sync.running_var.copy_(module.running_var)
        return sync
    for name, child in module.named_children():
        converted = convert_frozen_to_sync(child, process_group)
        if converted is not child:
            setattr(module, name, converted)
    return module


def synchronize_batch_norm(model: nn.Module, per_node: Optional[int] = None) -> nn.Module:
    """Turn the frozen batch norms of `model` into SyncBatchNorm grouped per node.

    Needs an initialised `torch.distributed`. SyncBatchNorm itself trains only on GPUs (PyTorch
    refuses CPU tensors in its training forward); in eval mode it behaves as plain batch norm.
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        raise RuntimeError("synchronize_batch_norm() needs torch.distributed to be initialised first "
                           "(torch.distributed.init_process_group)")
    world_size = torch.distributed.get_world_size()
    rank = torch.distributed.get_rank()
    group = node_process_group(world_size, rank, processes_per_node() if per_node is None else per_node)
    return convert_frozen_to_sync(model, process_group=group)
