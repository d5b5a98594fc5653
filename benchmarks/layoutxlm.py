"""LayoutXLM on XFUND-de: a SentencePiece vocabulary trained here, a small model from scratch,
SER (BIO over header/question/answer) through ``layoutlmv2 train``, and tokenizer speed.

No multilingual pre-trained text model is available offline, so the text stream starts from
random weights: the F1 measures the pipeline (tokenizer, windows, training, entity decoding), not
LayoutXLM's pre-training (the paper's LayoutXLM-base reaches about 0.8 on XFUND-de).

    OMP_NUM_THREADS=1 python benchmarks/layoutxlm.py --work-dir /tmp/layoutxlm \\
        --data-dir ../shared/data/xfund --funsd-dir ../shared/data/funsd --epochs 12

Steps: (1) train a 8,000-piece SentencePiece Unigram model on the XFUND-de *train* words (+ FUNSD
training words), XLM-R's settings; (2) a LayoutXLM-shaped token-classification folder (514
positions, one token type, <pad>=1, the vocabulary's size, 4 layers x 256) with the LayoutXLM
processor saved beside it; (3) ``layoutlmv2 train --model FOLDER --dataset xfund --lang de``
(visual stream zeroed, as the pages are blank: XFUND's images are not in ../shared);
(4) our fast tokenizer vs transformers' on the 199 XFUND-de pages (encodings per second, one run).
Results: benchmarks/results/layoutxlm.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the SentencePiece training helper the tests use

from sentencepiece_models import train_unigram, xfund_documents  # noqa: E402


def training_lines(xfund_dir: Path, funsd_dir: Path) -> list[str]:
    """XFUND-de train forms and FUNSD training forms, one line each (no val/test text)."""
    lines = []
    for document in json.loads((xfund_dir / "de.train.json").read_text(encoding="utf-8"))["documents"]:
        lines.append(" ".join(w["text"] for entity in document["document"] for w in entity["words"]))
    for path in sorted((funsd_dir / "training_data" / "annotations").glob("*.json")):
        form = json.loads(path.read_text(encoding="utf-8"))["form"]
        lines.append(" ".join(w["text"] for entity in form for w in entity["words"]))
    return lines


def build_model_folder(folder: Path, sentencepiece_file: Path, hidden: int, layers: int, image_size: int) -> dict:
    """A LayoutXLM-shaped LayoutLMv2ForTokenClassification from scratch, with its processor."""
    import torch

    from layoutlmv2 import (LayoutLMv2Config, LayoutLMv2ForTokenClassification, LayoutLMv2ImageProcessor,
                            LayoutXLMProcessor, LayoutXLMTokenizerFast)
    from layoutlmv2.configuration import backbone_preset
    from layoutlmv2.data import FUNSD_LABELS

    tokenizer = LayoutXLMTokenizerFast(vocab_file=str(sentencepiece_file))
    # the layout embedding is x0, y0, x1, y1 (coordinate_size each) + h, w (shape_size each) = hidden
    shape_size = hidden // 8
    sizes = dict(coordinate_size=(hidden - 2 * shape_size) // 4, shape_size=shape_size)
    config = LayoutLMv2Config(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=hidden // 64,
        intermediate_size=4 * hidden, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
        bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, **sizes,
        num_labels=len(FUNSD_LABELS), id2label=dict(enumerate(FUNSD_LABELS)),
        label2id={label: i for i, label in enumerate(FUNSD_LABELS)},
        detectron2_config_args=backbone_preset("resnext50_32x4d"),
    )
    torch.manual_seed(0)
    LayoutLMv2ForTokenClassification(config).save_pretrained(folder)
    image_processor = LayoutLMv2ImageProcessor(apply_ocr=False, size={"height": image_size, "width": image_size})
    LayoutXLMProcessor(image_processor, tokenizer).save_pretrained(folder)
    return {"vocab_size": len(tokenizer), "hidden_size": hidden, "layers": layers}


def tokenizer_speed(sentencepiece_file: Path, xfund_dir: Path) -> dict:
    """Encodings per second over the 199 XFUND-de pages (truncation + stride windows), one run each."""
    import tempfile

    import transformers

    from layoutlmv2 import LayoutXLMTokenizer, LayoutXLMTokenizerFast

    documents = xfund_documents(xfund_dir, "train") + xfund_documents(xfund_dir, "val")
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "sentencepiece.bpe.model").write_bytes(sentencepiece_file.read_bytes())
        tokenizers = {"ours_fast": LayoutXLMTokenizerFast.from_pretrained(folder),
                      "ours_slow": LayoutXLMTokenizer.from_pretrained(folder),
                      "transformers_fast": transformers.LayoutXLMTokenizer.from_pretrained(folder)}
    out = {}
    for name, tokenizer in tokenizers.items():
        started = time.perf_counter()
        for words, boxes in documents:
            tokenizer(words, boxes=boxes, word_labels=[0] * len(words), truncation=True, max_length=512, stride=128,
                      return_overflowing_tokens=True, return_offsets_mapping=True)
        seconds = time.perf_counter() - started
        out[name] = {"pages": len(documents), "seconds": round(seconds, 3),
                     "encodings_per_second": round(len(documents) / seconds, 1)}
    out["ours_fast_vs_transformers"] = round(out["ours_fast"]["encodings_per_second"]
                                             / out["transformers_fast"]["encodings_per_second"], 2)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work-dir", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path, help="the XFUND folder (de.train.json, de.val.json)")
    parser.add_argument("--funsd-dir", required=True, type=Path)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--skip-train", action="store_true", help="only the tokenizer speed")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "layoutxlm.json")
    args = parser.parse_args(argv)

    import torch

    args.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    sp_file = train_unigram(training_lines(args.data_dir, args.funsd_dir), args.vocab_size,
                            args.work_dir / "sentencepiece.bpe.model")
    result = {"command": "OMP_NUM_THREADS=1 python benchmarks/layoutxlm.py " + " ".join(argv or sys.argv[1:]),
              "machine": {"platform": platform.platform(), "torch_threads": torch.get_num_threads()},
              "sentencepiece": {"vocab_size": args.vocab_size, "trained_on": "XFUND-de train + FUNSD training words",
                                "seconds": round(time.time() - started, 1)}}
    result["tokenizer_speed"] = tokenizer_speed(sp_file, args.data_dir)
    if not args.skip_train:
        from layoutlmv2.cli.main import main as cli

        model_dir = args.work_dir / "layoutxlm-small"
        result["model"] = build_model_folder(model_dir, sp_file, args.hidden, args.layers, args.image_size)
        train = ["train", "--task", "token-classification", "--dataset", "xfund", "--lang", "de",
                 "--data-dir", str(args.data_dir), "--model", str(model_dir), "--output", str(args.work_dir / "run"),
                 "--epochs", str(args.epochs), "--lr", str(args.lr), "--batch-size", str(args.batch_size),
                 "--visual-mode", "zero", "--image-size", str(args.image_size), "--warmup-ratio", "0.1",
                 "--device", "cpu", "--no-progress"] + (["--limit", str(args.limit)] if args.limit else [])
        result["train_command"] = "layoutlmv2 " + " ".join(train)
        trained = time.time()
        if cli(train) != 0:
            raise SystemExit("training failed")
        summary = json.loads((args.work_dir / "run" / "summary.json").read_text())
        result["ser"] = {"test": summary.get("test"), "test_documents": summary.get("test_documents"),
                         "train_documents": summary.get("train_documents"), "train_windows": summary.get("train_windows"),
                         "epochs": args.epochs, "train_seconds": round(time.time() - trained, 1)}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    args.output.with_suffix(".md").write_text(_markdown(result), encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


def _markdown(result: dict) -> str:
    speed = result["tokenizer_speed"]
    lines = ["# LayoutXLM on XFUND-de", "", f"Command: `{result['command']}`", "",
             "## Tokenizer speed (199 XFUND-de pages, truncation 512 + stride 128 windows, offsets, labels; one run)",
             "", "| tokenizer | pages/s |", "| --- | --- |"]
    lines += [f"| {name} | {speed[name]['encodings_per_second']} |" for name in ("ours_fast", "ours_slow",
                                                                                   "transformers_fast")]
    lines += ["", f"Ours fast / transformers' fast: {speed['ours_fast_vs_transformers']}x", ""]
    if "ser" in result:
        test = result["ser"]["test"] or {}
        lines += ["## SER (entity F1, seqeval) on XFUND-de val (50 forms)", "",
                  f"Model: from scratch, {result['model']}; training: `{result['train_command']}`", "",
                  "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.4f} |" for k, v in test.items() if isinstance(v, float)]
        lines += ["", "No multilingual pre-trained text model is available offline: the text stream starts from",
                  "random weights, so this is far below LayoutXLM-base's published ~0.8 (pre-trained on 30M",
                  "multilingual documents). The pages are blank (XFUND's images are not in ../shared).", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
