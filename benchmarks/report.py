"""Results JSON -> Markdown table, PNG chart and the README section."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

COLUMNS = [
    ("median ms", lambda r: _ms(r.get("median_s"))),
    ("p90 ms", lambda r: _ms(r.get("p90_s"))),
    ("docs/s", lambda r: _num(r.get("docs_per_s"), 2)),
    ("GFLOP", lambda r: _num(r.get("gflop"), 1)),
    ("GFLOP/s", lambda r: _num(r.get("gflops_per_s"), 1)),
    ("% of mm peak", lambda r: _num(r.get("efficiency_pct"), 0)),
    ("peak RSS MB", lambda r: _num(r.get("peak_rss_mb"), 0)),
    ("speed-up", lambda r: _ratio(r)),
    ("vs reference output", lambda r: _drift(r)),
]


def _ms(value: Optional[float]) -> str:
    return "" if value is None else f"{value * 1e3:.0f}" if value >= 0.1 else f"{value * 1e3:.1f}"


def _num(value: Optional[float], digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def add_ratios(rows: List[dict]) -> None:
    """Switch rows: time relative to ours with every saving on (the sequence head: to its own 'once' row)."""
    switches = [r for r in rows if r["group"] == "switches" and "median_s" in r]
    if not switches:
        return
    ours = switches[0]["median_s"]
    once = next((r["median_s"] for r in switches if r["name"].startswith("sequence head, backbone once")), None)
    for row in switches[1:]:
        reference = once if row["name"].startswith("sequence head, backbone twice") and once else ours
        row["time_vs_ours"] = row["median_s"] / reference


def _ratio(row: dict) -> str:
    if "time_vs_ours" in row:
        return f"{row['time_vs_ours']:.2f} x time of ours"
    for key, label in (("speedup_vs_baseline", "x baseline"),
                       ("speedup_vs_pytorch", "x PyTorch"), ("speedup_vs_1_worker", "x 1 worker")):
        if key in row:
            return f"{row[key]:.2f} {label}"
    return ""


def _drift(row: dict) -> str:
    parts = []
    if "max_abs_diff" in row:
        parts.append(f"max {row['max_abs_diff']:.2g}")
    if "cosine" in row:
        parts.append(f"cos {row['cosine']:.5f}")
    if "argmax_agreement" in row:
        parts.append(f"argmax {100 * row['argmax_agreement']:.1f}%")
    if "max_abs_diff_vs_pytorch" in row:
        parts.append(f"max {row['max_abs_diff_vs_pytorch']:.2g}")
    if "f1" in row:
        parts.append(f"entity F1 {100 * row['f1']:.2f}")
    if "f1_drop_points" in row:
        parts.append(f"{row['f1_drop_points']:+.2f} points lost")
    if "error" in row:
        parts.append(f"error: {row['error'][:80]}")
    return ", ".join(parts)


def markdown(results: dict) -> str:
    meta = results["meta"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']['cpu']} ({meta['machine']['cores']} cores, "
        f"torch {meta['machine']['torch']}, {meta['machine']['cpu_capability']}), "
        f"mode: {meta['mode']}; load average before/after: {meta['load_before']} / {meta['load_after']}"
        + (" - the 1-minute load was above 1.0 around the run (other jobs may have run alongside): absolute "
           "times are noisy (about +-10% run to run here), ratios less so"
           if meta.get("under_load") else "") + ".",
        f"fp32 matmul peak (best 4096x4096 torch.mm, this run): {meta['matmul_peak_gflops']:.0f} GFLOP/s. "
        "Speed-ups are ratios to a baseline timed in the same process.",
        "",
    ]
    groups: List[str] = []
    for row in results["rows"]:
        if row["group"] not in groups:
            groups.append(row["group"])
    header = "| " + " | ".join(["measurement"] + [c for c, _ in COLUMNS]) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    for group in groups:
        lines += [f"**{group}**", "", header, rule]
        for row in results["rows"]:
            if row["group"] == group:
                lines.append("| " + " | ".join([row["name"]] + [f(row) for _, f in COLUMNS]) + " |")
        lines.append("")
    return "\n".join(lines)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e2e = [r for r in results["rows"] if r["group"].startswith("end-to-end") and "token" in r["group"]
           and not r["name"].startswith("preprocessing")]
    pieces = [r for r in results["rows"] if "efficiency_pct" in r and r["group"] in ("pieces", "switches")]
    fig, axes = plt.subplots(1, 2, figsize=(15, 6))
    if e2e:
        names = [r["name"] for r in e2e]
        values = [r["docs_per_s"] for r in e2e]
        axes[0].barh(range(len(e2e)), values, color=["grey"] + ["tab:blue"] * (len(e2e) - 1))
        axes[0].set_yticks(range(len(e2e)), [n[:48] for n in names], fontsize=8)
        axes[0].invert_yaxis()
        axes[0].set_xlabel("FUNSD test pages / s (token head, full-size model)")
        for i, r in enumerate(e2e):
            axes[0].text(values[i], i, f" {r.get('speedup_vs_baseline', 1.0):.2f}x", va="center", fontsize=8)
    if pieces:
        axes[1].barh(range(len(pieces)), [r["efficiency_pct"] for r in pieces], color="tab:green")
        axes[1].set_yticks(range(len(pieces)), [r["name"][:48] for r in pieces], fontsize=7)
        axes[1].invert_yaxis()
        axes[1].axvline(100, color="black", linewidth=0.8)
        axes[1].set_xlabel("% of the fp32 matmul peak measured in the same run")
    load = " (under load)" if results["meta"].get("under_load") else ""
    fig.suptitle(f"LayoutLMv2 on {results['meta']['machine']['cpu']}, {results['meta']['mode']} run{load}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _find(rows: List[dict], group_start: str, name_start: str) -> Optional[dict]:
    return next((r for r in rows if r["group"].startswith(group_start) and r["name"].startswith(name_start)), None)


def readme_section(results: dict, table: str) -> str:
    """The README's speed section: the headline rows in one table; the full table stays in benchmark.md."""
    meta = results["meta"]
    rows = results["rows"]
    keep = ("end-to-end", "entity F1", "ONNX")
    short = {"meta": meta, "rows": [r for r in rows if r["group"].startswith(keep)]}
    model_512 = _find(rows, "pieces", "token model b1 L512")
    model_b8 = _find(rows, "pieces", "token model b8 L128")
    efficiency = ""
    if model_512 and "efficiency_pct" in model_512:
        efficiency = (f"The full model (token head, fp32) runs at {model_512['efficiency_pct']:.0f}% of the machine's "
                      f"fp32 matmul peak at batch 1 x 512 tokens ({model_512['median_s'] * 1e3:.0f} ms)")
        if model_b8 and "efficiency_pct" in model_b8:
            efficiency += f" and {model_b8['efficiency_pct']:.0f}% at batch 8 x 128 tokens"
        efficiency += "."
    onnx_512 = _find(rows, "ONNX Runtime vs", "ONNX Runtime L512")
    if onnx_512 and "efficiency_pct" in onnx_512:
        efficiency += (f" Exported and run in ONNX Runtime, it reaches {onnx_512['efficiency_pct']:.0f}% at batch 1 x "
                       f"512 tokens ({onnx_512['median_s'] * 1e3:.0f} ms, the same FLOPs counted).")
    return "\n".join([
        "## Speed",
        "",
        "Full-size base model (ResNeXt-101 32x8d FPN + 12 x 768) on CPU, 50 FUNSD test pages, words and "
        "boxes from the annotations. The baseline is the transformers recipe run with our model: one page at a "
        "time padded to 512 tokens, eager attention, `torch.no_grad` (and the backbone twice for sequence "
        "classification). Ours: `layoutlmv2.deployment.batching.predict` (length-sorted batches, no compute on padding), "
        "SDPA attention, `torch.inference_mode`, one backbone pass; optional int8 encoder / bfloat16 visual "
        "stream from `layoutlmv2.deployment.torch_quantization`; or the exported graph in ONNX Runtime "
        "(`layoutlmv2.deployment.onnx_model.OnnxModel`, fp32 or int8 from `layoutlmv2.deployment.onnx_quantization`). "
        "Every ratio is against the baseline timed in the same run.",
        "",
        efficiency,
        "",
        markdown(short),
        "Full table (every piece at 128/512 tokens, batch 1/8, peak memory, what each saving is worth when "
        "switched off, torch.compile, OCR, tokenizers) and chart: `benchmarks/results/benchmark.{md,png,json}`. "
        "Reproduce with `make bench` (= `python benchmarks/run.py`, about 25 minutes on 2 cores; "
        "`python benchmarks/run.py --quick` is a 3-minute smoke run).",
        "",
    ])
