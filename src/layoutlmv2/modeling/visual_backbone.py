"""The visual stream: timm ResNeXt trunk + our FPN, pixel normalisation, pooling to a token grid.

This replaces detectron2's `build_resnet_fpn_backbone`. The trunk is timm's ResNet with
detectron2's layout (3x3 conv carries the stride, a projection shortcut in the first block of
every stage) and frozen batch norm; `conversion.py` maps detectron2's key names onto it.
"""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from .batch_norm import FrozenBatchNorm2d
from ..configuration import BackboneSettings, LayoutLMv2Config
from .fpn import FeaturePyramid

# The backbone sees at least one pixel per stride-32 cell of res5.
MIN_IMAGE_SIZE = 32


def build_trunk(settings: BackboneSettings) -> nn.Module:
    """timm ResNeXt with detectron2's ResNet settings and frozen batch norm (eps 1e-5).

    timm is imported here, not at the top: with torchvision under it, it costs about 200 MB of
    resident memory, which a process running an exported ONNX graph never needs.
    """
    from timm.models.resnet import Bottleneck, ResNet

    trunk = ResNet(
        block=Bottleneck,
        layers=settings.stage_blocks,
        cardinality=settings.groups,
        base_width=settings.width_per_group,
        num_classes=0,
        global_pool="",
        norm_layer=FrozenBatchNorm2d,
    )
    # detectron2's FREEZE_AT: 1 freezes the stem, 2 the stem and res2 (the default), ...
    stages = [(trunk.conv1, trunk.bn1)] + [trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4]
    for stage in stages[: settings.freeze_at]:
        for module in stage if isinstance(stage, tuple) else (stage,):
            module.requires_grad_(False)
    return trunk


def _fp16_autocast(device_type: str) -> bool:
    """Whether float16 autocast is on for ``device_type`` (torch >= 2.4 API; CUDA-only API before)."""
    try:
        return torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.float16
    except (TypeError, AttributeError):
        return device_type == "cuda" and torch.is_autocast_enabled() and torch.get_autocast_gpu_dtype() == torch.float16


class VisualBackbone(nn.Module):
    """Image (B, 3, H, W), BGR 0..255 -> visual features (B, rows * cols, channels).

    Example:
        >>> config = LayoutLMv2Config()
        >>> VisualBackbone(config)(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 49, 256])
    """

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__()
        settings = config.backbone_settings()
        self.trunk = build_trunk(settings)
        stage_channels = [info["num_chs"] for info in self.trunk.feature_info[1:]]  # res2..res5
        self.fpn = FeaturePyramid(stage_channels, settings.fpn_channels)
        # p3..p5 output convs are kept for lossless checkpoints but never used: freeze them so
        # DistributedDataParallel needs no `find_unused_parameters`.
        self.fpn.output[1:].requires_grad_(False)
        # Non-persistent, as in transformers: the values come from the config.
        self.register_buffer("pixel_mean", torch.tensor(settings.pixel_mean).view(3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(settings.pixel_std).view(3, 1, 1), persistent=False)
        self.pool = nn.AdaptiveAvgPool2d(config.visual_grid)

    def stages(self, images: torch.Tensor) -> List[torch.Tensor]:
        """res2..res5 of the normalised images."""
        x = (images - self.pixel_mean) / self.pixel_std
        t = self.trunk
        x = t.maxpool(t.act1(t.bn1(t.conv1(x))))
        res2 = t.layer1(x)
        res3 = t.layer2(res2)
        res4 = t.layer3(res3)
        res5 = t.layer4(res4)
        return [res2, res3, res4, res5]

    def pyramid(self, images: torch.Tensor) -> List[torch.Tensor]:
        """All FPN maps [p2, p3, p4, p5, p6], for checks against detectron2."""
        return self.fpn(self.stages(images), all_levels=True)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Under fp16 autocast the backbone runs in float32 (autocast off, input cast to float32):
        the frozen batch norms' folded scales and 0..255 pixels overflow or lose precision in
        float16. Under bf16 autocast (fp32's exponent range) it runs in bf16 like the rest."""
        device_type = images.device.type
        if _fp16_autocast(device_type):
            with torch.autocast(device_type, enabled=False):
                return self._forward(images.float())
        return self._forward(images)

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        p2 = self.fpn(self.stages(images))[0]  # (B, C, H/4, W/4)
        pooled = self.pool(p2)  # (B, C, rows, cols)
        return pooled.flatten(2).transpose(1, 2)  # (B, rows * cols, C), row-major grid
