"""How well Tesseract reads PDF pages at each rendering resolution, against a baseline of the same run.

Two kinds of page:
- scans: FUNSD page images (../shared/data/funsd) wrapped into PDFs as a scanner would (the image
  at 72, 100 or 200 pixels per inch of paper); the baseline is OCR of the PNG itself, and the
  score is the share of the PNG's words (as a multiset) that OCR of the rendered PDF page finds;
- born-digital: pages of ../shared/data/pdfs; the baseline is the PDF's own text layer.

Rendered at fixed resolutions and at ``dpi="auto"`` (`layoutlmv2.preprocessing.pages`); for scans also
the PDF's embedded image itself (the best any rendering can do: the PDF writer JPEG-compresses it).

    python benchmarks/pdf_dpi.py --pages 5     # ~6 min on 2 cores; writes benchmarks/results/pdf_dpi.{json,md}
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from collections import Counter
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402,F401  (sets sys.path for src/)

from layoutlmv2.preprocessing.ocr import apply_tesseract  # noqa: E402
from layoutlmv2.preprocessing.pages import iter_pages  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data"
FIXED = (100, 150, 170, 200, 300)
PAPER_RESOLUTIONS = (72, 100, 200)
BORN_DIGITAL = ("pdfplumber/150109DSP-Milw-505-90D.pdf", "pdfplumber/issue-912.pdf", "pypdf/SF424_page2.pdf")


def ocr_words(image: Image.Image) -> Counter:
    words, _ = apply_tesseract(image, None, "")
    return Counter(w for w in words if w.strip())


def recall(found: Counter, reference: Counter) -> float:
    return sum((found & reference).values()) / max(1, sum(reference.values()))


def first_page(pdf_path_or_bytes, dpi) -> Image.Image:
    return next(iter(iter_pages(pdf_path_or_bytes, dpi)))


def embedded_image(pdf_path: Path) -> Image.Image:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument(str(pdf_path))
    image = next(pdf[0].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])).get_bitmap(render=False).to_pil()
    return image.convert("RGB")


def scans(count: int, tmp: Path) -> list[dict]:
    rows = []
    for png in sorted((DATA / "funsd" / "testing_data" / "images").glob("*.png"))[:count]:
        image = Image.open(png).convert("RGB")
        reference = ocr_words(image)
        for paper in PAPER_RESOLUTIONS:
            pdf = tmp / f"{png.stem}-{paper}.pdf"
            image.save(pdf, "PDF", resolution=paper)
            embedded = embedded_image(pdf)  # the PDF's own pixels (JPEG-compressed by the writer, as scanners do)
            rows.append(dict(kind="scan", page=png.stem, paper_ppi=paper, dpi="embedded image", size=list(embedded.size),
                             baseline_words=sum(reference.values()),
                             recall=round(recall(ocr_words(embedded), reference), 4)))
            for dpi in (*FIXED, "auto"):
                page = first_page(pdf, dpi)
                rows.append(dict(kind="scan", page=png.stem, paper_ppi=paper, dpi=dpi, size=list(page.size),
                                 baseline_words=sum(reference.values()),
                                 recall=round(recall(ocr_words(page), reference), 4)))
                print(rows[-1], flush=True)
    return rows


def born_digital() -> list[dict]:
    import pypdfium2 as pdfium

    rows = []
    for name in BORN_DIGITAL:
        path = DATA / "pdfs" / name
        pdf = pdfium.PdfDocument(str(path))
        reference = Counter(w for w in re.split(r"\s+", pdf[0].get_textpage().get_text_range()) if w)
        pdf.close()
        for dpi in (*FIXED, "auto"):
            page = first_page(path, dpi)
            rows.append(dict(kind="born-digital", page=name, dpi=dpi, size=list(page.size),
                             baseline_words=sum(reference.values()),
                             recall=round(recall(ocr_words(page), reference), 4)))
            print(rows[-1], flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| pages | dpi | mean recall of the baseline's words | ratio to auto |", "|---|---|---|---|"]
    for kind in ("scan", "born-digital"):
        mine = [r for r in rows if r["kind"] == kind]
        by_dpi = {}
        for r in mine:
            by_dpi.setdefault(str(r["dpi"]), []).append(r["recall"])
        auto = sum(by_dpi["auto"]) / len(by_dpi["auto"])
        for dpi, values in by_dpi.items():
            mean = sum(values) / len(values)
            lines.append(f"| {kind} ({len(values)}) | {dpi} | {mean:.3f} | {mean / auto:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=5, help="FUNSD pages wrapped into PDFs")
    parser.add_argument("--out", default=str(HERE / "results" / "pdf_dpi"))
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rows = scans(args.pages, Path(tmp)) + born_digital()
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    text = ("# Tesseract word recall on PDF pages by rendering resolution\n\n"
            "Scans: FUNSD PNGs saved as PDFs (72/100/200 ppi of paper); baseline = OCR of the PNG. "
            "Born-digital: ../shared/data/pdfs; baseline = the PDF's text layer. Command: "
            f"`python benchmarks/pdf_dpi.py --pages {args.pages}`.\n\n" + table(rows) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
