"""DocVQA's real validation pages through `evaluate` and the pipeline, with a tiny QA model (mechanics)."""

from __future__ import annotations

import json

import pytest

from layoutlmv2 import LayoutLMv2ForQuestionAnswering, pipeline
from layoutlmv2.inference.evaluate import evaluate_model
from layoutlmv2.tasks import metrics

from small_models import save_tiny

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.ocr, pytest.mark.data]


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("qa") / "qa", LayoutLMv2ForQuestionAnswering, "question-answering")


def test_evaluate_scores_anls_against_the_official_answers(reader, docvqa_smallval_dir, ocr_cache_dir):
    scores = evaluate_model(reader, "docvqa", docvqa_smallval_dir, "val", max_length=128, stride=32,
                            ocr_cache=ocr_cache_dir)
    official = json.loads((docvqa_smallval_dir / "val_v1.0.json").read_text())["data"]
    assert scores["documents"] == 12 and scores["main_metric"] == "anls"
    assert [a["id"] for a in scores["answers"]] == [str(item["questionId"]) for item in official]
    assert [a["references"] for a in scores["answers"]] == [item["answers"] for item in official]
    expected = metrics.anls([a["answer"] for a in scores["answers"]], [item["answers"] for item in official])
    assert scores["anls"] == pytest.approx(expected["anls"])
    assert all(isinstance(a["answer"], str) for a in scores["answers"])


def test_pipeline_answers_a_question_on_a_real_page(reader, docvqa_smallval_dir):
    page = docvqa_smallval_dir / "documents" / "ffhx0227_1.png"
    ask = pipeline("document-question-answering", model=reader, top_k=2, max_length=128, doc_stride=32)
    (record,) = ask(str(page), question="What is the name of the University?")
    assert len(record["answers"]) == 2 and record["answers"][0]["score"] >= record["answers"][1]["score"]
    best = record["answers"][0]
    assert best["answer"] and best["start"] <= best["end"]
    assert best["answer"] == " ".join(record["words"][best["start"]: best["end"] + 1]) == record["answer"]
    assert len(record["words"]) > 20  # Tesseract read the page
