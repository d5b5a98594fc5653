"""Open a fine-tuned model folder for inference: its processor, and its PyTorch model or exported ONNX graph."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import torch

from ..deployment.devices import resolve_device, resolve_precision
from ..deployment.worker_pool import check_workers
from ..preprocessing.processing import LayoutLMv2Processor
from ..tasks.definitions import Task


def load_processor(model_dir: Union[str, Path], apply_ocr: bool = False) -> LayoutLMv2Processor:
    """The processor saved beside a fine-tuned model."""
    return LayoutLMv2Processor.from_pretrained(model_dir, apply_ocr=apply_ocr)


def resolve_placement(device: Union[str, torch.device, None] = "auto", precision: Optional[str] = "auto",
                      bf16: bool = False, workers: int = 1, onnx: Optional[Union[str, Path]] = None
                      ) -> tuple[torch.device, Optional[torch.dtype]]:
    """(device, autocast dtype or None) for inference; ``bf16=True`` is ``precision="bf16"``.

    ``device="auto"`` with ``workers`` > 1 is the CPU (the workers are CPU processes). With ``onnx``
    the graph runs as exported (fp32): "auto" is ONNX Runtime's CPU provider, "cuda" its CUDA one.
    """
    check_workers(workers)
    if bf16:
        if (precision or "auto") not in ("auto", "bf16"):
            raise ValueError(f"--bf16 is --precision bf16, but --precision {precision} was also given")
        precision = "bf16"
    name = str(device or "auto").lower()
    if onnx is not None:
        if (precision or "auto") not in ("auto", "fp32"):
            raise ValueError(f"{precision} autocast applies to the PyTorch model; an ONNX file runs as exported")
        if name == "mps":
            raise ValueError("an ONNX file runs on ONNX Runtime's CPU or CUDA provider, not on mps")
        return (torch.device("cpu") if name in ("auto", "cpu") else torch.device(name)), None
    if name == "auto" and workers > 1:
        name = "cpu"
    resolved = resolve_device(name)
    dtype, _ = resolve_precision(precision, resolved)
    return resolved, dtype


def load_inference_model(task: Task, model_dir: Union[str, Path], processor: LayoutLMv2Processor,
                         onnx: Optional[Union[str, Path]] = None, bf16: bool = False,
                         device: Union[str, torch.device] = "cpu", compile: bool = False):
    """The folder's PyTorch model in eval mode on ``device`` (``torch.compile``d with ``compile``), or with
    `onnx` its exported graph (`OnnxModel`, on the CUDA provider when ``device`` is a GPU), checked
    against the task's outputs and the processor's image size."""
    device = torch.device(device)
    if onnx is None:
        model = task.model_class.from_pretrained(model_dir).eval().to(device)
        return torch.compile(model) if compile else model
    if bf16:
        raise ValueError("bf16 autocast applies to the PyTorch model; an ONNX file runs as exported")
    if compile:
        raise ValueError("--compile applies to the PyTorch model; an ONNX file runs as exported")
    from ..deployment.onnx_model import OnnxModel

    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else None
    return OnnxModel(onnx, providers=providers).check_compatible(task.model_class.__name__,
                                                                 processor.image_processor.size)
