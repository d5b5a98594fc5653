"""Forms-vs-receipts classification and FUNSD question answering, built on the real pages."""

import pytest

from layoutlmv2.data import FORMS_VS_RECEIPTS_LABELS, load_forms_vs_receipts, load_funsd_qa

pytestmark = pytest.mark.data

QA_PAIRS = {"train": 3049, "test": 823}  # measured: distinct question->answer links kept
QA_TEXT_MISMATCHES = {"train": 2, "test": 1}  # entity "text" orders words differently from "words"


@pytest.mark.parametrize("split, forms, receipts", [("train", 149, 50), ("test", 50, 25)])
def test_forms_vs_receipts(funsd_dir, sroie_dir, split, forms, receipts):
    docs = load_forms_vs_receipts(funsd_dir, sroie_dir, split)
    labels = [d.label for d in docs]
    assert labels.count("form") == forms and labels.count("receipt") == receipts
    assert set(labels) == set(FORMS_VS_RECEIPTS_LABELS)
    assert all(d.image_mode == "L" and d.words and d.word_labels is None for d in docs)
    receipt = next(d for d in docs if d.label == "receipt")
    assert receipt.load_image().mode == "L"


@pytest.mark.parametrize("split", ["train", "test"])
def test_funsd_qa(funsd_dir, split):
    docs = load_funsd_qa(funsd_dir, split)
    assert len(docs) == QA_PAIRS[split]
    assert len({d.id for d in docs}) == len(docs)  # each link once
    mismatches = 0
    for doc in docs:
        start, end = doc.answer_span
        assert 0 <= start <= end < len(doc.words)
        assert doc.question.startswith("what is the answer to ") and doc.question.endswith("?")
        assert doc.answers == [" ".join(doc.words[start : end + 1])]
        mismatches += doc.answers[0] != " ".join(doc.extra["answer_entity_text"].split())
    assert mismatches == QA_TEXT_MISMATCHES[split]


def test_funsd_qa_first_pair(funsd_dir):
    doc = next(d for d in load_funsd_qa(funsd_dir, "train") if d.id == "0000971160/2-16")
    assert doc.question == "what is the answer to Suggestion:?"
    assert doc.word_labels is None and doc.answers[0] == doc.extra["answer_entity_text"]
