"""A tiny relation-extraction model learns the links of two real FUNSD pages exactly (F1 1.0).

The model is small_models' configuration from a random start. With the decoder's projections at
the text model's normal(0.02) instead of He initialisation it took 275 steps instead of 20.
"""

import pytest

from overfitting import overfit
from layoutlmv2 import LayoutLMv2ForRelationExtraction
from layoutlmv2.data import load_funsd
from layoutlmv2.preprocessing.image_processing import LayoutLMv2ImageProcessor
from layoutlmv2.preprocessing.tokenization_fast import LayoutLMv2TokenizerFast
from layoutlmv2.tasks.definitions import make_task
from layoutlmv2.tasks.windows import document_relations

pytestmark = [pytest.mark.data, pytest.mark.usefixtures("one_thread")]

PAGES = ("87086073", "82504862")  # two short FUNSD test pages with 6 question -> answer links each


def test_a_tiny_model_overfits_the_links_of_two_funsd_pages(funsd_dir, bert_vocab_file):
    documents = [d for d in load_funsd(funsd_dir, "test") if d.id in PAGES]
    assert [len(document_relations(d)[1]) for d in documents] == [6, 6]
    tokenizer = LayoutLMv2TokenizerFast(vocab_file=str(bert_vocab_file), do_lower_case=True)
    image_processor = LayoutLMv2ImageProcessor(apply_ocr=False, size={"height": 32, "width": 32})
    task = make_task("relation-extraction", "funsd")
    encoded = task.encode(documents, tokenizer, image_processor, max_length=512, stride=128)
    scores, _, step, loss = overfit(LayoutLMv2ForRelationExtraction, task, documents, encoded, "relation_f1",
                                    steps=60, every=10)
    f1 = scores["relation_f1"]
    assert f1 == 1.0, f"F1 {f1} after {step} steps (loss {loss:.4f})"
    assert scores["relation_tp"] == 12 and scores["relation_fp"] == 0
