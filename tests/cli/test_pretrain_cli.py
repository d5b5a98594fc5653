"""``layoutlmv2 pretrain`` end to end on three FUNSD training pages (labels unused), resumed, and
``layoutlmv2 train --model`` from its output."""

import json
import shutil

import pytest
import torch

from layoutlmv2 import LayoutLMv2ForPreTraining, LayoutLMv2ForTokenClassification

from cli_helpers import error_lines, run_cli
from small_models import minilm_dir

pytestmark = [pytest.mark.data, pytest.mark.ocr, pytest.mark.usefixtures("one_thread")]

PAGES = ["0000971160.png", "0000989556.png", "0000990274.png"]
SMALL = ["--num-layers", "1", "--max-length", "64", "--stride", "16", "--image-size", "64", "--batch-size", "2",
         "--lr", "1e-3", "--no-progress"]


@pytest.fixture(scope="module")
def pretrained(funsd_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrain")
    pages = root / "pages"
    pages.mkdir()
    for name in PAGES:
        shutil.copy(funsd_dir / "training_data" / "images" / name, pages / name)
    out = root / "pt"
    run = run_cli(["--threads", "1", "pretrain", "--pages", pages, "--init-text-from", minilm_dir(), "--output", out,
                   "--epochs", "1", "--grad-accum", "2", "--eval-share", "0.34", *SMALL])
    assert run.code == 0, run.err
    return pages, out, json.loads(run.out)


def test_pretrain_writes_a_model_the_cache_and_every_loss(pretrained):
    _, out, summary = pretrained
    assert summary["ocr_files"] == {"ocr": 3, "cached": 0, "pages": 3, "empty_pages": 0}
    assert summary["train_pages"] == 2 and len(summary["eval_pages"]) == 1
    assert len(list((out / "ocr-cache").glob("*.json"))) == 3
    config = json.loads((out / "best" / "config.json").read_text())
    assert config["architectures"] == ["LayoutLMv2ForPreTraining"] and config["finetuning_task"] == "pretraining"
    assert (out / "best" / "vocab.txt").is_file() and (out / "best" / "preprocessor_config.json").is_file()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r]
    assert steps and all({"mvlm_loss", "tia_loss", "tim_loss"} <= set(r) for r in steps)
    for r in steps:  # the total is the sum of the three (weights 1), averaged alike
        assert r["loss"] == pytest.approx(r["mvlm_loss"] + r["tia_loss"] + r["tim_loss"], rel=1e-4)
    held = summary["held_out"]
    assert held is not None and held["mvlm_targets"] > 0 and held["tia_targets"] > 0
    assert 0 <= held["mvlm_accuracy"] <= 1 and 0 < held["tim_majority"] <= 1
    model = LayoutLMv2ForPreTraining.from_pretrained(out / "best")
    assert model.cls.predictions.decoder.weight is model.layoutlmv2.embeddings.word_embeddings.weight


def test_resume_reads_the_ocr_cache_and_continues(pretrained, tmp_path):
    pages, out, summary = pretrained
    copy = tmp_path / "pt"
    shutil.copytree(out, copy)
    step = summary["global_step"]
    run = run_cli(["--threads", "1", "pretrain", "--pages", pages, "--init-text-from", minilm_dir(),
                   "--output", copy, "--epochs", "2", "--grad-accum", "2", "--eval-share", "0.34", "--resume", *SMALL])
    assert run.code == 0, run.err
    again = json.loads(run.out)
    assert again["ocr_files"]["ocr"] == 0 and again["ocr_files"]["cached"] == 3
    assert again["global_step"] == 2 * step and again["epochs_completed"] == 2
    records = [json.loads(line) for line in (copy / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == sorted({r["step"] for r in records if "loss" in r})


def test_train_continues_from_the_pretrain_output(pretrained, funsd_dir, tmp_path):
    _, out, _ = pretrained
    run = run_cli(["--threads", "1", "train", "--task", "token-classification", "--dataset", "funsd",
                   "--data-dir", funsd_dir, "--model", out / "best", "--output", tmp_path / "ft", "--epochs", "1",
                   "--limit", "2", "--eval-split", "none", "--max-length", "64", "--stride", "16",
                   "--image-size", "64", "--batch-size", "2", "--no-progress"])
    assert run.code == 0, run.err
    model = LayoutLMv2ForTokenClassification.from_pretrained(tmp_path / "ft" / "best")
    assert model.config.num_labels == 7 and model.config.id2label[0] == "O"
    source = LayoutLMv2ForPreTraining.from_pretrained(out / "best")
    # fine-tuning started from the pre-trained weights: the pooler, trained by TIM in pre-training and
    # frozen in the task heads, is still exactly the pre-trained one, and no longer MiniLM's
    pooler = model.layoutlmv2.pooler.dense.weight
    torch.testing.assert_close(pooler, source.layoutlmv2.pooler.dense.weight, rtol=0, atol=0)
    from layoutlmv2.training.text_init import read_bert_state_dict

    assert not torch.equal(pooler, read_bert_state_dict(minilm_dir())["pooler.dense.weight"])


def test_bad_pretrain_arguments_are_one_line_errors_before_any_ocr(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    base = ["pretrain", "--init-text-from", minilm_dir(), "--output", tmp_path / "out", "--no-progress"]
    missing = run_cli([*base, "--pages", tmp_path / "absent"])
    assert missing.code == 1 and error_lines(missing.err, "pretrain") == [
        f"layoutlmv2 pretrain: error: --pages {tmp_path / 'absent'} is not a folder"]
    empty = run_cli([*base, "--pages", pages])
    assert empty.code == 1 and "no page images or PDFs" in error_lines(empty.err, "pretrain")[0]
    fp16 = run_cli([*base, "--pages", pages, "--device", "cpu", "--precision", "fp16"])
    assert fp16.code == 1 and "fp16 is refused on the CPU" in error_lines(fp16.err, "pretrain")[0]
    weights = run_cli([*base, "--pages", pages, "--tia-weight", "-1"])
    assert weights.code == 1 and ">= 0" in error_lines(weights.err, "pretrain")[0]
    rates = run_cli([*base, "--pages", pages, "--mvlm-probability", "2"])
    assert rates.code == 1 and "mvlm_probability" in error_lines(rates.err, "pretrain")[0]


@pytest.mark.slow
def test_pretrain_runs_data_parallel_under_torchrun(pretrained, tmp_path):
    """Two gloo ranks on the CPU: the run completes, rank 0 alone writes, every objective is logged."""
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT

    pages, out, _ = pretrained
    shutil.copytree(out / "ocr-cache", tmp_path / "cache")  # no OCR in the ranks
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    env.pop("WORLD_SIZE", None)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "layoutlmv2.cli", "--threads", "1", "pretrain", "--pages", str(pages),
                          "--init-text-from", minilm_dir(), "--output", str(tmp_path / "pt"),
                          "--cache-dir", str(tmp_path / "cache"), "--epochs", "2", "--batch-size", "1",
                          "--eval-share", "0.34", *SMALL[:-5], "--lr", "1e-3", "--no-progress"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    summary = json.loads((tmp_path / "pt" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs_completed"] == 2
    assert summary["ocr_files"]["cached"] == 3 and summary["ocr_files"]["ocr"] == 0
    records = [json.loads(line) for line in (tmp_path / "pt" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == sorted({r["step"] for r in records if "loss" in r})
    assert all({"mvlm_loss", "tia_loss", "tim_loss"} <= set(r) for r in records if "loss" in r)
    assert not list((tmp_path / "pt").glob("*.tmp"))
    LayoutLMv2ForPreTraining.from_pretrained(tmp_path / "pt" / "best")
