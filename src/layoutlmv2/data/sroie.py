"""SROIE (ICDAR 2019 task 3): key-information extraction from scanned receipts.

Layout (the common "SROIE2019" arrangement): ``<root>/{train,test}/img/<stem>.jpg``,
``box/<stem>.txt`` and ``entities/<stem>.txt``. A box file holds one OCR line per text line,
``x1,y1,x2,y2,x3,y3,x4,y4,transcript`` (the transcript may contain commas, so only the first
8 commas split). An entities file is JSON with ``company``, ``date``, ``address``, ``total``.

SROIE gives no word tags, so we derive them by matching the key values to the OCR lines, the
way the published sequence-labelling baselines do. Comparisons are "loose": case folded and
reduced to alphanumeric words, so "NO.50 , JALAN" matches "No.50,Jalan". Each OCR line is
claimed by at most one field, tried in this order:

* **total**: within a line, the run of words that spells the value (or a single word that
  contains it as a number, e.g. ``RM9.00`` but not ``19.00``). Among all such lines we prefer
  one on the same row as, and right of, a line mentioning TOTAL; ties and the no-TOTAL case
  take the last match in file order (receipts print the grand total below item prices).
* **date**: the first line with such a run; only those words are tagged, not the time beside.
* **address**: every line (of at least 3 letters/digits) whose whole text occurs on word
  boundaries inside the value; of those, the cluster of lines at most 2 apart holding the
  most text (a stray "SELANGOR" further down is not the address).
* **company**: the first run of consecutive lines inside the value; else the first line
  containing the value as a run of words ("ACME SDN BHD (562007-D)"); else, to survive OCR
  typos, the line among the first 10 whose text is at least 80 % similar (difflib ratio).

Words are the whitespace split of each line, each with the slice of the line box its
characters span. Tags are BIO over ``SROIE_LABELS``; consecutive matched lines of one field
continue one entity (``I-``). `decode_sroie_fields` turns word tags back into the four strings.
On the 75 receipts in ../shared/data the decoded gold tags give back (loosely equal) company
71, date 71, address 69, total 74; exact string equality is lower because the OCR spaces
punctuation differently from the key file.
"""

from __future__ import annotations

import json
import logging
import re
from difflib import SequenceMatcher
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from ..boxes import normalize_box
from .document import Document, image_size, quad_to_box, split_line_box

logger = logging.getLogger(__name__)

SROIE_FIELDS = ["company", "date", "address", "total"]
SROIE_LABELS = ["O"] + [f"{prefix}-{name.upper()}" for name in SROIE_FIELDS for prefix in ("B", "I")]
_MATCH_ORDER = ["total", "date", "address", "company"]
_SPLITS = ("train", "test")
_MIN_LINE_CHARS = 3  # a matched company/address line needs this many letters or digits
_FUZZY_LINES = 10  # the company is printed near the top
_FUZZY_RATIO = 0.8
_ADDRESS_GAP = 2  # address lines further apart than this belong to different clusters


def parse_sroie_box_file(path: Union[str, Path]) -> list[tuple[list[float], str]]:
    """OCR lines of one box file as ``(quad of 8 numbers, transcript)``; blank lines skipped."""
    path = Path(path)
    lines = []
    text = path.read_text(encoding="utf-8", errors="replace")
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split(",", 8)
        if len(parts) != 9:
            raise ValueError(f"{path}:{number}: expected 8 coordinates and a transcript, got {raw!r}")
        try:
            quad = [float(value) for value in parts[:8]]
        except ValueError as error:
            raise ValueError(f"{path}:{number}: non-numeric coordinate in {raw!r}") from error
        lines.append((quad, parts[8].strip()))
    return lines


def read_sroie_entities(path: Union[str, Path]) -> dict[str, str]:
    """The four key values of one receipt (missing keys become "")."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a JSON entities file: {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path} should hold a JSON object, got {type(data).__name__}")
    return {name: str(data.get(name, "") or "") for name in SROIE_FIELDS}


def load_sroie(root: Union[str, Path], split: str = "train") -> list[Document]:
    """Read one SROIE split into Documents with derived word tags (see the module docstring).

    ``extra["entities"]`` keeps the gold dict for `layoutlmv2.metrics.sroie_scores`;
    ``extra["line_index"]`` gives each word's OCR line.
    """
    if split not in _SPLITS:
        raise ValueError(f"SROIE split must be one of {_SPLITS}, got {split!r}")
    folder = Path(root) / split
    if not (folder / "box").is_dir():
        raise ValueError(f"no SROIE box folder at {folder / 'box'}")
    documents = []
    for box_path in sorted((folder / "box").glob("*.txt")):
        stem = box_path.stem
        image_path = folder / "img" / f"{stem}.jpg"
        entities_path = folder / "entities" / f"{stem}.txt"
        for needed in (image_path, entities_path):
            if not needed.is_file():
                raise ValueError(f"SROIE receipt {stem} has no {needed}")
        documents.append(_read_receipt(stem, box_path, image_path, entities_path))
    logger.debug("SROIE %s: %d receipts from %s", split, len(documents), folder)
    return documents


def _read_receipt(stem: str, box_path: Path, image_path: Path, entities_path: Path) -> Document:
    width, height = image_size(image_path)
    entities = read_sroie_entities(entities_path)
    lines = []  # (words, pixel boxes, line box)
    for quad, transcript in parse_sroie_box_file(box_path):
        line_box = quad_to_box(quad)
        words, word_boxes = split_line_box(transcript, line_box)
        if words:
            lines.append((words, word_boxes, line_box))
    line_tags = label_sroie_lines([words for words, _, _ in lines], [box for _, _, box in lines], entities)
    words, boxes, tags, line_index = [], [], [], []
    for number, ((line_words, word_boxes, _), word_tags) in enumerate(zip(lines, line_tags)):
        words.extend(line_words)
        boxes.extend(normalize_box(box, width, height, clamp=True) for box in word_boxes)
        tags.extend(word_tags)
        line_index.extend([number] * len(line_words))
    return Document(
        id=stem,
        words=words,
        boxes=boxes,
        image_path=image_path,
        page_size=(width, height),
        word_labels=tags,
        extra={"entities": entities, "line_index": line_index},
    )


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _loose(text: str) -> str:
    """Case-folded alphanumeric words only: "NO.50 , JALAN" and "No.50,Jalan" both -> "no 50 jalan"."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.casefold()).split())


def _find_run(words: Sequence[str], value: str) -> Optional[tuple[int, int]]:
    """Half-open word range in one line that spells ``value`` (or one word containing it)."""
    target = _loose(value)
    keys = [_loose(word) for word in words]
    for start in range(len(keys)):
        if not keys[start]:
            continue
        for end in range(start + 1, len(keys) + 1):
            joined = " ".join(key for key in keys[start:end] if key)
            if joined == target:
                return start, end
            if not target.startswith(joined):
                break
    # glued to a prefix such as "RM9.00" or "DATE:25/12/2018", but not "19.00" for "9.00"
    pattern = re.compile(rf"(?<![0-9.]){re.escape(_norm(value))}(?![0-9])")
    for index, word in enumerate(words):
        if pattern.search(_norm(word)):
            return index, index + 1
    return None


def _line_in_value(words: Sequence[str], value: str) -> bool:
    line = _loose(" ".join(words))
    if len(line.replace(" ", "")) < _MIN_LINE_CHARS:
        return False
    return f" {line} " in f" {_loose(value)} "


def _match_block(
    lines: Sequence[Sequence[str]], free: Sequence[int], name: str, value: str
) -> dict[int, tuple[int, int]]:
    """Lines (with word ranges) for company or address; see the module docstring."""
    matched = {i: (0, len(lines[i])) for i in free if _line_in_value(lines[i], value)}
    if name == "address":  # the cluster (gaps of <= 2 lines) holding the most text
        clusters: list[list[int]] = []
        for i in sorted(matched):
            if clusters and i - clusters[-1][-1] <= _ADDRESS_GAP:
                clusters[-1].append(i)
            else:
                clusters.append([i])
        best = max(clusters, key=lambda c: sum(len(_loose(" ".join(lines[i]))) for i in c), default=[])
        return {i: matched[i] for i in best}
    if matched:  # company: the first run of consecutive lines only
        first = min(matched)
        block = {}
        for i in range(first, len(lines)):
            if i not in matched:
                break
            block[i] = matched[i]
        return block
    for i in free:  # a company line with a suffix, e.g. "ACME SDN BHD (562007-D)"
        run = _find_run(lines[i], value)
        if run:
            return {i: run}
    scored = [(SequenceMatcher(None, _norm(" ".join(lines[i])), _norm(value)).ratio(), i) for i in free[:_FUZZY_LINES]]
    if scored:
        ratio, i = max(scored, key=lambda item: (item[0], -item[1]))
        if ratio >= _FUZZY_RATIO:
            return {i: (0, len(lines[i]))}
    return {}


def label_sroie_lines(
    lines: Sequence[Sequence[str]], line_boxes: Sequence[Sequence[float]], entities: Mapping[str, str]
) -> list[list[str]]:
    """BIO tags for the words of each OCR line, given the receipt's key values (rule above)."""
    spans: dict[int, tuple[str, int, int]] = {}  # line -> (field, word start, word end)
    for name in _MATCH_ORDER:
        value = entities.get(name, "")
        if not _loose(value):
            continue
        free = [i for i in range(len(lines)) if i not in spans]
        if name in ("company", "address"):
            for i, run in _match_block(lines, free, name, value).items():
                spans[i] = (name, *run)
            continue
        found = [(i, run) for i in free if (run := _find_run(lines[i], value))]
        if not found:
            continue
        if name == "date":
            line, run = found[0]
        else:
            line, run = _pick_total(found, lines, line_boxes)
        spans[line] = (name, *run)
    tags: list[list[str]] = []
    previous_field = None
    for i, words in enumerate(lines):
        line_tags = ["O"] * len(words)
        field_name = None
        if i in spans:
            field_name, start, end = spans[i]
            for k in range(start, end):
                continues = k > start or (previous_field == field_name and start == 0)
                line_tags[k] = ("I-" if continues else "B-") + field_name.upper()
            if end != len(words):
                field_name = None  # the entity ended mid-line
        tags.append(line_tags)
        previous_field = field_name
    return tags


def _pick_total(found, lines, line_boxes):
    def beside_total(i: int) -> bool:
        x0, y0, x1, y1 = line_boxes[i]
        centre = (y0 + y1) / 2
        for j, words in enumerate(lines):
            if j == i or "total" not in _norm(" ".join(words)):
                continue
            jx0, jy0, jx1, jy1 = line_boxes[j]
            if jy0 <= centre <= jy1 and jx0 <= x0:
                return True
        return False

    beside = [item for item in found if beside_total(item[0])]
    return (beside or found)[-1]


def decode_sroie_fields(words: Sequence[str], tags: Sequence[str]) -> dict[str, str]:
    """The four field strings from word tags: the inverse of the labelling, for evaluation.

    company and address join every tagged word in reading order (they span lines); date
    takes its first entity and total its last, matching how the labelling picks them.
    A field with no tagged word is "" (which `sroie_scores` treats as no prediction).
    """
    if len(words) != len(tags):
        raise ValueError(f"{len(words)} words but {len(tags)} tags")
    entities: dict[str, list[list[str]]] = {name: [] for name in SROIE_FIELDS}
    current = None
    for word, tag in zip(words, tags):
        prefix, _, kind = tag.partition("-")
        name = kind.lower()
        if prefix not in ("B", "I") or name not in entities:
            current = None
            continue
        if prefix == "B" or current != name:
            entities[name].append([])
        entities[name][-1].append(word)
        current = name
    result = {}
    for name, found in entities.items():
        if not found:
            result[name] = ""
        elif name in ("company", "date"):
            result[name] = " ".join(found[0])
        elif name == "total":
            result[name] = " ".join(found[-1])
        else:
            result[name] = " ".join(" ".join(entity) for entity in found)
    return result
