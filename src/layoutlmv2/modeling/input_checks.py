"""Checks on model inputs that turn silent wrong answers or deep IndexErrors into ValueErrors.

The embedding tables are indexed by token ids, box coordinates, box widths and heights, so an
out-of-range value would otherwise fail far from its cause (or, for a negative width, index
from the end of the table and give a wrong answer without any error).
"""

from __future__ import annotations

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
