"""ONNX export: every model class, dynamic batch and length, ONNX Runtime within 1e-4 of PyTorch."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from layoutlmv2.cli.export import main
from layoutlmv2.deployment.onnx_export import to_onnx, verify_onnx
from layoutlmv2.modeling.example_inputs import example_inputs
from layoutlmv2.deployment.onnx_io import INPUT_NAMES, module_of

from small_models import minilm_dir, seeded_model

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from layoutlmv2.deployment.onnx_quantization import quantize_onnx_int8  # noqa: E402

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "src")
OPSET = 18
TOLERANCE = 1e-4  # float32 ONNX Runtime vs float32 PyTorch, largest absolute difference over every output
OUTPUTS = {  # what each exported graph returns, in order (transformers' output names)
    "LayoutLMv2Model": ("last_hidden_state", "pooler_output"),
    "LayoutLMv2ForTokenClassification": ("logits",),
    "LayoutLMv2ForSequenceClassification": ("logits",),
    "LayoutLMv2ForQuestionAnswering": ("start_logits", "end_logits"),
}


def check_export(model, path):
    to_onnx(model, path, opset=OPSET)
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == list(INPUT_NAMES)
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input}
    assert all(isinstance(d, str) for d in dims["input_ids"]), dims["input_ids"]  # batch and length symbolic
    assert dims["image"][1:] == [3, 224, 224]
    # traced at (2, 16); checked at other batch sizes and lengths, padding included: ONNX Runtime run
    # here, against the PyTorch model's own forward (default sdpa attention), within TOLERANCE
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = OUTPUTS[type(model).__name__]
    assert [o.name for o in session.get_outputs()] == list(names)
    worst = 0.0
    for seed, (batch_size, seq_length) in enumerate(((1, 7), (3, 40)), start=1):
        inputs = example_inputs(model.config, batch_size, seq_length, seed=seed)
        feed = {"input_ids": inputs["input_ids"].numpy().astype(np.int64), "bbox": inputs["bbox"].numpy().astype(np.int64),
                "image": inputs["image"].numpy().astype(np.float32),
                "attention_mask": inputs["attention_mask"].numpy().astype(np.int64),
                "token_type_ids": inputs["token_type_ids"].numpy().astype(np.int64)}
        got = session.run(list(names), feed)
        with torch.no_grad():
            outputs = model(**inputs, return_dict=True)
        for name, theirs in zip(names, got):
            ours = outputs[name].numpy()
            assert theirs.shape == ours.shape, (name, theirs.shape, ours.shape)
            worst = max(worst, float(np.abs(theirs - ours).max()))
    assert worst < TOLERANCE, f"ONNX Runtime vs PyTorch: max abs difference {worst:.3g}"
    # the library's own check reports what was measured above (same inputs: example_inputs, seeds 1, 2)
    assert verify_onnx(model, path, shapes=((1, 7), (3, 40))) == pytest.approx(worst, abs=1e-5)


def test_token_classification_export(tmp_path):
    model = seeded_model("LayoutLMv2ForTokenClassification")
    check_export(model, tmp_path / "model.onnx")
    assert model.layoutlmv2.encoder.attn_implementation == "sdpa"  # switched back after the trace
    assert not model.training


def test_int8_onnx_quantises_the_matmuls_and_stays_close(tmp_path):
    model = seeded_model("LayoutLMv2ForTokenClassification")
    fp32 = to_onnx(model, tmp_path / "model.onnx", opset=OPSET)
    int8 = quantize_onnx_int8(fp32, tmp_path / "model-int8.onnx")
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul"}, sorted(ops)
    assert "ConvInteger" not in ops  # convolutions stay fp32
    inputs = example_inputs(model.config, 2, 30, seed=5)
    session = onnxruntime.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(["logits"], {n: inputs[n].numpy() for n in INPUT_NAMES})[0])
    with torch.inference_mode():
        expected = model(**inputs).logits
    cosine = torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0)
    assert cosine > 0.99 and 0 < float((got - expected).abs().max()) < 0.5  # int8 ran, stayed near fp32
    with pytest.raises(ValueError, match="no ONNX file at"):
        quantize_onnx_int8(tmp_path / "missing.onnx", tmp_path / "out.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("class_name", ["LayoutLMv2Model", "LayoutLMv2ForSequenceClassification",
                                        "LayoutLMv2ForQuestionAnswering"])
def test_other_classes_export(tmp_path, class_name):
    check_export(seeded_model(class_name), tmp_path / "model.onnx")


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="cannot export"):
        to_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")
    model = seeded_model("LayoutLMv2ForTokenClassification")
    with pytest.raises(ValueError, match="batch_size >= 2"):
        to_onnx(model, tmp_path / "x.onnx", batch_size=1)


@pytest.mark.slow
def test_command_line(tmp_path):
    from PIL import ImageDraw, ImageFont

    from layoutlmv2.training.recipe import build_processor

    model = seeded_model("LayoutLMv2ForSequenceClassification")
    model.save_pretrained(tmp_path / "model")
    build_processor(minilm_dir(), image_size=96).save_pretrained(tmp_path / "model")
    page = tmp_path / "page.png"
    image = Image.new("RGB", (800, 400), "white")
    ImageDraw.Draw(image).text((40, 150), "INVOICE TOTAL 42.00", fill="black", font=ImageFont.load_default(size=48))
    image.save(page)
    out = tmp_path / "exported" / "model.onnx"
    run = subprocess.run([sys.executable, "-m", "layoutlmv2.cli.export", "--model", str(tmp_path / "model"),
                          "--output", str(out), "--int8", str(tmp_path / "int8.onnx"), "--per-channel",
                          "--calibration-images", str(page), "--smoothing"],
                         env={**os.environ, "PYTHONPATH": SRC},
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "LayoutLMv2ForSequenceClassification" in run.stdout and "max abs difference" in run.stdout
    assert "96 x 96 images" in run.stdout  # the size of the folder's image processor
    assert f"wrote {tmp_path / 'int8.onnx'} (int8 MatMuls, smoothed FFN outputs, int8 convolutions)" in run.stdout
    int8_graph = onnx.load(str(tmp_path / "int8.onnx")).graph
    ffn_output = {node.op_type for node in int8_graph.node
                  if module_of(node.name) == "layoutlmv2.encoder.layer.0.output.dense"}
    assert {"Mul", "MatMulInteger"} <= ffn_output  # smoothed, then int8
    assert "QuantizeLinear" in {node.op_type for node in int8_graph.node}  # calibrated convolutions
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    inputs = example_inputs(model.config, batch_size=4, seq_length=9, image_size=96)
    logits = session.run(["logits"], {n: inputs[n].numpy() for n in INPUT_NAMES})[0]
    with torch.no_grad():
        expected = model(**inputs).logits.numpy()
    assert np.abs(logits - expected).max() < 1e-4


def test_command_line_refuses_smoothing_without_pages(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--model", str(tmp_path), "--output", str(tmp_path / "m.onnx"), "--int8", str(tmp_path / "q.onnx"),
              "--smoothing", "0.5"])
    assert "--smoothing needs --int8 and --calibration-images" in capsys.readouterr().err


def test_calibration_pages_need_the_folders_tokenizer(tmp_path):
    from layoutlmv2 import LayoutLMv2ImageProcessor
    from layoutlmv2.cli.export import calibration_encodings

    LayoutLMv2ImageProcessor().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"calibration encodes pages with the processor saved in {tmp_path}"):
        calibration_encodings(["page.png"], str(tmp_path), 224)
