"""Checks on model inputs that turn silent wrong answers or deep IndexErrors into ValueErrors.

The embedding tables are indexed by token ids, box coordinates, box widths and heights, so an
out-of-range value would otherwise fail far from its cause (or, for a negative width, index
from the end of the table and give a wrong answer without any error).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .visual_backbone import MIN_IMAGE_SIZE


def _tracing() -> bool:
    """Data-dependent checks cannot run while torch.compile, jit or ONNX export trace the model."""
    compiling = getattr(torch.compiler, "is_compiling", lambda: False)()
    exporting = getattr(torch.onnx, "is_in_onnx_export", lambda: False)()
    return compiling or exporting or torch.jit.is_tracing() or torch.jit.is_scripting()


def _first_box(bbox: torch.Tensor, bad: torch.Tensor) -> str:
    """'[x0, y0, x1, y1] at index [b, i]' for the first True of `bad` (B, L)."""
    b, i = (int(v) for v in bad.nonzero()[0])
    return f"{bbox[b, i].tolist()} at index [{b}, {i}]"


def check_bbox(bbox: torch.Tensor, batch: int, length: int) -> None:
    if bbox.dim() != 3 or bbox.shape[-1] != 4 or tuple(bbox.shape[:2]) != (batch, length):
        raise ValueError(f"bbox must have shape (batch, seq_len, 4) = ({batch}, {length}, 4), got {tuple(bbox.shape)}")
    if bbox.is_floating_point():
        raise ValueError(f"bbox must hold integers in 0..1000, got dtype {bbox.dtype}")
    if _tracing() or bbox.numel() == 0:
        return
    outside = ((bbox < 0) | (bbox > 1000)).any(-1)
    if outside.any():
        raise ValueError("bbox values must be in 0..1000 (normalise pixel boxes by the page size): "
                         f"box {_first_box(bbox, outside)}")
    inverted = (bbox[..., 2] < bbox[..., 0]) | (bbox[..., 3] < bbox[..., 1])
    if inverted.any():
        raise ValueError(f"bbox must satisfy x1 >= x0 and y1 >= y0: box {_first_box(bbox, inverted)}")


def check_ids(name: str, ids: torch.Tensor, limit: int, batch: int, length: int, what: str) -> None:
    if tuple(ids.shape) != (batch, length):
        raise ValueError(f"{name} must have shape (batch, seq_len) = ({batch}, {length}), got {tuple(ids.shape)}")
    if _tracing() or ids.numel() == 0:
        return
    bad = (ids < 0) | (ids >= limit)
    if bad.any():
        index = [int(i) for i in bad.nonzero()[0]]
        raise ValueError(f"{name} value {ids[index[0], index[1]].item()} at index {index} is outside 0..{limit - 1} ({what})")


def check_image(image: Optional[torch.Tensor], batch: int) -> None:
    if image is None:
        raise ValueError("image is required: a (batch, 3, height, width) tensor, BGR, values 0..255 "
                         "(LayoutLMv2ImageProcessor makes it)")
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"image must have shape (batch, 3, height, width), got {tuple(image.shape)}")
    if image.shape[0] != batch:
        raise ValueError(f"image batch size {image.shape[0]} does not match the text batch size {batch}")
    height, width = image.shape[-2:]
    if height < MIN_IMAGE_SIZE or width < MIN_IMAGE_SIZE:
        raise ValueError(f"image size {height}x{width} is smaller than the backbone's stride of {MIN_IMAGE_SIZE} pixels")


@dataclass
class TextInputs:
    """The text-side inputs of a forward pass, every default filled in and every tensor checked."""

    batch: int
    length: int
    bbox: torch.Tensor  # (B, L, 4)
    attention_mask: torch.Tensor  # (B, L)
    token_type_ids: torch.Tensor  # (B, L)
    position_ids: torch.Tensor  # (B, L)
    image: Optional[torch.Tensor]  # (B, 3, H, W)


def complete_inputs(config, input_ids: Optional[torch.Tensor], inputs_embeds: Optional[torch.Tensor],
                    bbox: Optional[torch.Tensor], image, attention_mask: Optional[torch.Tensor],
                    token_type_ids: Optional[torch.Tensor], position_ids: Optional[torch.Tensor],
                    head_mask: Optional[torch.Tensor]) -> TextInputs:
    """transformers' defaults for what the caller left out, then the checks that turn a bad value
    into an error naming it: no bbox means all-zero boxes, no attention_mask attends to every
    token, no token_type_ids are zeros, no position_ids count 0..L-1."""
    if head_mask is not None:
        raise ValueError("head_mask is not supported by LayoutLMv2 (the reference ignores it too); pass None")
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("pass exactly one of input_ids and inputs_embeds")
    batch, length = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
    device = input_ids.device if input_ids is not None else inputs_embeds.device
    if input_ids is not None:
        check_ids("input_ids", input_ids, config.vocab_size, batch, length, "vocab_size")
    zeros = lambda *shape: torch.zeros(*shape, dtype=torch.long, device=device)  # noqa: E731
    bbox = zeros(batch, length, 4) if bbox is None else bbox
    check_bbox(bbox, batch, length)
    attention_mask = torch.ones(batch, length, dtype=torch.long, device=device) if attention_mask is None \
        else attention_mask
    if tuple(attention_mask.shape) != (batch, length):
        raise ValueError(f"attention_mask must have shape ({batch}, {length}), got {tuple(attention_mask.shape)}")
    token_type_ids = zeros(batch, length) if token_type_ids is None else token_type_ids
    check_ids("token_type_ids", token_type_ids, config.type_vocab_size, batch, length, "type_vocab_size")
    if position_ids is None:
        if length > config.max_position_embeddings:
            raise ValueError(f"sequence length {length} exceeds max_position_embeddings="
                             f"{config.max_position_embeddings}; truncate or use stride windows")
        position_ids = torch.arange(length, device=device).expand(batch, length)
    check_ids("position_ids", position_ids, config.max_position_embeddings, batch, length, "max_position_embeddings")
    if image is not None and not isinstance(image, torch.Tensor):
        image = torch.as_tensor(image)
    check_image(image, batch)
    return TextInputs(batch, length, bbox, attention_mask, token_type_ids, position_ids, image)
