"""Documents of ../shared/data as (words, 0..1000 boxes, labels), for the preprocessing tests.

FUNSD: word-level annotations, BIO labels from the entity label, empty words skipped; boxes are
normalised by the page size as the LayoutLM scripts do (``int(1000 * x / width)``). SROIE: one
"word" per OCR line (``x1,y1,...,x4,y4,text``, split on the first 8 commas), box = the corners'
min/max, normalised by the receipt size and clamped to 0..1000 (a few lines reach past the
page edge, and normalised boxes must stay in range).
"""

import json
from functools import lru_cache
from pathlib import Path

from PIL import Image

FUNSD_LABELS = ["O", "B-HEADER", "I-HEADER", "B-QUESTION", "I-QUESTION", "B-ANSWER", "I-ANSWER"]


def _normalise(box, width, height):
    x0, y0, x1, y1 = box
    out = [int(1000 * (x0 / width)), int(1000 * (y0 / height)), int(1000 * (x1 / width)), int(1000 * (y1 / height))]
    return [min(max(v, 0), 1000) for v in out]


@lru_cache(maxsize=None)
def funsd_documents(funsd_dir: Path) -> tuple:
    docs = []
    for split in ("training_data", "testing_data"):
        for path in sorted((Path(funsd_dir) / split / "annotations").glob("*.json")):
            image_path = path.parent.parent / "images" / (path.stem + ".png")
            with Image.open(image_path) as image:
                width, height = image.size
            words, boxes, labels = [], [], []
            for entity in json.loads(path.read_text(encoding="utf-8"))["form"]:
                kept = [w for w in entity["words"] if w["text"].strip()]
                for i, word in enumerate(kept):
                    words.append(word["text"])
                    boxes.append(_normalise(word["box"], width, height))
                    if entity["label"] == "other":
                        labels.append(0)
                    else:
                        tag = ("B-" if i == 0 else "I-") + entity["label"].upper()
                        labels.append(FUNSD_LABELS.index(tag))
            docs.append({"id": path.stem, "image": str(image_path), "words": words, "boxes": boxes, "labels": labels})
    return tuple(docs)


@lru_cache(maxsize=None)
def sroie_documents(sroie_dir: Path) -> tuple:
    docs = []
    for split in ("train", "test"):
        for path in sorted((Path(sroie_dir) / split / "box").glob("*.txt")):
            image_path = path.parent.parent / "img" / (path.stem + ".jpg")
            with Image.open(image_path) as image:
                width, height = image.size
            words, boxes = [], []
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = line.split(",", 8)
                if len(parts) < 9 or not parts[8].strip():
                    continue
                xs = [int(v) for v in parts[0:8:2]]
                ys = [int(v) for v in parts[1:8:2]]
                words.append(parts[8])
                boxes.append(_normalise([min(xs), min(ys), max(xs), max(ys)], width, height))
            docs.append({"id": path.stem, "image": str(image_path), "words": words, "boxes": boxes})
    return tuple(docs)


def reference_tokenizer(vocab_file, folder):
    """transformers' LayoutLMv2TokenizerFast with the given vocab.

    Built with ``from_pretrained(folder)``: in transformers 5.x ``LayoutLMv2TokenizerFast(vocab_file=...)``
    ignores the file and maps every word to [UNK].
    """
    from transformers import LayoutLMv2TokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_bytes(Path(vocab_file).read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}), encoding="utf-8")
    return LayoutLMv2TokenizerFast.from_pretrained(str(folder))
