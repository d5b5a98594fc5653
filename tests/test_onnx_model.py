"""OnnxModel: an exported graph in ONNX Runtime, called like the PyTorch model, also in worker processes."""

import pytest
import torch

from layoutlmv2.batching import predict
from layoutlmv2.export import example_inputs, module_of, quantize_onnx_int8, to_onnx

from small_models import seeded_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from layoutlmv2.onnx_model import OnnxModel  # noqa: E402  (needs onnxruntime at call time only)

pytestmark = pytest.mark.usefixtures("one_thread")

IMAGE_SIZE = 64  # not the default 224: the graph must take the size it was exported at


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = seeded_model("LayoutLMv2ForTokenClassification")
    path = to_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", image_size=IMAGE_SIZE)
    return model, path


def documents(config, lengths=(5, 17, 40, 9, 33)):
    """Single-page encodings of different lengths, without padding."""
    encodings = []
    for seed, length in enumerate(lengths):
        encoding = example_inputs(config, 1, length, image_size=IMAGE_SIZE, seed=seed)
        encoding["attention_mask"][:] = 1
        encodings.append(encoding)
    return encodings


@pytest.mark.parametrize("batch_size,workers", [(1, 1), (3, 1), (1, 2)])
def test_predict_with_onnx_runtime_matches_pytorch(exported, batch_size, workers):
    model, path = exported
    encodings = documents(model.config)
    expected = predict(model, encodings, batch_size=1)
    got = predict(OnnxModel(path), encodings, batch_size=batch_size, workers=workers)  # workers are spawned
    for ours, theirs, encoding in zip(got, expected, encodings):
        assert ours["logits"].shape == (encoding["input_ids"].shape[1], model.config.num_labels)
        assert float((ours["logits"] - theirs["logits"]).abs().max()) < 1e-4


def test_call_fills_mask_and_token_types_and_casts_the_image(exported):
    model, path = exported
    inputs = example_inputs(model.config, 2, 12, image_size=IMAGE_SIZE, seed=3)
    inputs["attention_mask"][:] = 1
    onnx_model = OnnxModel(path, threads=1)
    got = onnx_model(input_ids=inputs["input_ids"], bbox=inputs["bbox"], image=inputs["image"].to(torch.uint8))
    with torch.inference_mode():
        expected = model(**inputs).logits
    assert set(got) == {"logits"}
    assert float((got["logits"] - expected).abs().max()) < 1e-4


def test_bad_use_names_the_problem(exported, tmp_path):
    model, path = exported
    onnx_model = OnnxModel(path)
    inputs = example_inputs(model.config, 1, 8, image_size=224)
    with pytest.raises(ValueError, match=r"exported for images of shape \(3, 64, 64\); got \(3, 224, 224\)"):
        onnx_model(**inputs)
    inputs = example_inputs(model.config, 1, 8, image_size=IMAGE_SIZE)
    with pytest.raises(ValueError, match=r"got \['labels'\]"):
        onnx_model(**inputs, labels=torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="inference only"):
        onnx_model.train()
    with pytest.raises(ValueError, match="no ONNX file at"):
        OnnxModel(tmp_path / "missing.onnx")
    with pytest.raises(ValueError, match="threads must be a positive int, got 0"):
        OnnxModel(path, threads=0)
    (tmp_path / "garbage.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ValueError, match="cannot load .*garbage.onnx as an ONNX model"):
        OnnxModel(tmp_path / "garbage.onnx")


def matmul_ops(path):
    """{module path: op type} of the graph's (quantised or not) MatMuls with a known module."""
    found = {}
    for node in onnx.load(str(path)).graph.node:
        module = module_of(node.name)
        if "MatMul" in node.op_type and module:
            found.setdefault(module, set()).add(node.op_type)
    return found


def test_int8_keeps_ffn_output_and_everything_outside_the_encoder_fp32(exported, tmp_path):
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
    assert all_int8["layoutlmv2.encoder.layer.0.output.dense"] == {"MatMulInteger"}
    encodings = documents(model.config)
    expected = torch.cat([r["logits"] for r in predict(model, encodings, batch_size=1)])
    for quantised in (tmp_path / "int8.onnx", tmp_path / "all.onnx"):
        got = torch.cat([r["logits"] for r in predict(OnnxModel(quantised), encodings, batch_size=2)])
        drift = float((got - expected).abs().max())
        assert 0 < drift < 0.5, (quantised.name, drift)  # int8 ran, and stayed near fp32
        assert torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0) > 0.99


def test_int8_needs_module_names(exported, tmp_path):
    """A graph whose nodes carry no module names (another exporter, opset < 18) is refused by name."""
    _, path = exported
    graph = onnx.load(str(path))
    for node in graph.graph.node:
        node.name = node.name.rpartition("/")[2]
    onnx.save(graph, str(tmp_path / "anonymous.onnx"))
    with pytest.raises(ValueError, match="no MatMul named after an encoder module"):
        quantize_onnx_int8(tmp_path / "anonymous.onnx", tmp_path / "int8.onnx")


@pytest.fixture(scope="module")
def token_folder_and_onnx(tmp_path_factory):
    """A tiny fine-tuned-style folder (32-px pages) and its export at the processor's image size."""
    from layoutlmv2 import LayoutLMv2ForTokenClassification
    from layoutlmv2.data import FUNSD_LABELS
    from layoutlmv2.export import processor_image_size
    from layoutlmv2.training.model_io import load_model

    from test_predict import save_tiny

    folder = save_tiny(tmp_path_factory.mktemp("token"), LayoutLMv2ForTokenClassification, "token-classification",
                       FUNSD_LABELS)
    assert processor_image_size(str(folder)) == 32
    model = load_model(LayoutLMv2ForTokenClassification, folder)
    return folder, to_onnx(model, folder.parent / "token.onnx", image_size=32)


def test_evaluate_and_predict_run_an_exported_file(token_folder_and_onnx, funsd_dir, capsys):
    """`layoutlmv2 evaluate/predict --onnx FILE`: the same scores and labels as the PyTorch model."""
    import json

    from layoutlmv2.cli import main
    from layoutlmv2.predict import Predictor
    from layoutlmv2.training.tasks import load_dataset

    folder, path = token_folder_and_onnx
    scores = []
    for extra in ([], ["--onnx", str(path)]):
        assert main(["evaluate", "--model", str(folder), "--dataset", "funsd", "--data-dir", str(funsd_dir),
                     "--limit", "3", "--max-length", "128", "--stride", "32", *extra]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0]["documents"] == 3 and scores[1] == scores[0]

    document = load_dataset("funsd", funsd_dir, "test")[0]
    image = document.load_image()
    words = [{"words": document.words, "boxes": document.boxes, "box_units": "0-1000"}]
    ours = Predictor(folder, onnx=path).predict_pages([image], words)[0]
    theirs = Predictor(folder).predict_pages([image], words)[0]
    assert ours["labels"] == theirs["labels"]
    assert max(abs(a - b) for a, b in zip(ours["scores"], theirs["scores"])) < 1e-4


def test_an_exported_file_of_another_model_is_refused_by_name(token_folder_and_onnx, exported, tmp_path):
    from layoutlmv2.predict import Predictor
    from layoutlmv2.training.recipe import evaluate_model

    folder, _ = token_folder_and_onnx
    _, path_64px = exported
    with pytest.raises(ValueError, match=r"takes images of shape \(3, 64, 64\); the processor makes \(3, 32, 32\)"):
        Predictor(folder, onnx=path_64px)
    sequence = to_onnx(seeded_model("LayoutLMv2ForSequenceClassification"), tmp_path / "seq.onnx", image_size=32)
    with pytest.raises(ValueError, match=r"returns \('logits',\) of ranks \(2,\); a LayoutLMv2ForTokenClassification"):
        Predictor(folder, onnx=sequence)
    with pytest.raises(ValueError, match="bf16 autocast applies to the PyTorch model"):
        evaluate_model(folder, "funsd", "unused", bf16=True, onnx=sequence)


def test_int8_with_convolutions_calibrated_on_pages(exported, tmp_path):
    model, path = exported
    pages = [example_inputs(model.config, 1, 4, image_size=IMAGE_SIZE, seed=seed)["image"][0] for seed in range(3)]
    output = quantize_onnx_int8(path, tmp_path / "int8.onnx", keep_ffn_output_fp32=True, calibration_images=pages)
    graph = onnx.load(str(output)).graph
    producers = {out: node for node in graph.node for out in node.output}
    convolutions = [node for node in graph.node if node.op_type == "Conv"]
    assert convolutions and all(node.name.startswith("layoutlmv2.visual.") for node in convolutions)
    for conv in convolutions:  # static QDQ: the input and the weight of every convolution come dequantised
        assert [producers[name].op_type for name in conv.input[:2]] == ["DequantizeLinear"] * 2, conv.name
    assert matmul_ops(output)["layoutlmv2.encoder.layer.0.intermediate.dense"] == {"MatMulInteger"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8.onnx"]  # the intermediate file is gone
    inputs = example_inputs(model.config, 2, 20, image_size=IMAGE_SIZE, seed=9)
    with torch.inference_mode():
        expected = model(**inputs).logits
    got = OnnxModel(output)(**inputs)["logits"]
    assert 0 < float((got - expected).abs().max()) < 0.5
    assert torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), dim=0) > 0.99

    with pytest.raises(ValueError, match=r"calibration image 1 has shape \(1, 3, 32, 32\); the graph takes"):
        quantize_onnx_int8(path, tmp_path / "bad.onnx", calibration_images=[pages[0], torch.zeros(3, 32, 32)])
    with pytest.raises(ValueError, match="calibration_images is empty"):
        quantize_onnx_int8(path, tmp_path / "bad.onnx", calibration_images=[])
