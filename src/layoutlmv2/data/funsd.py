"""FUNSD (Jaume et al., ICDAR-OST 2019): entity labelling on noisy scanned forms.

Layout: ``<root>/{training_data,testing_data}/{annotations/<id>.json, images/<id>.png}``;
``training_data`` is the official train split (149 forms), ``testing_data`` the test split (50).
Each JSON holds ``{"form": [entity, ...]}``; an entity has ``id``, ``text``, ``box``, ``label``
(question/answer/header/other), ``words`` (``{text, box}``) and ``linking`` (``[from, to]`` pairs).

We turn entities into word-level BIO tags the way LayoutLM's FUNSD recipe does: the first
word of a question/answer/header entity is ``B-``, the rest ``I-``; every word of an "other"
entity is ``O``. Words whose text is empty or blank (checkboxes, empty fields) are dropped,
so an entity whose first word is blank starts at its first non-blank word.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Union

from ..boxes import normalize_box
from .document import Document, image_size

logger = logging.getLogger(__name__)

FUNSD_ENTITY_TYPES = ["HEADER", "QUESTION", "ANSWER"]
FUNSD_LABELS = ["O", "B-HEADER", "I-HEADER", "B-QUESTION", "I-QUESTION", "B-ANSWER", "I-ANSWER"]

_SPLIT_DIRS = {"train": "training_data", "test": "testing_data"}


def funsd_split_dir(root: Union[str, Path], split: str) -> Path:
    """``<root>/training_data`` or ``<root>/testing_data``; ValueError for any other split."""
    if split not in _SPLIT_DIRS:
        raise ValueError(f"FUNSD split must be one of {sorted(_SPLIT_DIRS)}, got {split!r}")
    path = Path(root) / _SPLIT_DIRS[split]
    if not (path / "annotations").is_dir():
        raise ValueError(f"no FUNSD annotations folder at {path / 'annotations'}")
    return path


def load_funsd(root: Union[str, Path], split: str = "train") -> list[Document]:
    """Read one FUNSD split into Documents with word BIO tags over ``FUNSD_LABELS``.

    ``extra`` keeps what the derived QA task needs: ``entities`` (one dict per annotated
    entity: ``id``, ``label``, ``text``, ``words`` = indices of its kept words) and ``links``
    (distinct ``(from_id, to_id)`` pairs; the file lists each link on both entities).
    """
    folder = funsd_split_dir(root, split)
    documents = []
    for path in sorted((folder / "annotations").glob("*.json")):
        image_path = folder / "images" / f"{path.stem}.png"
        if not image_path.is_file():
            raise ValueError(f"FUNSD annotation {path} has no image at {image_path}")
        documents.append(_read_form(path, image_path))
    logger.debug("FUNSD %s: %d documents from %s", split, len(documents), folder)
    return documents


def _read_form(path: Path, image_path: Path) -> Document:
    try:
        form = json.loads(path.read_text(encoding="utf-8"))["form"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a FUNSD annotation ({{'form': [...]}}): {error}") from error
    width, height = image_size(image_path)
    words: list[str] = []
    boxes: list[list[int]] = []
    tags: list[str] = []
    entities = []
    links: set[tuple[int, int]] = set()
    for entity in form:
        try:
            label = entity["label"].lower()
            entity_words = entity["words"]
        except (KeyError, AttributeError, TypeError) as error:
            raise ValueError(f"{path}: malformed entity {entity!r}") from error
        if label not in ("question", "answer", "header", "other"):
            raise ValueError(f"{path}: entity {entity.get('id')!r} has unknown label {label!r}")
        indices = []
        for word in entity_words:
            text = word["text"].strip()
            if not text:
                continue
            if label == "other":
                tags.append("O")
            else:
                tags.append(("I-" if indices else "B-") + label.upper())
            indices.append(len(words))
            words.append(text)
            boxes.append(normalize_box(word["box"], width, height, clamp=True))
        entities.append({"id": entity["id"], "label": label, "text": entity.get("text", ""), "words": indices})
        links.update((int(a), int(b)) for a, b in entity.get("linking", []))
    return Document(
        id=path.stem,
        words=words,
        boxes=boxes,
        image_path=image_path,
        page_size=(width, height),
        word_labels=tags,
        extra={"entities": entities, "links": sorted(links)},
    )
