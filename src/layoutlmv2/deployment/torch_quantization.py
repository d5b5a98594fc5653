"""Lower precision for CPU inference: int8 linear layers, bfloat16 autocast, a bfloat16 visual stream.

Each helper returns a new model (the caller's stays fp32) or a context, and none is needed for
correctness: they trade a measured drift of the logits for speed (benchmarks/results/benchmark.md).

- `quantize_dynamic_int8`: the encoder's linear layers (about two thirds of the FLOPs at 512
  tokens) run int8 x int8 matmuls; weights are quantised once per output channel, activations
  per call. Two backends ("auto", the default, picks with `default_int8_backend`), measured in
  benchmarks/results/benchmark.md (AVX-512) and benchmarks/results/avx2/:
    * "torchao": `torchao.quantization.Int8DynamicActivationInt8WeightConfig`
      (optional dependency: `pip install torchao`). Activation scales per token: on a
      fine-tuned FUNSD model it kept entity F1 within 0.2 points of fp32, where fbgemm lost 1.35.
    * "fbgemm": `torch.ao.quantization.quantize_dynamic`, fbgemm's x86 kernels, weights per
      output channel, one activation scale per tensor. The only fast one on AVX2-only CPUs
      (torchao was 0.15x the fp32 baseline there). With AVX-512 about 10% faster than torchao
      on the full-size model, less accurate, and
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

from ..modeling.encoder import LayoutLMv2Encoder
from ..modeling.visual_backbone import VisualBackbone

logger = logging.getLogger(__name__)

INT8_BACKENDS = ("fbgemm", "torchao")


def _encoders(model: nn.Module) -> list:
    encoders = [m for m in model.modules() if isinstance(m, LayoutLMv2Encoder)]
    if not encoders:
        raise ValueError(f"{type(model).__name__} has no LayoutLMv2Encoder to quantise")
    return encoders


def has_avx512() -> bool:
    """Whether torch's CPU kernels use AVX-512 here (bf16 and torchao int8 are only fast then)."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


def default_int8_backend() -> str:
    """torchao where the CPU has AVX-512 and torchao is installed, fbgemm otherwise.

    On an AVX2-only CPU torchao's int8 path ran at 0.15x the fp32 baseline (FUNSD end to end,
    2026-12-01) while fbgemm ran at 2.7x; with AVX-512 torchao is about as fast and more accurate.
    """
    if has_avx512():
        try:
            import torchao  # noqa: F401
            return "torchao"
        except ImportError:
            pass
    return "fbgemm"


def quantize_dynamic_int8(model: nn.Module, backend: str = "auto", keep_ffn_output_fp32: bool = False) -> nn.Module:
    """A copy of `model` whose encoder linear layers compute in int8 (dynamic activation scales).

    `backend`: "auto" (see `default_int8_backend`), "torchao" or "fbgemm".
    Only the encoder is quantised: the visual projection and the classifiers are tiny, and
    `visual_proj.weight` must stay a tensor (the model reads its dtype). For inference only.
    `keep_ffn_output_fp32` leaves each layer's feed-forward output projection (`layer.N.output.dense`,
    a third of the encoder's linear FLOPs) in fp32: its input, after GELU, has outliers that one
    activation scale per tensor clips. On the fine-tuned FUNSD model (fbgemm) this took the
    entity F1 loss from 3.3 points to 0.7 (benchmarks/results/avx2).
    """
    if backend == "auto":
        backend = default_int8_backend()
    if backend not in INT8_BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {INT8_BACKENDS + ('auto',)}")
    quantized = copy.deepcopy(model).eval()
    for encoder in _encoders(quantized):
        names = [name for name, module in encoder.named_modules() if isinstance(module, nn.Linear)
                 and not (keep_ffn_output_fp32 and is_ffn_output(name))]
        if backend == "fbgemm":
            with warnings.catch_warnings():
                # torch.ao.quantization warns that it is deprecated (see the module docstring)
                warnings.filterwarnings("ignore", message=".*deprecated.*")
                from torch.ao.quantization import per_channel_dynamic_qconfig

                spec = {name: per_channel_dynamic_qconfig for name in names}
                torch.ao.quantization.quantize_dynamic(encoder, spec, dtype=torch.qint8, inplace=True)
        else:
            try:
                from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
            except ImportError as error:
                raise ValueError("backend='torchao' needs the torchao package (pip install torchao); "
                                 "backend='fbgemm' needs nothing extra") from error
            chosen = set(names)
            quantize_(encoder, Int8DynamicActivationInt8WeightConfig(),
                      filter_fn=lambda module, fqn: isinstance(module, nn.Linear) and fqn in chosen)
    logger.info("quantised the encoder linear layers of %s to int8 (%s)", type(model).__name__, backend)
    return quantized


def is_ffn_output(name: str) -> bool:
    """`layer.3.output.dense` (feed-forward output), not `layer.3.attention.output.dense`."""
    parts = name.split(".")
    return len(parts) == 4 and parts[0] == "layer" and parts[2:] == ["output", "dense"]


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
