"""OnnxModel: an exported graph in ONNX Runtime, called like the PyTorch model, also by several workers."""

import threading

import pytest
import torch

from layoutlmv2.deployment.batching import predict
from layoutlmv2.deployment.onnx_export import to_onnx
from layoutlmv2.deployment.onnx_io import INPUT_NAMES
from layoutlmv2.modeling.example_inputs import example_inputs

from small_models import seeded_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from layoutlmv2.deployment.onnx_model import OnnxModel  # noqa: E402  (needs onnxruntime at call time only)

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
    got = predict(OnnxModel(path), encodings, batch_size=batch_size, workers=workers)  # workers are threads
    for ours, theirs, encoding in zip(got, expected, encodings):
        assert ours["logits"].shape == (encoding["input_ids"].shape[1], model.config.num_labels)
        assert float((ours["logits"] - theirs["logits"]).abs().max()) < 1e-4


class _Overlapping(OnnxModel):
    """Records each call's thread count; its first two calls wait for each other (a barrier), so
    they fail unless two run at the same time."""

    def __init__(self, path):
        super().__init__(path)
        self.barrier, self.calls = threading.Barrier(2, timeout=20), []

    def __call__(self, **inputs):
        self.calls.append((threading.get_ident(), self.threads, self.session().get_session_options().intra_op_num_threads))
        if len(self.calls) <= 2:
            self.barrier.wait()
        return super().__call__(**inputs)


def test_workers_are_threads_sharing_one_session(exported, monkeypatch):
    """Two pages run at once, each on a session of cores // workers threads, in this process."""
    from layoutlmv2.deployment import worker_pool

    model, path = exported
    encodings = documents(model.config)
    expected = predict(model, encodings, batch_size=1)
    monkeypatch.setattr(worker_pool, "run_in_processes", None)  # a process pool would fail here
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    onnx_model = _Overlapping(path)
    got = predict(onnx_model, encodings, batch_size=1, workers=2)
    for ours, theirs in zip(got, expected):
        assert float((ours["logits"] - theirs["logits"]).abs().max()) < 1e-4
    assert len(onnx_model.calls) == len(encodings)
    assert len({ident for ident, _, _ in onnx_model.calls}) == 2
    assert {(threads, intra) for _, threads, intra in onnx_model.calls} == {(2, 2)}
    assert onnx_model.threads is None  # the model's own setting again after the run
    assert onnx_model.session().get_session_options().intra_op_num_threads == 4


def test_an_error_in_a_worker_thread_reaches_the_caller_by_name(exported):
    model, path = exported
    encodings = documents(model.config)
    encodings[3]["image"] = torch.zeros(1, 3, 32, 32)
    onnx_model = OnnxModel(path)
    with pytest.raises(ValueError, match=r"exported for images of shape \(3, 64, 64\); got \(3, 32, 32\)"):
        predict(onnx_model, encodings, batch_size=1, workers=2)
    assert onnx_model.threads is None


def test_a_pickled_model_opens_its_own_session_in_a_spawned_process(exported):
    """`worker_pool.run_in_processes` still takes an OnnxModel: spawned, never forked."""
    from layoutlmv2.deployment.worker_pool import _start_method, run_in_processes

    model, path = exported
    encodings = documents(model.config, lengths=(7, 11))
    onnx_model = OnnxModel(path)
    assert _start_method(onnx_model) == "spawn"
    got = dict(run_in_processes(onnx_model, encodings, workers=2))
    with torch.inference_mode():
        for index, encoding in enumerate(encodings):
            expected = model(**encoding).logits
            assert float((got[index]["logits"] - expected).abs().max()) < 1e-4


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


def test_the_memory_arena_is_off_unless_asked_for(exported):
    model, path = exported  # the arena keeps the largest batch's activations for the session's life
    inputs = example_inputs(model.config, 2, 12, image_size=IMAGE_SIZE, seed=4)
    default, arena = OnnxModel(path, threads=1), OnnxModel(path, threads=1, memory_arena=True)
    assert default.session().get_session_options().enable_cpu_mem_arena is False
    assert arena.session().get_session_options().enable_cpu_mem_arena is True
    assert torch.equal(default(**inputs)["logits"], arena(**inputs)["logits"])


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


@pytest.fixture(scope="module")
def token_folder_and_onnx(tmp_path_factory):
    """A tiny fine-tuned-style folder (32-px pages) and its export at the processor's image size."""
    from layoutlmv2 import LayoutLMv2ForTokenClassification
    from layoutlmv2.data import FUNSD_LABELS
    from layoutlmv2.cli.export import processor_image_size

    from small_models import save_tiny

    folder = save_tiny(tmp_path_factory.mktemp("token"), LayoutLMv2ForTokenClassification, "token-classification",
                       FUNSD_LABELS)
    assert processor_image_size(str(folder)) == 32
    model = LayoutLMv2ForTokenClassification.from_pretrained(folder)
    return folder, to_onnx(model, folder.parent / "token.onnx", image_size=32)


def test_evaluate_and_predict_run_an_exported_file(token_folder_and_onnx, funsd_dir, tmp_path, capsys):
    """`layoutlmv2 evaluate/predict --onnx FILE`: the same scores and labels as the PyTorch model."""
    import json

    from layoutlmv2.cli.main import main
    from layoutlmv2.inference.predictor import Predictor
    from layoutlmv2.registry import load_dataset

    folder, path = token_folder_and_onnx
    scores = []
    for extra in ([], ["--onnx", str(path)], ["--onnx", str(path), "--workers", "2", "--batch-size", "1"]):
        assert main(["evaluate", "--model", str(folder), "--dataset", "funsd", "--data-dir", str(funsd_dir),
                     "--limit", "3", "--max-length", "128", "--stride", "32", *extra]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0]["documents"] == 3 and scores[1] == scores[0] and scores[2] == scores[0]

    document = load_dataset("funsd", funsd_dir, "test")[0]
    image = document.load_image()
    words = [{"words": document.words, "boxes": document.boxes, "box_units": "0-1000"}]
    ours = Predictor(folder, onnx=path).predict_pages([image], words)[0]
    theirs = Predictor(folder).predict_pages([image], words)[0]
    assert ours["labels"] == theirs["labels"]
    assert max(abs(a - b) for a, b in zip(ours["scores"], theirs["scores"])) < 1e-4

    # two pages, one window per forward, two worker threads on the exported file
    page_files = [tmp_path / "page1.png", tmp_path / "page2.png"]
    for page_file in page_files:
        image.save(page_file)
    words_json = tmp_path / "words.json"
    words_json.write_text(json.dumps({"pages": words * 2}))
    assert main(["predict", "--model", str(folder), *map(str, page_files), "--words-json", str(words_json),
                 "--onnx", str(path), "--workers", "2", "--batch-size", "1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["page"] for record in records] == [1, 1] and len(records) == 2
    for record in records:
        assert record["labels"] == theirs["labels"]
        assert max(abs(a - b) for a, b in zip(record["scores"], theirs["scores"])) < 1e-4


def test_an_exported_file_of_another_model_is_refused_by_name(token_folder_and_onnx, exported, tmp_path):
    from layoutlmv2.inference.predictor import Predictor
    from layoutlmv2.inference.evaluate import evaluate_model

    folder, _ = token_folder_and_onnx
    _, path_64px = exported
    with pytest.raises(ValueError, match=r"takes images of shape \(3, 64, 64\); the processor makes \(3, 32, 32\)"):
        Predictor(folder, onnx=path_64px)
    sequence = _graph_with_a_sequence_classifiers_outputs(tmp_path / "seq.onnx", image_size=32)
    with pytest.raises(ValueError, match=r"returns \('logits',\) of ranks \(2,\); a LayoutLMv2ForTokenClassification"):
        Predictor(folder, onnx=sequence)
    with pytest.raises(ValueError, match="bf16 autocast applies to the PyTorch model"):
        evaluate_model(folder, "funsd", "unused", bf16=True, onnx=sequence)


def _graph_with_a_sequence_classifiers_outputs(path, image_size):
    """A small hand-built graph with the exported inputs and a sequence classifier's output
    (`logits`, rank 2): what the check reads, without exporting a second model (~20 s)."""
    import onnx
    from onnx import TensorProto, helper

    int64 = {"input_ids": ["batch", "seq"], "bbox": ["batch", "seq", 4], "attention_mask": ["batch", "seq"],
             "token_type_ids": ["batch", "seq"]}
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 3, image_size, image_size])
              if name == "image" else helper.make_tensor_value_info(name, TensorProto.INT64, int64[name])
              for name in INPUT_NAMES]
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    node = helper.make_node("ReduceSum", ["image", "axes"], ["logits"], keepdims=0)
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])
    graph = helper.make_graph([node], "sequence_outputs", inputs, [output], initializer=[axes])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_running_an_exported_file_does_not_import_timm(exported):
    """timm (and torchvision) cost ~200 MB resident at import; an ONNX process never builds the trunk."""
    import subprocess
    import sys

    _, path = exported
    code = ("import sys, torch\n"
            "from layoutlmv2.deployment.onnx_model import OnnxModel\n"
            "from layoutlmv2.inference import pipeline\n"
            "from layoutlmv2.modeling.example_inputs import example_inputs\n"
            f"model = OnnxModel({str(path)!r}, threads=1)\n"
            "model(**example_inputs(batch_size=1, seq_length=8, image_size=64, vocab_size=5000))\n"
            "print(sorted(name for name in ('timm', 'torchvision') if name in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]"
