"""Preprocessing speed, measured side by side in one run.

* OCR pages/s on FUNSD pages: our image processor with 1 worker vs all cores (and transformers'
  image processor, which OCRs one page after another with Tesseract's own threading);
* encodings/s of our fast tokenizer vs transformers' fast tokenizer on every FUNSD document
  (words, boxes and labels, truncation + padding to 512), plus our pure-Python tokenizer.

Usage: ``PYTHONPATH=src python benchmarks/bench_preprocessing.py [--pages 20] [--repeat 3]``.
Needs ../shared/data (FUNSD and the bert-base-uncased vocab) and, for the comparison, transformers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from preprocessing_data import funsd_documents, reference_tokenizer  # noqa: E402

from layoutlmv2 import LayoutLMv2ImageProcessor, LayoutLMv2Tokenizer, LayoutLMv2TokenizerFast  # noqa: E402

SHARED = Path(os.environ.get("LAYOUTLMV2_SHARED", ROOT.parent / "shared")) / "data"


def best_of(repeat: int, function) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_ocr(pages: int, repeat: int, reference_repeat: int = 1) -> dict:
    """Pages/s with 1 worker and with all cores (best of `repeat`), and transformers' processor.

    A worker that finishes its last page early idles while the other finishes its own, so the
    suite measures the speed-up over 20 pages (4 with --quick): a tenth of a second of tail
    against ten seconds of OCR, rather than a handful. transformers OCRs at about a sixth of our
    one-worker rate: it is timed `reference_repeat` times only.
    """
    from PIL import Image

    docs = funsd_documents(SHARED / "funsd")
    images = [Image.open(d["image"]) for d in docs[:pages]]
    for image in images:
        image.load()
    cores = os.cpu_count() or 1
    result = {"pages": len(images), "cores": cores}
    for workers in sorted({1, cores}):
        processor = LayoutLMv2ImageProcessor(num_workers=workers)
        name = f"ours_{workers}_worker{'s' if workers > 1 else ''}"
        result[f"{name}_pages_per_s"] = len(images) / best_of(repeat, lambda: processor(images))
    try:
        import transformers

        reference = transformers.LayoutLMv2ImageProcessorPil()
        rgb = [image.convert("RGB") for image in images]
        result["transformers_pages_per_s"] = len(images) / best_of(reference_repeat, lambda: reference(rgb))
    except ImportError:
        pass
    return result


def bench_tokenizer(repeat: int) -> dict:
    docs = funsd_documents(SHARED / "funsd")
    words = [d["words"] for d in docs]
    boxes = [d["boxes"] for d in docs]
    labels = [d["labels"] for d in docs]
    vocab = SHARED / "tokenizers" / "bert-base-uncased" / "vocab.txt"
    kwargs = dict(boxes=boxes, word_labels=labels, truncation=True, padding="max_length", max_length=512)
    tokenizers = {"ours_fast": LayoutLMv2TokenizerFast(vocab_file=str(vocab)),
                  "ours_slow": LayoutLMv2Tokenizer(vocab_file=str(vocab))}
    with tempfile.TemporaryDirectory() as folder:  # the reference tokenizer is loaded from saved files
        try:
            tokenizers["transformers_fast"] = reference_tokenizer(vocab, Path(folder) / "reference")
        except ImportError:
            pass
    result = {"documents": len(docs), "words": sum(len(w) for w in words)}
    cold = LayoutLMv2Tokenizer(vocab_file=str(vocab))  # its word cache starts empty
    start = time.perf_counter()
    cold(words, **kwargs)
    result["ours_slow_first_pass_encodings_per_s"] = len(docs) / (time.perf_counter() - start)
    for name, tokenizer in tokenizers.items():
        tokenizer(words[:2], **{k: v[:2] if isinstance(v, list) else v for k, v in kwargs.items()})  # warm up
        result[f"{name}_batch_encodings_per_s"] = len(docs) / best_of(repeat, lambda: tokenizer(words, **kwargs))
        one_by_one = lambda: [tokenizer(w, boxes=b, word_labels=l, truncation=True, padding="max_length")  # noqa: E731
                              for w, b, l in zip(words, boxes, labels)]
        result[f"{name}_single_encodings_per_s"] = len(docs) / best_of(repeat, one_by_one)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="FUNSD pages to OCR")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best is kept)")
    parser.add_argument("--skip-ocr", action="store_true")
    args = parser.parse_args()
    results = {"tokenizer": bench_tokenizer(args.repeat)}
    if not args.skip_ocr:
        results["ocr"] = bench_ocr(args.pages, args.repeat)
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
