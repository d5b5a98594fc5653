"""int8 copies of an exported model for ONNX Runtime: dynamic int8 MatMuls, static int8 convolutions.

What is quantised, and why (measured on FUNSD; benchmarks/results/ and benchmarks/results/avx2/):
- The encoder's MatMuls (most of the FLOPs): dynamic int8, the activation scale computed per
  call, one per tensor (ONNX Runtime has no per-token scales). Selected by the module names
  `onnx_export.to_onnx` gives the nodes; the attention products and the heads stay fp32.
- The feed-forward output projections are where one scale per tensor hurts: their input (the
  GELU output) has a few channels far larger than the rest, so int8 flattens the others.
  Quantised as is, they cost a fine-tuned FUNSD model 0.9 points of entity F1 (1.3 for an
  earlier model). Kept fp32 (`keep_ffn_output_fp32`) they cost nothing, but take twice as long
  as all the int8 MatMuls together (205 against 92 ms of a 533-ms page, one thread).
  `smoothing` (SmoothQuant, Xiao et al., 2023) divides those inputs by a per-channel scale s
  measured on calibration pages and multiplies the weight rows by s: the product is unchanged,
  the outliers shrink, and the projection runs in int8. With per-channel weights the same
  model then scored 0.12 points above fp32.
- The visual backbone's convolutions: static int8 (QDQ, weights per output channel, activation
  ranges measured on the calibration pages). ONNX Runtime's dynamic int8 convolution
  (ConvInteger) was slower than fp32 on an AVX2 CPU (1.13x against 2.98x for MatMuls only).

Example:
    >>> pages = [processor(image, return_tensors="pt") for image in page_images]  # doctest: +SKIP
    >>> quantize_onnx_int8("model.onnx", "model-int8.onnx", calibration_inputs=pages,
    ...                    smoothing=0.5)                                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .onnx_io import DEFAULT_OPSET, INPUT_NAMES, module_of, onnx_feed
from .torch_quantization import is_ffn_output

logger = logging.getLogger(__name__)

ENCODER = "layoutlmv2.encoder."


def quantize_onnx_int8(path: Union[str, Path], output: Union[str, Path], keep_ffn_output_fp32: bool = False,
                       per_channel: bool = False,
                       calibration_inputs: Optional[Sequence[Mapping[str, torch.Tensor]]] = None,
                       smoothing: Optional[float] = None) -> Path:
    """Write a copy of the exported model at `path` to `output`, its encoder MatMuls in int8.

    - `keep_ffn_output_fp32`: leave each layer's feed-forward output projection in fp32.
    - `per_channel`: one weight scale per output column instead of one per tensor.
    - `calibration_inputs`: a handful of real pages as the processor encodes them (mappings with
      `input_ids`, `bbox`, `image`, optionally `attention_mask` and `token_type_ids`; batch 1 or
      more). With them the backbone's convolutions run static int8, calibrated on these pages.
    - `smoothing`: SmoothQuant migration strength alpha in (0, 1) for the feed-forward output
      projections (0.5 is the usual choice); needs `calibration_inputs`.
    """
    import onnx

    source, output = Path(path), Path(output)
    if not source.is_file():
        raise ValueError(f"no ONNX file at {source}")
    if smoothing is not None:
        if not 0 < smoothing < 1:
            raise ValueError(f"smoothing is a migration strength in (0, 1); got {smoothing!r}")
        if keep_ffn_output_fp32:
            raise ValueError("smoothing applies to the feed-forward output projections, which "
                             "keep_ffn_output_fp32 leaves in fp32: choose one")
        if calibration_inputs is None:
            raise ValueError("smoothing measures activations: give calibration_inputs (a few encoded pages)")
    graph = onnx.load(str(source), load_external_data=False).graph
    others, ffn_outputs = _encoder_matmuls(graph)
    chosen = others if keep_ffn_output_fp32 else others + ffn_outputs
    if not chosen:
        raise ValueError(f"{source} has no MatMul named after an encoder module: export it with "
                         f"layoutlmv2.deployment.onnx_export.to_onnx at opset >= {DEFAULT_OPSET}")
    feeds = None if calibration_inputs is None else _calibration_feeds(calibration_inputs, graph)
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer)
    output.parent.mkdir(parents=True, exist_ok=True)
    staged: List[Path] = []
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(max(level, logging.ERROR))  # ONNX Runtime logs a pre-processing hint on the root logger
    try:
        if smoothing is not None:
            source = _smooth_ffn_outputs(source, _staged(output, "smoothed", staged), ffn_outputs, feeds, smoothing,
                                         external)
        if feeds is not None:
            source = _quantize_convolutions(source, _staged(output, "static-convs", staged),
                                            _visual_convolutions(graph), feeds, external)
        _quantize_matmuls(source, output, chosen, per_channel, external)
    finally:
        root.setLevel(level)
        for file in staged:
            file.unlink(missing_ok=True)
            file.with_name(file.name + ".data").unlink(missing_ok=True)
    logger.info("wrote int8 model %s (%d MatMuls%s%s)", output, len(chosen),
                ", FFN outputs smoothed" if smoothing is not None else "",
                ", convolutions calibrated" if feeds is not None else "")
    return output


def _staged(output: Path, label: str, staged: List[Path]) -> Path:
    """An intermediate file beside `output`, removed at the end."""
    path = output.with_name(f"{output.stem}.{label}.onnx")
    staged.append(path)
    return path


def _encoder_matmuls(graph) -> Tuple[List[str], List[str]]:
    """Names of the encoder's MatMuls: (all but the FFN output projections, the FFN output projections).

    ONNX Runtime quantises only those with a weight, so the attention products stay fp32."""
    others, ffn_outputs = [], []
    for node in graph.node:
        module = module_of(node.name)
        if node.op_type == "MatMul" and module.startswith(ENCODER):
            (ffn_outputs if is_ffn_output(module[len(ENCODER):]) else others).append(node.name)
    return others, ffn_outputs


def _visual_convolutions(graph) -> List[str]:
    return [n.name for n in graph.node if n.op_type == "Conv" and module_of(n.name).startswith("layoutlmv2.visual.")]


def _calibration_feeds(inputs: Sequence[Mapping[str, torch.Tensor]], graph) -> List[Dict[str, np.ndarray]]:
    """Encoded pages -> ONNX Runtime feeds, checked against the graph's image size."""
    image_input = next(i for i in graph.input if i.name == "image")
    expected = tuple(d.dim_value for d in image_input.type.tensor_type.shape.dim[1:])  # (3, H, W)
    feeds = []
    for index, page in enumerate(inputs):
        if not isinstance(page, Mapping):
            raise ValueError(f"calibration input {index} is a {type(page).__name__}; give the processor's "
                             f"encoding of a page (a mapping with {', '.join(INPUT_NAMES[:3])})")
        missing = [name for name in ("input_ids", "bbox", "image") if name not in page]
        if missing:
            raise ValueError(f"calibration input {index} has no {', '.join(missing)} (keys: {sorted(page)})")
        input_ids = torch.as_tensor(page["input_ids"]).long()
        input_ids = input_ids.unsqueeze(0) if input_ids.dim() == 1 else input_ids
        image = torch.as_tensor(page["image"]).float()
        image = image.unsqueeze(0) if image.dim() == 3 else image
        if image.dim() != 4 or tuple(image.shape[1:]) != expected:
            raise ValueError(f"calibration input {index} has an image of shape {tuple(image.shape)}; "
                             f"the graph takes (3, H, W) = {expected}")
        bbox = torch.as_tensor(page["bbox"]).long()
        bbox = bbox.unsqueeze(0) if bbox.dim() == 2 else bbox
        if tuple(bbox.shape) != (*input_ids.shape, 4):
            raise ValueError(f"calibration input {index} has input_ids of shape {tuple(input_ids.shape)} but bbox "
                             f"of shape {tuple(bbox.shape)}; expected {(*input_ids.shape, 4)}")
        masks = {}
        for name in ("attention_mask", "token_type_ids"):
            if name in page:
                value = torch.as_tensor(page[name]).long()
                if value.numel() != input_ids.numel():
                    raise ValueError(f"calibration input {index} has {name} of shape {tuple(value.shape)}; "
                                     f"input_ids has {tuple(input_ids.shape)}")
                masks[name] = value.reshape(input_ids.shape)
        feeds.append(onnx_feed(input_ids, bbox, image, **masks))
    if not feeds:
        raise ValueError("calibration_inputs is empty: give a few encoded pages")
    return feeds


def _save(model, path: Path, external: bool) -> None:
    import onnx

    onnx.save(model, str(path), save_as_external_data=external, location=path.name + ".data" if external else None)


def _smooth_ffn_outputs(source: Path, output: Path, names: Sequence[str], feeds, alpha: float, external: bool) -> Path:
    """Insert x / s before each FFN output MatMul `names` and fold s into its weight rows (SmoothQuant).

    s_j = max|x_j| ** alpha / max|W_j,:| ** (1 - alpha), the activation maxima over the calibration
    pages: channel j's input range and its weight row's range end up balanced.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    wanted = set(names)
    nodes = [n for n in graph.node if n.name in wanted]
    for node in nodes:
        if node.input[1] not in weights:
            raise ValueError(f"{node.name} takes its weight from {node.input[1]!r}, not a stored tensor: "
                             "smoothing needs a graph exported by layoutlmv2.deployment.onnx_export.to_onnx")
    peaks = _channel_peaks(model, [n.input[0] for n in nodes], feeds, output, external)
    for node in nodes:
        activation, weight_name = node.input
        weight = numpy_helper.to_array(weights[weight_name])  # (in, out): x @ W
        scale = (np.maximum(peaks[activation], 1e-5) ** alpha
                 / np.maximum(np.abs(weight).max(axis=1), 1e-5) ** (1 - alpha)).astype(np.float32)
        weights[weight_name].CopyFrom(numpy_helper.from_array(weight * scale[:, None], weight_name))
        inverse = numpy_helper.from_array(1 / scale, f"{weight_name}.smoothing")
        graph.initializer.append(inverse)
        smoothed = f"{activation}.smoothed"
        module = module_of(node.name)
        divide = helper.make_node("Mul", [activation, inverse.name], [smoothed], name=f"{module}/smoothing_Mul")
        node.input[0] = smoothed
        graph.node.insert(list(graph.node).index(node), divide)
    _save(model, output, external)
    return output


def _channel_peaks(model, names: Sequence[str], feeds, scratch: Path, external: bool) -> Dict[str, np.ndarray]:
    """Largest |value| per last-axis channel of the tensors `names`, over the calibration feeds."""
    import onnx
    import onnxruntime

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    _save(probe, scratch, external)  # a file: a model with its weights may exceed protobuf's 2 GB
    del probe
    session = onnxruntime.InferenceSession(str(scratch), providers=["CPUExecutionProvider"])
    peaks: Dict[str, np.ndarray] = {}
    for feed in feeds:
        for name, value in zip(names, session.run(list(names), feed)):
            peak = np.abs(_real_rows(value, feed["attention_mask"])).max(axis=0)
            peaks[name] = np.maximum(peaks[name], peak) if name in peaks else peak
    return peaks


def _real_rows(value: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """The (tokens, channels) rows of an encoder activation that belong to real tokens.

    `value` is (batch, text + visual tokens, channels), text first; padded text tokens of a
    batched calibration input would otherwise set peaks no real page reaches.
    """
    batch, text = attention_mask.shape
    if value.ndim != 3 or value.shape[0] != batch or value.shape[1] < text:
        return value.reshape(-1, value.shape[-1])
    visual = np.ones((batch, value.shape[1] - text), dtype=bool)
    return value[np.concatenate([attention_mask.astype(bool), visual], axis=1)]


def _quantize_convolutions(source: Path, output: Path, convolutions: Sequence[str], feeds, external: bool) -> Path:
    """Static int8 (QDQ) for the convolutions `convolutions`, calibrated on `feeds`."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Pages(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(feeds)

        def get_next(self):
            return next(self.remaining, None)

    quantize_static(source, output, Pages(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["Conv"],
                    nodes_to_quantize=list(convolutions), per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                    use_external_data_format=external)
    return output


def _quantize_matmuls(source: Path, output: Path, chosen: Sequence[str], per_channel: bool, external: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMuls of two activations (attention) are not quantised dynamically by ONNX Runtime.
    quantize_dynamic(source, output, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                     nodes_to_quantize=list(chosen), per_channel=per_channel, use_external_data_format=external)
