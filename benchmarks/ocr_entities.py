"""FUNSD entity F1 of a fine-tuned token model when its words come from each OCR engine (the number a
user gets from raw scans), against the annotated entities of the 50 test pages.

Every row runs the same `layoutlmv2.pipeline("token-classification")` on the page images; only
`ocr=` changes: the annotated words and boxes themselves (a callable engine: the upper bound, and the
row comparable to the seqeval F1 of training), Tesseract, RapidOCR. Each predicted entity (BIO
spans merged into words by the pipeline) is matched one to one with an annotated entity of the same
label (header, question, answer; `other` is not an entity), greedily, in two ways:

- text: the same text after normalisation (NFKC, lower case, punctuation around each word
  stripped, as `ocr_quality.py` does), what a user storing the extracted strings needs;
- box: their boxes in page pixels overlap with intersection over union >= 0.5, which forgives OCR
  spelling errors and shows how much of the loss is reading rather than labelling.

    python benchmarks/ocr_entities.py --model runs/funsd/best      # writes benchmarks/results/ocr_entities.{json,md}
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import SHARED, load_average, machine  # noqa: E402  (also puts src/ on sys.path)
from ocr_quality import normalise  # noqa: E402

MIN_IOU = 0.5
LABELS = ("header", "question", "answer")


def gold_pages(pages: int) -> list[dict]:
    """The first `pages` FUNSD test pages: image path, annotated words/pixel boxes, entities."""
    folder = SHARED / "funsd" / "testing_data"
    out = []
    for path in sorted((folder / "annotations").glob("*.json"))[:pages]:
        form = json.loads(path.read_text(encoding="utf-8"))["form"]
        words, boxes, entities = [], [], []
        for entity in form:
            kept = [w for w in entity["words"] if w["text"].strip()]
            words += [w["text"] for w in kept]
            boxes += [w["box"] for w in kept]
            if kept and entity["label"].lower() in LABELS:
                entities.append({"label": entity["label"].lower(), "text": " ".join(w["text"] for w in kept),
                                 "box": _union([w["box"] for w in kept])})
        out.append({"image": str(folder / "images" / f"{path.stem}.png"), "words": words, "boxes": boxes,
                    "entities": entities})
    return out


def _union(boxes) -> list[float]:
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def iou(a, b) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def text_key(text: str) -> str:
    return " ".join(word for word in (normalise(w) for w in text.split()) if word)


def matches(predicted: list[dict], gold: list[dict], by: str) -> int:
    """How many predicted entities pair one to one with a gold entity of the same label (greedy)."""
    candidates = []
    for i, p in enumerate(predicted):
        for j, g in enumerate(gold):
            if p["label"] != g["label"]:
                continue
            if by == "text":
                if text_key(p["text"]) == text_key(g["text"]) and text_key(g["text"]):
                    candidates.append((1.0, i, j))
            else:
                score = iou(p["box"], g["box"])
                if score >= MIN_IOU:
                    candidates.append((score, i, j))
    used_p, used_g = set(), set()
    for _, i, j in sorted(candidates, reverse=True):
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    return len(used_p)


def annotated_words_engine(pages: list[dict]):
    """An OCR callable that returns a page's annotated words, found by the page's pixels."""
    from PIL import Image

    by_pixels = {}
    for page in pages:
        with Image.open(page["image"]) as image:
            by_pixels[hashlib.sha1(image.convert("RGB").tobytes()).hexdigest()] = (page["words"], page["boxes"])

    def engine(image):
        return by_pixels[hashlib.sha1(image.convert("RGB").tobytes()).hexdigest()]

    return engine


def run(model: str, pages: list[dict], ocr, batch_size: int) -> dict:
    import layoutlmv2

    pipe = layoutlmv2.pipeline("token-classification", model=model, ocr=ocr, batch_size=batch_size)
    start = time.perf_counter()
    results = list(pipe.stream([page["image"] for page in pages]))
    seconds = time.perf_counter() - start
    counts = {"predicted": 0, "gold": 0, "text": 0, "box": 0}
    for page, result in zip(pages, results):
        if "error" in result:
            raise RuntimeError(f"{page['image']}: {result['error']}")
        predicted = [{"label": e["type"].lower(), "text": e["text"], "box": e["box_pixels"]}
                     for e in result["entities"] if e["type"].lower() in LABELS]
        counts["predicted"] += len(predicted)
        counts["gold"] += len(page["entities"])
        counts["text"] += matches(predicted, page["entities"], "text")
        counts["box"] += matches(predicted, page["entities"], "box")
    row = {"seconds": seconds, "pages_per_s": len(pages) / seconds, **counts}
    for by in ("text", "box"):
        precision = counts[by] / max(counts["predicted"], 1)
        recall = counts[by] / max(counts["gold"], 1)
        row[f"{by}_precision"], row[f"{by}_recall"] = precision, recall
        row[f"{by}_f1"] = 2 * precision * recall / max(precision + recall, 1e-12)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a fine-tuned FUNSD token-classification folder")
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--engines", nargs="+", default=["annotated", "tesseract", "rapidocr"])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--output", default=str(HERE / "results" / "ocr_entities"))
    args = parser.parse_args()
    pages = gold_pages(args.pages)
    load_before = load_average()
    rows = {}
    for name in args.engines:
        ocr = annotated_words_engine(pages) if name == "annotated" else name
        rows[name] = run(args.model, pages, ocr, args.batch_size)
        print(name, json.dumps(rows[name]), flush=True)
    result = {"command": "python " + " ".join(sys.argv), "model": args.model, "pages": len(pages),
              "machine": machine(), "load_average_before": load_before, "load_average_after": load_average(),
              "rows": rows}
    Path(args.output + ".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| words from | entity F1 (text) | P / R (text) | entity F1 (box IoU >= 0.5) | P / R (box) | "
             "predicted / gold entities | pages/s (whole pipeline) |", "|---|---|---|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['text_f1']:.3f} | {row['text_precision']:.3f} / {row['text_recall']:.3f} | "
                     f"{row['box_f1']:.3f} | {row['box_precision']:.3f} / {row['box_recall']:.3f} | "
                     f"{row['predicted']} / {row['gold']} | {row['pages_per_s']:.2f} |")
    Path(args.output + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
