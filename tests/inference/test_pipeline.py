"""`layoutlmv2.pipeline` on real FUNSD pages: each task against the model called directly on the same
words, every kind of input, bad inputs in a batch, OCR engines, and streaming."""

from __future__ import annotations

import io
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layoutlmv2 import (
    LayoutLMv2Error,
    LayoutLMv2ForQuestionAnswering,
    LayoutLMv2ForSequenceClassification,
    LayoutLMv2ForTokenClassification,
    LayoutLMv2Processor,
    pipeline,
)
from layoutlmv2.data import FORMS_VS_RECEIPTS_LABELS, FUNSD_LABELS
from layoutlmv2.preprocessing.ocr_engines import split_characters

from small_models import save_tiny

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.ocr]


@pytest.fixture(scope="module")
def token_model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("token"), LayoutLMv2ForTokenClassification, "token-classification",
                     FUNSD_LABELS)


@pytest.fixture(scope="module")
def page(funsd_dir) -> Image.Image:
    """The top half of a real FUNSD page: about 80 words, one 512-token window."""
    image = Image.open(funsd_dir / "testing_data" / "images" / "82092117.png").convert("RGB")
    return image.crop((0, 0, image.width, 500))


def direct(model_dir: Path, model_class, image: Image.Image, words, boxes, question=None):
    """The model called the transformers way on given words: (encoding, outputs)."""
    processor = LayoutLMv2Processor.from_pretrained(model_dir, apply_ocr=False)
    model = model_class.from_pretrained(model_dir).eval()
    args = (image, [question], [words], [boxes]) if question else (image, words, None, boxes)
    encoding = processor(*args, return_tensors="pt", truncation=True) if question else \
        processor(image, words, boxes=boxes, return_tensors="pt", truncation=True)
    with torch.no_grad():
        outputs = model(**{k: v for k, v in encoding.items()})
    return encoding, outputs


def bio_entities(words, tags):
    """Spans of B-X I-X ... (an I-X after another type starts a new one), written independently."""
    spans, current = [], None
    for i, tag in enumerate(tags):
        if tag == "O":
            current = None
            continue
        prefix, kind = tag.split("-", 1)
        if prefix == "B" or current is None or current[0] != kind:
            current = (kind, [])
            spans.append(current)
        current[1].append(i)
    return [(kind, " ".join(words[i] for i in ids)) for kind, ids in spans]


def test_token_classification_equals_the_model_on_the_same_words(token_model, page):
    result = pipeline("token-classification", model=token_model)(page)
    assert len(result) == 1
    record = result[0]
    assert record["ocr"] == "tesseract" and len(record["words"]) > 40
    encoding, outputs = direct(token_model, LayoutLMv2ForTokenClassification, page, record["words"], record["boxes"])
    assert encoding["input_ids"].shape[1] < 512  # one window: the comparison is exact
    predicted = outputs.logits[0].argmax(-1).tolist()
    first_piece, tags = set(), ["O"] * len(record["words"])
    for position, word in enumerate(encoding.word_ids(0)):
        if word is not None and word not in first_piece:
            first_piece.add(word)
            tags[word] = FUNSD_LABELS[predicted[position]]
    assert record["labels"] == tags
    assert [(e["type"], e["text"]) for e in record["entities"]] == bio_entities(record["words"], tags)
    for entity in record["entities"]:
        inside = [record["boxes"][i] for i in entity["words"]]
        assert entity["box"] == [min(b[0] for b in inside), min(b[1] for b in inside),
                                 max(b[2] for b in inside), max(b[3] for b in inside)]
        x0, y0, x1, y1 = entity["box_pixels"]
        assert 0 <= x0 <= x1 <= page.width and 0 <= y0 <= y1 <= page.height
    json.dumps(result)  # JSON-able


def test_question_answering_top_k_equals_a_span_search_over_the_logits(page, tmp_path):
    reader = save_tiny(tmp_path / "qa", LayoutLMv2ForQuestionAnswering, "question-answering")
    question = "what is the date?"
    ask = pipeline("document-question-answering", model=reader, top_k=3)
    (record,) = ask(page, question=question)
    encoding, outputs = direct(reader, LayoutLMv2ForQuestionAnswering, page, record["words"], record["boxes"],
                               question)
    start = outputs.start_logits[0].log_softmax(-1)
    end = outputs.end_logits[0].log_softmax(-1)
    word_ids, sequence = encoding.word_ids(0), encoding.sequence_ids(0)
    best = {}
    for i, j in itertools.product(range(len(word_ids)), repeat=2):  # every token pair, one by one
        if sequence[i] == 1 and sequence[j] == 1 and 0 <= j - i < 64:
            span = (word_ids[i], word_ids[j])
            best[span] = max(best.get(span, -math.inf), float(start[i] + end[j]))
    expected = sorted(best.items(), key=lambda item: -item[1])[:3]
    assert [(a["start"], a["end"]) for a in record["answers"]] == [span for span, _ in expected]
    assert [a["score"] for a in record["answers"]] == pytest.approx([math.exp(s) for _, s in expected], rel=1e-4)
    first = record["answers"][0]
    assert first["answer"] == " ".join(record["words"][first["start"]: first["end"] + 1]) == record["answer"]

    impossible = pipeline("document-question-answering", model=reader, top_k=5, handle_impossible_answer=True)
    (record,) = impossible(page, question=question)
    null = math.exp(float(start[0] + end[0]))
    empty = [a for a in record["answers"] if a["answer"] == ""]
    scores = [a["score"] for a in record["answers"]]
    assert scores == sorted(scores, reverse=True)
    assert (empty and empty[0]["score"] == pytest.approx(null, rel=1e-4)) or null < scores[-1]


def test_document_classification_is_the_argmax(page, tmp_path):
    classifier = save_tiny(tmp_path / "cls", LayoutLMv2ForSequenceClassification, "sequence-classification",
                           FORMS_VS_RECEIPTS_LABELS)
    (record,) = pipeline("document-classification", model=classifier)(page)
    _, outputs = direct(classifier, LayoutLMv2ForSequenceClassification, page, record["words"], record["boxes"])
    probabilities = outputs.logits[0].softmax(-1)
    assert record["label"] == FORMS_VS_RECEIPTS_LABELS[int(probabilities.argmax())]
    assert record["score"] == pytest.approx(float(probabilities.max()), rel=1e-4)


def test_every_kind_of_input_and_a_bad_one_in_a_batch(token_model, page, tmp_path):
    path = tmp_path / "page.png"
    page.save(path)
    png = path.read_bytes()
    pdf = io.BytesIO()
    page.save(pdf, "PDF", save_all=True, append_images=[page], resolution=100)
    extract = pipeline(model=token_model)
    results = extract([path, str(path), page, np.asarray(page), png, pdf.getvalue(), b"not an image"])
    assert [len(pages) for pages in results] == [1, 1, 1, 1, 1, 2, 1]
    reference = results[0][0]
    for pages in results[1:5]:  # the same pixels, however they come
        assert (pages[0]["words"], pages[0]["labels"]) == (reference["words"], reference["labels"])
    assert [p["file"] for p in results[2] + results[3] + results[4]] == ["<image 3>", "<array 4>", "<bytes 5>"]
    assert len(results[5][1]["words"]) > 40
    (bad,) = results[6]
    assert "error" in bad and bad["file"] == "<bytes 7>" and "not an image" in bad["error"]


def test_a_blank_page_gives_no_entities(token_model):
    (record,) = pipeline(model=token_model)(Image.new("RGB", (600, 800), "white"))
    assert record["words"] == [] and record["entities"] == [] and record["labels"] == []


def test_wrong_task_and_options_are_named(token_model):
    with pytest.raises(LayoutLMv2Error, match="is a token-classification model, not one for 'document-question-answering'"):
        pipeline("document-question-answering", model=token_model)
    with pytest.raises(LayoutLMv2Error, match="unknown pipeline task 'ocr'"):
        pipeline("ocr", model=token_model)
    with pytest.raises(LayoutLMv2Error, match="top_k and handle_impossible_answer are for question answering"):
        pipeline(model=token_model, top_k=3)
    with pytest.raises(LayoutLMv2Error, match="unknown OCR engine 'easyocr'"):
        pipeline(model=token_model, ocr="easyocr")


def test_a_callable_ocr_engine(token_model):
    def boxes_of_mine(image):
        return ["Date:", "12/01/98"], [[10, 10, 60, 30], [70, 10, 140, 30]]

    (record,) = pipeline(model=token_model, ocr=boxes_of_mine)(Image.new("RGB", (200, 100), "white"))
    assert record["ocr"] == "boxes_of_mine" and record["words"] == ["Date:", "12/01/98"]
    assert record["boxes"] == [[50, 100, 300, 300], [350, 100, 700, 300]]


def test_rapidocr_reads_words(token_model, page):
    pytest.importorskip("rapidocr_onnxruntime", reason="the rapidocr extra is not installed")
    (record,) = pipeline(model=token_model, ocr="rapidocr")(page.crop((0, 0, page.width, 200)))
    assert record["ocr"] == "rapidocr" and len(record["words"]) >= 5
    assert all(0 <= v <= 1000 for box in record["boxes"] for v in box)


def test_split_characters_cuts_at_spaces_and_wide_gaps():
    # "TO:George Baroody" as PP-OCR reads it: no space after the colon, 8-pixel characters
    text = "TO:George Baroody"
    boxes, x = [], 100
    for i, character in enumerate(text):
        gap = 12 if i == 3 else 1  # a wide gap where the recogniser dropped a space
        x += gap
        boxes.append([x, 10, x + 8, 30] if character != " " else [x, 10, x + 4, 30])
        x += 8 if character != " " else 4
    words, word_boxes = split_characters(list(text), boxes)
    assert words == ["TO:", "George", "Baroody"]
    assert word_boxes[0] == [boxes[0][0], 10, boxes[2][2], 30]
    assert word_boxes[1] == [boxes[3][0], 10, boxes[8][2], 30]
    assert word_boxes[2] == [boxes[10][0], 10, boxes[16][2], 30]
    assert split_characters([" ", " "], [[0, 0, 1, 1]] * 2) == ([], [])


def test_stream_yields_before_reading_every_input(token_model):
    """A long run holds only a few pages: the first result comes while later inputs are unread."""
    read = []

    def pages():
        for i in range(60):
            read.append(i)
            yield Image.new("RGB", (120, 80), "white")

    first = next(iter(pipeline(model=token_model).stream(pages())))
    assert first["page"] == 1 and len(read) < 30
