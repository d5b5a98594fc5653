"""RVL-CDIP (Harley et al., 2015): 400,000 greyscale pages in 16 document classes.

The full set is not available here; ``../shared/data/rvl_cdip/kaggle_3class_subset`` holds 165
real pages of three classes (email, resume, scientific publication) and the reader is tested on
them as well as on tiny fixtures of the published layouts.

Three layouts are read:

* the release: ``<root>/labels/{train,val,test}.txt`` with lines ``<image path> <class index>``,
  paths relative to ``<root>/images`` (or ``<root>`` if there is no ``images`` folder);
* a folder per class: ``<root>/<split>/<class name>/*`` (or ``<root>/<class name>/*`` with
  ``split=None``), class names as in ``RVL_CDIP_CLASSES`` with ``_`` or ``-`` for spaces.

Pages carry no words: RVL-CDIP ships images only, so run OCR (the processor's
``apply_ocr=True``) on them; `Document.load_image` gives RGB like the other readers.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Optional, Union

from .document import Document

logger = logging.getLogger(__name__)

RVL_CDIP_CLASSES = [
    "letter", "form", "email", "handwritten", "advertisement", "scientific report",
    "scientific publication", "specification", "file folder", "news article", "budget",
    "invoice", "presentation", "questionnaire", "resume", "memo",
]  # fmt: skip
_IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}
# label names of the Kaggle 3-class subset -> RVL-CDIP classes (the others are class names already)
KAGGLE_LABELS = {"paper": "scientific publication", "scientific_publication": "scientific publication"}
# splits the Kaggle subset does not have -> the file read instead
_KAGGLE_SPLIT_FILES = {"test": "dev", "val": "dev", "validation": "dev"}
PageOcr = Callable[[Path], tuple]


def _class_name(folder: str) -> Optional[str]:
    name = " ".join(folder.replace("_", " ").replace("-", " ").lower().split())
    return name if name in RVL_CDIP_CLASSES else None


def load_rvl_cdip(root: Union[str, Path], split: Optional[str] = "train",
                  ocr: Optional[PageOcr] = None, limit: Optional[int] = None) -> list[Document]:
    """Read RVL-CDIP pages with their class in ``Document.label`` (a ``RVL_CDIP_CLASSES`` name).

    The layout is detected: ``labels/<split>.txt`` if present, else ``<split>.json`` (the Kaggle
    subset), else class folders. With ``ocr`` each page gets its words and boxes from it; ``limit``
    keeps the first pages before any OCR.
    """
    documents = _load(Path(root), split)[:limit]
    if ocr is not None:
        for document in documents:
            document.words, document.boxes, document.page_size = ocr(document.image_path)
    return documents


def _load(root: Path, split: Optional[str]) -> list[Document]:
    label_file = root / "labels" / f"{split}.txt"
    if split is not None and label_file.is_file():
        return _from_label_file(root, label_file)
    if split is not None:
        json_file = root / f"{split}.json"
        if not json_file.is_file() and split in _KAGGLE_SPLIT_FILES:
            json_file = root / f"{_KAGGLE_SPLIT_FILES[split]}.json"
        if json_file.is_file():
            return _from_json_lines(root, json_file)
    base = root / split if split is not None else root
    if not base.is_dir():
        raise ValueError(f"RVL-CDIP: neither {label_file} nor a class folder tree at {base}")
    documents = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        name = _class_name(folder.name)
        if name is None:
            raise ValueError(f"RVL-CDIP: folder {folder} is not one of the 16 classes {RVL_CDIP_CLASSES}")
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in _IMAGE_SUFFIXES:
                documents.append(_page(path, name, path.relative_to(base)))
    if not documents:
        raise ValueError(f"RVL-CDIP: no images under {base}")
    return documents


def _from_label_file(root: Path, label_file: Path) -> list[Document]:
    image_root = root / "images" if (root / "images").is_dir() else root
    documents = []
    for number, raw in enumerate(label_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) >= len(RVL_CDIP_CLASSES):
            raise ValueError(f"{label_file}:{number}: expected '<image path> <class 0..15>', got {raw!r}")
        relative = Path(parts[0])
        documents.append(_page(image_root / relative, RVL_CDIP_CLASSES[int(parts[1])], relative))
    return documents


def _from_json_lines(root: Path, label_file: Path) -> list[Document]:
    """The Kaggle subset's ``{"label", "path_img"}`` lines."""
    documents = []
    for number, raw in enumerate(label_file.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            label, image = str(row["label"]), str(row["path_img"])
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{label_file}:{number}: expected {{\"label\", \"path_img\"}}, got {raw!r}") from error
        name = KAGGLE_LABELS.get(label.strip().lower()) or _class_name(label)
        if name is None:
            raise ValueError(f"{label_file}:{number}: label {label!r} is not one of the 16 classes "
                             f"{RVL_CDIP_CLASSES} (nor {sorted(KAGGLE_LABELS)})")
        relative = Path(*image.strip().replace("\\", "/").split("/"))
        path = root / relative
        if not path.is_file():
            raise ValueError(f"{label_file}:{number}: no image {path}")
        documents.append(_page(path, name, relative))
    return documents


def _page(path: Path, label: str, relative: Path) -> Document:
    return Document(
        id=relative.with_suffix("").as_posix(), words=[], boxes=[], image_path=path, label=label
    )
