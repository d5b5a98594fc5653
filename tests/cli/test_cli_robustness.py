"""What a user feeds `layoutlmv2 predict` that is broken: each case is exit status 1 and one stderr line
naming the file and the problem (no traceback), and the results of the good inputs are on disk."""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from layoutlmv2 import LayoutLMv2ForQuestionAnswering, LayoutLMv2ForTokenClassification, LayoutLMv2Processor
from layoutlmv2.data import FUNSD_LABELS

from cli_helpers import error_lines, predict
from small_models import save_tiny

pytestmark = pytest.mark.usefixtures("one_thread")

FUNSD_PAGE = "82092117"


@pytest.fixture(scope="module")
def token_model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("token"), LayoutLMv2ForTokenClassification, "token-classification",
                     FUNSD_LABELS)


@pytest.fixture(scope="module")
def page(funsd_dir, tmp_path_factory):
    """(a real FUNSD page as PNG, a words JSON for it in page pixels, its words)."""
    annotation = json.loads((funsd_dir / "testing_data" / "annotations" / f"{FUNSD_PAGE}.json").read_text())
    words = [w for entity in annotation["form"] for w in entity["words"] if w["text"].strip()]
    folder = tmp_path_factory.mktemp("page")
    words_json = folder / "words.json"
    words_json.write_text(json.dumps({"words": [w["text"] for w in words], "boxes": [w["box"] for w in words]}))
    return funsd_dir / "testing_data" / "images" / f"{FUNSD_PAGE}.png", words_json, [w["text"] for w in words]


def png_bytes(size=(60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A valid PNG header claiming ``width`` x ``height`` (with a correct CRC), without the pixels."""
    data = bytearray(png_bytes())
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), then width and height
    data[ihdr + 8: ihdr + 16] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4: ihdr + 8 + 13]))
    data[ihdr + 8 + 13: ihdr + 8 + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


# ----------------------------------------------------------------------------- unreadable pages
BROKEN_FILES = {
    "truncated.png": (lambda path: path.write_bytes(png_bytes((300, 300))[:200]), "truncated"),
    "text.png": (lambda path: path.write_text("this is not an image\n"), "not an image"),
    "corrupt.pdf": (lambda path: path.write_bytes(b"%PDF-1.4\n1 0 obj <<>>\nthis is not a pdf"), "not a readable PDF"),
    "huge.png": (huge_png, "too large"),
    "page.docx": (lambda path: path.write_bytes(b"PK\x03\x04"), "unsupported file type"),
}


@pytest.mark.ocr
@pytest.mark.parametrize("name", sorted(BROKEN_FILES))
def test_a_broken_file_is_one_line_and_the_good_files_are_written(name, token_model, page, tmp_path):
    image, _, _ = page
    make, problem = BROKEN_FILES[name]
    broken = tmp_path / name
    make(broken)
    good = tmp_path / "good.png"
    Image.open(image).crop((0, 0, 754, 300)).save(good)  # the top of a FUNSD page: OCR in a second
    out = tmp_path / "out"
    run = predict(token_model, [broken, good], "--output", str(out))
    assert run.code == 1, run.err
    lines = error_lines(run.err)
    assert len(lines) == 1 and str(broken) in lines[0] and problem in lines[0], run.err
    record = json.loads((out / "good-p1.json").read_text())
    assert len(record["words"]) > 10 and len(record["labels"]) == len(record["words"])
    assert "1 page(s) written; 1 of 2 file(s) failed" in run.err


def test_pages_before_a_damaged_frame_are_written(token_model, tmp_path):
    """A TIFF whose second frame is cut off: page 1 is written, the failure names page 2."""
    tiff = tmp_path / "scan.tif"
    frames = [Image.new("RGB", (80, 60), "white"), Image.new("RGB", (80, 60), "black")]
    frames[0].save(tiff, save_all=True, append_images=frames[1:], compression="raw")
    data = tiff.read_bytes()
    tiff.write_bytes(data[: len(data) - 8000])  # the last frame's strip (80 * 60 * 3 bytes at the end) goes
    words = tmp_path / "words.json"
    words.write_text(json.dumps({"pages": [{"words": ["a"], "boxes": [[1, 1, 9, 9]]}] * 2}))
    run = predict(token_model, [tiff], "--output", str(tmp_path / "out"), ocr_words=words)
    assert run.code == 1
    lines = error_lines(run.err)
    assert len(lines) == 1 and str(tiff) in lines[0] and "frame 2" in lines[0], run.err
    assert (tmp_path / "out" / "scan-p1.json").is_file()


# ----------------------------------------------------------------------------- the words file
@pytest.mark.parametrize("content, named", [
    ({"words": ["Date:"], "boxes": [["10", "20", "30", "40"]]}, "box 0 ('Date:') is ['10', '20', '30', '40']"),
    ({"words": ["Date:"], "boxes": [[10, 20, 30]]}, "not four numbers"),
    ({"words": ["Date:"], "boxes": [[10**400, 20, 30, 40]]}, "not four numbers [x0, y0, x1, y1] (finite, below 1e+09)"),
    ({"words": [12], "boxes": [[10, 20, 30, 40]]}, "word 0 is 12, not a string"),
    ({"words": ["Date:"], "boxes": [[30, 20, 10, 40]]}, "x0 > x1"),
    ({"words": ["Date:"], "boxes": [[5000, 5000, 5100, 5100]]}, "wholly off the 754 x 1000 pixel page"),
    ({"words": ["Date:"], "boxes": [[0, 0, 1001, 10]], "box_units": "0-1000"}, "outside 0..1000"),
    ({"words": "Date:", "boxes": [[0, 0, 1, 1]]}, "must be lists"),
    ([1, 2, 3], "expected an object"),
])
def test_a_bad_words_file_names_the_word(content, named, token_model, page, tmp_path):
    image, _, _ = page
    words = tmp_path / "words.json"
    words.write_text(json.dumps(content))
    run = predict(token_model, [image], ocr_words=words)
    assert run.code == 1
    lines = error_lines(run.err)
    assert len(lines) == 1 and str(words) in lines[0] and named in lines[0], run.err


def test_boxes_spilling_over_the_page_are_clamped_and_counted(token_model, page, tmp_path, caplog):
    image, _, _ = page
    words = tmp_path / "words.json"
    words.write_text(json.dumps({"words": ["left", "inside"], "boxes": [[-5, 10, 40, 30], [100, 100, 140, 120]]}))
    run = predict(token_model, [image], ocr_words=words)
    assert run.code == 0, run.err
    record = json.loads(run.out)
    assert record["clamped_boxes"] == 1 and record["boxes"][0][0] == 0
    assert any("1 word box(es) spill over the 754 x 1000 page" in m for m in caplog.messages)


# ----------------------------------------------------------------------------- outputs and options
def test_inputs_with_the_same_stem_do_not_overwrite_each_other(token_model, page, tmp_path):
    image, words_json, _ = page
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "page.png").write_bytes(image.read_bytes())
    words = tmp_path / "words.json"
    one = json.loads(words_json.read_text())
    words.write_text(json.dumps({"pages": [one, {"words": ["x"], "boxes": [[1, 1, 5, 5]]}]}))
    out = tmp_path / "out"
    run = predict(token_model, [tmp_path / "a" / "page.png", tmp_path / "b" / "page.png"], "--output", str(out),
                  ocr_words=words)
    assert run.code == 0, run.err
    assert sorted(p.name for p in out.iterdir()) == ["a__page.png-p1.json", "b__page.png-p1.json"]
    assert json.loads((out / "b__page.png-p1.json").read_text())["words"] == ["x"]


def test_unwritable_output_is_one_line(token_model, page, tmp_path):
    image, words_json, _ = page
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = predict(token_model, [image], "--output", str(blocker / "out"), ocr_words=words_json)
    assert run.code == 1
    lines = error_lines(run.err)
    assert len(lines) == 1 and "cannot create the output folder" in lines[0] and str(blocker / "out") in lines[0]
    if os.geteuid() != 0:  # root writes into read-only folders
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        run = predict(token_model, [image], "--output", str(locked), ocr_words=words_json)
        assert run.code == 1 and "Permission denied" in error_lines(run.err)[0]


def test_a_question_for_a_model_that_takes_none(token_model, page):
    image, words_json, _ = page
    run = predict(token_model, [image], "--question", "what is the date?", ocr_words=words_json)
    assert run.code == 1
    lines = error_lines(run.err)
    assert len(lines) == 1 and "token-classification model" in lines[0] and str(token_model) in lines[0]


def test_a_question_answering_model_without_a_question(page, tmp_path):
    reader = save_tiny(tmp_path / "qa", LayoutLMv2ForQuestionAnswering, "question-answering")
    image, words_json, _ = page
    run = predict(reader, [image], ocr_words=words_json)
    assert run.code == 1 and "give a question" in error_lines(run.err)[0]


def test_tesseract_missing_is_one_line(token_model, page, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    pytesseract = pytest.importorskip("pytesseract")
    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "tesseract")
    image, _, _ = page
    run = predict(token_model, [image])
    assert run.code == 1
    lines = error_lines(run.err)
    assert len(lines) == 1 and "Tesseract OCR is not installed" in lines[0], run.err


@pytest.mark.ocr
def test_a_trained_folder_reads_raw_pages_with_its_processor(token_model, page):
    """The README's quick start on a folder `layoutlmv2 train` wrote: the processor OCRs the page."""
    image, _, _ = page
    processor = LayoutLMv2Processor.from_pretrained(token_model)
    assert processor.image_processor.apply_ocr is True
    encoding = processor(Image.open(image).convert("RGB"), return_tensors="pt")
    assert encoding["input_ids"].shape[1] > 50 and encoding["bbox"].shape[:2] == encoding["input_ids"].shape
    model = LayoutLMv2ForTokenClassification.from_pretrained(token_model)
    assert model(**encoding).logits.shape[-1] == len(FUNSD_LABELS)
