"""A tiny QA model learns the answers of a handful of real FUNSD question -> answer pairs exactly.

Proof that the QA windows, the start/end targets, the loss and the span decoding fit together:
if any of them were misaligned (an answer labelled one token off, a decode that reads the
question instead of the page), exact match could not reach 1.0 on the pairs trained on. Two of
the pairs share a page, so the model must read the question to tell their answers apart.
"""

import pytest

from overfitting import overfit
from layoutlmv2 import LayoutLMv2ForQuestionAnswering
from layoutlmv2.data import load_funsd_qa
from layoutlmv2.preprocessing.image_processing import LayoutLMv2ImageProcessor
from layoutlmv2.preprocessing.tokenization_fast import LayoutLMv2TokenizerFast
from layoutlmv2.tasks.definitions import make_task

pytestmark = [pytest.mark.data, pytest.mark.usefixtures("one_thread")]

# short FUNSD test pages (56-87 words): (page, index of the pair among that page's pairs)
PAIRS = [("87086073", 0), ("87086073", 1), ("82504862", 0), ("82491256", 1), ("86220490", 0), ("83594639", 0)]


def test_a_tiny_model_overfits_six_funsd_qa_pairs_to_exact_match_1(funsd_dir, bert_vocab_file):
    by_page: dict[str, list] = {}
    for document in load_funsd_qa(funsd_dir, "test"):
        by_page.setdefault(document.extra["page_id"], []).append(document)
    documents = [by_page[page][k] for page, k in PAIRS]
    tokenizer = LayoutLMv2TokenizerFast(vocab_file=str(bert_vocab_file), do_lower_case=True)
    image_processor = LayoutLMv2ImageProcessor(apply_ocr=False, size={"height": 32, "width": 32})
    task = make_task("question-answering", "funsd-qa")
    encoded = task.encode(documents, tokenizer, image_processor, max_length=512, stride=128)
    assert len(encoded.windows) == 6 and all(w.targets["start_positions"] > 0 for w in encoded.windows)
    scores, predictions, step, loss = overfit(LayoutLMv2ForQuestionAnswering, task, documents, encoded,
                                              "exact_match", steps=400, every=25)
    assert scores["exact_match"] == 1.0, f"{scores} after {step} steps (loss {loss:.4f})"
    assert [p["span"] for p in predictions] == [list(d.answer_span) for d in documents]
    assert [p["answer"] for p in predictions] == [d.answers[0] for d in documents]
