"""QA windows on real FUNSD-QA pairs: the answer span is kept where it fits, [CLS] (0, 0) where it does not."""

import pytest

from layoutlmv2.data import load_funsd_qa
from layoutlmv2.tasks.windows import encode_documents
from layoutlmv2.training.recipe import build_processor

from small_models import minilm_dir

pytestmark = pytest.mark.data


def test_windows_keep_the_answer_when_it_fits_and_point_at_cls_when_not(funsd_dir):
    processor = build_processor(minilm_dir(), image_size=32)
    documents = [d for d in load_funsd_qa(funsd_dir, "train")[:20] if d.answer_span is not None]
    encoded = encode_documents(documents, processor.tokenizer, None, 64, 16, with_question=True, load_images=False)
    inside = outside = 0
    for window in encoded.windows:
        first, last = documents[window.doc_index].answer_span
        start, end = window.targets["start_positions"], window.targets["end_positions"]
        ids = window.word_ids
        context = [i for i, w in enumerate(ids) if w is not None]
        if (start, end) == (0, 0):
            outside += 1  # the answer is not whole here: a word missing or cut at the window's edge
            assert not (first in {ids[i] for i in context} and last in {ids[i] for i in context}
                        and ids[context[0]] != first and ids[context[-1]] != last)
        else:
            inside += 1
            assert ids[start] == first and ids[end] == last and start <= end
            assert start == min(i for i in context if ids[i] == first)
            assert end == max(i for i in context if ids[i] == last)
    assert inside >= len(documents) - 2 and outside > 0  # long pages give windows without the answer
