"""Prediction on files (PNG, multi-page PDF and TIFF, OCR or given words) and drawing the labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from layoutlmv2 import (
    LayoutLMv2ForQuestionAnswering,
    LayoutLMv2ForSequenceClassification,
    LayoutLMv2ForTokenClassification,
)
from layoutlmv2.boxes import normalize_box
from layoutlmv2.data import FORMS_VS_RECEIPTS_LABELS, FUNSD_LABELS
from layoutlmv2.inference.drawing import PALETTE, draw_labels, label_type
from layoutlmv2.inference.predictor import Predictor, draw_prediction, read_words_json

from small_models import save_tiny


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def token_model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("token"), LayoutLMv2ForTokenClassification, "token-classification",
                     FUNSD_LABELS)


@pytest.fixture(scope="module")
def funsd_page(funsd_dir):
    """(image path, words, pixel boxes) of a FUNSD test page, read from its annotation."""
    annotation = funsd_dir / "testing_data" / "annotations" / "82092117.json"
    words, boxes = [], []
    for entity in json.loads(annotation.read_text())["form"]:
        for word in entity["words"]:
            if word["text"].strip():
                words.append(word["text"].strip())
                boxes.append(word["box"])
    return funsd_dir / "testing_data" / "images" / "82092117.png", words, boxes


def test_token_classification_on_a_png_with_pixel_words(token_model, funsd_page, tmp_path):
    image_path, words, boxes = funsd_page
    words_json = tmp_path / "words.json"
    words_json.write_text(json.dumps({"words": words, "boxes": boxes}))
    predictor = Predictor(token_model)
    records, pages = predictor.predict_files([image_path], words_json)
    assert len(records) == len(pages) == 1
    record = records[0]
    width, height = Image.open(image_path).size
    assert record["file"] == str(image_path) and record["page"] == 1 and record["size"] == [width, height]
    assert record["task"] == "token-classification" and record["words"] == words
    assert record["boxes"] == [normalize_box(b, width, height, clamp=True) for b in boxes]
    assert len(record["labels"]) == len(record["scores"]) == len(words)
    assert set(record["labels"]) <= set(FUNSD_LABELS)
    assert all(0.0 <= s <= 1.0 for s in record["scores"])
    for entity in record["entities"]:
        assert set(entity) == {"type", "text", "words", "score", "box"}
        assert entity["text"] == " ".join(words[i] for i in entity["words"])
        member_boxes = [record["boxes"][i] for i in entity["words"]]
        assert entity["box"] == [
            min(b[0] for b in member_boxes), min(b[1] for b in member_boxes),
            max(b[2] for b in member_boxes), max(b[3] for b in member_boxes),
        ]
        assert all(record["labels"][i].endswith(entity["type"]) for i in entity["words"])
    json.dumps(record)  # serialisable as is

    # the same words given on the 0..1000 grid give the same prediction
    words_json.write_text(json.dumps({"words": words, "boxes": record["boxes"], "box_units": "0-1000"}))
    again, _ = predictor.predict_files([image_path], words_json)
    assert again[0]["labels"] == record["labels"]


@pytest.mark.parametrize("workers", [1, 2])
def test_window_outputs_equal_each_window_run_alone(token_model, funsd_dir, workers):
    """Length-sorted batches (and worker processes) give each window what a forward on that
    window alone gives: the batching changes the order of work, not the answers."""
    from layoutlmv2.tasks.windows import collate
    from layoutlmv2.registry import load_dataset

    predictor = Predictor(token_model)
    documents = load_dataset("funsd", funsd_dir, "test")[:3]
    encoded = predictor.task.encode(documents, predictor.processor.tokenizer, predictor.processor.image_processor,
                                    128, 32)
    assert len(encoded.windows) > 4  # several windows per page, of different lengths
    results = predictor.task.window_outputs(predictor.model, encoded, batch_size=3, workers=workers)
    with torch.no_grad():
        for window, result in zip(encoded.windows, results):
            alone = predictor.model(**predictor.task.model_inputs(collate([window], encoded.pages, pad_to_multiple_of=1)))
            torch.testing.assert_close(result["probs"], alone.logits[0].softmax(-1), atol=1e-5, rtol=0)


def test_multi_page_pdf_and_tiff(token_model, funsd_dir, tmp_path):
    images = sorted((funsd_dir / "testing_data" / "images").glob("*.png"))[:2]
    pages = [Image.open(p).convert("RGB") for p in images]
    pdf, tiff = tmp_path / "two.pdf", tmp_path / "two.tif"
    # TIFF first: Pillow 13 fails to write a multi-page TIFF from images it has just written to a PDF
    pages[0].save(tiff, save_all=True, append_images=pages[1:])
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=100)
    words = {"pages": [{"words": ["Date:", "1998"], "boxes": [[100, 100, 200, 120], [210, 100, 300, 120]]},
                       {"words": ["TO:"], "boxes": [[50, 60, 90, 80]]}], "box_units": "0-1000"}
    words_json = tmp_path / "words.json"
    words_json.write_text(json.dumps(words))
    predictor = Predictor(token_model)
    for path in (pdf, tiff):
        records, rendered = predictor.predict_files([path], words_json, dpi=100)
        assert [(r["file"], r["page"]) for r in records] == [(str(path), 1), (str(path), 2)]
        assert [r["words"] for r in records] == [["Date:", "1998"], ["TO:"]]
        # 100 dpi PDF rendered at 100 dpi: the same size, give or take pdfium's rounding of one pixel
        assert all(abs(a - b) <= 1 for im, p in zip(rendered, pages) for a, b in zip(im.size, p.size))
        assert len(rendered) == len(pages)
    with pytest.raises(ValueError, match="words for 1 pages, but the files have 2 pages"):
        words_json.write_text(json.dumps({"words": ["a"], "boxes": [[0, 0, 1, 1]]}))
        predictor.predict_files([pdf], words_json)


@pytest.mark.ocr
def test_ocr_when_no_words_are_given(token_model, sroie_dir):
    image = sorted((sroie_dir / "test" / "img").glob("*.jpg"))[0]
    records, _ = Predictor(token_model).predict_files([image])
    assert len(records[0]["words"]) > 10 and len(records[0]["labels"]) == len(records[0]["words"])


def test_sequence_classification_and_question_answering(tmp_path, funsd_page):
    image_path, words, boxes = funsd_page
    words_json = tmp_path / "words.json"
    words_json.write_text(json.dumps({"words": words, "boxes": boxes}))
    classifier = save_tiny(tmp_path / "cls", LayoutLMv2ForSequenceClassification, "sequence-classification",
                           FORMS_VS_RECEIPTS_LABELS)
    record = Predictor(classifier).predict_files([image_path], words_json)[0][0]
    assert record["label"] in FORMS_VS_RECEIPTS_LABELS
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)

    reader = save_tiny(tmp_path / "qa", LayoutLMv2ForQuestionAnswering, "question-answering")
    predictor = Predictor(reader, max_length=128, stride=32)  # several windows on this page
    record = predictor.predict_files([image_path], words_json, question="what is the date?")[0][0]
    first, last = record["span"]
    assert 0 <= first <= last < len(words) and record["answer"] == " ".join(words[first: last + 1])
    assert 0.0 < record["score"] <= 1.0 and record["question"] == "what is the date?"
    drawn = draw_prediction(Image.open(image_path), record)
    assert drawn.size == Image.open(image_path).size
    with pytest.raises(ValueError, match="question"):
        predictor.predict_files([image_path], words_json)


def test_drawn_page_has_the_page_size_and_the_label_colours(token_model, funsd_page):
    image_path, words, boxes = funsd_page
    page = Image.open(image_path)
    labels = ["B-QUESTION", "I-QUESTION", "B-ANSWER", "O", "B-HEADER"] + ["O"] * (len(words) - 5)
    drawn = draw_labels(page, boxes, labels, types=FUNSD_LABELS)
    assert drawn.size == page.size and drawn.mode == "RGB"
    colours = {colour for _, colour in drawn.getcolors(maxcolors=1 << 20)}
    header, question, answer = PALETTE[0], PALETTE[1], PALETTE[2]  # order of FUNSD_LABELS' types
    assert {header, question, answer} <= colours
    assert drawn.getpixel((int(boxes[2][0]), int(boxes[2][1]) + 1)) == answer  # left edge of the answer box
    assert label_type("I-QUESTION") == "QUESTION" and label_type("O") is None


def test_words_json_errors(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"words": ["a", "b"], "boxes": [[0, 0, 1, 1]]}))
    with pytest.raises(ValueError, match="2 words but 1 boxes"):
        read_words_json(path)
    path.write_text(json.dumps({"words": [], "boxes": [], "box_units": "inches"}))
    with pytest.raises(ValueError, match="box_units"):
        read_words_json(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_words_json(path)
