"""DocVQA (Mathew et al., WACV 2021): extractive questions on UCSF industry documents.

The full set is not available here; ``../shared/data/docvqa/smallval`` holds 3 real validation
pages with their 12 questions in the official ``val_v1.0.json`` (no OCR files), and the reader
is tested on them as well as on a tiny hand-written fixture of the published format.

The release has, per split, an annotation file (``train_v1.0.json``, ``val_v1.0.json``,
``test_v1.0.json``) with ``{"dataset_name", "dataset_split", "dataset_version", "data": [...]}``;
each item has ``questionId``, ``question``, ``image`` (``documents/<page>.png``, relative to
the split folder), ``docId``, ``ucsf_document_id``, ``ucsf_document_page_no``, ``answers`` (absent
in test) and ``data_split``. OCR comes per page as ``ocr_results/<page>.json`` in the
Microsoft Read format: ``recognitionResults[0]`` has ``width``, ``height`` and ``lines[]``,
each with ``words[]`` of ``{boundingBox: [8 numbers], text}``.

For training we record in ``answer_span`` the first run of OCR words that spells one of the
answers (case and spacing ignored, answers tried in the given order); when none is found
the span is None and ``extra["answer_found"]`` is False, so a trainer can skip the question.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Callable, Optional, Union

from ..boxes import normalize_box
from .document import Document, find_word_span, quad_to_box

logger = logging.getLogger(__name__)


def read_docvqa_ocr(path: Union[str, Path]) -> tuple[list[str], list[list[int]], tuple[int, int]]:
    """Words, 0..1000 boxes and (width, height) from one Microsoft Read OCR JSON of the release."""
    path = Path(path)
    try:
        page = json.loads(path.read_text(encoding="utf-8"))["recognitionResults"][0]
        width, height = float(page["width"]), float(page["height"])
        lines = page["lines"]
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a DocVQA OCR file (recognitionResults[0].lines): {error}") from error
    words, boxes = [], []
    for line in lines:
        for word in line.get("words", []):
            text = str(word.get("text", "")).strip()
            if not text:
                continue
            try:
                box = quad_to_box([float(v) for v in word["boundingBox"]])
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(f"{path}: word {text!r} has a bad boundingBox") from error
            words.append(text)
            boxes.append(normalize_box(box, width, height, clamp=True))
    return words, boxes, (int(width), int(height))


def load_docvqa(
    annotations: Union[str, Path],
    ocr_dir: Union[str, Path, None] = None,
    image_root: Union[str, Path, None] = None,
    ocr: Optional[Callable[[Path], tuple]] = None,
) -> list[Document]:
    """One Document per question, with the page's OCR words and, when answers exist, a span.

    ``image_root`` defaults to the annotation file's folder (``image`` paths are relative to
    it) and ``ocr_dir`` to ``<image_root>/ocr_results``. A page without an OCR file there is
    read by ``ocr`` (an error without it). Pages shared by several questions are read once.
    """
    annotations = Path(annotations)
    try:
        data = json.loads(annotations.read_text(encoding="utf-8"))
        items = data["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{annotations} is not a DocVQA annotation file ({{'data': [...]}}): {error}") from error
    image_root = Path(image_root) if image_root is not None else annotations.parent
    ocr_dir = Path(ocr_dir) if ocr_dir is not None else image_root / "ocr_results"
    pages: dict[str, Any] = {}
    documents = []
    for number, item in enumerate(items):
        try:
            image = str(item["image"])
            question = str(item["question"])
            question_id = item["questionId"]
        except (KeyError, TypeError) as error:
            raise ValueError(f"{annotations}: data[{number}] lacks questionId/question/image") from error
        stem = Path(image).stem
        if stem not in pages:
            ocr_path = ocr_dir / f"{stem}.json"
            if ocr_path.is_file():
                pages[stem] = (*read_docvqa_ocr(ocr_path), "file")
            elif ocr is not None:
                image_path = image_root / image
                if not image_path.is_file():
                    raise ValueError(f"{annotations}: question {question_id}: no OCR file {ocr_path} and no image "
                                     f"{image_path}")
                pages[stem] = (*ocr(image_path), "engine")
            else:
                raise ValueError(f"{annotations}: question {question_id} needs OCR file {ocr_path} "
                                 f"(or pass ocr= to read the page with an OCR engine)")
        words, boxes, size, source = pages[stem]
        answers: Optional[list[str]] = [str(a) for a in item["answers"]] if "answers" in item else None
        span = _first_span(words, answers or [])
        documents.append(
            Document(
                id=str(question_id),
                words=words,
                boxes=boxes,
                image_path=image_root / image,
                page_size=size,
                question=question,
                answers=answers,
                answer_span=span,
                extra={
                    "doc_id": item.get("docId"),
                    "ucsf_document_id": item.get("ucsf_document_id"),
                    "ucsf_document_page_no": item.get("ucsf_document_page_no"),
                    "data_split": item.get("data_split", data.get("dataset_split")),
                    "answer_found": span is not None,
                    "ocr": source,
                },
            )
        )
    return documents


def _first_span(words: list[str], answers: list[str]) -> Optional[tuple[int, int]]:
    for answer in answers:
        span = find_word_span(words, answer)
        if span is not None:
            return span
    return None


def load_docvqa_split(root: Union[str, Path], split: str,
                      ocr: Optional[Callable[[Path], tuple]] = None, limit: Optional[int] = None) -> list[Document]:
    """``<root>/<split>/<split>_v1.0.json`` (the release's name), ``<root>/<split>_v1.0.json`` (a split
    folder itself, as ``smallval/``), or the only ``*.json`` in ``<root>/<split>``; the first ``limit`` questions."""
    return _load_docvqa_split(root, split, ocr)[:limit]


def _load_docvqa_split(root: Union[str, Path], split: str, ocr: Optional[Callable[[Path], tuple]]) -> list[Document]:
    folder = Path(root) / split
    named = folder / f"{split}_v1.0.json"
    if named.is_file():
        return load_docvqa(named, ocr=ocr)
    beside = Path(root) / f"{split}_v1.0.json"
    if beside.is_file():
        return load_docvqa(beside, ocr=ocr)
    candidates = sorted(folder.glob("*.json"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"DocVQA: expected {named}, {beside} or exactly one .json in {folder}, "
                                f"found {len(candidates)}")
    return load_docvqa(candidates[0], ocr=ocr)
