"""``layoutlmv2`` command: train, evaluate and predict. Argument parsing only; the work is in the library.

    layoutlmv2 train --task token-classification --dataset funsd --data-dir DATA/funsd \\
        --init-text-from MINILM_DIR --output runs/funsd --epochs 12
    layoutlmv2 pretrain --pages PAGES_DIR --init-text-from MINILM_DIR --output runs/pt
    layoutlmv2 evaluate --model runs/funsd/best --dataset funsd --data-dir DATA/funsd --split test
    layoutlmv2 predict --model runs/funsd/best page.png scan.pdf --draw --output out/

Exit status: 0 on success, 1 on a bad input (one line per problem on stderr, naming the file;
``predict`` writes the results of the good files first), 2 on a usage error,
130 when interrupted with Ctrl-C (complete checkpoints are kept; rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from .. import registry
from ..errors import LayoutLMv2Error
from ..preprocessing.ocr_engines import ENGINES as OCR_ENGINES

TASK_CHOICES = registry.FINETUNING_TASKS
DATASET_CHOICES = list(registry.DATASETS)


OCR_CACHE_HELP = ("folder of cached Tesseract words for data sets of page images only (rvl-cdip, docvqa without "
                  "OCR files); default $LAYOUTLMV2_OCR_CACHE or ~/.cache/layoutlmv2/ocr")


def _optimizer_flags(p) -> None:
    """Epochs, batch size, learning rates and the other optimizer settings (train and pretrain)."""
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=5e-5, help="learning rate of pre-trained weights")
    p.add_argument("--new-lr-scale", type=float, default=1.0,
                   help="learning-rate multiplier for weights that start from scratch (layout, visual, head)")
    p.add_argument("--bias-lr-scale", type=float, default=1.0,
                   help="extra learning-rate factor for fresh relative-position bias tables")
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (0: off)")


def _train_parser(sub) -> None:
    p = sub.add_parser("train", help="fine-tune on a data set's train split, evaluating every epoch",
                       description="Fine-tune a LayoutLMv2 task head. The best model (by entity F1, accuracy "
                                   "or ANLS on --eval-split) is saved in OUTPUT/best.")
    p.add_argument("--task", required=True, choices=TASK_CHOICES)
    p.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    p.add_argument("--data-dir", required=True, help="the data set root (forms-vs-receipts: a folder with funsd/ and sroie/)")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument("--model", help="a LayoutLMv2 model folder to continue from")
    start.add_argument("--init-text-from", help="a BERT-family folder (config.json + weights + vocab.txt) for the text stream")
    p.add_argument("--output", required=True, help="run folder: checkpoints, best/, metrics.jsonl, curves.png")
    _optimizer_flags(p)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (the same as --precision bf16)")
    _device_flags(p)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--stride", type=int, default=128, help="tokens shared by consecutive windows of a long page")
    depth = p.add_mutually_exclusive_group()
    depth.add_argument("--backbone-depth", type=int, choices=[50, 101], default=50,
                       help="ResNeXt depth of a new visual backbone (50: 32x4d, the smallest; 101: the paper's 32x8d)")
    depth.add_argument("--small-backbone", action="store_const", dest="backbone_depth", const=50,
                       help="same as --backbone-depth 50")
    p.add_argument("--visual-mode", choices=["train", "frozen", "zero"], default="train",
                   help="train the visual backbone, freeze it, or zero its contribution (no pre-trained weights offline)")
    p.add_argument("--image-size", type=int, default=224, help="page size fed to the backbone")
    p.add_argument("--layout-init", choices=["sinusoidal", "random"], default="sinusoidal",
                   help="start of the x/y/h/w tables with --init-text-from")
    p.add_argument("--layout-scale", type=float, default=1.0,
                   help="sinusoidal tables at this fraction of the word embeddings' std (0.3 keeps the "
                        "text stream close to the text checkpoint's)")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--relation-geometry", action="store_true",
                   help="relation extraction: also score each (key, value) pair from the two boxes "
                        "(config.relation_pair_geometry; see LayoutLMv2ForRelationExtraction)")
    p.add_argument("--save-steps", type=int, default=0, help="also checkpoint every N optimizer steps")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output")
    p.add_argument("--eval-split", default="test", help="split evaluated each epoch ('none' to skip)")
    p.add_argument("--limit", type=int, help="use only the first N documents of each split")
    p.add_argument("--lang", help=LANG_HELP)
    p.add_argument("--ocr-cache", metavar="DIR", help=OCR_CACHE_HELP)
    p.add_argument("--num-layers", type=int, help="keep only the first N text layers (quick runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--group-by-length", action="store_true",
                   help="batches of windows of similar length: less padding, a faster epoch")
    p.add_argument("--dataloader-workers", type=int, default=0,
                   help="processes that collate the next batches while the model trains (0: in the training process)")
    p.add_argument("--sync-batch-norm", action="store_true",
                   help="under torchrun on GPUs: train the visual batch norms as SyncBatchNorm across the processes")


def _pretrain_parser(sub) -> None:
    p = sub.add_parser("pretrain", help="pre-train (MVLM, TIA, TIM) on a folder of unlabelled pages",
                       description="Pre-train LayoutLMv2 with masked visual-language modelling, text-image "
                                   "alignment and text-image matching on page images and PDFs (OCR'd once, "
                                   "cached). OUTPUT/best loads into every task head: layoutlmv2 train --model "
                                   "OUTPUT/best.")
    p.add_argument("--pages", required=True, help="a folder of page images and PDFs (subfolders too)")
    p.add_argument("--eval-pages", help="a folder of held-out pages (default: the last --eval-share of --pages)")
    p.add_argument("--eval-share", type=float, default=0.1, help="share of --pages held out for the scores")
    start = p.add_mutually_exclusive_group(required=True)
    start.add_argument("--model", help="a LayoutLMv2 model folder to continue from (any head, or a pretrain run)")
    start.add_argument("--init-text-from", help="a BERT-family folder (config.json + weights + vocab.txt)")
    p.add_argument("--output", required=True, help="run folder: checkpoints, best/, metrics.jsonl, ocr-cache/")
    p.add_argument("--cache-dir", help="where the OCR results are cached (default: OUTPUT/ocr-cache)")
    p.add_argument("--ocr", default="tesseract", choices=sorted(OCR_ENGINES))
    p.add_argument("--ocr-lang", help="Tesseract language(s), e.g. deu or eng+deu")
    _optimizer_flags(p)
    p.add_argument("--max-steps", type=int, default=0, help="stop after N optimizer steps (0: all epochs)")
    _device_flags(p)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--backbone-depth", type=int, choices=[50, 101], default=50)
    p.add_argument("--visual-mode", choices=["train", "frozen", "zero"], default="train")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--layout-init", choices=["sinusoidal", "random"], default="sinusoidal")
    p.add_argument("--num-layers", type=int, help="keep only the first N text layers (quick runs)")
    for name in ("mvlm", "tia", "tim"):
        p.add_argument(f"--{name}-weight", type=float, default=1.0, help=f"weight of the {name.upper()} loss")
    p.add_argument("--mvlm-probability", type=float, default=0.15, help="share of text tokens masked")
    p.add_argument("--tia-line-probability", type=float, default=0.15, help="share of text lines covered")
    p.add_argument("--tim-replace-probability", type=float, default=0.15, help="share of samples given another page")
    p.add_argument("--tim-drop-probability", type=float, default=0.05, help="share of samples given a blank page")
    p.add_argument("--save-steps", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --output")
    p.add_argument("--no-progress", action="store_true")


def _device_flags(p) -> None:
    """--device, --precision and --compile (train, evaluate and predict): `layoutlmv2.deployment.devices`."""
    p.add_argument("--device", default="auto",
                   help="auto (CUDA if available, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="autocast precision (auto: fp32 on CPU/MPS; bf16 on CUDA, fp16 + GradScaler where the GPU "
                        "lacks bf16); fp16 is refused on the CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (off by default)")


def _precision(args) -> str:
    """--precision, with --bf16 as its alias for bf16."""
    if getattr(args, "bf16", False):
        if args.precision not in ("auto", "bf16"):
            raise ValueError(f"--bf16 is --precision bf16, but --precision {args.precision} was also given")
        return "bf16"
    return args.precision


LANG_HELP = "language of a multilingual data set (xfund: de, es, fr, it, ja, pt, zh; default de)"
ONNX_HELP = ("run this file (layoutlmv2-export of --model) in ONNX Runtime instead of PyTorch; "
             "--model still gives the config and the processor")
WORKERS_HELP = ("workers that share the cores, each on its own batches (2 on 2 cores: ~1.15x one); "
                "processes, or threads on one session with --onnx")


def _evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="score a fine-tuned model on a data set split")
    p.add_argument("--model", required=True)
    p.add_argument("--dataset", required=True, choices=DATASET_CHOICES)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--lang", help=LANG_HELP)
    p.add_argument("--ocr-cache", metavar="DIR", help=OCR_CACHE_HELP)
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (the same as --precision bf16)")
    _device_flags(p)
    p.add_argument("--workers", type=int, default=1, help=WORKERS_HELP)
    p.add_argument("--onnx", metavar="FILE", help=ONNX_HELP)
    p.add_argument("--output", help="also write the scores to this JSON file")
    p.add_argument("--entities-from", metavar="MODEL",
                   help="relation extraction end to end: entities from this token-classification model instead of "
                        "the annotation (pairs right when both entities' words are a linked gold pair)")


def _predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="label page images or PDFs with a fine-tuned model",
                       description="Predict on PNG/JPEG/TIFF pages and PDFs (every page), or folders of them. "
                                   "Words come from OCR (--ocr) unless --words-json gives them. Each page's "
                                   "result is written as soon as it is ready; files that fail are listed at "
                                   "the end (exit status 1).")
    p.add_argument("--model", required=True)
    p.add_argument("files", nargs="+", metavar="FILE", help="page files or folders of them")
    p.add_argument("--recursive", action="store_true", help="also the files in the folders' subfolders")
    p.add_argument("--words-json", help='{"words": [...], "boxes": [[x0, y0, x1, y1], ...]} in page pixels '
                                        '(or "box_units": "0-1000"); {"pages": [...]} for several pages')
    p.add_argument("--ocr", default="tesseract", choices=sorted(OCR_ENGINES),
                   help="OCR engine for pages without --words-json (rapidocr: pip install 'layoutlmv2[rapidocr]')")
    p.add_argument("--ocr-lang", help="Tesseract language(s), e.g. deu or eng+deu (default: the model folder's)")
    p.add_argument("--question", help="the question (question-answering models)")
    p.add_argument("--entities-from", metavar="MODEL",
                   help="relation-extraction models: the token-classification model folder that finds the entities "
                        "(the output gets key -> value pairs)")
    p.add_argument("--top-k", type=int, default=1, help="answers per page (question answering)")
    p.add_argument("--handle-impossible-answer", action="store_true",
                   help="let the empty answer compete (question answering)")
    p.add_argument("--draw", action="store_true", help="also write each page with coloured labelled boxes (PNG)")
    p.add_argument("--output", help="a folder for <file>-p<page>.json (and .png), or a .jsonl file (one line per "
                                    "page, failures too); default: JSON lines on stdout")
    p.add_argument("--resume", action="store_true", help="skip the files whose pages --output already holds")
    p.add_argument("--dpi", default="auto",
                   help="PDF rendering resolution: auto (a scan at its own resolution, other pages at 300) or a number")
    p.add_argument("--max-length", type=int, default=512)
    p.add_argument("--stride", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=4, help="windows per forward (of similar length)")
    _device_flags(p)
    p.add_argument("--workers", type=int, default=1, help=WORKERS_HELP)
    p.add_argument("--onnx", metavar="FILE", help=ONNX_HELP)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (default: when stderr is a terminal)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layoutlmv2", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--threads", type=int, help="torch CPU threads (on a busy shared CPU, 1 can be faster)")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _pretrain_parser(sub)
    _evaluate_parser(sub)
    _predict_parser(sub)
    return parser


def _train(args) -> int:
    from ..training.recipe import finetune

    summary = finetune(  # under torchrun every process runs this; rank 0 evaluates and writes
        args.task, args.dataset, args.data_dir, args.output, init_text_from=args.init_text_from,
        model_dir=args.model, eval_split=None if args.eval_split.lower() == "none" else args.eval_split,
        max_length=args.max_length, stride=args.stride, image_size=args.image_size, visual_mode=args.visual_mode,
        backbone_depth=args.backbone_depth, layout_init=args.layout_init, layout_scale=args.layout_scale,
        label_smoothing=args.label_smoothing,
        num_layers=args.num_layers, limit=args.limit, lang=args.lang, resume=args.resume,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, new_lr_scale=args.new_lr_scale,
        bias_lr_scale=args.bias_lr_scale,
        warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay, grad_accum=args.grad_accum,
        max_grad_norm=args.max_grad_norm, precision=_precision(args), device=args.device, compile=args.compile,
        seed=args.seed, save_steps=args.save_steps, ocr_cache=args.ocr_cache,
        progress=not args.no_progress, sync_batch_norm=args.sync_batch_norm,
        dataloader_workers=args.dataloader_workers, group_by_length=args.group_by_length,
        config_overrides={"relation_pair_geometry": True} if args.relation_geometry else None,
    )
    print(json.dumps(summary, indent=2))
    return 0


def _pretrain(args) -> int:
    from ..training.pretraining import pretrain

    summary = pretrain(
        args.pages, args.output, init_text_from=args.init_text_from, model_dir=args.model,
        eval_pages_dir=args.eval_pages, eval_share=args.eval_share, cache_dir=args.cache_dir, ocr=args.ocr,
        ocr_lang=args.ocr_lang, max_length=args.max_length, stride=args.stride, image_size=args.image_size,
        backbone_depth=args.backbone_depth, layout_init=args.layout_init, num_layers=args.num_layers,
        visual_mode=args.visual_mode, resume=args.resume,
        loss_weights={"mvlm": args.mvlm_weight, "tia": args.tia_weight, "tim": args.tim_weight},
        masking={"mvlm_probability": args.mvlm_probability, "tia_line_probability": args.tia_line_probability,
                 "tim_replace_probability": args.tim_replace_probability,
                 "tim_drop_probability": args.tim_drop_probability},
        epochs=args.epochs, max_steps=args.max_steps, batch_size=args.batch_size, lr=args.lr,
        new_lr_scale=args.new_lr_scale, bias_lr_scale=args.bias_lr_scale, warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay, grad_accum=args.grad_accum, max_grad_norm=args.max_grad_norm,
        precision=args.precision, device=args.device, compile=args.compile, seed=args.seed,
        save_steps=args.save_steps, progress=not args.no_progress,
    )
    print(json.dumps(summary, indent=2))
    return 0


def _evaluate(args) -> int:
    from ..inference.evaluate import evaluate_model

    scores = evaluate_model(args.model, args.dataset, args.data_dir, args.split, args.max_length, args.stride,
                            args.batch_size, args.limit, workers=args.workers, onnx=args.onnx, device=args.device,
                            precision=_precision(args), compile=args.compile, entities_from=args.entities_from,
                            lang=args.lang, ocr_cache=args.ocr_cache)
    text = json.dumps(scores, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _predict(args) -> int:
    """Each page's result is written (or printed) as soon as it is ready; failed files are listed at the end."""
    from ..inference.output_files import JsonLinesOutput, make_output_folder, output_stems
    from ..inference.pipeline import pipeline
    from ..inference.streaming import expand_paths
    from ..preprocessing.pages import page_count

    if args.draw and not (args.output and not args.output.endswith(".jsonl")):
        raise LayoutLMv2Error("--draw needs --output FOLDER (for the PNG files)")
    if args.resume and not args.output:
        raise LayoutLMv2Error("--resume needs --output (a folder or a .jsonl file to continue)")
    files = expand_paths(args.files, args.recursive)
    if not files:
        raise LayoutLMv2Error(f"no page files (images or PDFs) in {', '.join(args.files)}")
    jsonl = JsonLinesOutput(args.output, args.resume) if args.output and args.output.endswith(".jsonl") else None
    out = make_output_folder(args.output) if args.output and jsonl is None else None
    stems = output_stems(files)
    if args.resume:
        before = len(files)
        files = [f for f in files if not (jsonl.has(f, page_count(f)) if jsonl else
                                          _pages_written(out, stems, f, page_count(f)))]
        print(f"layoutlmv2 predict: --resume: {before - len(files)} of {before} file(s) already done", file=sys.stderr)
    pipe = pipeline(model=args.model, ocr=args.ocr, ocr_lang=args.ocr_lang, device=args.device, onnx=args.onnx,
                    precision=_precision(args), max_length=args.max_length, doc_stride=args.stride,
                    batch_size=args.batch_size, top_k=args.top_k, handle_impossible_answer=args.handle_impossible_answer,
                    dpi=_dpi(args.dpi), workers=args.workers, compile=args.compile, entities_from=args.entities_from,
                    progress=sys.stderr.isatty() if args.progress is None else args.progress)
    failures, written = [], 0
    try:
        for result in pipe.results(files, args.question, args.words_json):
            if result.error is not None:
                failures.append(result.error)
                if jsonl is not None:
                    jsonl.write({"file": result.file, "page": result.page, "error": result.error})
                continue
            written += 1
            _write_page(result, out, jsonl, stems, args.draw, pipe.predictor.task.labels)
    finally:
        if jsonl is not None:
            jsonl.close()
    for failure in failures:
        print(f"layoutlmv2 predict: error: {failure}", file=sys.stderr)
    if failures and len(files) > 1:
        print(f"layoutlmv2 predict: {written} page(s) written; {len(failures)} of {len(files)} file(s) failed",
              file=sys.stderr)
    return 1 if failures else 0


def _pages_written(out, stems, file, pages) -> bool:
    from ..inference.output_files import pages_done

    return pages_done(out, stems, file, pages)


def _write_page(result, out, jsonl, stems, draw: bool, labels) -> None:
    """One page's record: a JSON file in ``out`` (+ PNG with ``draw``), a line of ``jsonl``, or stdout."""
    from ..inference.output_files import write_atomically
    from ..inference.predictor import draw_prediction

    if jsonl is not None:
        jsonl.write(result.record)
        return
    if out is None:
        print(json.dumps(result.record), flush=True)
        return
    stem = f"{stems[result.file]}-p{result.page}"
    write_atomically(out / f"{stem}.json", json.dumps(result.record, indent=2) + "\n")
    if draw:
        write_atomically(out / f"{stem}.png", draw_prediction(result.image, result.record, labels))
    print(out / f"{stem}.json", flush=True)


def _dpi(value: str):
    """--dpi: 'auto' or a number."""
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise LayoutLMv2Error(f"--dpi must be 'auto' or a number, got {value!r}") from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    command = {"train": _train, "pretrain": _pretrain, "evaluate": _evaluate, "predict": _predict}[args.command]
    try:
        return command(args)
    except KeyboardInterrupt:
        print("interrupted: complete checkpoints are kept (rerun with --resume)", file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError) as error:  # LayoutLMv2Error, a missing file, no Tesseract, ...
        print(f"layoutlmv2 {args.command}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except Exception as error:  # a bug of ours: still one line, the traceback with -v
        if args.verbose:
            logging.getLogger(__name__).exception("unexpected error")
        print(f"layoutlmv2 {args.command}: internal error: {type(error).__name__}: {_one_line(error)} "
              f"(rerun with -v for the traceback, and please report it)", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
