"""Two tasks built from the real FUNSD and SROIE pages, so the classification and QA heads
can be exercised on real documents even though RVL-CDIP and DocVQA are not available here.

* `load_forms_vs_receipts`: classify a page as a FUNSD form or an SROIE receipt. Pages are
  opened greyscale (``image_mode="L"``) because FUNSD is grey and SROIE colour, which would
  make colour alone a perfect cue. Even so the task is easy (layout and vocabulary differ a
  lot): it is a smoke test that the sequence head learns, not a benchmark.
* `load_funsd_qa`: extractive QA from FUNSD's question -> answer links. The question reads
  "what is the answer to <question text>?", the answer is the linked answer entity, and
  ``answer_span`` gives its words in the page's word list.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Union

from .document import Document
from .funsd import load_funsd
from .sroie import load_sroie

logger = logging.getLogger(__name__)

FORMS_VS_RECEIPTS_LABELS = ["form", "receipt"]
FUNSD_QA_TEMPLATE = "what is the answer to {}?"


def load_forms_vs_receipts(
    funsd_root: Union[str, Path], sroie_root: Union[str, Path], split: str = "train"
) -> list[Document]:
    """FUNSD pages labelled "form" then SROIE receipts labelled "receipt", both greyscale.

    Both data sets use the names ``train`` / ``test`` for their official splits. Word tags
    are dropped; words and boxes stay so the model sees text and layout.
    """
    documents = []
    for label, pages in (("form", load_funsd(funsd_root, split)), ("receipt", load_sroie(sroie_root, split))):
        for page in pages:
            documents.append(
                Document(
                    id=f"{label}/{page.id}",
                    words=page.words,
                    boxes=page.boxes,
                    image_path=page.image_path,
                    page_size=page.page_size,
                    label=label,
                    image_mode="L",
                )
            )
    return documents


def load_funsd_qa(funsd_root: Union[str, Path], split: str = "train") -> list[Document]:
    """One Document per distinct FUNSD question -> answer link, with the answer's word span.

    A link counts once however often it is listed, in either direction; links between two
    questions (or two answers) are ignored; pairs with a blank question or answer text, or an
    answer whose words were all blank, are skipped. The question text is kept as annotated
    (whitespace collapsed). ``answers`` holds the span's words joined by spaces;
    ``extra["answer_entity_text"]`` the entity's own ``text``, which very rarely orders words
    differently.
    """
    documents = []
    for page in load_funsd(funsd_root, split):
        entities = {entity["id"]: entity for entity in page.extra["entities"]}
        pairs: set[tuple[int, int]] = set()
        for a, b in page.extra["links"]:
            first, second = entities.get(a), entities.get(b)
            if first is None or second is None:
                logger.warning("FUNSD %s: link %s -> %s names a missing entity", page.id, a, b)
                continue
            kinds = (first["label"], second["label"])
            if kinds == ("question", "answer"):
                pairs.add((a, b))
            elif kinds == ("answer", "question"):
                pairs.add((b, a))
        for question_id, answer_id in sorted(pairs):
            question, answer = entities[question_id], entities[answer_id]
            question_text = " ".join(question["text"].split())
            answer_text = " ".join(answer["text"].split())
            if not question_text or not answer_text or not answer["words"]:
                continue
            start, end = answer["words"][0], answer["words"][-1]
            documents.append(
                Document(
                    id=f"{page.id}/{question_id}-{answer_id}",
                    words=page.words,
                    boxes=page.boxes,
                    image_path=page.image_path,
                    page_size=page.page_size,
                    question=FUNSD_QA_TEMPLATE.format(question_text),
                    answers=[" ".join(page.words[start : end + 1])],
                    answer_span=(start, end),
                    extra={"page_id": page.id, "answer_entity_text": answer_text},
                )
            )
    return documents
