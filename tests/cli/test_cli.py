"""The ``layoutlmv2`` command end to end, as a user runs it: train, evaluate and predict on real
pages with a tiny configuration (one MiniLM layer, 32-pixel images, zeroed visual stream), and
its error messages.

The commands run in-process through `main` (a subprocess would pay the torch import each time);
one test runs the installed console script to check the entry point and its exit status.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import Sequence

import pytest
import torch
from PIL import Image

from layoutlmv2.cli.main import main
from layoutlmv2.data import FORMS_VS_RECEIPTS_LABELS, FUNSD_LABELS

from cli_helpers import Run, run_cli
from small_models import minilm_dir

FUNSD_PAGE = "82092117"  # a FUNSD test page (its annotation gives the words)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_training_flags() -> list[str]:
    """The smallest model `layoutlmv2 train` builds: one text layer, no visual contribution."""
    return ["--init-text-from", str(minilm_dir()), "--num-layers", "1", "--epochs", "1", "--batch-size", "2",
            "--image-size", "32", "--visual-mode", "zero", "--no-progress"]


def exit_status(argv: Sequence[str]) -> int:
    """`main(argv)`'s return value, or argparse's exit code."""
    try:
        return main(list(argv))
    except SystemExit as exit_:
        return exit_.code


def model_labels(model_dir: Path) -> list[str]:
    config = json.loads((model_dir / "config.json").read_text())
    return [config["id2label"][str(i)] for i in range(len(config["id2label"]))]


def assert_one_line_error(err: str, command: str, *named: str) -> None:
    """A bad input gives exactly one ``layoutlmv2 <command>: error: ...`` line naming the value."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"layoutlmv2 {command}: error:"), err
    assert all(value in lines[0] for value in named), err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def funsd_words(funsd_dir, tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """(page image, words JSON in page pixels, the words) of a FUNSD test page, from its annotation."""
    annotation = json.loads((funsd_dir / "testing_data" / "annotations" / f"{FUNSD_PAGE}.json").read_text())
    words, boxes = [], []
    for entity in annotation["form"]:
        for word in entity["words"]:
            if word["text"].strip():
                words.append(word["text"].strip())
                boxes.append(word["box"])
    words_json = tmp_path_factory.mktemp("words") / "words.json"
    words_json.write_text(json.dumps({"words": words, "boxes": boxes}))
    return funsd_dir / "testing_data" / "images" / f"{FUNSD_PAGE}.png", words_json, words


@pytest.fixture(scope="module")
def token_run(funsd_dir, tmp_path_factory) -> tuple[Run, Path]:
    """`layoutlmv2 train` on 3 FUNSD pages (2 optimizer steps, one evaluation): (run, output folder)."""
    output = tmp_path_factory.mktemp("token") / "run"
    run = run_cli(["train", "--task", "token-classification", "--dataset", "funsd", "--data-dir", str(funsd_dir),
                   "--output", str(output), "--limit", "3", *tiny_training_flags()])
    return run, output


@pytest.fixture(scope="module")
def token_model(token_run) -> Path:
    run, output = token_run
    if run.code != 0:
        pytest.fail(f"layoutlmv2 train failed ({run.code}): {run.err}")
    return output / "best"


# ----------------------------------------------------------------------------- token classification


def test_train_token_classification_writes_best_model_metrics_and_curves(token_run):
    run, output = token_run
    assert run.code == 0, run.err
    best = output / "best"
    assert (best / "config.json").is_file()
    assert list(best.glob("*.safetensors")) or list(best.glob("*.bin")), "no weights file in best/"
    for name in ("preprocessor_config.json", "tokenizer_config.json", "vocab.txt"):
        assert (best / name).is_file(), name
    assert model_labels(best) == FUNSD_LABELS
    assert json.loads((best / "config.json").read_text())["num_hidden_layers"] == 1

    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    evaluations = [r for r in records if "entity_f1" in r]
    assert len(evaluations) == 1 and evaluations[0]["epoch"] == 1
    assert 0.0 <= evaluations[0]["entity_f1"] <= 1.0
    assert (output / "curves.png").stat().st_size > 1000
    assert Image.open(output / "curves.png").format == "PNG"

    summary = json.loads(run.out)  # stdout is the summary, as JSON
    assert summary["best_entity_f1"] == pytest.approx(evaluations[0]["entity_f1"])
    assert summary["train_documents"] == summary["test_documents"] == 3


def test_evaluate_writes_entity_scores_for_the_limited_documents(token_model, funsd_dir, tmp_path, capsys):
    scores_file = tmp_path / "scores.json"
    code = main(["evaluate", "--model", str(token_model), "--dataset", "funsd", "--data-dir", str(funsd_dir),
                 "--limit", "2", "--output", str(scores_file), "--workers", "2"])
    assert code == 0, capsys.readouterr().err
    scores = json.loads(scores_file.read_text())
    assert json.loads(capsys.readouterr().out) == scores
    assert scores["documents"] == 2 and scores["split"] == "test" and scores["main_metric"] == "entity_f1"
    precision, recall, f1 = scores["entity_precision"], scores["entity_recall"], scores["entity_f1"]
    assert all(0.0 <= value <= 1.0 for value in (precision, recall, f1))
    harmonic = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    assert f1 == pytest.approx(harmonic)


def test_predict_labels_every_word_and_draws_the_page(token_model, funsd_words, tmp_path, capsys):
    image_path, words_json, words = funsd_words
    out = tmp_path / "out"
    code = main(["predict", "--model", str(token_model), str(image_path), "--words-json", str(words_json),
                 "--draw", "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    record_path = out / f"{FUNSD_PAGE}-p1.json"
    assert capsys.readouterr().out.split() == [str(record_path)]
    record = json.loads(record_path.read_text())
    assert record["words"] == words and len(record["boxes"]) == len(words)
    assert len(record["labels"]) == len(record["scores"]) == len(words)
    assert set(record["labels"]) <= set(model_labels(token_model))
    assert all(0.0 <= score <= 1.0 for score in record["scores"])
    assert isinstance(record["entities"], list)
    for entity in record["entities"]:
        assert entity["text"] == " ".join(words[i] for i in entity["words"])
    with Image.open(image_path) as page, Image.open(out / f"{FUNSD_PAGE}-p1.png") as drawn:
        assert drawn.size == page.size == tuple(record["size"])


# ----------------------------------------------------------------------------- the other two tasks


def test_sequence_classification_train_and_predict(funsd_dir, sroie_dir, funsd_words, tmp_path, capsys):
    data = tmp_path / "data"  # forms-vs-receipts reads <data-dir>/funsd and <data-dir>/sroie
    data.mkdir()
    (data / "funsd").symlink_to(funsd_dir, target_is_directory=True)
    (data / "sroie").symlink_to(sroie_dir, target_is_directory=True)
    output = tmp_path / "run"
    code = main(["train", "--task", "sequence-classification", "--dataset", "forms-vs-receipts",
                 "--data-dir", str(data), "--output", str(output), "--limit", "2", "--eval-split", "none",
                 *tiny_training_flags()])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["global_step"] == 1
    assert model_labels(output / "best") == FORMS_VS_RECEIPTS_LABELS

    image_path, words_json, _ = funsd_words
    code = main(["predict", "--model", str(output / "best"), str(image_path), "--words-json", str(words_json)])
    assert code == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()  # no --output: one JSON line per page on stdout
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["task"] == "sequence-classification" and record["label"] in FORMS_VS_RECEIPTS_LABELS
    assert set(record["probabilities"]) == set(FORMS_VS_RECEIPTS_LABELS)
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert record["label"] == max(record["probabilities"], key=record["probabilities"].get)


def test_question_answering_train_and_predict(funsd_dir, funsd_words, tmp_path, capsys):
    output = tmp_path / "run"
    code = main(["train", "--task", "question-answering", "--dataset", "funsd-qa", "--data-dir", str(funsd_dir),
                 "--output", str(output), "--limit", "2", *tiny_training_flags()])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()
    evaluations = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()
                   if "anls" in line]
    assert len(evaluations) == 1 and 0.0 <= evaluations[0]["anls"] <= 1.0

    image_path, words_json, words = funsd_words
    out = tmp_path / "out"
    question = "what is the date?"
    code = main(["predict", "--model", str(output / "best"), str(image_path), "--words-json", str(words_json),
                 "--question", question, "--draw", "--output", str(out)])
    assert code == 0, capsys.readouterr().err
    record = json.loads((out / f"{FUNSD_PAGE}-p1.json").read_text())
    first, last = record["span"]
    assert 0 <= first <= last < len(words) and record["answer"] == " ".join(words[first: last + 1])
    assert 0.0 < record["score"] <= 1.0 and record["question"] == question
    with Image.open(image_path) as page, Image.open(out / f"{FUNSD_PAGE}-p1.png") as drawn:
        assert drawn.size == page.size


def test_relation_extraction_train_on_funsd_and_evaluate_on_xfund(funsd_dir, xfund_dir, tmp_path, capsys):
    output = tmp_path / "run"
    code = main(["train", "--task", "relation-extraction", "--dataset", "funsd", "--data-dir", str(funsd_dir),
                 "--output", str(output), "--limit", "2", "--relation-geometry", *tiny_training_flags()])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["global_step"] == 1 and 0.0 <= summary["test"]["relation_f1"] <= 1.0
    assert summary["train_stats"]["links"] > 0 and "links_across_windows" in summary["test_stats"]
    config = json.loads((output / "best" / "config.json").read_text())
    assert config["architectures"] == ["LayoutLMv2ForRelationExtraction"]
    assert config["finetuning_task"] == "relation-extraction" and config["relation_pair_geometry"] is True
    from safetensors import safe_open

    with safe_open(str(output / "best" / "model.safetensors"), "pt") as weights:
        assert "extractor.pair_geometry.mlp.0.weight" in set(weights.keys())

    code = main(["evaluate", "--model", str(output / "best"), "--dataset", "xfund", "--data-dir", str(xfund_dir),
                 "--split", "test", "--limit", "2", "--output", str(tmp_path / "scores.json")])
    assert code == 0, capsys.readouterr().err
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["main_metric"] == "relation_f1" and scores["documents"] == 2
    gold = scores["relation_tp"] + scores["relation_fn"]
    assert gold == scores["windows"]["links"] > 0  # every gold link is counted, lost ones as missed

    code = main(["evaluate", "--model", str(output / "best"), "--dataset", "sroie", "--data-dir", str(xfund_dir)])
    assert code == 1
    assert "is for token-classification, not relation-extraction" in capsys.readouterr().err


# ----------------------------------------------------------------------------- errors and help


def test_unknown_dataset_is_a_usage_error(capsys):
    code = exit_status(["train", "--task", "token-classification", "--dataset", "no-such-set", "--data-dir", "d",
                        "--init-text-from", "m", "--output", "o"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]  # after argparse's usage lines
    assert last.startswith("layoutlmv2 train: error: argument --dataset") and "'no-such-set'" in last


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_missing_model_folder_is_named_in_one_line(command, tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    argv = {
        "train": ["train", "--task", "token-classification", "--dataset", "funsd", "--data-dir", str(tmp_path),
                  "--model", str(missing), "--output", str(tmp_path / "run"), "--no-progress"],
        "evaluate": ["evaluate", "--model", str(missing), "--dataset", "funsd", "--data-dir", str(tmp_path)],
        "predict": ["predict", "--model", str(missing), str(tmp_path / "page.png")],
    }[command]
    assert main(argv) == 1
    assert_one_line_error(capsys.readouterr().err, command, str(missing))


def test_missing_predict_file_is_named_in_one_line(token_model, tmp_path, capsys):
    missing = tmp_path / "no-such-page.png"
    assert main(["predict", "--model", str(token_model), str(missing)]) == 1
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, "predict", str(missing))
    assert captured.out == ""


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_bad_worker_count_is_named_in_one_line(command, token_model, tmp_path, capsys):
    argv = {"evaluate": ["evaluate", "--dataset", "funsd", "--data-dir", str(tmp_path)],
            "predict": ["predict", str(tmp_path / "page.png")]}[command]
    assert main(argv + ["--model", str(token_model), "--workers", "0"]) == 1
    assert_one_line_error(capsys.readouterr().err, command, "workers must be a positive int, got 0")


def test_init_text_from_and_model_are_exclusive(capsys):
    code = exit_status(["train", "--task", "token-classification", "--dataset", "funsd", "--data-dir", "d",
                        "--init-text-from", "bert", "--model", "layoutlm", "--output", "o"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("layoutlmv2 train: error:") and "not allowed" in last
    assert "--init-text-from" in last and "--model" in last


def test_help_exits_zero(capsys):
    assert exit_status(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(command in text for command in ("train", "evaluate", "predict"))
    assert exit_status(["train", "--help"]) == 0
    text = capsys.readouterr().out
    assert all(flag in text for flag in ("--init-text-from", "--visual-mode", "--limit", "--num-layers"))


def test_installed_console_script(tmp_path):
    """The ``layoutlmv2`` entry point runs `main` and turns its return value into the exit status."""
    script = Path(sysconfig.get_path("scripts")) / "layoutlmv2"
    script = script if script.is_file() else shutil.which("layoutlmv2")
    assert script is not None, "the layoutlmv2 console script is not installed (pip install -e .)"
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "predict" in shown.stdout
    missing = tmp_path / "no-such-model"
    failed = subprocess.run([str(script), "--threads", "1", "predict", "--model", str(missing), "page.png"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert_one_line_error(failed.stderr, "predict", str(missing))
