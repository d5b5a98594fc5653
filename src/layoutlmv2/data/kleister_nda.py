"""Kleister-NDA (Stanisławek et al., ICDAR 2021): key information from non-disclosure agreements.

No copy of Kleister-NDA is available in this project's environment, so this reader is written
from the published format and tested only on a tiny hand-written fixture in that format.

The release has one folder per split (``train``, ``dev-0``, ``test-A``), each with ``in.tsv``
(possibly ``in.tsv.xz``) and, except for test, ``expected.tsv``; line *n* of each is document *n*.
``in.tsv`` columns: ``filename``, ``keys`` (the keys to extract, space-separated), then the text
from four OCR / extraction tools: ``text_djvu``, ``text_tesseract``, ``text_textract``,
``text_best``. Texts escape newlines, tabs and form feeds as ``\\n``, ``\\t``, ``\\f``.
``expected.tsv`` lines are space-separated ``key=value`` pairs with ``_`` for spaces inside
a value (``party=Acme_Corp``); a key may repeat (several parties).

We read ``text_best`` by default (choose another column with ``text_column``). The text has no
coordinates, so every word gets the box ``[0, 0, 0, 0]``; pair it with page images from the
PDFs and OCR if layout matters. Gold pairs are in ``extra["expected"]`` as ``(key, value)``
with spaces restored; `layoutlmv2.metrics.kleister_scores` compares them.
"""

from __future__ import annotations

import logging
import lzma
from pathlib import Path
from typing import Iterable, Optional, Union

from .document import Document, find_word_span

logger = logging.getLogger(__name__)

KLEISTER_NDA_KEYS = ["effective_date", "jurisdiction", "party", "term"]
KLEISTER_TEXT_COLUMNS = ["text_djvu", "text_tesseract", "text_textract", "text_best"]
_UNESCAPE = {"n": "\n", "t": "\t", "f": "\f", "\\": "\\"}
# BIO word tags of the keys, for token classification
KLEISTER_LABELS = ["O"] + [f"{p}-{k.upper()}" for k in KLEISTER_NDA_KEYS for p in ("B", "I")]


def parse_expected_line(line: str) -> list[tuple[str, str]]:
    """``"party=Acme_Corp term=2_years"`` -> ``[("party", "Acme Corp"), ("term", "2 years")]``."""
    pairs = []
    for item in line.split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected.tsv item {item!r} is not key=value")
        pairs.append((key, value.replace("_", " ")))
    return pairs


def format_expected_line(pairs: Iterable[tuple[str, str]]) -> str:
    """The inverse of `parse_expected_line`, for writing predictions in the release format."""
    return " ".join(f"{key}={'_'.join(value.split())}" for key, value in pairs if value.strip())


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in _UNESCAPE:
            out.append(_UNESCAPE[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _read_lines(folder: Path, name: str) -> Optional[list[str]]:
    plain, packed = folder / name, folder / f"{name}.xz"
    if plain.is_file():
        return plain.read_text(encoding="utf-8").split("\n")
    if packed.is_file():
        return lzma.open(packed, "rt", encoding="utf-8").read().split("\n")
    return None


def load_kleister_nda(
    root: Union[str, Path], split: str = "train", text_column: str = "text_best"
) -> list[Document]:
    """Read one split (``train``, ``dev-0``, ``test-A``) into Documents of words plus gold pairs."""
    if text_column not in KLEISTER_TEXT_COLUMNS:
        raise ValueError(f"text_column must be one of {KLEISTER_TEXT_COLUMNS}, got {text_column!r}")
    folder = Path(root) / split
    rows = _read_lines(folder, "in.tsv")
    if rows is None:
        raise ValueError(f"no in.tsv or in.tsv.xz in {folder}")
    rows = [row for row in rows if row.strip()]
    expected = _read_lines(folder, "expected.tsv")
    if expected is not None:
        expected = expected[: len(rows)]
        if len(expected) != len(rows):
            raise ValueError(f"{folder}: {len(rows)} lines in in.tsv but {len(expected)} in expected.tsv")
    column = 2 + KLEISTER_TEXT_COLUMNS.index(text_column)
    documents = []
    for number, row in enumerate(rows, start=1):
        fields = row.split("\t")
        if len(fields) != 2 + len(KLEISTER_TEXT_COLUMNS):
            raise ValueError(f"{folder / 'in.tsv'}:{number}: expected 6 tab-separated columns, got {len(fields)}")
        words = _unescape(fields[column]).split()
        extra: dict = {"keys": fields[1].split(), "line": number}
        if expected is not None:
            try:
                extra["expected"] = parse_expected_line(expected[number - 1])
            except ValueError as error:
                raise ValueError(f"{folder / 'expected.tsv'}:{number}: {error}") from error
        documents.append(Document(id=fields[0], words=words, boxes=[[0, 0, 0, 0] for _ in words], extra=extra))
    return documents


def load_kleister_nda_tagged(root: Union[str, Path], split: str) -> list[Document]:
    """Kleister-NDA with BIO word tags derived from the gold values (first match in the text)."""
    split = {"test": "dev-0", "dev": "dev-0"}.get(split, split)  # test-A has no expected.tsv
    documents = load_kleister_nda(root, split)
    for document in documents:
        tags = ["O"] * len(document.words)
        for key, value in document.extra.get("expected", []):
            span = find_word_span(document.words, value)
            if span is not None and all(t == "O" for t in tags[span[0]: span[1] + 1]):
                tags[span[0]] = f"B-{key.upper()}"
                for i in range(span[0] + 1, span[1] + 1):
                    tags[i] = f"I-{key.upper()}"
        document.word_labels = tags
    return documents
