"""How well each OCR engine reads the FUNSD test pages, against the annotated words, and how fast.

For every page, each OCR word is paired with the annotated word whose box it overlaps most
(intersection over the smaller box >= 0.5, each annotated word used once, greedy by overlap).
Text is compared after normalisation (NFKC, lower case, surrounding punctuation stripped):

- recall: annotated words that have a paired OCR word with the same text / annotated words;
- precision: OCR words paired with an annotated word of the same text / OCR words;
- CER: character edit distance of each annotated word to its paired OCR word's text (the whole
  word when unpaired), summed, over the characters of the annotated words;
- pages/s: OCR alone, one page after another in this process (Tesseract is a subprocess; RapidOCR
  runs ONNX Runtime on the cores).

    python benchmarks/ocr_quality.py --pages 50    # writes benchmarks/results/ocr_quality.{json,md}
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import SHARED  # noqa: E402  (also puts src/ on sys.path)

from layoutlmv2.data.funsd import load_funsd  # noqa: E402
from layoutlmv2.preprocessing.ocr_engines import ocr_engine  # noqa: E402

MIN_OVERLAP = 0.5


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().strip(" .,:;()[]{}\"'!?*_-")


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def overlap(a, b) -> float:
    """Intersection over the smaller box (a split or merged word still pairs with its part)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(smaller, 1e-9)


def pair_words(gold_boxes, ocr_boxes) -> dict[int, int]:
    """annotated word index -> OCR word index, greedy by overlap, one to one."""
    candidates = sorted(((overlap(g, o), gi, oi) for gi, g in enumerate(gold_boxes) for oi, o in enumerate(ocr_boxes)
                         if overlap(g, o) >= MIN_OVERLAP), reverse=True)
    pairs, used = {}, set()
    for _, gi, oi in candidates:
        if gi not in pairs and oi not in used:
            pairs[gi] = oi
            used.add(oi)
    return pairs


def score_page(gold_words, gold_boxes, ocr_words, ocr_boxes) -> dict[str, int]:
    gold = [(normalise(w), b) for w, b in zip(gold_words, gold_boxes) if normalise(w)]
    ocr = [(normalise(w), b) for w, b in zip(ocr_words, ocr_boxes) if normalise(w)]
    pairs = pair_words([b for _, b in gold], [b for _, b in ocr])
    same = sum(gold[gi][0] == ocr[oi][0] for gi, oi in pairs.items())
    errors = sum(edit_distance(text, ocr[pairs[gi]][0]) if gi in pairs else len(text)
                 for gi, (text, _) in enumerate(gold))
    return {"gold": len(gold), "ocr": len(ocr), "same": same, "char_errors": errors,
            "chars": sum(len(text) for text, _ in gold)}


def run_engine(name: str, documents) -> dict:
    engine = ocr_engine(name)
    engine(documents[0].load_image().crop((0, 0, 200, 100)))  # load the models outside the timing
    totals = {"gold": 0, "ocr": 0, "same": 0, "char_errors": 0, "chars": 0}
    seconds = 0.0
    for document in documents:
        image = document.load_image()
        start = time.perf_counter()
        words, boxes = engine(image)
        seconds += time.perf_counter() - start
        # the annotations are in page pixels; so are the engine's boxes
        for key, value in score_page(document.words, document.extra["pixel_boxes"], words, boxes).items():
            totals[key] += value
    return {"engine": name, "pages": len(documents), "seconds": round(seconds, 2),
            "pages_per_s": round(len(documents) / seconds, 3),
            "recall": round(totals["same"] / totals["gold"], 4), "precision": round(totals["same"] / totals["ocr"], 4),
            "cer": round(totals["char_errors"] / totals["chars"], 4), "annotated_words": totals["gold"],
            "ocr_words": totals["ocr"]}


def pixel_documents(pages: int):
    """FUNSD test pages with their annotated words in page pixels (`extra['pixel_boxes']`)."""
    folder = SHARED / "funsd" / "testing_data" / "annotations"
    documents = load_funsd(SHARED / "funsd", "test")[:pages]
    for document in documents:
        form = json.loads((folder / f"{document.id}.json").read_text())["form"]
        words = [w for entity in form for w in entity["words"] if w["text"].strip()]
        document.words = [w["text"] for w in words]
        document.extra["pixel_boxes"] = [w["box"] for w in words]
    return documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--engines", nargs="+", default=["tesseract", "rapidocr"])
    parser.add_argument("--output", default=str(HERE / "results" / "ocr_quality"))
    args = parser.parse_args()
    documents = pixel_documents(args.pages)
    rows = [run_engine(name, documents) for name in args.engines]
    result = {"machine": platform.processor() or platform.machine(), "rows": rows,
              "rule": f"pairs by intersection over the smaller box >= {MIN_OVERLAP}, NFKC lower-case text"}
    Path(args.output + ".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| engine | pages | word recall | word precision | CER | pages/s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['engine']} | {r['pages']} | {r['recall']:.3f} | {r['precision']:.3f} | {r['cer']:.3f} | "
              f"{r['pages_per_s']:.2f} |" for r in rows]
    Path(args.output + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
