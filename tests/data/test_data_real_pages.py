"""The RVL-CDIP and DocVQA readers on the real pages of ../shared/data, words from cached Tesseract."""

import collections
import json

import pytest

from layoutlmv2 import registry
from layoutlmv2.data import RVL_CDIP_CLASSES, load_docvqa, load_docvqa_split, load_rvl_cdip
from layoutlmv2.data.rvl_cdip import KAGGLE_LABELS
from layoutlmv2.preprocessing.ocr_cache import CachedOcr

pytestmark = pytest.mark.data


def test_rvl_cdip_kaggle_label_files_map_to_rvl_classes(rvl_cdip_kaggle_dir):
    train = load_rvl_cdip(rvl_cdip_kaggle_dir, "train")
    dev = load_rvl_cdip(rvl_cdip_kaggle_dir, "dev")
    assert collections.Counter(d.label for d in train) == {"email": 44, "resume": 44, "scientific publication": 44}
    assert collections.Counter(d.label for d in dev) == {"email": 11, "resume": 11, "scientific publication": 11}
    assert all(d.label in RVL_CDIP_CLASSES for d in train + dev)
    assert KAGGLE_LABELS["paper"] == "scientific publication" == RVL_CDIP_CLASSES[6]
    # each page is the file the label line names, in the folder of its source label
    rows = [json.loads(line) for line in (rvl_cdip_kaggle_dir / "train.json").read_text().splitlines() if line]
    for row, document in zip(rows, train):
        folder, name = row["path_img"].strip().split("\\")
        assert document.image_path == rvl_cdip_kaggle_dir / folder / name and document.image_path.is_file()
        assert document.label == KAGGLE_LABELS.get(folder, folder)
        assert document.id == f"{folder}/{name[:-4]}"
    assert not {d.id for d in train} & {d.id for d in dev}
    # the subset has no test split: test (what `train --eval-split` defaults to) reads dev.json
    assert [d.id for d in load_rvl_cdip(rvl_cdip_kaggle_dir, "test")] == [d.id for d in dev]
    assert train[0].words == [] and train[0].load_image().mode == "RGB"


def test_rvl_cdip_bad_label_is_named(tmp_path, rvl_cdip_kaggle_dir):
    (tmp_path / "email").mkdir()
    source = rvl_cdip_kaggle_dir / "email" / "doc_000042.png"
    (tmp_path / "email" / "doc_000042.png").write_bytes(source.read_bytes())
    (tmp_path / "train.json").write_text(json.dumps({"label": "poem", "path_img": "email\\doc_000042.png\n"}) + "\n")
    with pytest.raises(ValueError, match=r"train.json:1: label 'poem' is not one of the 16 classes"):
        load_rvl_cdip(tmp_path, "train")


@pytest.mark.ocr
def test_rvl_cdip_pages_get_cached_tesseract_words(rvl_cdip_kaggle_dir, ocr_cache_dir):
    ocr = CachedOcr(ocr_cache_dir)
    pages = load_rvl_cdip(rvl_cdip_kaggle_dir, "dev")[:2]
    for page in pages:
        page.words, page.boxes, page.page_size = ocr(page.image_path)
        assert len(page.words) > 10 and len(page.boxes) == len(page.words)
        assert all(0 <= v <= 1000 for box in page.boxes for v in box)
        assert page.page_size == page.load_image().size


@pytest.mark.ocr
def test_registry_loads_rvl_cdip_with_words_through_the_cache(tmp_path, rvl_cdip_kaggle_dir, ocr_cache_dir):
    root = tmp_path / "subset"
    (root / "resume").mkdir(parents=True)
    for name in ("doc_000051.png", "doc_000080.png"):
        (root / "resume" / name).write_bytes((rvl_cdip_kaggle_dir / "resume" / name).read_bytes())
    (root / "train.json").write_text("".join(
        json.dumps({"label": "resume", "path_img": f"resume\\{n}\n"}) + "\n" for n in ("doc_000051.png", "doc_000080.png")))
    documents = registry.load_dataset("rvl-cdip", root, "train", ocr_cache=ocr_cache_dir)
    assert [d.label for d in documents] == ["resume", "resume"]
    assert all(len(d.words) > 10 for d in documents)
    again = CachedOcr(ocr_cache_dir)
    assert [again(d.image_path)[0] for d in documents] == [d.words for d in documents] and again.misses == 0


@pytest.mark.ocr
def test_docvqa_official_val_json_with_tesseract_words(docvqa_smallval_dir, ocr_cache_dir):
    raw = json.loads((docvqa_smallval_dir / "val_v1.0.json").read_text())["data"]
    ocr = CachedOcr(ocr_cache_dir)
    documents = load_docvqa(docvqa_smallval_dir / "val_v1.0.json", ocr=ocr)
    assert len(documents) == len(raw) == 12
    assert ocr.misses + ocr.hits == 3  # three pages, each read once for its questions
    for item, document in zip(raw, documents):
        assert document.id == str(item["questionId"]) and document.question == item["question"]
        assert document.answers == item["answers"]
        assert document.image_path == docvqa_smallval_dir / item["image"]
        assert document.extra["doc_id"] == item["docId"] and document.extra["ocr"] == "engine"
        assert document.extra["ucsf_document_id"] == item["ucsf_document_id"]
        assert document.extra["data_split"] == "val" and len(document.words) > 20
        if document.answer_span is not None:  # the span spells one of the official answers
            first, last = document.answer_span
            spelled = "".join(document.words[first: last + 1]).casefold()
            assert spelled in {"".join(a.split()).casefold() for a in item["answers"]}
    counts = collections.Counter(d.image_path.name for d in documents)
    assert counts == {"ffjw0228_11.png": 10, "ffbg0227_2.png": 1, "ffhx0227_1.png": 1}
    # the folder holding val_v1.0.json is a split folder itself, as the command line reads it
    assert [d.id for d in load_docvqa_split(docvqa_smallval_dir, "val", ocr=ocr)] == [d.id for d in documents]
    assert [d.id for d in registry.load_dataset("docvqa", docvqa_smallval_dir, "val", ocr_cache=ocr_cache_dir)] == [
        d.id for d in documents]


def test_docvqa_without_ocr_files_or_engine_says_so(docvqa_smallval_dir):
    with pytest.raises(ValueError, match=r"needs OCR file .* \(or pass ocr="):
        load_docvqa(docvqa_smallval_dir / "val_v1.0.json")
