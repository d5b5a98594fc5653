"""The contract between an exported graph and its callers: input names and dtypes, output names, node names.

One place for what `onnx_export` writes and `onnx_model` / `onnx_quantization` read, so the
three agree by construction. Which outputs each model class returns is the registry's
(`layoutlmv2.registry.TaskSpec.outputs`).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .. import registry

INPUT_NAMES = ("input_ids", "bbox", "image", "attention_mask", "token_type_ids")
# Opset 18: the exporter builds opset 18 graphs, and converting down drops the metadata that
# names every node after its PyTorch module (see `onnx_export`).
DEFAULT_OPSET = 18


def onnx_feed(input_ids: torch.Tensor, bbox: torch.Tensor, image: torch.Tensor,
              attention_mask: Optional[torch.Tensor] = None,
              token_type_ids: Optional[torch.Tensor] = None) -> Dict[str, np.ndarray]:
    """The graph's inputs as ONNX Runtime takes them: int64 ids, boxes and masks, a float32 image.

    No attention mask means no padding and no token types mean segment 0, as in the model.
    """
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    feed = {"input_ids": input_ids.long(), "bbox": bbox.long(), "image": image.float(),
            "attention_mask": attention_mask.long(), "token_type_ids": token_type_ids.long()}
    return {name: feed[name].numpy() for name in INPUT_NAMES}


def output_names(model_or_class_name) -> Tuple[str, ...]:
    """Names of the tensors the exported graph of this model (or model class name) returns, in order."""
    name = model_or_class_name if isinstance(model_or_class_name, str) else type(model_or_class_name).__name__
    spec = registry.task_for_class(name)
    if spec is None:
        known = sorted(s.model_class.__name__ for s in registry.TASKS.values())
        raise ValueError(f"cannot export {name}: expected one of {known}")
    return spec.outputs


def module_of(node_name: str) -> str:
    """The PyTorch module path a node of an exported graph came from ("" when unknown)."""
    return node_name.rpartition("/")[0]
