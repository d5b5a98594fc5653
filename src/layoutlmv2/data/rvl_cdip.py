"""RVL-CDIP (Harley et al., 2015): 400,000 greyscale pages in 16 document classes.

No copy of RVL-CDIP is available in this project's environment (the FUNSD pages are RVL-CDIP
"form" pages, nothing more), so this reader is tested on a tiny fixture in the published layouts.

Two layouts are read:

* the release: ``<root>/labels/{train,val,test}.txt`` with lines ``<image path> <class index>``,
  paths relative to ``<root>/images`` (or ``<root>`` if there is no ``images`` folder);
* a folder per class: ``<root>/<split>/<class name>/*`` (or ``<root>/<class name>/*`` with
  ``split=None``), class names as in ``RVL_CDIP_CLASSES`` with ``_`` or ``-`` for spaces.

Pages carry no words: RVL-CDIP ships images only, so run OCR (the processor's
``apply_ocr=True``) on them; `Document.load_image` gives RGB like the other readers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Union

from .document import Document

logger = logging.getLogger(__name__)

RVL_CDIP_CLASSES = [
    "letter", "form", "email", "handwritten", "advertisement", "scientific report",
    "scientific publication", "specification", "file folder", "news article", "budget",
    "invoice", "presentation", "questionnaire", "resume", "memo",
]  # fmt: skip
_IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}


def _class_name(folder: str) -> Optional[str]:
    name = " ".join(folder.replace("_", " ").replace("-", " ").lower().split())
    return name if name in RVL_CDIP_CLASSES else None


def load_rvl_cdip(root: Union[str, Path], split: Optional[str] = "train") -> list[Document]:
    """Read RVL-CDIP pages with their class in ``Document.label`` (a ``RVL_CDIP_CLASSES`` name).

    The layout is detected: ``labels/<split>.txt`` if present, else class folders.
    """
    root = Path(root)
    label_file = root / "labels" / f"{split}.txt"
    if split is not None and label_file.is_file():
        return _from_label_file(root, label_file)
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


def _page(path: Path, label: str, relative: Path) -> Document:
    return Document(
        id=relative.with_suffix("").as_posix(), words=[], boxes=[], image_path=path, label=label
    )
