"""ONNX export of every LayoutLMv2 model class, with dynamic batch size and sequence length.

The reference implementation cannot be exported (detectron2's backbone does not trace); ours
can, because the visual stream is plain convolutions and the input checks step aside while
the model is traced (`input_checks._tracing`).

Choices, and why:
- torch's dynamo exporter (`torch.onnx.export(..., dynamo=True)`, needs `onnxscript`) with
  `dynamic_shapes`: the legacy TorchScript exporter fails on the adaptive pooling of the
  visual stream once the batch dimension is dynamic.
- The graph is traced with the "eager" attention arithmetic (the reference's, and the same
  weights): the exporter's decomposition of `scaled_dot_product_attention` produces strides
  that its own reshape cannot view. ONNX Runtime fuses the eager graph itself.
- The image keeps the fixed size of the example (by default 224 x 224, what the image
  processor makes); batch and text length are free.
- Opset 18 by default: the exporter builds opset 18 graphs, and converting down to 17 drops
  the metadata from which every node is named after its PyTorch module
  (`layoutlmv2.encoder.layer.0.output.dense/node_MatMul_752`). The int8 step
  (`onnx_quantization.quantize_onnx_int8`) selects the encoder's MatMuls by these names.

Example:
    >>> from layoutlmv2 import LayoutLMv2ForTokenClassification
    >>> model = LayoutLMv2ForTokenClassification.from_pretrained("path/to/model")
    >>> to_onnx(model, "model.onnx")                        # doctest: +SKIP
    >>> verify_onnx(model, "model.onnx")                    # max abs difference vs PyTorch
"""

from __future__ import annotations

import ast
import contextlib
import logging
from pathlib import Path
from typing import Iterator, Sequence, Tuple, Union

import torch
from torch import nn

from ..modeling.encoder import LayoutLMv2Encoder
from ..modeling.example_inputs import example_inputs
from .onnx_io import DEFAULT_OPSET, INPUT_NAMES, output_names

logger = logging.getLogger(__name__)

# One protobuf file holds at most 2 GB; larger models keep their weights beside the graph.
_SINGLE_FILE_LIMIT = 1_800_000_000


class _PositionalOutputs(nn.Module):
    """Positional inputs in `INPUT_NAMES` order -> a tuple of tensors, as ONNX graphs want."""

    def __init__(self, model: nn.Module, output_names: Sequence[str]) -> None:
        super().__init__()
        self.model = model
        self.output_names = tuple(output_names)

    def forward(self, input_ids, bbox, image, attention_mask, token_type_ids) -> Tuple[torch.Tensor, ...]:
        outputs = self.model(input_ids=input_ids, bbox=bbox, image=image, attention_mask=attention_mask,
                             token_type_ids=token_type_ids, return_dict=True)
        return tuple(outputs[name] for name in self.output_names)


@contextlib.contextmanager
def _export_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and eager attention for the trace; the caller's settings come back afterwards."""
    encoders = [m for m in model.modules() if isinstance(m, LayoutLMv2Encoder)]
    implementations = [e.attn_implementation for e in encoders]
    was_training = model.training
    try:
        model.eval()
        for encoder in encoders:
            encoder.attn_implementation = "eager"
        yield
    finally:
        for encoder, implementation in zip(encoders, implementations):
            encoder.attn_implementation = implementation
        model.train(was_training)


def to_onnx(model: nn.Module, path: Union[str, Path], opset: int = DEFAULT_OPSET, batch_size: int = 2,
            seq_length: int = 16, image_size: int = 224) -> Path:
    """Export `model` (any LayoutLMv2 class) to an ONNX file; batch and sequence length stay dynamic.

    `batch_size`, `seq_length` and `image_size` only shape the example traced; the exported
    graph accepts any batch and any text length up to `max_position_embeddings`, at
    `image_size` pixels. Inputs: `INPUT_NAMES`; outputs: `onnx_io.output_names(model)`.
    """
    if batch_size < 2 or seq_length < 2:
        raise ValueError(f"trace with batch_size >= 2 and seq_length >= 2 (got {batch_size}, {seq_length}): "
                         "the exporter would otherwise fix a dimension of size 1")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = output_names(model)
    config = model.config
    inputs = example_inputs(config, batch_size, seq_length, image_size)
    batch = torch.export.Dim("batch", min=1, max=4096)
    length = torch.export.Dim("seq_length", min=1, max=config.max_position_embeddings)
    text = {0: batch, 1: length}
    dynamic_shapes = {"input_ids": text, "bbox": text, "image": {0: batch},
                      "attention_mask": text, "token_type_ids": text}
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    with _export_mode(model), torch.no_grad():
        program = torch.onnx.export(
            _PositionalOutputs(model, names), tuple(inputs[n] for n in INPUT_NAMES),
            dynamo=True, dynamic_shapes=dynamic_shapes, opset_version=opset,
            input_names=list(INPUT_NAMES), output_names=list(names),
        )
    _name_nodes_after_modules(program.model.graph)
    program.save(str(path), external_data=weight_bytes > _SINGLE_FILE_LIMIT)
    logger.info("exported %s to %s (opset %d)", type(model).__name__, path, opset)
    return path


def _name_nodes_after_modules(graph) -> None:
    """Prefix each node's name with the PyTorch module it came from, read from the exporter's metadata."""
    for node in graph:
        scopes = node.metadata_props.get("pkg.torch.onnx.name_scopes")
        if not scopes:
            continue
        # e.g. "['', 'model', 'model.layoutlmv2', ..., 'model.layoutlmv2.encoder.layer.0.output.dense', 'linear_4']"
        names = ast.literal_eval(scopes)
        module = names[-2] if len(names) >= 2 else ""
        if module.startswith("model."):  # the `_PositionalOutputs` wrapper
            module = module[len("model."):]
        if module and module != "model":
            node.name = f"{module}/{node.name}"


def verify_onnx(model: nn.Module, path: Union[str, Path],
                shapes: Sequence[Tuple[int, int]] = ((1, 7), (3, 40)), image_size: int = 224) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch over inputs of `shapes` (batch, length).

    The shapes should differ from the traced example, so that a dimension fixed by mistake fails.
    """
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = output_names(model)
    worst = 0.0
    with _export_mode(model), torch.inference_mode():
        for seed, (batch_size, seq_length) in enumerate(shapes):
            inputs = example_inputs(model.config, batch_size, seq_length, image_size, seed=seed + 1)
            expected = _PositionalOutputs(model, names)(*(inputs[n] for n in INPUT_NAMES))
            got = session.run(list(names), {n: inputs[n].numpy() for n in INPUT_NAMES})
            for name, ours, theirs in zip(names, expected, got):
                if tuple(theirs.shape) != tuple(ours.shape):
                    raise ValueError(f"ONNX output {name} has shape {theirs.shape}, PyTorch {tuple(ours.shape)}")
                worst = max(worst, float((torch.from_numpy(theirs) - ours.float()).abs().max()))
    return worst


