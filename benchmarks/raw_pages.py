"""From raw page images to labelled words: the whole road (OCR, preprocessing, model), in pages/s
and peak memory, against the transformers recipe measured in the same run.

- baseline: transformers' `LayoutLMv2Processor` with ``apply_ocr=True`` (Tesseract through its
  image processor; test-only dependency, no detectron2 needed) feeding our full-size model the
  reference's way: one page at a time, padded to 512 tokens, eager attention, ``torch.no_grad``;
- ours: `layoutlmv2.pipeline("token-classification")`: OCR on a thread pool ahead of the model,
  length-sorted batches without padding, SDPA (``--onnx FILE [FILE ...]`` adds a row of ONNX Runtime
  per exported file of the cached model folder, e.g. fp32 and int8 from `layoutlmv2-export`);
- memory over a long PDF: RSS after each page of the 16-page PDF of ../shared/data/pdfs, streamed.

Each variant runs in its own process, so its peak RSS (VmHWM) is its own. The model is the
full-size base (ResNeXt-101 32x8d + 12 x 768) with the seeded weights (a random token head):
the words must be identical and the word labels equal to the baseline's; F1 needs a fine-tuned
model and is measured elsewhere.

    python benchmarks/raw_pages.py --pages 50      # writes benchmarks/results/raw_pages.{json,md}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import CACHE, SHARED, full_size_model, load_average, machine, peak_rss, reset_peak_rss  # noqa: E402

import torch  # noqa: E402

LONG_PDF = SHARED / "pdfs" / "pdfplumber" / "ca-warn-report.pdf"
FUNSD_LABELS_7 = ["O", "B-HEADER", "I-HEADER", "B-QUESTION", "I-QUESTION", "B-ANSWER", "I-ANSWER"]


def model_folder() -> Path:
    """The full-size token-classification model + a processor with OCR, saved once in the cache."""
    from layoutlmv2 import LayoutLMv2ImageProcessor, LayoutLMv2Processor, LayoutLMv2TokenizerFast

    folder = CACHE / "raw_pages_token"
    if not (folder / "config.json").is_file():
        model = full_size_model("LayoutLMv2ForTokenClassification")
        model.config.finetuning_task = "token-classification"
        model.config.id2label = dict(enumerate(FUNSD_LABELS_7))
        model.config.label2id = {label: i for i, label in enumerate(FUNSD_LABELS_7)}
        model.save_pretrained(folder)
        tokenizer = LayoutLMv2TokenizerFast(vocab_file=str(SHARED / "tokenizers" / "bert-base-uncased" / "vocab.txt"))
        LayoutLMv2Processor(LayoutLMv2ImageProcessor(apply_ocr=True), tokenizer).save_pretrained(folder)
    return folder


def funsd_pages(pages: int) -> list[str]:
    return [str(p) for p in sorted((SHARED / "funsd" / "testing_data" / "images").glob("*.png"))[:pages]]


def first_piece_labels(word_ids, logits) -> list[int]:
    """The label of each word from its first token (what the pipeline reports per word)."""
    labels, seen = [], set()
    for position, word in enumerate(word_ids):
        if word is not None and word not in seen:
            seen.add(word)
            labels.append(int(logits[position].argmax()))
    return labels


def run_baseline(files: list[str]) -> dict:
    import transformers
    from PIL import Image

    from layoutlmv2 import LayoutLMv2ForTokenClassification

    folder = model_folder()
    from preprocessing_data import reference_tokenizer  # from_pretrained: transformers 5 ignores vocab_file=

    tokenizer = reference_tokenizer(SHARED / "tokenizers" / "bert-base-uncased" / "vocab.txt", CACHE / "reference_tokenizer")
    processor = transformers.LayoutLMv2Processor(transformers.LayoutLMv2ImageProcessor(apply_ocr=True), tokenizer)
    model = LayoutLMv2ForTokenClassification.from_pretrained(folder).eval()
    model.set_attn_implementation("eager")
    model.layoutlmv2.encoder.fold_padding_mask = False
    reset_peak_rss()
    pages = []
    start = time.perf_counter()
    with torch.no_grad():
        for file in files:
            image = Image.open(file).convert("RGB")
            encoding = processor(image, return_tensors="pt", truncation=True, padding="max_length", max_length=512)
            logits = model(**{k: v for k, v in encoding.items() if k != "offset_mapping"}).logits[0]
            pages.append({"labels": first_piece_labels(encoding.word_ids(0), logits)})
    seconds = time.perf_counter() - start
    # the words the baseline read, outside the timing (its OCR again, to compare with ours)
    for page, file in zip(pages, files):
        page["words"] = processor.image_processor(Image.open(file).convert("RGB"))["words"][0]
    return {"seconds": seconds, "peak_rss_mb": peak_rss() / 2 ** 20, "pages": pages}


def run_ours(files: list[str], onnx: str | None = None, batch_size: int = 4) -> dict:
    import layoutlmv2

    folder = model_folder()
    pipe = layoutlmv2.pipeline("token-classification", model=folder, onnx=onnx, batch_size=batch_size,
                               max_length=512, doc_stride=128)
    label2id = {label: i for i, label in enumerate(FUNSD_LABELS_7)}
    reset_peak_rss()
    start = time.perf_counter()
    pages = [{"words": r["words"], "labels": [label2id[label] for label in r["labels"]]} for r in pipe.stream(files)]
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss() / 2 ** 20, "pages": pages}


def run_long_pdf(onnx: str | None = None) -> dict:
    """RSS after each page of the 16-page PDF, streamed through the pipeline."""
    import layoutlmv2
    from common import _status

    pipe = layoutlmv2.pipeline("token-classification", model=model_folder(), batch_size=4, onnx=onnx)
    rss = []
    start = time.perf_counter()
    for _ in pipe.stream([str(LONG_PDF)]):
        rss.append(round(_status("VmRSS") / 2 ** 20))
    return {"seconds": time.perf_counter() - start, "rss_mb_per_page": rss, "peak_rss_mb": peak_rss() / 2 ** 20}


def child(variant: str, pages: int, onnx: str | None) -> None:
    torch.set_num_threads(torch.get_num_threads())
    files = funsd_pages(pages)
    result = {"baseline": lambda: run_baseline(files), "ours": lambda: run_ours(files, onnx),
              "long-pdf": lambda: run_long_pdf(onnx)}[variant]()
    print("RESULT " + json.dumps(result))


def in_process(variant: str, pages: int, onnx: str | None) -> dict:
    command = [sys.executable, __file__, "--child", variant, "--pages", str(pages)] + (["--onnx", onnx] if onnx else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def compare(ours: dict, baseline: dict) -> dict:
    same_words = sum(o["words"] == b["words"] for o, b in zip(ours["pages"], baseline["pages"]))
    labels = [(o, b) for op, bp in zip(ours["pages"], baseline["pages"]) if op["words"] == bp["words"]
              for o, b in zip(op["labels"], bp["labels"])]
    return {"pages_with_identical_words": same_words, "pages": len(baseline["pages"]),
            "word_label_agreement": round(sum(o == b for o, b in labels) / max(1, len(labels)), 5)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--onnx", nargs="+", default=[],
                        help="exported ONNX files of the cached model folder (a row each, and a long-PDF run each)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(HERE / "results" / "raw_pages"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.pages, args.onnx[0] if args.onnx else None)
        return
    model_folder()  # built once, outside every timing
    load_before = load_average()
    baseline = in_process("baseline", args.pages, None)
    rows = {"ours": in_process("ours", args.pages, None)}
    for onnx in args.onnx:
        rows[f"ours, ONNX Runtime ({Path(onnx).name})"] = in_process("ours", args.pages, onnx)
    long_pdf = {"pytorch": in_process("long-pdf", args.pages, None)}
    for onnx in args.onnx:
        long_pdf[Path(onnx).name] = in_process("long-pdf", args.pages, onnx)
    table = [{"variant": "baseline (transformers processor + eager, one padded page at a time)",
              "pages_per_s": args.pages / baseline["seconds"], "speedup": 1.0, "peak_rss_mb": baseline["peak_rss_mb"]}]
    for name, row in rows.items():
        table.append({"variant": name, "pages_per_s": args.pages / row["seconds"],
                      "speedup": baseline["seconds"] / row["seconds"], "peak_rss_mb": row["peak_rss_mb"],
                      **compare(row, baseline)})
    result = {"machine": machine(), "load_average_before": load_before, "load_average_after": load_average(),
              "pages": args.pages, "rows": table, "long_pdf": {"file": LONG_PDF.name, "runs": long_pdf}}
    Path(args.output + ".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| variant | pages/s | speed-up | peak RSS (MB) | identical OCR words | word labels equal |",
             "|---|---|---|---|---|---|"]
    for row in table:
        words = f"{row['pages_with_identical_words']}/{row['pages']}" if "pages" in row else "-"
        agree = f"{row['word_label_agreement']:.4f}" if "word_label_agreement" in row else "-"
        lines.append(f"| {row['variant']} | {row['pages_per_s']:.3f} | {row['speedup']:.2f}x | "
                     f"{row['peak_rss_mb']:.0f} | {words} | {agree} |")
    for name, run in long_pdf.items():
        rss = run["rss_mb_per_page"]
        lines.append(f"\nLong PDF ({LONG_PDF.name}, {len(rss)} pages, {name}): RSS after each page {rss} MB "
                     f"(peak {run['peak_rss_mb']:.0f} MB).")
    Path(args.output + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
