"""A LayoutXLM folder through ``layoutlmv2 train / evaluate / predict`` on XFUND-de, with no new flags.

The folder is LayoutXLM-shaped (514 positions, one token type, <pad>=1, a SentencePiece vocabulary
trained by the ``sentencepiece_model`` fixture) and small (hidden 64, 2 layers); the command picks
its LayoutXLM tokenizer from the files.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from cli_helpers import error_lines, run_cli
from small_models import small_config

from layoutlmv2 import (LayoutLMv2ForTokenClassification, LayoutLMv2ImageProcessor, LayoutXLMProcessor,
                        LayoutXLMTokenizerFast)
from layoutlmv2.data import FUNSD_LABELS, load_xfund

pytestmark = [pytest.mark.data, pytest.mark.usefixtures("one_thread")]


def write_layoutxlm_folder(folder, sentencepiece_model, vocab_size=None):
    tokenizer = LayoutXLMTokenizerFast(vocab_file=str(sentencepiece_model))
    config = small_config(vocab_size=vocab_size or len(tokenizer), max_position_embeddings=514, type_vocab_size=1,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2, num_labels=len(FUNSD_LABELS),
                          id2label=dict(enumerate(FUNSD_LABELS)), label2id={l: i for i, l in enumerate(FUNSD_LABELS)})
    torch.manual_seed(0)
    LayoutLMv2ForTokenClassification(config).save_pretrained(folder)
    image_processor = LayoutLMv2ImageProcessor(apply_ocr=False, size={"height": 64, "width": 64})
    LayoutXLMProcessor(image_processor, tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def trained(sentencepiece_model, xfund_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("layoutxlm_cli")
    model = write_layoutxlm_folder(root / "layoutxlm", sentencepiece_model)
    run = run_cli(["--threads", "1", "train", "--task", "token-classification", "--dataset", "xfund", "--lang", "de",
                   "--data-dir", xfund_dir, "--model", model, "--output", root / "run", "--epochs", "1",
                   "--limit", "2", "--batch-size", "2", "--max-length", "128", "--stride", "32",
                   "--visual-mode", "zero", "--image-size", "64", "--device", "cpu", "--no-progress"])
    assert run.code == 0, run.err
    return root


def test_train_keeps_the_layoutxlm_tokenizer(trained):
    best = trained / "run" / "best"
    assert (best / "sentencepiece.bpe.model").is_file() and (best / "tokenizer.json").is_file()
    assert not (best / "vocab.txt").exists()
    assert json.loads((best / "tokenizer_config.json").read_text())["tokenizer_class"] == "LayoutXLMTokenizer"
    summary = json.loads((trained / "run" / "summary.json").read_text())
    assert summary["recipe"]["lang"] == "de" and "entity_f1" in summary["test"]


def test_evaluate(trained, xfund_dir):
    run = run_cli(["--threads", "1", "evaluate", "--model", trained / "run" / "best", "--dataset", "xfund",
                   "--lang", "de", "--data-dir", xfund_dir, "--split", "test", "--limit", "2", "--max-length", "128",
                   "--stride", "32", "--device", "cpu"])
    assert run.code == 0, run.err
    scores = json.loads(run.out)
    assert scores["documents"] == 2 and 0.0 <= scores["entity_f1"] <= 1.0


def test_predict_a_german_page(trained, xfund_dir, tmp_path):
    document = load_xfund(xfund_dir, "test", "de")[0]
    width, height = document.page_size
    Image.new("RGB", (width, height), "white").save(tmp_path / "seite.png")
    boxes = [[b[0] * width // 1000, b[1] * height // 1000, b[2] * width // 1000, b[3] * height // 1000]
             for b in document.boxes]
    (tmp_path / "words.json").write_text(json.dumps({"words": document.words, "boxes": boxes}, ensure_ascii=False))
    run = run_cli(["--threads", "1", "predict", "--model", trained / "run" / "best", tmp_path / "seite.png",
                   "--words-json", tmp_path / "words.json", "--device", "cpu", "--output", tmp_path / "out.jsonl"])
    assert run.code == 0, run.err
    record = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert record["words"] == document.words and len(record["labels"]) == len(document.words)
    assert set(record["labels"]) <= set(FUNSD_LABELS)


def test_unknown_language(trained, xfund_dir):
    run = run_cli(["evaluate", "--model", trained / "run" / "best", "--dataset", "xfund", "--lang", "en",
                   "--data-dir", xfund_dir])
    assert run.code == 1
    assert error_lines(run.err, "evaluate") == ["layoutlmv2 evaluate: error: --lang 'en': xfund has the languages "
                                                "de, es, fr, it, ja, pt, zh"]


def test_vocabulary_larger_than_the_model(sentencepiece_model, xfund_dir, tmp_path):
    model = write_layoutxlm_folder(tmp_path / "small_vocab", sentencepiece_model, vocab_size=1000)
    run = run_cli(["evaluate", "--model", model, "--dataset", "xfund", "--data-dir", xfund_dir, "--limit", "1"])
    assert run.code == 1
    (line,) = error_lines(run.err, "evaluate")
    assert "2002 tokens" in line and "vocab_size 1000" in line


@pytest.mark.ocr
@pytest.mark.parametrize("lang, pack", [("deu", "tesseract-ocr-deu"), ("xyz", "tesseract-ocr-xyz")])
def test_missing_ocr_language_pack(trained, tmp_path, lang, pack):
    if shutil.which("tesseract") is None:
        pytest.skip("no tesseract binary")
    import subprocess

    installed = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True).stdout.split()
    if lang in installed:
        pytest.skip(f"Tesseract has {lang}")
    Image.new("RGB", (200, 100), "white").save(tmp_path / "seite.png")
    run = run_cli(["predict", "--model", trained / "run" / "best", tmp_path / "seite.png", "--ocr-lang", lang,
                   "--device", "cpu"])
    assert run.code == 1
    (line,) = error_lines(run.err)
    assert f"apt-get install {pack}" in line and f"lang={lang!r}" in line
