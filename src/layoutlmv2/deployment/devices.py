"""Where a model runs (CPU, a CUDA GPU, Apple MPS) and in which precision (fp32, bf16, fp16 autocast).

Used by training (`training.loop.Trainer`), evaluation (`inference.evaluate`), prediction
(`inference.predictor.Predictor`) and the batch runner (`deployment.worker_pool.run_batches`);
it lives in `deployment`, the lowest layer all of them may import.

* `resolve_device("auto" | "cpu" | "cuda" | "cuda:N" | "mps")`: ``auto`` is CUDA when available,
  else MPS, else the CPU. Asking for a device this machine lacks is one ValueError naming the
  device asked for and what is available.
* `resolve_precision(precision, device)` -> ``(autocast dtype or None, needs a GradScaler)``:
  ``auto``/None is fp32 on the CPU and on MPS, and on CUDA bf16 where the GPU supports it
  (Ampere and newer) else fp16. fp16 (on CUDA) trains with `torch.amp.GradScaler`; bf16 has
  fp32's exponent range and needs none. fp16 on the CPU is refused: CPU autocast in float16 is
  slow or missing for many operations; bf16 is the CPU's reduced precision.
* `autocast(device, dtype)`: ``torch.autocast(device.type, dtype)``, or nothing when dtype is None.
* `move_batch` / `outputs_to_cpu`: batches to the device (``non_blocking``, pinned for CUDA), and
  outputs back to float32 CPU tensors for decoding.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, ContextManager, Mapping, Optional, Tuple, Union

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")  # plus "cuda:N"
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> str:
    """What this machine offers, in words (for error messages)."""
    found = ["cpu"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        found.append(f"cuda ({count} GPU{'s' if count != 1 else ''}: cuda:0..cuda:{count - 1})")
    if _mps_available():
        found.append("mps")
    return ", ".join(found)


def resolve_device(device: Union[str, torch.device, None] = "auto") -> torch.device:
    """The `torch.device` for ``device`` (see the module docstring); ValueError if it is not here."""
    if isinstance(device, torch.device):
        device = str(device)
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ValueError(f"device 'mps' was asked for but Apple MPS is not available here; available: "
                             f"{available_devices()}")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        index: Optional[int] = None
        if name != "cuda":
            suffix = name.split(":", 1)[1]
            if not suffix.isdigit():
                raise ValueError(f"device {device!r}: expected cuda:N with N a GPU number")
            index = int(suffix)
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but CUDA is not available here (no GPU, or a "
                             f"CPU-only PyTorch build); available: {available_devices()}")
        count = torch.cuda.device_count()
        if index is not None and index >= count:
            raise ValueError(f"device {device!r} was asked for but this machine has {count} GPU"
                             f"{'s' if count != 1 else ''}; available: {available_devices()}")
        return torch.device("cuda", index if index is not None else torch.cuda.current_device())
    raise ValueError(f"unknown device {device!r}: use one of auto, cpu, cuda, cuda:N, mps")


def _bf16_supported() -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported())
    except Exception:  # noqa: BLE001 - older drivers / builds
        return False


def resolve_precision(precision: Optional[str], device: Union[str, torch.device]) -> Tuple[Optional[torch.dtype], bool]:
    """``(autocast dtype or None for fp32, whether training needs a GradScaler)`` for ``device``.

    See the module docstring for the defaults; fp16 on the CPU is a ValueError with the reason.
    """
    device = torch.device(device) if isinstance(device, str) else device
    name = (precision or "auto").strip().lower()
    aliases = {"float32": "fp32", "32": "fp32", "bfloat16": "bf16", "float16": "fp16", "16": "fp16", "half": "fp16"}
    name = aliases.get(name, name)
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    kind = device.type
    if name == "auto":
        if kind == "cuda":
            name = "bf16" if _bf16_supported() else "fp16"
        else:
            name = "fp32"
    if name == "fp16" and kind == "cpu":
        raise ValueError("precision fp16 is refused on the CPU: CPU autocast in float16 is slow or unsupported for "
                         "many operations; use --precision bf16 (or fp32)")
    if name == "bf16" and kind == "cuda" and not _bf16_supported():
        raise ValueError("precision bf16 was asked for but this GPU does not support bfloat16; use fp16 or fp32")
    dtype = _DTYPES[name]
    needs_scaler = dtype is torch.float16 and kind == "cuda"
    return dtype, needs_scaler


def precision_name(dtype: Optional[torch.dtype]) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: Union[str, torch.device], dtype: Optional[torch.dtype]) -> ContextManager[Any]:
    """``torch.autocast(device.type, dtype)``; a no-op context for fp32 (dtype None)."""
    device = torch.device(device) if isinstance(device, str) else device
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: Union[str, torch.device], needed: bool) -> Optional["torch.amp.GradScaler"]:
    """A `torch.amp.GradScaler` for fp16 training on ``device``, or None."""
    if not needed:
        return None
    device = torch.device(device) if isinstance(device, str) else device
    return torch.amp.GradScaler(device.type)


def module_device(model: Any) -> torch.device:
    """The device of a module's first parameter (or buffer); the CPU for anything else (an `OnnxModel`)."""
    parameters = getattr(model, "parameters", None)
    if callable(parameters):
        for tensor in parameters():
            return tensor.device
        for tensor in model.buffers():
            return tensor.device
    return torch.device("cpu")


def move_batch(batch: Mapping[str, Any], device: torch.device, pin_memory: bool = False) -> dict[str, Any]:
    """Tensors of ``batch`` on ``device`` (``non_blocking``; pinned first when ``pin_memory`` and CUDA)."""
    if device.type == "cpu":
        return dict(batch)
    pin = pin_memory and device.type == "cuda"
    out = {}
    for name, value in batch.items():
        if isinstance(value, torch.Tensor):
            if pin and value.device.type == "cpu":
                value = value.pin_memory()
            value = value.to(device, non_blocking=True)
        out[name] = value
    return out


def outputs_to_cpu(outputs: Any) -> Any:
    """Model outputs with every floating tensor as float32 on the CPU (other tensors on the CPU).

    Keeps the outputs' type (a `ModelOutput` dataclass or a dict), so attribute access still works.
    """
    def convert(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            value = value.detach()
            return value.float().cpu() if value.is_floating_point() else value.cpu()
        if isinstance(value, tuple):
            return tuple(convert(v) for v in value)
        return value

    if dataclasses.is_dataclass(outputs) and not isinstance(outputs, type):
        return dataclasses.replace(outputs, **{f.name: convert(getattr(outputs, f.name))
                                               for f in dataclasses.fields(outputs) if f.init})
    if isinstance(outputs, Mapping):
        return {name: convert(value) for name, value in outputs.items()}
    return convert(outputs)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (timings)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps" and hasattr(torch, "mps"):
        torch.mps.synchronize()
