"""Tesseract OCR: same words and boxes as transformers' image processor, parallel, clear failures."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from preprocessing_data import funsd_documents, sroie_documents  # noqa: E402

from layoutlmv2 import LayoutLMv2ImageProcessor  # noqa: E402
from layoutlmv2.preprocessing import ocr  # noqa: E402


def reference_ocr(images):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("pytesseract")
    reference = transformers.LayoutLMv2ImageProcessorPil(apply_ocr=True)
    out = reference([im.convert("RGB") for im in images])
    return out["words"], out["boxes"], out["pixel_values"]


def assert_ocr_parity(paths):
    images = [Image.open(p) for p in paths]
    ours = LayoutLMv2ImageProcessor()(images)
    words, boxes, pixel_values = reference_ocr(images)
    assert ours["words"] == words
    assert ours["boxes"] == boxes
    assert all(np.array_equal(a, b) for a, b in zip(ours["pixel_values"], pixel_values))
    assert sum(len(w) for w in words) > 0


@pytest.mark.ocr
@pytest.mark.data
def test_ocr_matches_transformers_on_three_funsd_pages(funsd_dir):
    docs = funsd_documents(funsd_dir)
    assert_ocr_parity([docs[i]["image"] for i in (0, 100, 198)])


@pytest.mark.ocr
@pytest.mark.data
@pytest.mark.exhaustive  # ~14 min, mostly the reference's one-page-at-a-time OCR: `make test-exhaustive`
def test_ocr_matches_transformers_on_all_274_pages(funsd_dir, sroie_dir):
    paths = [d["image"] for d in funsd_documents(funsd_dir)] + [d["image"] for d in sroie_documents(sroie_dir)]
    assert len(paths) == 274
    for start in range(0, len(paths), 8):
        assert_ocr_parity(paths[start:start + 8])


def text_page(text="Invoice 2024 total", size=(600, 120)):
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 40), text, fill="black", font_size=32)
    return image


@pytest.mark.ocr
def test_blank_page_gives_no_words():
    out = LayoutLMv2ImageProcessor()(Image.new("L", (300, 200), 255))
    assert out["words"] == [[]] and out["boxes"] == [[]]
    assert ocr.apply_tesseract(Image.new("RGB", (50, 50), "white")) == ([], [])


@pytest.mark.ocr
def test_words_boxes_and_options():
    words, boxes = ocr.apply_tesseract(text_page())
    assert [w.lower() for w in words] == ["invoice", "2024", "total"]
    assert all(len(b) == 4 and 0 <= min(b) and max(b) <= 1000 and b[0] <= b[2] and b[1] <= b[3] for b in boxes)
    assert boxes[0][0] < boxes[1][0] < boxes[2][0]
    out = LayoutLMv2ImageProcessor(ocr_lang="eng", tesseract_config="--psm 7")(text_page())
    assert [w.lower() for w in out["words"][0]] == ["invoice", "2024", "total"]
    with pytest.raises(ValueError, match="language"):
        ocr.apply_tesseract(text_page(), lang="no-such-language")


@pytest.mark.ocr
def test_batch_is_parallel_and_ordered(monkeypatch):
    pages = [text_page(t) for t in ("alpha one", "beta two", "gamma three", "delta four")]
    sequential = ocr.apply_tesseract_batch(pages, num_workers=1)
    parallel = ocr.apply_tesseract_batch(pages, num_workers=3)
    assert sequential == parallel
    assert [w[0].lower() for w in parallel[0]] == ["alpha", "beta", "gamma", "delta"]
    with pytest.raises(ValueError, match="num_workers"):
        ocr.apply_tesseract_batch(pages, num_workers=0)


def test_one_tesseract_thread_per_process(monkeypatch):
    seen = []

    class Done:
        returncode, stdout, stderr = 0, b"level\tleft\ttop\twidth\theight\tconf\ttext\n5\t10\t20\t30\t40\t96\thi\n", b""

    def fake_run(args, **kwargs):
        seen.append((args, kwargs["env"]))
        return Done()

    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    monkeypatch.setattr(ocr.subprocess, "run", fake_run)
    words, boxes = ocr.apply_tesseract(Image.new("RGB", (100, 200)), lang="deu", tesseract_config="--psm 6")
    assert words == ["hi"] and boxes == [[100, 100, 400, 300]]
    args, env = seen[0]
    assert env["OMP_THREAD_LIMIT"] == "1"
    assert args[1:] == ["stdin", "stdout", "-l", "deu", "-c", "tessedit_create_tsv=1", "--psm", "6"]


def test_missing_tesseract_says_how_to_install(monkeypatch):
    pytesseract = pytest.importorskip("pytesseract")
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(ocr.TesseractNotFoundError) as error:
        LayoutLMv2ImageProcessor()(Image.new("RGB", (20, 20)))
    message = str(error.value)
    assert "apt-get install tesseract-ocr" in message and "brew install tesseract" in message
    assert "Windows" in message and "/nonexistent/tesseract" in message
    assert isinstance(error.value, EnvironmentError)
    # no OCR, no Tesseract needed
    assert LayoutLMv2ImageProcessor(apply_ocr=False)(Image.new("RGB", (20, 20)))["pixel_values"]


def test_normalize_box():
    assert ocr.normalize_box([10, 20, 30, 40], 100, 200) == [100, 100, 300, 200]
    assert ocr.normalize_box([0, 0, 762, 1000], 762, 1000) == [0, 0, 1000, 1000]
    assert ocr.normalize_box([1, 1, 2, 2], 3, 3) == [333, 333, 666, 666]  # truncated, not rounded
