"""Feature pyramid network as detectron2 builds it for LayoutLMv2 (sum fusion, no norm).

LayoutLMv2 reads only p2, the finest map. p2 still depends on every lateral (the top-down path
adds the coarser maps into it), but not on the output convs of p3..p5 nor on p6, so the default
forward skips them; `forward(..., all_levels=True)` computes the whole pyramid, which the tests
compare with detectron2's maps so that a wrong mapping of the unused weights cannot hide.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class FeaturePyramid(nn.Module):
    """1x1 lateral convs, nearest 2x top-down upsampling, sum, 3x3 output convs.

    `lateral[i]` and `output[i]` belong to level i + 2 (stride 2**(i + 2)); detectron2 names
    them `fpn_lateral{i+2}` / `fpn_output{i+2}`.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, kernel_size=1) for c in in_channels)
        self.output = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1) for _ in in_channels
        )

    def top_down(self, features: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """The merged maps before the output convs, finest first."""
        merged = [self.lateral[-1](features[-1])]
        for level in range(len(features) - 2, -1, -1):
            lateral = self.lateral[level](features[level])
            # `size=` equals scale_factor=2 for inputs that are multiples of 32, and still
            # works (rounding like the trunk's strided convs) for any other input size.
            upsampled = F.interpolate(merged[0], size=lateral.shape[-2:], mode="nearest")
            merged.insert(0, lateral + upsampled)
        return merged

    def forward(self, features: Sequence[torch.Tensor], all_levels: bool = False) -> List[torch.Tensor]:
        """[p2] by default; [p2, p3, p4, p5, p6] with `all_levels`."""
        merged = self.top_down(features)
        if not all_levels:
            return [self.output[0](merged[0])]
        maps = [conv(m) for conv, m in zip(self.output, merged)]
        maps.append(F.max_pool2d(maps[-1], kernel_size=1, stride=2))  # p6, detectron2's LastLevelMaxPool
        return maps
