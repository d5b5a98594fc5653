"""The benchmark suite (`make bench`): model pieces, switches, precision, FUNSD end to end, ONNX, OCR.

    python benchmarks/run.py            # full suite, ~25 min on 2 cores; writes benchmarks/results/
    python benchmarks/run.py --quick    # smoke run, < 3 min, small numbers of pages and repeats
    python benchmarks/run.py --only e2e-token switches

Each group runs in a fresh process (`--child`), so its peak memory is its own and one group's
caches do not speed up the next. Results: benchmark.json (every number), benchmark.md (the
table), benchmark.png (chart), README_section.md (to paste into the README).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (sets sys.path for src/ and tests/)
import report  # noqa: E402

RESULTS = HERE / "results"
FUNSD_TEST_PAGES = 50


def groups(quick: bool) -> dict:
    """name -> (module.function, kwargs). Quick mode: one length, few pages, the small ONNX model."""
    if quick:
        return {
            "pieces-token": ("bench_model.pieces", dict(head="token", lengths=[128], batches=[1], quick=True)),
            "switches": ("bench_model.switches", dict(length=128, quick=True)),
            "precision": ("bench_model.precision", dict(length=128, batch=1, quick=True)),
            "e2e-token": ("bench_end_to_end.run", dict(head="token", pages=3, quick=True)),
            "onnx": ("bench_onnx.run", dict(lengths=[128], quick=True)),
            "image-processor": ("bench_end_to_end.processor_without_ocr", dict(pages=4)),
        }
    return {
        "pieces-token": ("bench_model.pieces", dict(head="token", lengths=[128, 512], batches=[1, 8], quick=False)),
        "pieces-sequence": ("bench_model.pieces", dict(head="sequence", lengths=[128, 512], batches=[1, 8], quick=False)),
        "pieces-qa": ("bench_model.pieces", dict(head="qa", lengths=[128, 512], batches=[1, 8], quick=False)),
        "pieces-base": ("bench_model.pieces", dict(head="base", lengths=[128, 512], batches=[1, 8], quick=False)),
        "switches": ("bench_model.switches", dict(length=512, quick=False)),
        "precision": ("bench_model.precision", dict(length=512, batch=1, quick=False)),
        "e2e-token": ("bench_end_to_end.run", dict(head="token", pages=FUNSD_TEST_PAGES, quick=False)),
        "e2e-sequence": ("bench_end_to_end.run", dict(head="sequence", pages=FUNSD_TEST_PAGES, quick=False)),
        "onnx": ("bench_onnx.run", dict(lengths=[128, 512], quick=False)),
        "image-processor": ("bench_end_to_end.processor_without_ocr", dict(pages=FUNSD_TEST_PAGES)),
        "ocr-tokenizer": ("bench_end_to_end.ocr_rows", dict(quick=False)),
    }


def child(spec: str) -> None:
    """Run one group in this process and print its rows (plus this process's matmul peak) as JSON."""
    task = json.loads(spec)
    module_name, function_name = task["function"].rsplit(".", 1)
    function = getattr(importlib.import_module(module_name), function_name)
    peak = common.matmul_peak_gflops(2048, 5)
    rows = function(**task["kwargs"])
    peak = max(peak, common.matmul_peak_gflops(2048, 5))
    print("RESULT " + json.dumps({"rows": rows, "matmul_peak_gflops": peak}))


def run_group(name: str, function: str, kwargs: dict, timeout: float) -> dict:
    spec = json.dumps({"function": function, "kwargs": kwargs})
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(Path(__file__)), "--child", spec], capture_output=True,
                              text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"rows": [{"name": name, "group": "errors", "error": f"timed out after {timeout:.0f} s"}]}
    elapsed = time.perf_counter() - start
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            print(f"  {name}: {len(result['rows'])} rows in {elapsed:.0f} s", flush=True)
            return result
    tail = (done.stderr or done.stdout)[-1500:]
    print(f"  {name}: FAILED\n{tail}", flush=True)
    return {"rows": [{"name": name, "group": "errors", "error": tail.strip().splitlines()[-1] if tail.strip() else "?"}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run in under 3 minutes")
    parser.add_argument("--only", nargs="*", default=None, help="group names to run (default: all)")
    parser.add_argument("--output-dir", default=str(RESULTS))
    parser.add_argument("--finetuned", default=None,
                        help="fine-tuned token classifier folder for entity F1 fp32 vs int8 "
                             "(default: the one a results/finetune_*.json names, if any)")
    parser.add_argument("--merge", action="store_true",
                        help="with --only: replace those groups' rows in the existing results instead of "
                             "writing a results file with them alone")
    parser.add_argument("--report-only", default=None, metavar="JSON",
                        help="re-render the table, chart and README section from a results JSON")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.report_only:
        path = Path(args.report_only)
        write_reports(json.loads(path.read_text()), path.parent, path.stem.removeprefix("benchmark"))
        return

    import torch

    mode = "quick" if args.quick else "full"
    selected = groups(args.quick)
    finetuned = args.finetuned or (None if args.quick else __import__("bench_end_to_end").find_finetuned_model(RESULTS))
    if finetuned:
        selected["entity-f1"] = ("bench_end_to_end.entity_f1", dict(model_dir=finetuned))
    if args.only:
        unknown = set(args.only) - set(selected)
        if unknown:
            parser.error(f"unknown group(s) {sorted(unknown)}; choose from {sorted(selected)}")
        selected = {k: v for k, v in selected.items() if k in args.only}

    load_before = common.load_average()
    peaks = [common.matmul_peak_gflops(4096, 5)]
    print(f"{mode} benchmark, load {load_before}, fp32 matmul peak {peaks[0]:.0f} GFLOP/s", flush=True)
    rows = []
    for name, (function, kwargs) in selected.items():
        result = run_group(name, function, kwargs, timeout=300 if args.quick else 1800)
        for row in result["rows"]:
            row["suite_group"] = name  # what --merge replaces: several suite groups share a table
        rows.extend(result["rows"])
        if "matmul_peak_gflops" in result:
            peaks.append(result["matmul_peak_gflops"])
    peaks.append(common.matmul_peak_gflops(4096, 5))
    peak = max(peaks)
    for row in rows:
        if "gflops_per_s" in row:
            row["efficiency_pct"] = 100 * row["gflops_per_s"] / peak
    load_after = common.load_average()
    results = {
        "meta": {
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "mode": mode, "machine": common.machine(), "matmul_peak_gflops": peak,
            "matmul_peaks_seen": peaks, "load_before": load_before, "load_after": load_after,
            "under_load": max(load_before[:1] + load_after[:1] or [0]) > 1.0,
            "command": "python benchmarks/run.py" + (" --quick" if args.quick else ""),
            "threads": torch.get_num_threads(),
        },
        "rows": rows,
    }
    suffix = "_quick" if args.quick else ""
    previous = Path(args.output_dir) / f"benchmark{suffix}.json"
    if args.merge and previous.exists():
        old = json.loads(previous.read_text())
        old["rows"] = merge_rows(old["rows"], rows)
        old["meta"].setdefault("merged_runs", []).append(results["meta"])
        results = old
    write_reports(results, Path(args.output_dir), suffix)


def merge_rows(old: list, new: list) -> list:
    """`old` without the rows that `new` measures again, then `new`.

    A row belongs to the suite group that measured it (`pieces-token`, `pieces-qa`, ... share
    the "pieces" table), so re-running one group leaves the others' rows in place. Rows of
    results written before rows carried their suite group are matched by table and name.
    """
    replaced = {row["suite_group"] for row in new}
    names = {(row["group"], row["name"]) for row in new}
    kept = [row for row in old if row.get("suite_group") not in replaced and (row["group"], row["name"]) not in names]
    return kept + new


def write_reports(results: dict, out: Path, suffix: str) -> None:
    report.add_ratios(results["rows"])
    common.write_json(out / f"benchmark{suffix}.json", results)
    table = report.markdown(results)
    (out / f"benchmark{suffix}.md").write_text(table + "\n")
    report.chart(results, out / f"benchmark{suffix}.png")
    section = report.readme_section(results, table)
    (out / f"README_section{suffix}.md").write_text(section)
    print(section)


if __name__ == "__main__":
    main()
