"""`layoutlmv2 predict` over folders: --recursive, JSON lines output, --resume, --ocr, the progress bar.

The pages are crops of a real FUNSD page (OCR in about a second each), as PNG and as a one-page PDF.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

from layoutlmv2 import LayoutLMv2ForTokenClassification
from layoutlmv2.data import FUNSD_LABELS

from cli_helpers import error_lines, predict
from small_models import save_tiny

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.ocr]

FUNSD_PAGE = "82092117"


@pytest.fixture(scope="module")
def token_model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("token"), LayoutLMv2ForTokenClassification, "token-classification",
                     FUNSD_LABELS)


@pytest.fixture()
def pages(funsd_dir, tmp_path) -> Path:
    """pages/top.png, pages/middle.pdf and pages/scans/bottom.png: three crops of one FUNSD page."""
    page = Image.open(funsd_dir / "testing_data" / "images" / f"{FUNSD_PAGE}.png").convert("RGB")
    folder = tmp_path / "pages"
    (folder / "scans").mkdir(parents=True)
    page.crop((0, 0, 754, 250)).save(folder / "top.png")
    page.crop((0, 250, 754, 500)).save(folder / "middle.pdf", resolution=72)
    page.crop((0, 500, 754, 750)).save(folder / "scans" / "bottom.png")
    (folder / "notes.txt").write_text("not a page: a folder's other files are left alone\n")
    return folder


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_folder_gives_its_page_files_and_recursive_also_its_subfolders(token_model, pages, tmp_path):
    flat = predict(token_model, [pages], "--output", tmp_path / "flat.jsonl")
    assert flat.code == 0, flat.err
    assert sorted(Path(r["file"]).name for r in lines_of(tmp_path / "flat.jsonl")) == ["middle.pdf", "top.png"]

    deep = predict(token_model, [pages], "--recursive", "--output", tmp_path / "deep.jsonl")
    assert deep.code == 0, deep.err
    records = lines_of(tmp_path / "deep.jsonl")
    assert sorted(Path(r["file"]).name for r in records) == ["bottom.png", "middle.pdf", "top.png"]
    for record in records:
        assert record["page"] == 1 and record["ocr"] == "tesseract" and record["words"], record["file"]
        assert len(record["labels"]) == len(record["words"])


def test_a_folder_without_pages_is_one_line(token_model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pages here")
    run = predict(token_model, [empty])
    assert run.code != 0
    assert any("no page files" in line and str(empty) in line for line in error_lines(run.err)), run.err


def test_resume_on_json_lines_skips_the_finished_files_and_redoes_a_cut_off_one(token_model, pages, tmp_path):
    results = tmp_path / "results.jsonl"
    first = predict(token_model, [pages], "--recursive", "--output", results)
    assert first.code == 0, first.err
    records = lines_of(results)

    again = predict(token_model, [pages], "--recursive", "--output", results, "--resume")
    assert again.code == 0, again.err
    assert "3 of 3 file(s) already done" in again.err
    assert lines_of(results) == records  # nothing appended, nothing lost

    # a run killed while writing: the last page's line is cut off half way
    kept = [r for r in records if not r["file"].endswith("bottom.png")]
    results.write_text("".join(json.dumps(r) + "\n" for r in kept) + '{"file": "cut', encoding="utf-8")
    resumed = predict(token_model, [pages], "--recursive", "--output", results, "--resume")
    assert resumed.code == 0, resumed.err
    assert "2 of 3 file(s) already done" in resumed.err
    finished = lines_of(results)  # the cut-off line is gone: every line is whole
    assert sorted(Path(r["file"]).name for r in finished) == ["bottom.png", "middle.pdf", "top.png"]
    redone = next(r for r in finished if r["file"].endswith("bottom.png"))
    original = next(r for r in records if r["file"].endswith("bottom.png"))
    assert redone["words"] == original["words"] and redone["labels"] == original["labels"]


def test_resume_on_a_folder_skips_the_pages_already_written(token_model, pages, tmp_path):
    out = tmp_path / "out"
    first = predict(token_model, [pages], "--output", out)
    assert first.code == 0, first.err
    written = sorted(p.name for p in out.glob("*.json"))
    assert written == ["middle-p1.json", "top-p1.json"]
    (out / "top-p1.json").unlink()
    before = (out / "middle-p1.json").stat().st_mtime_ns

    again = predict(token_model, [pages], "--output", out, "--resume")
    assert again.code == 0, again.err
    assert "1 of 2 file(s) already done" in again.err
    assert sorted(p.name for p in out.glob("*.json")) == written
    assert (out / "middle-p1.json").stat().st_mtime_ns == before  # not rewritten


def test_resume_needs_an_output(token_model, pages):
    run = predict(token_model, [pages], "--resume")
    assert run.code != 0 and any("--resume needs --output" in line for line in error_lines(run.err)), run.err


def test_progress_bar_on_request(token_model, pages, tmp_path):
    shown = predict(token_model, [pages / "top.png"], "--output", tmp_path / "a.jsonl", "--progress")
    hidden = predict(token_model, [pages / "top.png"], "--output", tmp_path / "b.jsonl", "--no-progress")
    assert shown.code == hidden.code == 0, shown.err + hidden.err
    assert "layoutlmv2 token-classification: 100%" in shown.err and "1/1" in shown.err, shown.err
    assert "layoutlmv2 token-classification:" not in hidden.err and "1/1" not in hidden.err, hidden.err


@pytest.mark.skipif(importlib.util.find_spec("rapidocr_onnxruntime") is None,
                    reason="rapidocr is an optional extra: pip install 'layoutlmv2[rapidocr]'")
def test_rapidocr_engine_reads_the_page_and_is_recorded(token_model, pages, tmp_path):
    run = predict(token_model, [pages / "top.png"], "--ocr", "rapidocr", "--output", tmp_path / "r.jsonl")
    assert run.code == 0, run.err
    (record,) = lines_of(tmp_path / "r.jsonl")
    assert record["ocr"] == "rapidocr"
    assert len(record["words"]) >= 5 and len(record["labels"]) == len(record["words"])
    assert all(0 <= v <= 1000 for box in record["boxes"] for v in box)
    assert all(box[0] <= box[2] and box[1] <= box[3] for box in record["boxes"])
