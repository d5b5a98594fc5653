"""Max abs difference from the golden reference, per case, output and attention implementation.

Prints a Markdown table (the README's) and writes benchmarks/results/parity.json.
Run: python benchmarks/parity_report.py [--small-only]
"""

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "tests" / "modeling")]

from golden import build_model, cases, is_full_size, load_case, tolerance  # noqa: E402
from test_parity import max_diff, run_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-only", action="store_true", help="only the ResNeXt-50 small-config cases")
    args = parser.parse_args()
    torch.set_num_threads(2)
    report = {}
    for name in cases():
        if args.small_only and is_full_size(name):
            continue
        model = build_model(name)
        inputs, golden, _ = load_case(name)
        report[name] = {}
        for implementation in ("sdpa", "eager"):
            model.set_attn_implementation(implementation)
            results = run_case(model, inputs)
            report[name][implementation] = {
                out: max_diff(results[out], ref) for out, ref in golden.items() if not out.endswith("_sample0")
            }
        report[name]["tolerance"] = cases()[name]["tolerance"]["atol"]
        del model
    out = ROOT / "benchmarks" / "results" / "parity.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print("| case | sdpa max abs diff | eager max abs diff | tolerance (case) |")
    print("| --- | --- | --- | --- |")
    for name, row in report.items():
        worst = {impl: max(row[impl].values()) for impl in ("sdpa", "eager")}
        print(f"| `{name}` | {worst['sdpa']:.2e} | {worst['eager']:.2e} | {row['tolerance']:.0e} |")


if __name__ == "__main__":
    main()
