"""Question-answering scores: any reference answer counts, and FUNSD-QA also reports per link."""

import pytest

from layoutlmv2.data import Document
from layoutlmv2.tasks.definitions import make_task


def _question(answers, links=None):
    extra = {} if links is None else {"links": links}
    return Document(id="p/1", words=["a"], boxes=[[0, 0, 1, 1]], question="q?", answers=answers, extra=extra)


def test_any_linked_answer_is_right_and_links_weigh_the_per_link_score():
    task = make_task("question-answering", "funsd-qa")
    documents = [_question(["Texaco Seattle", "Astro Gas"], links=2), _question(["42"], links=1)]
    scores = task.evaluate(documents, [{"answer": "Astro Gas"}, {"answer": "17"}])
    assert scores["anls"] == pytest.approx(0.5) and scores["exact_match"] == pytest.approx(0.5)
    assert scores["anls_per_link"] == pytest.approx(2 / 3)


def test_documents_without_links_get_no_per_link_score():
    task = make_task("question-answering", "docvqa")
    scores = task.evaluate([_question(["42"])], [{"answer": "42"}])
    assert scores == {"anls": 1.0, "exact_match": 1.0}
