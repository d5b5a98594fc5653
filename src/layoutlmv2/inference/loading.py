"""Open a fine-tuned model folder for inference: its processor, and its PyTorch model or exported ONNX graph."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from ..preprocessing.processing import LayoutLMv2Processor
from ..tasks.definitions import Task


def load_processor(model_dir: Union[str, Path], apply_ocr: bool = False) -> LayoutLMv2Processor:
    """The processor saved beside a fine-tuned model."""
    return LayoutLMv2Processor.from_pretrained(model_dir, apply_ocr=apply_ocr)


def load_inference_model(task: Task, model_dir: Union[str, Path], processor: LayoutLMv2Processor,
                         onnx: Optional[Union[str, Path]] = None, bf16: bool = False):
    """The folder's PyTorch model in eval mode, or with `onnx` its exported graph (`OnnxModel`), checked
    against the task's outputs and the processor's image size."""
    if onnx is None:
        return task.model_class.from_pretrained(model_dir).eval()
    if bf16:
        raise ValueError("bf16 autocast applies to the PyTorch model; an ONNX file runs as exported")
    from ..deployment.onnx_model import OnnxModel

    return OnnxModel(onnx).check_compatible(task.model_class.__name__, processor.image_processor.size)
