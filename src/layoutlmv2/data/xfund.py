"""XFUND (Xu et al., Findings of ACL 2022): FUNSD-style forms in seven languages.

Layout: ``<root>/<lang>.<split>.json`` (``split`` train or val; ``test`` reads val, the split the
XFUND papers report), the upstream schema: ``{"documents": [{"id", "img": {"fname", "width",
"height"}, "document": [entity, ...]}]}``, where an entity has ``id``, ``text``, ``box``, ``label``
(question/answer/header/other), ``words`` (``{text, box}``) and ``linking`` (``[from, to]`` pairs),
as in FUNSD. The page image is ``<root>/<fname>`` (or ``<root>/images/<fname>``) when present;
the copy in ../shared/data/xfund has no images, so pages are blank (text and layout only).

Documents have the same shape as `load_funsd`'s: word BIO tags over ``FUNSD_LABELS`` and, in
``extra``, ``entities`` (``id``, ``label``, ``text``, ``words``) and ``links`` (distinct pairs).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Union

from ..boxes import normalize_box
from .document import Document

logger = logging.getLogger(__name__)

XFUND_LANGUAGES = ("de", "es", "fr", "it", "ja", "pt", "zh")
_SPLITS = {"train": "train", "val": "val", "test": "val"}


def load_xfund(root: Union[str, Path], split: str = "train", lang: str = "de") -> list[Document]:
    """Read ``<root>/<lang>.<split>.json`` into Documents (see the module docstring)."""
    if split not in _SPLITS:
        raise ValueError(f"XFUND split must be one of {sorted(_SPLITS)}, got {split!r}")
    if lang not in XFUND_LANGUAGES:
        raise ValueError(f"XFUND language must be one of {XFUND_LANGUAGES}, got {lang!r}")
    root = Path(root)
    path = root / f"{lang}.{_SPLITS[split]}.json"
    if not path.is_file():
        raise ValueError(f"no XFUND annotation file at {path}")
    try:
        documents = json.loads(path.read_text(encoding="utf-8"))["documents"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not an XFUND file ({{'documents': [...]}}): {error}") from error
    out = [_read_document(path, root, document) for document in documents]
    missing = sum(1 for document in out if document.image_path is None)
    if missing:
        logger.warning("XFUND %s %s: %d of %d pages have no image in %s (they are published apart, as release "
                       "assets): blank pages are used, so the model sees text and layout only",
                       lang, split, missing, len(out), root)
    logger.debug("XFUND %s %s: %d documents from %s", lang, split, len(out), path)
    return out


def _read_document(path: Path, root: Path, document: dict) -> Document:
    try:
        image = document["img"]
        width, height = int(image["width"]), int(image["height"])
        form = document["document"]
        doc_id = str(document["id"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: malformed document {str(document)[:80]!r}: {error}") from error
    image_path = next((p for p in (root / image.get("fname", ""), root / "images" / image.get("fname", ""))
                       if image.get("fname") and p.is_file()), None)
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
            raise ValueError(f"{path} {doc_id}: malformed entity {entity!r}") from error
        if label not in ("question", "answer", "header", "other"):
            raise ValueError(f"{path} {doc_id}: entity {entity.get('id')!r} has unknown label {label!r}")
        indices = []
        for word in entity_words:
            text = word["text"].strip()
            if not text:
                continue
            tags.append("O" if label == "other" else ("I-" if indices else "B-") + label.upper())
            indices.append(len(words))
            words.append(text)
            boxes.append(normalize_box(word["box"], width, height, clamp=True))
        entities.append({"id": entity["id"], "label": label, "text": entity.get("text", ""), "words": indices})
        links.update((int(a), int(b)) for a, b in entity.get("linking", []))
    return Document(id=doc_id, words=words, boxes=boxes, image_path=image_path, page_size=(width, height),
                    word_labels=tags, extra={"entities": entities, "links": sorted(links)})
