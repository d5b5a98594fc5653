"""Lower precision for CPU inference: int8 linear layers, bfloat16 autocast, a bfloat16 visual stream.

Each helper returns a new model (the caller's stays fp32) or a context, and none is needed for
correctness: they trade a measured drift of the logits for speed (benchmarks/results/benchmark.md).

- `quantize_dynamic_int8`: the encoder's linear layers (about two thirds of the FLOPs at 512
  tokens) run int8 x int8 matmuls; weights are quantised once per output channel, activations
  per call. Two backends, measured in benchmarks/results/benchmark.md:
    * "torchao" (default): `torchao.quantization.Int8DynamicActivationInt8WeightConfig`
      (optional dependency: `pip install torchao`). Activation scales per token: on a
      fine-tuned FUNSD model it kept entity F1 within 0.2 points of fp32, where fbgemm lost 1.35.
    * "fbgemm": `torch.ao.quantization.quantize_dynamic`, fbgemm's x86 kernels, one activation
      scale per tensor. About 10% faster than torchao on the full-size model, less accurate, and
      deprecated in recent torch (its warnings are silenced here); no extra dependency.
- `bf16_autocast`: matmuls and convolutions in bfloat16 with fp32 accumulation, everything else
  fp32. Fast only where the CPU has bfloat16 dot products (AVX-512 BF16 / AMX).
- `visual_in_bfloat16`: only the ResNeXt-FPN stream in bfloat16. The pooled features it returns
  are averaged over 8 x 8 cells, so their drift is small.

Example:
    >>> int8_model = quantize_dynamic_int8(model)                  # doctest: +SKIP
    >>> with torch.inference_mode(), bf16_autocast():               # doctest: +SKIP
    ...     logits = model(**inputs).logits.float()
"""

from __future__ import annotations

import copy
import logging
import warnings
from contextlib import AbstractContextManager

import torch
from torch import nn

from .encoder import LayoutLMv2Encoder
from .visual_backbone import VisualBackbone

logger = logging.getLogger(__name__)

INT8_BACKENDS = ("fbgemm", "torchao")


def _encoders(model: nn.Module) -> list:
    encoders = [m for m in model.modules() if isinstance(m, LayoutLMv2Encoder)]
    if not encoders:
        raise ValueError(f"{type(model).__name__} has no LayoutLMv2Encoder to quantise")
    return encoders


def quantize_dynamic_int8(model: nn.Module, backend: str = "torchao") -> nn.Module:
    """A copy of `model` whose encoder linear layers compute in int8 (dynamic activation scales).

    Only the encoder is quantised: the visual projection and the classifiers are tiny, and
    `visual_proj.weight` must stay a tensor (the model reads its dtype). For inference only.
    """
    if backend not in INT8_BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {INT8_BACKENDS}")
    quantized = copy.deepcopy(model).eval()
    for encoder in _encoders(quantized):
        if backend == "fbgemm":
            with warnings.catch_warnings():
                # torch.ao.quantization warns that it is deprecated (see the module docstring)
                warnings.filterwarnings("ignore", message=".*deprecated.*")
                torch.ao.quantization.quantize_dynamic(encoder, {nn.Linear}, dtype=torch.qint8, inplace=True)
        else:
            try:
                from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
            except ImportError as error:
                raise ValueError("backend='torchao' needs the torchao package (pip install torchao); "
                                 "backend='fbgemm' needs nothing extra") from error
            quantize_(encoder, Int8DynamicActivationInt8WeightConfig())
    logger.info("quantised the encoder linear layers of %s to int8 (%s)", type(model).__name__, backend)
    return quantized


def bf16_autocast(enabled: bool = True) -> AbstractContextManager:
    """`with bf16_autocast(): model(...)`: CPU autocast to bfloat16 (outputs may come back bfloat16)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled)


def _to_dtype_hook(dtype: torch.dtype):
    def hook(module: nn.Module, args: tuple) -> tuple:
        return (args[0].to(dtype),) + tuple(args[1:])

    return hook


def _to_float_hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return output.float()


def visual_in_bfloat16(model: nn.Module) -> nn.Module:
    """A copy of `model` whose visual backbone holds bfloat16 weights and computes in bfloat16.

    Images are cast on the way in and the pooled features back to float32 on the way out, so
    the text side stays fp32 and module names (and state-dict keys) do not change.
    """
    converted = copy.deepcopy(model).eval()
    backbones = [m for m in converted.modules() if isinstance(m, VisualBackbone)]
    if not backbones:
        raise ValueError(f"{type(model).__name__} has no VisualBackbone")
    for backbone in backbones:
        backbone.to(torch.bfloat16)
        backbone.register_forward_pre_hook(_to_dtype_hook(torch.bfloat16))
        backbone.register_forward_hook(_to_float_hook)
    return converted
