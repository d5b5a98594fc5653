"""End to end on the 50 FUNSD test pages: words + boxes from the annotations -> processor -> model.

The baseline is our own model fed the way the transformers documentation feeds LayoutLMv2: one
page at a time, padded to 512 tokens, eager attention, `torch.no_grad`, and for sequence
classification the visual backbone run a second time (emulated by calling the visual
embeddings once more). Each variant below adds one saving; all are timed in the same process
over the same encodings, and their logits are compared with the baseline's on the real tokens.
The baseline is timed first and last; ratios are against the mean of the two.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from common import HEADS, SHARED, full_size_model, peak_rss, record, reset_peak_rss

# Worker processes for the multi-process rows: one per core (peak memory is the parent's only).
WORKERS = max(2, torch.get_num_threads())


def e2e_processor():
    """The processor of the full-size model: bert-base-uncased vocabulary, 224-px pages, words given."""
    from layoutlmv2 import LayoutLMv2ImageProcessor, LayoutLMv2Processor, LayoutLMv2TokenizerFast

    tokenizer = LayoutLMv2TokenizerFast(vocab_file=str(SHARED / "tokenizers" / "bert-base-uncased" / "vocab.txt"))
    return LayoutLMv2Processor(LayoutLMv2ImageProcessor(apply_ocr=False), tokenizer)


def funsd_encodings(pages: int, processor=None) -> tuple:
    """(documents, encodings padded to 512 with word labels, preprocessing seconds)."""
    from layoutlmv2.data.funsd import FUNSD_LABELS, load_funsd

    documents = load_funsd(SHARED / "funsd", "test")[:pages]
    processor = processor or e2e_processor()
    start = time.perf_counter()
    encodings = []
    for doc in documents:
        labels = [FUNSD_LABELS.index(tag) for tag in doc.word_labels]
        encoding = processor(doc.load_image(), doc.words, boxes=doc.boxes, word_labels=labels, truncation=True,
                             padding="max_length", max_length=512, return_tensors="pt")
        encodings.append({k: v for k, v in encoding.items() if isinstance(v, torch.Tensor)})
    return documents, encodings, time.perf_counter() - start


def _model_inputs(encoding: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {k: v for k, v in encoding.items() if k != "labels"}


def _real_tokens(encoding) -> int:
    return int(encoding["attention_mask"].sum())


def baseline_outputs(model, encodings, head: str) -> tuple:
    """transformers' recipe: one padded page at a time, eager attention with the padded keys masked
    in every layer, no_grad (backbone twice for sequence)."""
    model.set_attn_implementation("eager")
    model.layoutlmv2.encoder.fold_padding_mask = False
    outputs, times = [], []
    try:
        with torch.no_grad():
            model(**_model_inputs(encodings[0]))  # warm-up
            start_all = time.perf_counter()
            for encoding in encodings:
                start = time.perf_counter()
                out = model(**_model_inputs(encoding))
                if head == "sequence":
                    model.layoutlmv2.visual_embeddings(encoding["image"])
                times.append(time.perf_counter() - start)
                logits = out.logits[0]
                outputs.append(logits[: _real_tokens(encoding)] if head == "token" else logits)
            total = time.perf_counter() - start_all
    finally:
        model.set_attn_implementation("sdpa")
        model.layoutlmv2.encoder.fold_padding_mask = True
    return outputs, times, total


def padded_sdpa_outputs(model, encodings, head: str) -> tuple:
    """Still one page padded to 512, but sdpa, inference_mode and one backbone pass."""
    outputs, times = [], []
    with torch.inference_mode():
        model(**_model_inputs(encodings[0]))
        start_all = time.perf_counter()
        for encoding in encodings:
            start = time.perf_counter()
            logits = model(**_model_inputs(encoding)).logits[0]
            times.append(time.perf_counter() - start)
            outputs.append(logits[: _real_tokens(encoding)] if head == "token" else logits)
        total = time.perf_counter() - start_all
    return outputs, times, total


def batched_outputs(model, encodings, batch_size: int, autocast: bool = False, workers: int = 1) -> tuple:
    """`layoutlmv2.deployment.batching.predict`: no padding beyond each length-sorted batch's longest page.

    With `workers` > 1 the warm-up uses as many workers. PyTorch's worker processes start anew in
    every call, so the timing includes starting them; ONNX Runtime's worker threads reuse the
    session the warm-up opened.
    """
    from layoutlmv2.deployment.batching import predict
    from layoutlmv2.deployment.torch_quantization import bf16_autocast

    with bf16_autocast(enabled=autocast):
        predict(model, encodings[:batch_size * workers], batch_size=batch_size, workers=workers)  # warm-up
        start = time.perf_counter()
        results = predict(model, encodings, batch_size=batch_size, workers=workers)
        total = time.perf_counter() - start
    return [r["logits"].float() for r in results], [], total


def _compare(outputs: List[torch.Tensor], reference: List[torch.Tensor]) -> Dict[str, float]:
    flat = torch.cat([o.flatten() for o in outputs])
    ref = torch.cat([r.flatten() for r in reference])
    agree = sum(int((o.argmax(-1) == r.argmax(-1)).sum()) for o, r in zip(outputs, reference))
    count = sum(o.argmax(-1).numel() for o in outputs)
    return {"max_abs_diff": float((flat - ref).abs().max()),
            "cosine": float(F.cosine_similarity(flat, ref, dim=0)),
            "argmax_agreement": agree / count}


def run(head: str, pages: int, quick: bool) -> List[dict]:
    """All variants for one head; rows carry the ratio to the baseline measured here."""

    documents, encodings, preprocess_s = funsd_encodings(pages)
    tokens = [_real_tokens(e) for e in encodings]
    model = full_size_model(HEADS[head])
    group = f"end-to-end FUNSD ({head} head)"
    n = len(encodings)
    rows = [record("preprocessing: image processor (no OCR) + fast tokenizer", group,
                   {"median_s": preprocess_s / n, "p90_s": preprocess_s / n, "min_s": preprocess_s / n, "runs": 1},
                   documents=1, pages=n)]
    rows[0]["docs_per_s"] = n / preprocess_s
    summary = {"mean_real_tokens": sum(tokens) / n, "max_real_tokens": max(tokens)}

    def add(name, result, **extra):
        outputs, times, total = result
        timing = _timing(times, total, n)
        row = record(name, group, timing, documents=1, peak_bytes=peak_rss(), pages=n, **extra)
        row["docs_per_s"] = n / total
        rows.append(row)
        return outputs, row

    baseline_name = "baseline: transformers recipe (b1, pad 512, eager, no_grad" + (
        ", backbone twice)" if head == "sequence" else ")")
    reset_peak_rss()
    reference, base_row = add(baseline_name, baseline_outputs(model, encodings, head), **summary)
    variants = [
        ("b1, pad 512, sdpa, inference_mode, backbone once", lambda: padded_sdpa_outputs(model, encodings, head)),
        ("b1, no padding (length-aware)", lambda: batched_outputs(model, encodings, 1)),
        ("b8, length-sorted batches", lambda: batched_outputs(model, encodings, 8)),
        (f"b1, no padding, {WORKERS} worker processes", lambda: batched_outputs(model, encodings, 1, workers=WORKERS)),
    ]
    compared = []
    for name, make in variants:
        reset_peak_rss()
        outputs, row = add(name, make())
        row.update(_compare(outputs, reference))
        compared.append(row)
    if head == "token":
        for name, build, autocast, workers in lower_precision_variants(model):
            candidate = build()
            reset_peak_rss()
            outputs, row = add(name, batched_outputs(candidate, encodings, 1, autocast, workers))
            row.update(_compare(outputs, reference))
            compared.append(row)
            del candidate
    if head == "token":
        compared += onnx_rows(model, encodings, reference, add)
    # The machine's speed drifts (shared host: the fp32 matmul peak ranged 101-191 GFLOP/s in one
    # session), so the baseline is timed again at the end and every ratio uses the mean of both.
    reset_peak_rss()
    _, end_row = add(baseline_name.replace("baseline:", "baseline again (end of run):"),
                     baseline_outputs(model, encodings, head))
    baseline_rate = (base_row["docs_per_s"] + end_row["docs_per_s"]) / 2
    base_row["baseline_drift_end_vs_start"] = end_row["docs_per_s"] / base_row["docs_per_s"]
    for row in compared + [end_row]:
        row["speedup_vs_baseline"] = row["docs_per_s"] / baseline_rate
    return rows


def lower_precision_variants(model) -> list:
    """(name, build the model, bf16 autocast?, workers).

    Without AVX-512 (this project's CI machines have AVX2 only) bf16 is emulated and torchao's
    int8 kernels fall back to slow paths (0.15x the fp32 baseline on 30 FUNSD pages,
    2026-12-01; bf16 autocast over 50 pages did not finish in 15 minutes), so there only fbgemm
    int8 is timed here; the `precision` group still times bf16 on one input.
    """
    from layoutlmv2.deployment.torch_quantization import has_avx512, quantize_dynamic_int8, visual_in_bfloat16

    variants = [
        ("int8 encoder (fbgemm), no padding", lambda: quantize_dynamic_int8(model, backend="fbgemm"), False, 1),
        (f"int8 encoder (fbgemm), no padding, {WORKERS} worker processes",
         lambda: quantize_dynamic_int8(model, backend="fbgemm"), False, WORKERS),
        ("int8 encoder (fbgemm) except FFN output, no padding",
         lambda: quantize_dynamic_int8(model, backend="fbgemm", keep_ffn_output_fp32=True), False, 1),
        (f"int8 encoder (fbgemm) except FFN output, no padding, {WORKERS} worker processes",
         lambda: quantize_dynamic_int8(model, backend="fbgemm", keep_ffn_output_fp32=True), False, WORKERS),
    ]
    if has_avx512():
        variants += [
            ("bf16 autocast, no padding", lambda: model, True, 1),
            ("int8 encoder (torchao), no padding", lambda: quantize_dynamic_int8(model, backend="torchao"), False, 1),
            ("bf16 visual stream, no padding", lambda: visual_in_bfloat16(model), False, 1),
            ("int8 encoder (torchao) + bf16 visual, no padding",
             lambda: visual_in_bfloat16(quantize_dynamic_int8(model, backend="torchao")), False, 1),
            ("int8 encoder (fbgemm) + bf16 visual, no padding",
             lambda: visual_in_bfloat16(quantize_dynamic_int8(model, backend="fbgemm")), False, 1),
        ]
    return variants


def onnx_rows(model, encodings, reference, add) -> List[dict]:
    """ONNX Runtime through `OnnxModel` and `predict`, as the PyTorch rows: one page at a time without
    padding, in this process, and for fp32 and the smoothed int8 also with `WORKERS` workers (threads
    sharing one session of one thread each: `OnnxModel.runs_concurrently`).
    The export and the quantisation (about a minute, once per model) are not in the page rate."""
    try:
        from layoutlmv2.deployment.onnx_model import OnnxModel
    except ImportError:
        return []
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        files = onnx_files(model, Path(folder), 224, calibration_pages())
        if not files:
            return []
        variants = []
        for label, path in files:
            variants.append((f"ONNX Runtime {label}, no padding", path, 1))
            if label == "fp32" or "smoothed" in label:
                variants.append((f"ONNX Runtime {label}, no padding, {WORKERS} worker threads", path, WORKERS))
        for name, path, workers in variants:
            reset_peak_rss()
            outputs, row = add(name, batched_outputs(OnnxModel(path), encodings, 1, workers=workers))
            row.update(_compare(outputs, reference))
            rows.append(row)
    return rows


def onnx_files(model, folder: Path, image_size: int, pages: list) -> List[tuple]:
    """(label, path) of `model` exported to ONNX in fp32 and in each int8 variant timed and scored here;
    [] without onnxruntime. `pages` (encoded FUNSD training pages) calibrate the int8 convolutions
    and the smoothing."""
    try:
        import onnxruntime  # noqa: F401
        from layoutlmv2.deployment.onnx_export import to_onnx
        from layoutlmv2.deployment.onnx_quantization import quantize_onnx_int8
    except ImportError:
        return []
    fp32 = to_onnx(model, folder / "model.onnx", image_size=image_size)
    calibrated = f"{CALIBRATION_PAGES} FUNSD train pages"
    return [
        ("fp32", fp32),
        ("int8 encoder MatMuls", quantize_onnx_int8(fp32, folder / "int8.onnx")),
        ("int8 encoder MatMuls except FFN output",
         quantize_onnx_int8(fp32, folder / "int8-keep.onnx", keep_ffn_output_fp32=True)),
        (f"int8 encoder MatMuls except FFN output + int8 convolutions ({calibrated})",
         quantize_onnx_int8(fp32, folder / "int8-convs.onnx", keep_ffn_output_fp32=True, calibration_inputs=pages)),
        (f"int8 encoder MatMuls, FFN outputs smoothed, per channel + int8 convolutions ({calibrated})",
         quantize_onnx_int8(fp32, folder / "int8-smooth.onnx", per_channel=True, smoothing=SMOOTHING,
                            calibration_inputs=pages)),
    ]


# Pages (of the FUNSD training split, not the test pages timed) that calibrate the int8 convolutions
# and the smoothing of the FFN outputs, and the smoothing's migration strength.
CALIBRATION_PAGES = 8
SMOOTHING = 0.5


def calibration_pages(processor=None) -> list:
    """The first `CALIBRATION_PAGES` FUNSD training pages, words from their annotations, as `processor`
    (by default the e2e benchmark's) encodes them."""
    from layoutlmv2.data.funsd import load_funsd

    if processor is None:
        processor = e2e_processor()
    documents = load_funsd(SHARED / "funsd", "train")[:CALIBRATION_PAGES]
    pages = []
    for doc in documents:
        encoding = processor(doc.load_image(), doc.words, boxes=doc.boxes, truncation=True, max_length=512,
                             return_tensors="pt")
        pages.append({k: v for k, v in encoding.items() if isinstance(v, torch.Tensor)})
    return pages


def _timing(times: List[float], total: float, pages: int) -> Dict[str, float]:
    if not times:  # batched runs: the mean time per page
        per_page = total / pages
        return {"median_s": per_page, "p90_s": per_page, "min_s": per_page, "runs": 1}
    ordered = sorted(times)
    return {"median_s": ordered[len(ordered) // 2], "p90_s": ordered[int(0.9 * (len(ordered) - 1))],
            "min_s": ordered[0], "runs": len(ordered)}


def entity_f1(model_dir: str, data_dir: str = str(SHARED / "funsd")) -> List[dict]:
    """Entity F1 of a fine-tuned FUNSD token classifier, fp32 vs int8 (PyTorch and ONNX Runtime), through
    the training recipe's own evaluation (512-token windows, stride 128, its processor), so the fp32
    number is the one it reports."""
    from layoutlmv2.configuration import LayoutLMv2Config
    from layoutlmv2.deployment.torch_quantization import has_avx512, quantize_dynamic_int8
    from layoutlmv2.inference.loading import load_processor
    from layoutlmv2.registry import load_dataset
    from layoutlmv2.tasks.definitions import task_from_config

    task = task_from_config(LayoutLMv2Config.from_pretrained(model_dir), "funsd")
    model = task.model_class.from_pretrained(model_dir).eval()
    processor = load_processor(model_dir)
    documents = load_dataset("funsd", data_dir, "test")
    encoded = task.encode(documents, processor.tokenizer, processor.image_processor, 512, 128)
    rows = []
    candidates = [("fp32", model), ("int8 encoder (fbgemm)", quantize_dynamic_int8(model, backend="fbgemm")),
                  ("int8 encoder (fbgemm) except FFN output",
                   quantize_dynamic_int8(model, backend="fbgemm", keep_ffn_output_fp32=True))]
    if has_avx512():  # see lower_precision_variants
        candidates.append(("int8 encoder (torchao)", quantize_dynamic_int8(model, backend="torchao")))
    with tempfile.TemporaryDirectory() as folder:
        candidates += onnx_candidates(model, processor, model_dir, Path(folder))
        for name, candidate in candidates:
            start = time.perf_counter()
            with torch.inference_mode():
                outputs = task.window_outputs(candidate, encoded, 8)
            total = time.perf_counter() - start
            scores = task.evaluate(documents, task.decode(documents, encoded, outputs))
            f1 = scores.get("entity_f1", scores.get("f1"))
            rows.append({"name": f"fine-tuned model, {name}", "group": "entity F1 (FUNSD test, fine-tuned model)",
                         "median_s": total / len(documents), "docs_per_s": len(documents) / total, "f1": f1,
                         "scores": scores, "model_dir": str(model_dir)})
    for row in rows[1:]:
        row["f1_drop_points"] = 100 * (rows[0]["f1"] - row["f1"])
        row["speedup_vs_baseline"] = row["docs_per_s"] / rows[0]["docs_per_s"]
    return rows


def onnx_candidates(model, processor, model_dir: str, folder: Path) -> List[tuple]:
    """(name, OnnxModel) for ONNX Runtime fp32 and int8, exported at the model's own image size."""
    try:
        from layoutlmv2.cli.export import processor_image_size
        from layoutlmv2.deployment.onnx_model import OnnxModel
    except ImportError:
        return []
    files = onnx_files(model, folder, processor_image_size(model_dir), calibration_pages(processor))
    return [(f"ONNX Runtime {label}", OnnxModel(path)) for label, path in files]


def ocr_rows(quick: bool) -> List[dict]:
    """The image processor with OCR (Tesseract), 1 worker vs all cores, from bench_preprocessing."""
    try:
        import bench_preprocessing
    except ImportError as error:
        return [{"name": "OCR", "group": "preprocessing", "error": repr(error)}]
    rows = []
    pages = 4 if quick else 20
    result = bench_preprocessing.bench_ocr(pages, 1 if quick else 3)
    cores = result["cores"]
    one = result.get("ours_1_worker_pages_per_s")
    for key, value in result.items():
        if key.endswith("pages_per_s"):
            row = {"name": f"image processor with OCR: {key.removesuffix('_pages_per_s').replace('_', ' ')}",
                   "group": "preprocessing", "median_s": 1 / value, "docs_per_s": value, "pages": result["pages"]}
            if one and key.startswith("ours"):
                row["speedup_vs_1_worker"] = value / one
            rows.append(row)
    tokenizer = bench_preprocessing.bench_tokenizer(1 if quick else 3)
    for key, value in tokenizer.items():
        if key.endswith("_per_s"):
            rows.append({"name": f"tokenizer: {key.removesuffix('_per_s').replace('_', ' ')}",
                         "group": "preprocessing", "median_s": 1 / value, "docs_per_s": value,
                         "pages": tokenizer["documents"], "cores": cores})
    return rows


def processor_without_ocr(pages: int) -> List[dict]:
    """Image processor alone, no OCR: resize + channel flip, per page."""
    from layoutlmv2 import LayoutLMv2ImageProcessor
    from layoutlmv2.data.funsd import load_funsd

    from common import measure

    images = [doc.load_image() for doc in load_funsd(SHARED / "funsd", "test")[:pages]]
    processor = LayoutLMv2ImageProcessor(apply_ocr=False)
    timing = measure(lambda: processor(images), warmup=1, repeats=5, budget_s=20)
    per_page = {k: v / len(images) if k.endswith("_s") else v for k, v in timing.items()}
    return [record("image processor without OCR", "preprocessing", per_page, documents=1, pages=len(images))]


def find_finetuned_model(results_dir: Path) -> Optional[str]:
    """The model folder a `finetune_*.json` result names, if it still exists."""
    import json

    for path in sorted(results_dir.glob("finetune_*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for key in ("best_model", "model_dir", "output", "output_dir"):
            folder = data.get(key) or data.get("summary", {}).get(key)
            if folder and (Path(folder) / "config.json").exists():
                return folder
    return None
