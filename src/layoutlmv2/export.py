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

import argparse
import ast
import contextlib
import logging
import sys
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .configuration import LayoutLMv2Config
from .encoder import LayoutLMv2Encoder

logger = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "bbox", "image", "attention_mask", "token_type_ids")
# model class name -> names of the tensors the exported graph returns, in order
OUTPUT_NAMES = {
    "LayoutLMv2Model": ("last_hidden_state", "pooler_output"),
    "LayoutLMv2ForSequenceClassification": ("logits",),
    "LayoutLMv2ForTokenClassification": ("logits",),
    "LayoutLMv2ForQuestionAnswering": ("start_logits", "end_logits"),
}
# --task of the command line -> model class name
TASKS = {
    "base": "LayoutLMv2Model",
    "sequence-classification": "LayoutLMv2ForSequenceClassification",
    "token-classification": "LayoutLMv2ForTokenClassification",
    "question-answering": "LayoutLMv2ForQuestionAnswering",
}
DEFAULT_OPSET = 18
# One protobuf file holds at most 2 GB; larger models keep their weights beside the graph.
_SINGLE_FILE_LIMIT = 1_800_000_000


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


def output_names(model: nn.Module) -> Tuple[str, ...]:
    name = type(model).__name__
    if name not in OUTPUT_NAMES:
        raise ValueError(f"cannot export {name}: expected one of {sorted(OUTPUT_NAMES)}")
    return OUTPUT_NAMES[name]


def example_inputs(config: LayoutLMv2Config, batch_size: int = 2, seq_length: int = 16,
                   image_size: int = 224, seed: int = 0) -> Dict[str, torch.Tensor]:
    """Valid random model inputs: [CLS] first, boxes with x0 <= x1 and y0 <= y1, padding at the end."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, config.vocab_size, (batch_size, seq_length), generator=g)
    input_ids[:, 0] = 101
    corners = torch.randint(0, 1001, (batch_size, seq_length, 2, 2), generator=g)  # (B, L, {x, y}, 2)
    low, high = corners.min(dim=-1).values, corners.max(dim=-1).values  # (B, L, 2)
    bbox = torch.stack([low[..., 0], low[..., 1], high[..., 0], high[..., 1]], dim=-1)  # (B, L, 4)
    attention_mask = torch.ones(batch_size, seq_length, dtype=torch.long)
    attention_mask[0, seq_length - seq_length // 4:] = 0  # the first sample ends in padding
    token_type_ids = torch.zeros(batch_size, seq_length, dtype=torch.long)
    image = torch.randint(0, 256, (batch_size, 3, image_size, image_size), generator=g).float()
    return dict(input_ids=input_ids, bbox=bbox, image=image, attention_mask=attention_mask,
                token_type_ids=token_type_ids)


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
    `image_size` pixels. Inputs: `INPUT_NAMES`; outputs: `OUTPUT_NAMES[class name]`.
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


def module_of(node_name: str) -> str:
    """The PyTorch module path a node of an exported graph came from ("" when unknown)."""
    return node_name.rpartition("/")[0]


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


def processor_image_size(model_dir: str, default: int = 224) -> int:
    """The square image side of a model folder's preprocessor_config.json (`default` without one)."""
    config = Path(model_dir) / "preprocessor_config.json"
    if not config.is_file():
        return default
    from .image_processing import LayoutLMv2ImageProcessor

    size = LayoutLMv2ImageProcessor.from_pretrained(model_dir).size
    if size["height"] != size["width"]:
        raise ValueError(f"{config} resizes pages to {size['height']} x {size['width']}; "
                         "export takes square images (pass --image-size)")
    return size["height"]


def calibration_encodings(files: Sequence[str], model_dir: str, image_size: int) -> list:
    """Page image files -> model inputs as the folder's processor makes them, words read by OCR.

    Calibration needs real text as well as real pixels (the feed-forward activations depend on
    it), and a deployed model meets OCR'd words, so the pages go through Tesseract whatever the
    folder's processor is set to.
    """
    from PIL import Image

    from .processing import LayoutLMv2Processor

    try:
        processor = LayoutLMv2Processor.from_pretrained(model_dir, apply_ocr=True,
                                                        size={"height": image_size, "width": image_size})
    except (OSError, ValueError) as error:
        raise ValueError(f"calibration encodes pages with the processor saved in {model_dir} "
                         f"(preprocessor_config.json and the tokenizer's vocab.txt): {error}") from error
    pages = []
    for file in files:
        try:
            with Image.open(file) as image:
                page = image.convert("RGB")
        except OSError as error:
            raise ValueError(f"cannot read calibration image {file}: {error}") from error
        pages.append(dict(processor(page, truncation=True, max_length=512, return_tensors="pt")))
    return pages


def _load(model_dir: str, task: Optional[str]) -> nn.Module:
    import layoutlmv2

    if task is None:
        architectures = getattr(LayoutLMv2Config.from_pretrained(model_dir), "architectures", None) or ["LayoutLMv2Model"]
        class_name = architectures[0]
        if class_name not in OUTPUT_NAMES:
            raise ValueError(f"config.architectures names {class_name!r}; pass --task ({', '.join(TASKS)})")
    else:
        class_name = TASKS[task]
    return getattr(layoutlmv2, class_name).from_pretrained(model_dir)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="layoutlmv2-export",
        description="Export a LayoutLMv2 model folder to ONNX (dynamic batch and sequence length).")
    parser.add_argument("--model", required=True, help="model folder (config.json + weights) or hub id")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--task", choices=sorted(TASKS), default=None,
                        help="model class; default: the first of config.architectures")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--image-size", type=int, default=None,
                        help="image side in pixels the graph takes; default: the model folder's "
                             "preprocessor_config.json, else 224")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the comparison with PyTorch in ONNX Runtime")
    parser.add_argument("--int8", metavar="FILE", default=None,
                        help="also write an int8 copy (encoder MatMuls quantised dynamically) to FILE")
    parser.add_argument("--keep-ffn-output-fp32", action="store_true",
                        help="with --int8: leave each layer's feed-forward output projection in fp32")
    parser.add_argument("--per-channel", action="store_true",
                        help="with --int8: one weight scale per output column instead of per tensor")
    parser.add_argument("--calibration-images", nargs="+", metavar="IMAGE", default=None,
                        help="with --int8: page images (a handful), read with OCR and the folder's processor, "
                             "on which to calibrate static int8 convolutions of the visual backbone (and "
                             "--smoothing); without them the convolutions stay fp32")
    parser.add_argument("--smoothing", type=float, nargs="?", const=0.5, default=None, metavar="ALPHA",
                        help="with --int8 and --calibration-images: SmoothQuant the feed-forward output "
                             "projections (migration strength ALPHA, default 0.5) and run them in int8")
    args = parser.parse_args(argv)
    if args.smoothing is not None and not (args.int8 and args.calibration_images):
        parser.error("--smoothing needs --int8 and --calibration-images (it measures activations on those pages)")
    model = _load(args.model, args.task)
    image_size = args.image_size or processor_image_size(args.model)
    path = to_onnx(model, args.output, opset=args.opset, image_size=image_size)
    print(f"wrote {path} ({type(model).__name__}, opset {args.opset}, {image_size} x {image_size} images)")
    if not args.no_check:
        diff = verify_onnx(model, path, image_size=image_size)
        print(f"ONNX Runtime vs PyTorch: max abs difference {diff:.3g}")
    if args.int8:
        from .onnx_quantization import quantize_onnx_int8

        pages = None
        if args.calibration_images:
            pages = calibration_encodings(args.calibration_images, args.model, image_size)
        int8 = quantize_onnx_int8(path, args.int8, keep_ffn_output_fp32=args.keep_ffn_output_fp32,
                                  per_channel=args.per_channel, calibration_inputs=pages, smoothing=args.smoothing)
        extras = (", smoothed FFN outputs" if args.smoothing else "") + (", int8 convolutions" if pages else "")
        print(f"wrote {int8} (int8 MatMuls{extras})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
