"""Two tasks built from the real FUNSD and SROIE pages, so the classification and QA heads
can be exercised on real documents even though RVL-CDIP and DocVQA are not available here.

* `load_forms_vs_receipts`: classify a page as a FUNSD form or an SROIE receipt. Pages are
  opened greyscale (``image_mode="L"``) because FUNSD is grey and SROIE colour, which would
  make colour alone a perfect cue. Even so the task is easy (layout and vocabulary differ a
  lot): it is a smoke test that the sequence head learns, not a benchmark.
* `load_funsd_qa`: extractive QA from FUNSD's question -> answer links. The question reads
  "what is the answer to <question text>?", the answers are the linked answer entities, and
  ``answer_span`` gives the first of them in the page's word list.
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
    """One Document per distinct question text of a page, with every answer linked to it.

    FUNSD links one question to many answers (a table's column header to each of its cells:
    "NAME OF ACCOUNT" has 7 answers on one test page), and a page can print the same question
    twice. One document per link would give the same input several targets: 1385 of the 3049
    training links did, so the span heads were trained towards contradicting answers and no
    model could be right on more than 65% of the 823 test links. Here a question is asked once
    and ``answers`` lists the text of each linked answer entity (ANLS takes the best match, as
    DocVQA does with its several references); the training target ``answer_span`` is the first
    answer in the page's word order. ``extra["links"]`` counts the links merged (3049 train /
    823 test links -> 1932 / 519 questions), ``extra["answer_spans"]`` keeps every answer's span.

    A link counts once however often it is listed, in either direction; links between two
    questions (or two answers) are ignored; links with a blank question or answer text, or an
    answer whose words were all blank, are skipped. The question text is kept as annotated
    (whitespace collapsed). An answer's text is its span's words joined by spaces;
    ``extra["answer_entity_text"]`` is the first answer entity's own ``text``, which very rarely
    orders words differently.
    """
    documents = []
    for page in load_funsd(funsd_root, split):
        entities = {entity["id"]: entity for entity in page.extra["entities"]}
        questions: dict[str, list[tuple[int, int]]] = {}  # question text -> its (question id, answer id) links
        for question_id, answer_id in sorted(_question_answer_links(page, entities)):
            question, answer = entities[question_id], entities[answer_id]
            question_text = " ".join(question["text"].split())
            if question_text and " ".join(answer["text"].split()) and answer["words"]:
                questions.setdefault(question_text, []).append((question_id, answer_id))
        for question_text, links in questions.items():
            links.sort(key=lambda link: entities[link[1]]["words"][0])  # answers in word order
            spans = [(entities[a]["words"][0], entities[a]["words"][-1]) for _, a in links]
            answers = list(dict.fromkeys(" ".join(page.words[s: e + 1]) for s, e in spans))
            question_id, answer_id = links[0]
            documents.append(
                Document(
                    id=f"{page.id}/{question_id}-{answer_id}",
                    words=page.words,
                    boxes=page.boxes,
                    image_path=page.image_path,
                    page_size=page.page_size,
                    question=FUNSD_QA_TEMPLATE.format(question_text),
                    answers=answers,
                    answer_span=spans[0],
                    extra={"page_id": page.id, "links": len(links), "answer_spans": spans,
                           "answer_entity_text": " ".join(entities[answer_id]["text"].split())},
                )
            )
    return documents


def _question_answer_links(page: Document, entities: dict) -> set[tuple[int, int]]:
    """The page's distinct question -> answer links (either direction in the file)."""
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
    return pairs
