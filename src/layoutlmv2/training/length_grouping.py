"""A training order whose batches hold windows of similar length (``group_by_length``).

Training windows are padded to the longest of their batch. FUNSD-QA windows run from about 60
to 512 tokens (mean 290), so two drawn at random pad a good share of every batch. As
transformers' ``group_by_length`` does, the shuffled order is cut into mega-batches of 50
batches, each mega-batch is sorted by length, cut into batches again, and the batches are
shuffled: batches stay random in content and order, but each is nearly free of padding. The
longest batch goes first, so a run that is going to run out of memory does so at once.
"""

from __future__ import annotations

from typing import Sequence

import torch

MEGA_BATCHES = 50


def length_grouped_order(order: Sequence[int], lengths: Sequence[int], batch_size: int,
                         generator: torch.Generator) -> list[int]:
    """``order`` rearranged so every run of ``batch_size`` items (a batch; under DDP, one batch
    per rank, pass ``batch_size * world_size``) holds items of similar ``lengths``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = list(order)
    mega = batch_size * MEGA_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), mega):
        group = sorted(order[start: start + mega], key=lambda i: -lengths[i])
        batches.extend(group[k: k + batch_size] for k in range(0, len(group), batch_size))
    # a short last batch stays last: in the middle it would shift every later batch boundary
    tail = [batches.pop()] if batches and len(batches[-1]) < batch_size else []
    if not batches:
        return [i for batch in tail for i in batch]
    longest = max(range(len(batches)), key=lambda b: lengths[batches[b][0]])
    rest = [b for k, b in enumerate(batches) if k != longest]
    shuffled = [rest[i] for i in torch.randperm(len(rest), generator=generator).tolist()]
    return [i for batch in [batches[longest], *shuffled, *tail] for i in batch]
