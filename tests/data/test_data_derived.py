"""Forms-vs-receipts classification and FUNSD question answering, built on the real pages."""

import pytest

from layoutlmv2.data import FORMS_VS_RECEIPTS_LABELS, load_forms_vs_receipts, load_funsd_qa

pytestmark = pytest.mark.data

QA_LINKS = {"train": 3049, "test": 823}  # measured: distinct question->answer links kept
QA_QUESTIONS = {"train": 1932, "test": 519}  # distinct question texts per page
QA_TEXT_MISMATCHES = {"train": 1, "test": 1}  # first answers whose entity "text" orders words differently


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
    assert len(docs) == QA_QUESTIONS[split] and sum(d.extra["links"] for d in docs) == QA_LINKS[split]
    assert len({d.id for d in docs}) == len(docs)
    assert len({(d.extra["page_id"], d.question) for d in docs}) == len(docs)  # each question asked once
    mismatches = 0
    for doc in docs:
        spans = doc.extra["answer_spans"]
        assert len(spans) == doc.extra["links"] and doc.answer_span == spans[0]
        assert [s for s, _ in spans] == sorted(s for s, _ in spans)  # the target is the first answer in word order
        for start, end in spans:
            assert 0 <= start <= end < len(doc.words)
        assert doc.question.startswith("what is the answer to ") and doc.question.endswith("?")
        texts = [" ".join(doc.words[s: e + 1]) for s, e in spans]
        assert doc.answers == list(dict.fromkeys(texts)) and doc.answers[0] == texts[0]
        mismatches += doc.answers[0] != " ".join(doc.extra["answer_entity_text"].split())
    assert mismatches == QA_TEXT_MISMATCHES[split]


def test_a_column_header_is_one_question_with_every_cell_as_answer(funsd_dir):
    # The test page 82200067_0069 links "NAME OF ACCOUNT" to the 7 cells of its column: one
    # link per document gave the same input 7 different targets.
    docs = [d for d in load_funsd_qa(funsd_dir, "test")
            if d.extra["page_id"] == "82200067_0069" and d.question == "what is the answer to NAME OF ACCOUNT?"]
    assert len(docs) == 1
    assert docs[0].extra["links"] == 7 and len(docs[0].answers) == 7
    assert {"Texaco Seattle", "Astro Gas"} <= set(docs[0].answers)


def test_funsd_qa_first_pair(funsd_dir):
    doc = next(d for d in load_funsd_qa(funsd_dir, "train") if d.id == "0000971160/2-16")
    assert doc.question == "what is the answer to Suggestion:?"
    assert doc.word_labels is None and doc.answers[0] == doc.extra["answer_entity_text"]
