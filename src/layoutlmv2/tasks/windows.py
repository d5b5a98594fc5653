"""Documents -> model inputs (token windows + page pixels), and window predictions -> words.

A page longer than ``max_length`` tokens is cut into overlapping windows (``stride`` tokens
repeated between neighbours), at training and at prediction time alike, so no word is lost.
Each window keeps its token -> word map (`word_ids`) so predictions go back to words with
`layoutlmv2.metrics.word_tags_from_windows`.

Token-classification labels go on the *first sub-token of each word* only (every other
position is -100). With pre-split words the tokenizer's offsets are relative to the word, so
"first sub-token" means ``offset start == 0`` (`preprocessing.word_assembly.first_subtokens`): it stays
right when a window starts in the middle of a word, where "the first token of this word in the
window" would be wrong.

Pixels are stored once per page (``pages``), not once per window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..data.document import Document
from ..preprocessing.word_assembly import first_subtokens

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
TEXT_KEYS = ("input_ids", "bbox", "token_type_ids", "attention_mask")


@dataclass
class Window:
    """One model input of at most ``max_length`` tokens cut from one page."""

    doc_index: int
    input_ids: list[int]
    bbox: list[list[int]]
    token_type_ids: list[int]
    attention_mask: list[int]
    word_ids: list[Optional[int]]  # page word index per token; None for specials and question tokens
    targets: dict[str, Any] = field(default_factory=dict)  # labels / label / start_positions, end_positions


@dataclass
class Encoded:
    """Windows of a list of documents plus each page's pixels (uint8, (3, H, W), BGR)."""

    windows: list[Window]
    pages: list[np.ndarray]
    stats: dict[str, int] = field(default_factory=dict)  # counts worth reporting (relation extraction)

    def __len__(self) -> int:
        return len(self.windows)


def _page_pixels(image_processor, document: Document) -> np.ndarray:
    """Pixels of the page: ``extra["image"]`` (an in-memory page, e.g. a rendered PDF page) or
    the file at ``image_path``; a blank white page when there is neither (text-only data sets)."""
    from PIL import Image

    if "image" in document.extra:
        image = document.extra["image"]
    elif document.image_path is not None:
        image = document.load_image()
    else:
        image = Image.new("RGB", (224, 224), "white")
    pixels = image_processor(image, return_tensors="np")["pixel_values"]
    return np.asarray(pixels[0])


def encode_documents(
    documents: Sequence[Document],
    tokenizer,
    image_processor,
    max_length: int = 512,
    stride: int = 128,
    word_label2id: Optional[dict[str, int]] = None,
    label2id: Optional[dict[str, int]] = None,
    with_question: bool = False,
    single_window: bool = False,
    load_images: bool = True,
    with_relations: bool = False,
) -> Encoded:
    """Tokenise pages into windows; attach the targets each task needs when the records have them.

    * ``word_label2id``: token-classification labels from ``document.word_labels``.
    * ``label2id``: a page class from ``document.label``.
    * ``with_question``: ``[CLS] question [SEP] words [SEP]``, only the words are windowed,
      and ``start_positions``/``end_positions`` come from ``document.answer_span`` (both 0, the
      [CLS] token, in a window that does not hold the whole answer).
    * ``single_window``: keep only the first window (classification looks at the page start).
    * ``with_relations``: relation-extraction targets from ``document.extra`` (`relation_targets`);
      ``Encoded.stats`` counts the links no window holds whole (see `relation_targets`).
    """
    if stride < 0 or stride >= max_length:
        raise ValueError(f"stride must be in 0..max_length-1, got stride={stride} max_length={max_length}")
    windows: list[Window] = []
    pages: list[np.ndarray] = []
    stats = {"entities": 0, "entities_outside_windows": 0, "links": 0, "links_across_windows": 0} \
        if with_relations else {}
    page_sequence = 1 if with_question else 0  # which sequence of the encoding holds the page words
    for index, document in enumerate(documents):
        if not document.words:
            logger.warning("document %s has no words: it is encoded as an empty page", document.id)
        if load_images:
            pages.append(_page_pixels(image_processor, document))
        encoding = _tokenize(document, tokenizer, max_length, stride, with_question)
        count = len(encoding["input_ids"])
        word_ends = _word_ends(encoding, count, page_sequence)
        for w in range(count if not single_window else 1):
            word_ids = [word if seq == page_sequence else None
                        for word, seq in zip(encoding.word_ids(w), encoding.sequence_ids(w))]
            window = Window(
                doc_index=index,
                input_ids=list(encoding["input_ids"][w]),
                bbox=[list(b) for b in encoding["bbox"][w]],
                token_type_ids=list(encoding["token_type_ids"][w]),
                attention_mask=list(encoding["attention_mask"][w]),
                word_ids=word_ids,
            )
            window.targets = _targets(document, word_ids, encoding["offset_mapping"][w], word_ends,
                                      word_label2id, label2id, with_question)
            windows.append(window)
        if with_relations:
            first_window = len(windows) - (count if not single_window else 1)
            _add_relation_targets(document, windows[first_window:], encoding, word_ends, stats)
    if stats.get("entities_outside_windows") or stats.get("links_across_windows"):
        logger.warning("relation extraction: %d of %d entities are in no window whole, %d of %d links have their "
                       "two entities in no common window (not trained on; counted as missed in evaluation)",
                       stats["entities_outside_windows"], stats["entities"], stats["links_across_windows"],
                       stats["links"])
    return Encoded(windows=windows, pages=pages, stats=stats)


def _tokenize(document: Document, tokenizer, max_length: int, stride: int, with_question: bool):
    """All windows of one page (overflowing tokens with `stride`), the question first for QA."""
    words = list(document.words) or [""]
    boxes = [list(map(int, box)) for box in document.boxes] or [[0, 0, 0, 0]]
    common = dict(boxes=boxes, max_length=max_length, stride=stride, return_overflowing_tokens=True,
                  return_offsets_mapping=True, return_token_type_ids=True)  # LayoutXLM's are all 0
    if not with_question:
        return tokenizer(words, truncation=True, **common)
    if document.question is None:
        raise ValueError(f"document {document.id!r} has no question")
    return tokenizer(document.question, words, truncation="only_second", **common)


def _word_ends(encoding, count: int, page_sequence: int) -> dict[int, int]:
    """Word -> the furthest character offset its tokens reach over all windows (where an answer ends)."""
    word_ends: dict[int, int] = {}
    for w in range(count):
        for word, seq, (_, stop) in zip(encoding.word_ids(w), encoding.sequence_ids(w), encoding["offset_mapping"][w]):
            if seq == page_sequence and word is not None:
                word_ends[word] = max(word_ends.get(word, 0), stop)
    return word_ends


def _targets(document: Document, word_ids, offsets, word_ends: dict[int, int],
             word_label2id: Optional[dict[str, int]], label2id: Optional[dict[str, int]],
             with_question: bool) -> dict[str, Any]:
    """The training targets of one window, for whichever of the three tasks the arguments ask."""
    targets: dict[str, Any] = {}
    if word_label2id is not None and document.word_labels is not None:
        targets["labels"] = token_labels(word_ids, offsets, document.word_labels, word_label2id)
    if label2id is not None and document.label is not None:
        if document.label not in label2id:
            raise ValueError(f"document {document.id!r} has label {document.label!r}, not in {sorted(label2id)}")
        targets["label"] = label2id[document.label]
    if with_question and document.answer_span is not None:
        targets["start_positions"], targets["end_positions"] = answer_token_span(
            word_ids, offsets, document.answer_span, word_ends)
    return targets


def token_labels(word_ids: Sequence[Optional[int]], offsets: Sequence[Sequence[int]],
                 word_labels: Sequence[str], label2id: dict[str, int]) -> list[int]:
    """A word's label on its first sub-token (`first_subtokens`), -100 everywhere else."""
    labels = []
    for word, first in zip(word_ids, first_subtokens(word_ids, offsets)):
        if not first:
            labels.append(IGNORE_INDEX)
            continue
        tag = word_labels[word]
        if tag not in label2id:
            raise ValueError(f"word label {tag!r} is not one of {sorted(label2id)}")
        labels.append(label2id[tag])
    return labels


def answer_token_span(word_ids: Sequence[Optional[int]], offsets: Sequence[Sequence[int]],
                      span: tuple[int, int], word_ends: dict[int, int]) -> tuple[int, int]:
    """Token (start, end) of the answer words in this window, or (0, 0) unless it is all inside.

    ``word_ends[w]`` is the largest character offset any token of word ``w`` reaches in the
    page's windows: the answer is complete only if its last token reaches it (a window may stop
    inside the last word), and it starts only at its first word's first sub-token (offset 0).
    """
    first_word, last_word = span
    start = next((t for t, (w, o) in enumerate(zip(word_ids, offsets)) if w == first_word and o[0] == 0), None)
    end = max((t for t, w in enumerate(word_ids) if w == last_word), default=None)
    if start is None or end is None or end < start or offsets[end][1] != word_ends.get(last_word):
        return 0, 0
    return start, end


# Entity labels of relation extraction, numbered as layoutlmft numbers them ("other" entities take no part)
RELATION_LABEL_IDS = {"header": 0, "question": 1, "answer": 2}


def document_relations(document: Document) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """(entities, links) of a page for relation extraction, from FUNSD/XFUND-style ``extra``.

    Entities: the header, question and answer entities that kept at least one word, as
    ``{"id", "label" (0 header, 1 question, 2 answer), "words"}``. Links: distinct ``(question
    index, answer index)`` pairs into that list, whichever way the annotation wrote them; links
    between other labels (header -> question, ...) are not key-value pairs and are left out.
    """
    raw = document.extra.get("entities")
    if raw is None:
        raise ValueError(f"document {document.id!r} has no entities: relation extraction needs FUNSD-style "
                         "entities and links (data sets funsd, xfund)")
    entities: list[dict[str, Any]] = []
    index_of: dict[Any, int] = {}
    for entity in raw:
        if entity["label"] in RELATION_LABEL_IDS and entity["words"]:
            index_of[entity["id"]] = len(entities)
            entities.append({"id": entity["id"], "label": RELATION_LABEL_IDS[entity["label"]],
                             "words": list(entity["words"])})
    links: set[tuple[int, int]] = set()
    for a, b in document.extra.get("links", []):
        if a not in index_of or b not in index_of:
            continue
        i, j = index_of[a], index_of[b]
        pair = (entities[i]["label"], entities[j]["label"])
        if pair == (1, 2):
            links.add((i, j))
        elif pair == (2, 1):
            links.add((j, i))
    return entities, sorted(links)


def relation_targets(entities: Sequence[dict[str, Any]], links: Sequence[tuple[int, int]], word_ids, offsets,
                     word_ends: dict[int, int]) -> dict[str, Any]:
    """One window's ``entities`` (token spans, end exclusive), ``relations`` and ``entity_ids``.

    An entity is in the window when its first word's first sub-token and its last word's last
    sub-token are (`answer_token_span`); a link when both its entities are. ``entity_ids`` maps
    the window's entity indices back to the page's.
    """
    spans: dict[int, tuple[int, int]] = {}
    for index, entity in enumerate(entities):
        start, end = answer_token_span(word_ids, offsets, (entity["words"][0], entity["words"][-1]), word_ends)
        if end >= start > 0:  # (0, 0): not whole in this window
            spans[index] = (start, end + 1)
    local = {index: k for k, index in enumerate(sorted(spans))}
    kept = [(h, t) for h, t in links if h in local and t in local]
    return {
        "entities": {"start": [spans[i][0] for i in local], "end": [spans[i][1] for i in local],
                     "label": [entities[i]["label"] for i in local]},
        "relations": {"head": [local[h] for h, _ in kept], "tail": [local[t] for _, t in kept]},
        "entity_ids": list(local),
    }


def _add_relation_targets(document: Document, windows: Sequence[Window], encoding, word_ends, stats) -> None:
    entities, links = document_relations(document)
    seen_entities: set[int] = set()
    seen_links: set[tuple[int, int]] = set()
    for w, window in enumerate(windows):
        targets = relation_targets(entities, links, window.word_ids, encoding["offset_mapping"][w], word_ends)
        window.targets.update(targets)
        ids = targets["entity_ids"]
        seen_entities.update(ids)
        seen_links.update((ids[h], ids[t]) for h, t in zip(targets["relations"]["head"], targets["relations"]["tail"]))
    stats["entities"] += len(entities)
    stats["entities_outside_windows"] += len(entities) - len(seen_entities)
    stats["links"] += len(links)
    stats["links_across_windows"] += len(links) - len(seen_links)


def collate(windows: Sequence[Window], pages: Sequence[np.ndarray], pad_token_id: int = 0,
            pad_to_multiple_of: int = 8) -> dict[str, torch.Tensor]:
    """Pad a list of windows to the longest (rounded up to a multiple) and stack into tensors."""
    if not windows:
        raise ValueError("cannot collate an empty list of windows")
    longest = max(len(w.input_ids) for w in windows)
    length = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    batch = len(windows)
    input_ids = torch.full((batch, length), pad_token_id, dtype=torch.long)
    bbox = torch.zeros((batch, length, 4), dtype=torch.long)
    token_type_ids = torch.zeros((batch, length), dtype=torch.long)
    attention_mask = torch.zeros((batch, length), dtype=torch.long)
    for i, window in enumerate(windows):
        n = len(window.input_ids)
        input_ids[i, :n] = torch.tensor(window.input_ids)
        bbox[i, :n] = torch.tensor(window.bbox)
        token_type_ids[i, :n] = torch.tensor(window.token_type_ids)
        attention_mask[i, :n] = torch.tensor(window.attention_mask)
    out = {"input_ids": input_ids, "bbox": bbox, "token_type_ids": token_type_ids, "attention_mask": attention_mask}
    if pages:
        out["image"] = torch.from_numpy(np.stack([pages[w.doc_index] for w in windows]))  # (B, 3, H, W) uint8
    first = windows[0].targets
    if "labels" in first:
        labels = torch.full((batch, length), IGNORE_INDEX, dtype=torch.long)
        for i, window in enumerate(windows):
            labels[i, : len(window.targets["labels"])] = torch.tensor(window.targets["labels"])
        out["labels"] = labels
    if "label" in first:
        out["labels"] = torch.tensor([w.targets["label"] for w in windows], dtype=torch.long)
    if all("start_positions" in w.targets for w in windows):  # DocVQA: questions whose answer OCR missed have none
        out["start_positions"] = torch.tensor([w.targets["start_positions"] for w in windows], dtype=torch.long)
        out["end_positions"] = torch.tensor([w.targets["end_positions"] for w in windows], dtype=torch.long)
    if "entities" in first:  # relation extraction: lists per window, as the head takes them
        out["entities"] = [w.targets["entities"] for w in windows]
        out["relations"] = [w.targets["relations"] for w in windows]
    return out
