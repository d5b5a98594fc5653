"""quantize_onnx_int8: which nodes turn int8, calibrated convolutions, SmoothQuant of the FFN outputs."""

import pytest
import torch

from layoutlmv2.deployment.batching import predict
from layoutlmv2.deployment.onnx_export import to_onnx
from layoutlmv2.modeling.example_inputs import example_inputs
from layoutlmv2.deployment.onnx_io import module_of

from small_models import seeded_model
from test_onnx_model import IMAGE_SIZE, documents, exported  # noqa: F401  (exported is a fixture)

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from layoutlmv2.deployment.onnx_model import OnnxModel  # noqa: E402
from layoutlmv2.deployment.onnx_quantization import _smooth_ffn_outputs, quantize_onnx_int8  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FFN_OUTPUT = "layoutlmv2.encoder.layer.{}.output.dense"


def matmul_ops(path):
    """{module path: op types} of the graph's (quantised or not) MatMuls with a known module."""
    found = {}
    for node in onnx.load(str(path)).graph.node:
        module = module_of(node.name)
        if "MatMul" in node.op_type and module:
            found.setdefault(module, set()).add(node.op_type)
    return found


def calibration_pages(config, count=3, length=30):
    """Encoded pages as the processor returns them (batch 1)."""
    return [example_inputs(config, 1, length, image_size=IMAGE_SIZE, seed=10 + seed) for seed in range(count)]


def drift(path, model, encodings):
    """(max abs difference, cosine) of the graph's logits against the PyTorch model's."""
    expected = torch.cat([r["logits"] for r in predict(model, encodings, batch_size=1)])
    got = torch.cat([r["logits"] for r in predict(OnnxModel(path), encodings, batch_size=2)])
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0)
    return float((got - expected).abs().max()), float(cosine)


def test_int8_keeps_ffn_output_and_everything_outside_the_encoder_fp32(exported, tmp_path):  # noqa: F811
    model, path = exported
    ops = matmul_ops(quantize_onnx_int8(path, tmp_path / "int8.onnx", keep_ffn_output_fp32=True))
    for layer in range(model.config.num_hidden_layers):
        prefix = f"layoutlmv2.encoder.layer.{layer}."
        assert ops[prefix + "output.dense"] == {"MatMul"}  # the FFN output projection stays fp32
        for name in ("attention.self.qkv_linear", "attention.output.dense", "intermediate.dense"):
            assert ops[prefix + name] == {"MatMulInteger"}, name
        assert ops[prefix + "attention.self"] == {"MatMul"}  # attention products: two activations
    assert ops["layoutlmv2.visual_proj"] == {"MatMul"} and ops["classifier"] == {"MatMul"}
    all_int8 = matmul_ops(quantize_onnx_int8(path, tmp_path / "all.onnx", per_channel=True))
    assert all_int8[FFN_OUTPUT.format(0)] == {"MatMulInteger"}
    for quantised in (tmp_path / "int8.onnx", tmp_path / "all.onnx"):
        max_diff, cosine = drift(quantised, model, documents(model.config))
        assert 0 < max_diff < 0.5, quantised.name  # int8 ran, and stayed near fp32
        assert cosine > 0.99


def test_int8_needs_module_names(exported, tmp_path):  # noqa: F811
    """A graph whose nodes carry no module names (another exporter, opset < 18) is refused by name."""
    _, path = exported
    graph = onnx.load(str(path))
    for node in graph.graph.node:
        node.name = node.name.rpartition("/")[2]
    onnx.save(graph, str(tmp_path / "anonymous.onnx"))
    with pytest.raises(ValueError, match="no MatMul named after an encoder module"):
        quantize_onnx_int8(tmp_path / "anonymous.onnx", tmp_path / "int8.onnx")


def test_int8_with_convolutions_calibrated_on_pages(exported, tmp_path):  # noqa: F811
    model, path = exported
    output = quantize_onnx_int8(path, tmp_path / "int8.onnx", keep_ffn_output_fp32=True,
                                calibration_inputs=calibration_pages(model.config))
    graph = onnx.load(str(output)).graph
    producers = {out: node for node in graph.node for out in node.output}
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    assert convolutions and all(node.name.startswith("layoutlmv2.visual.") for node in convolutions)
    for conv in convolutions:  # static QDQ: the input and the weight of every convolution come dequantised
        assert [producers[name].op_type for name in conv.input[:2]] == ["DequantizeLinear"] * 2, conv.name
    assert matmul_ops(output)["layoutlmv2.encoder.layer.0.intermediate.dense"] == {"MatMulInteger"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.onnx"]  # the intermediate file is gone
    max_diff, cosine = drift(output, model, documents(model.config))
    assert 0 < max_diff < 0.5 and cosine > 0.99


def test_bad_calibration_inputs_are_named(exported, tmp_path):  # noqa: F811
    model, path = exported
    pages = calibration_pages(model.config, count=2)
    wrong_size = example_inputs(model.config, 1, 8, image_size=32)
    cases = [
        ([pages[0], wrong_size], r"calibration input 1 has an image of shape \(1, 3, 32, 32\); the graph takes"),
        ([pages[0]["image"]], "calibration input 0 is a Tensor; give the processor's encoding"),
        ([{"image": pages[0]["image"]}], r"calibration input 0 has no input_ids, bbox"),
        ([{**pages[0], "bbox": pages[0]["bbox"][:, :5]}],
         r"calibration input 0 has input_ids of shape \(1, 30\) but bbox of shape \(1, 5, 4\)"),
        ([], "calibration_inputs is empty"),
    ]
    for inputs, message in cases:
        with pytest.raises(ValueError, match=message):
            quantize_onnx_int8(path, tmp_path / "bad.onnx", calibration_inputs=inputs)
    with pytest.raises(ValueError, match="smoothing measures activations: give calibration_inputs"):
        quantize_onnx_int8(path, tmp_path / "bad.onnx", smoothing=0.5)
    with pytest.raises(ValueError, match="keep_ffn_output_fp32 leaves in fp32: choose one"):
        quantize_onnx_int8(path, tmp_path / "bad.onnx", keep_ffn_output_fp32=True, smoothing=0.5,
                           calibration_inputs=pages)
    with pytest.raises(ValueError, match=r"migration strength in \(0, 1\); got 1.5"):
        quantize_onnx_int8(path, tmp_path / "bad.onnx", smoothing=1.5, calibration_inputs=pages)


def test_smoothing_keeps_the_fp32_function_and_balances_the_ranges(exported, tmp_path):  # noqa: F811
    """x @ W == (x / s) @ (s W); with alpha 0.5, each input channel's peak equals its weight row's."""
    from onnx import numpy_helper

    from layoutlmv2.deployment.onnx_quantization import _calibration_feeds, _channel_peaks, _encoder_matmuls

    model, path = exported
    graph = onnx.load(str(path)).graph
    feeds = _calibration_feeds(calibration_pages(model.config), graph)
    ffn_outputs = _encoder_matmuls(graph)[1]
    smoothed = _smooth_ffn_outputs(path, tmp_path / "smoothed.onnx", ffn_outputs, feeds, 0.5, external=False)
    max_diff, _ = drift(smoothed, model, documents(model.config))
    assert max_diff < 1e-4

    smoothed_model = onnx.load(str(smoothed))
    weights = {t.name: numpy_helper.to_array(t) for t in smoothed_model.graph.initializer}
    ffn = [n for n in smoothed_model.graph.node if n.op_type == "MatMul" and module_of(n.name) == FFN_OUTPUT.format(0)]
    assert len(ffn) == 1 and ffn[0].input[0].endswith(".smoothed")
    peaks = _channel_peaks(smoothed_model, [ffn[0].input[0]], feeds, tmp_path / "probe.onnx", external=False)
    input_peaks = torch.from_numpy(peaks[ffn[0].input[0]])
    weight_peaks = torch.tensor(weights[ffn[0].input[1]]).abs().amax(dim=1)
    assert torch.allclose(input_peaks, weight_peaks, rtol=1e-3)


def test_smoothing_peaks_ignore_padded_tokens(exported, tmp_path):  # noqa: F811
    """Two pages padded into one batch give the channel peaks of the same pages fed one by one."""
    from layoutlmv2.deployment.onnx_quantization import _calibration_feeds, _channel_peaks, _encoder_matmuls

    model, path = exported
    graph = onnx.load(str(path)).graph
    pages = [example_inputs(model.config, 1, length, image_size=IMAGE_SIZE, seed=20 + length) for length in (12, 30)]
    for page in pages:
        page["attention_mask"][:] = 1
    batch = {name: torch.zeros(2, 30, *pages[1][name].shape[2:], dtype=pages[1][name].dtype)
             for name in ("input_ids", "bbox", "attention_mask", "token_type_ids")}
    for row, page in enumerate(pages):
        for name in batch:
            batch[name][row, : page[name].shape[1]] = page[name][0]
    batch["bbox"][0, 12:] = 500  # padded tokens placed and shaped unlike any real one
    batch["input_ids"][0, 12:] = model.config.vocab_size - 1
    batch["image"] = torch.cat([page["image"] for page in pages])
    names = [_encoder_matmuls(graph)[1][0]]
    activation = next(n.input[0] for n in graph.node if n.name == names[0])
    one_by_one = _channel_peaks(onnx.load(str(path)), [activation], _calibration_feeds(pages, graph),
                                tmp_path / "a.onnx", external=False)[activation]
    batched = _channel_peaks(onnx.load(str(path)), [activation], _calibration_feeds([batch], graph),
                             tmp_path / "b.onnx", external=False)[activation]
    assert torch.allclose(torch.from_numpy(batched), torch.from_numpy(one_by_one), rtol=1e-4, atol=1e-5)


def test_smoothing_rescues_an_outlier_channel(tmp_path):
    """Four FFN channels about 40 above the rest (trained BERT models have such outliers): per-tensor
    int8 of the FFN output projection's input flattens the other channels (the logits drift 10x
    more than without the outliers); smoothed, the drift falls by 40%."""
    model = seeded_model("LayoutLMv2ForTokenClassification")
    with torch.no_grad():
        for layer in model.layoutlmv2.encoder.layer:
            layer.intermediate.dense.bias[:4] += 40  # GELU passes large inputs through
    path = to_onnx(model, tmp_path / "outlier.onnx", image_size=IMAGE_SIZE)
    pages = calibration_pages(model.config)
    plain = quantize_onnx_int8(path, tmp_path / "plain.onnx", per_channel=True)
    smoothed = quantize_onnx_int8(path, tmp_path / "smoothed.onnx", per_channel=True, smoothing=0.5,
                                  calibration_inputs=pages)
    assert matmul_ops(smoothed)[FFN_OUTPUT.format(1)] == {"MatMulInteger"}
    assert {n.op_type for n in onnx.load(str(smoothed)).graph.node if module_of(n.name) == FFN_OUTPUT.format(1)} \
        >= {"Mul", "MatMulInteger"}
    encodings = documents(model.config)
    plain_diff, _ = drift(plain, model, encodings)
    smoothed_diff, smoothed_cosine = drift(smoothed, model, encodings)
    assert smoothed_diff < 0.7 * plain_diff, (plain_diff, smoothed_diff)  # measured: 0.0035 -> 0.0020
    assert smoothed_cosine > 0.99
