"""Readers for data sets we have no copy of, on tiny fixtures in their published formats."""

import json
import lzma
import shutil
from pathlib import Path

import pytest

from layoutlmv2.data import (
    CORD_LABELS,
    RVL_CDIP_CLASSES,
    format_expected_line,
    load_cord,
    load_docvqa,
    load_kleister_nda,
    load_rvl_cdip,
    parse_expected_line,
)

FORMATS = Path(__file__).parent.parent / "fixtures" / "formats"


# ----------------------------------------------------------------------------- CORD


def test_cord_words_boxes_and_tags():
    (doc,) = load_cord(FORMATS / "cord", "train")
    assert doc.id == "receipt_00000" and doc.page_size == (600, 800)
    assert doc.words == ["ES", "KOPI", "2", "44,000", "TOTAL", "44,000"]
    assert doc.word_labels == ["B-MENU.NM", "I-MENU.NM", "B-MENU.CNT", "B-MENU.PRICE",
                               "B-TOTAL.TOTAL_PRICE", "I-TOTAL.TOTAL_PRICE"]  # fmt: skip
    assert set(doc.word_labels) <= set(CORD_LABELS) and len(CORD_LABELS) == 61
    assert doc.boxes[0] == [200, 50, 383, 77]  # 120/600, 40/800, 230/600, 62/800
    assert doc.boxes[4] == [133, 125, 333, 163]  # a slanted quad -> its bounding box
    assert doc.extra["is_key"] == [False, False, False, False, True, False]
    assert doc.load_image().size == (60, 80)


def test_cord_errors(tmp_path):
    with pytest.raises(ValueError, match="'validation'"):
        load_cord(FORMATS / "cord", "validation")
    folder = tmp_path / "train" / "json"
    folder.mkdir(parents=True)
    (folder / "receipt_00001.json").write_text(json.dumps({"valid_line": []}))
    with pytest.raises(ValueError, match="receipt_00001.json has no image"):
        load_cord(tmp_path, "train")
    (tmp_path / "train" / "image").mkdir()
    shutil.copy(FORMATS / "cord/train/image/receipt_00000.png", tmp_path / "train/image/receipt_00001.png")
    with pytest.raises(ValueError, match=r"receipt_00001.json is not a CORD v2 annotation"):
        load_cord(tmp_path, "train")


# ----------------------------------------------------------------------------- RVL-CDIP


def test_rvl_cdip_label_file_layout():
    docs = load_rvl_cdip(FORMATS / "rvl_cdip" / "release", "train")
    assert [d.label for d in docs] == ["letter", "invoice"]
    assert docs[1].id == "imagesb/b/c/d/bcd00b00/50123456_7890"
    assert docs[1].image_path.is_file() and docs[1].words == []
    assert docs[1].load_image().mode == "RGB"
    assert [d.label for d in load_rvl_cdip(FORMATS / "rvl_cdip" / "release", "test")] == ["memo"]


def test_rvl_cdip_folder_layout():
    docs = load_rvl_cdip(FORMATS / "rvl_cdip" / "folders", "train")
    assert [(d.id, d.label) for d in docs] == [
        ("form/0000971160", "form"), ("scientific_report/2040000001", "scientific report")]  # fmt: skip


def test_rvl_cdip_class_order_and_errors(tmp_path):
    assert len(RVL_CDIP_CLASSES) == 16
    assert RVL_CDIP_CLASSES.index("form") == 1 and RVL_CDIP_CLASSES.index("memo") == 15
    assert RVL_CDIP_CLASSES[6] == "scientific publication" and RVL_CDIP_CLASSES[11] == "invoice"
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "val.txt").write_text("a.tif 3\nb.tif 16\n")
    with pytest.raises(ValueError, match=r"val.txt:2: expected"):
        load_rvl_cdip(tmp_path, "val")
    (tmp_path / "train" / "receipts").mkdir(parents=True)
    with pytest.raises(ValueError, match="receipts is not one of the 16 classes"):
        load_rvl_cdip(tmp_path, "train")


# ----------------------------------------------------------------------------- DocVQA


def test_docvqa_questions_ocr_and_spans():
    docs = load_docvqa(FORMATS / "docvqa" / "val" / "val_v1.0.json")
    assert [d.id for d in docs] == ["49153", "24580", "57349"]
    date, person, fax = docs
    assert date.words == ["Date:", "1/27/01", "To:", "Dr.", "Jane", "Doe"]
    assert date.words is person.words  # the page is read once
    assert date.page_size == (1000, 2000)
    assert date.boxes[1] == [210, 50, 400, 71]
    assert date.boxes[5] == [350, 100, 1000, 120]  # spills past the page: clamped
    assert date.answer_span == (1, 1) and date.answers == ["1/27/01", "January 27, 2001"]
    assert person.answer_span == (3, 5)
    assert fax.answer_span is None and fax.extra["answer_found"] is False
    assert date.extra["ucsf_document_id"] == "pybv0228" and date.extra["data_split"] == "val"
    assert date.image_path.name == "pybv0228_81.png" and date.load_image().size == (50, 100)


def test_docvqa_test_split_without_answers_and_errors(tmp_path):
    source = FORMATS / "docvqa" / "val"
    data = json.loads((source / "val_v1.0.json").read_text())
    for item in data["data"]:
        del item["answers"]
    annotations = tmp_path / "test_v1.0.json"
    annotations.write_text(json.dumps(data))
    docs = load_docvqa(annotations, ocr_dir=source / "ocr_results", image_root=source)
    assert docs[0].answers is None and docs[0].answer_span is None
    with pytest.raises(ValueError, match="needs OCR file"):
        load_docvqa(annotations)
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError, match="bad.json is not a DocVQA annotation"):
        load_docvqa(tmp_path / "bad.json")


# ----------------------------------------------------------------------------- Kleister-NDA


def test_kleister_nda_reads_text_best_and_expected_pairs():
    docs = load_kleister_nda(FORMATS / "kleister_nda", "dev-0")
    assert [d.id for d in docs] == ["nda_alpha.pdf", "nda_beta.pdf"]
    alpha, beta = docs
    assert alpha.words[:3] == ["MUTUAL", "NON-DISCLOSURE", "AGREEMENT"]
    assert "Delaware." in alpha.words and "\\n" not in " ".join(alpha.words)
    assert len(alpha.boxes) == len(alpha.words) and alpha.boxes[0] == [0, 0, 0, 0]
    assert alpha.extra["keys"] == ["effective_date", "jurisdiction", "party", "term"]
    assert alpha.extra["expected"] == [("effective_date", "2010-05-01"), ("jurisdiction", "Delaware"),
                                       ("party", "Alpha Corp"), ("party", "Beta LLC")]  # fmt: skip
    assert beta.words == ["CONFIDENTIALITY", "AGREEMENT", "between", "Gamma", "Inc.", "and", "Delta", "Ltd"]
    tesseract = load_kleister_nda(FORMATS / "kleister_nda", "dev-0", text_column="text_tesseract")
    assert "Agreernent" in tesseract[0].words


def test_kleister_nda_xz_without_expected_and_errors(tmp_path):
    folder = tmp_path / "test-A"
    folder.mkdir()
    text = (FORMATS / "kleister_nda" / "dev-0" / "in.tsv").read_text()
    with lzma.open(folder / "in.tsv.xz", "wt") as handle:
        handle.write(text)
    docs = load_kleister_nda(tmp_path, "test-A")
    assert len(docs) == 2 and "expected" not in docs[0].extra
    with pytest.raises(ValueError, match="text_column"):
        load_kleister_nda(tmp_path, "test-A", text_column="text")
    (folder / "in.tsv").write_text("only\ttwo\n")
    with pytest.raises(ValueError, match=r"in.tsv:1: expected 6 tab-separated columns"):
        load_kleister_nda(tmp_path, "test-A")


def test_expected_line_round_trip():
    pairs = parse_expected_line("party=Acme_Corp term=2_years")
    assert pairs == [("party", "Acme Corp"), ("term", "2 years")]
    assert format_expected_line(pairs + [("jurisdiction", "")]) == "party=Acme_Corp term=2_years"
    assert parse_expected_line("") == []
    with pytest.raises(ValueError, match="'partyAcme' is not key=value"):
        parse_expected_line("partyAcme")
