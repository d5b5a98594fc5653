"""Where the memory of an ONNX Runtime process goes: imports, the session, and what running batches adds,
with ONNX Runtime's CPU memory arena on (its default) and off (`OnnxModel`'s default).

Each (file, arena) pair runs in a fresh process of its own, so each peak (VmHWM) is its own: the
imports (torch, onnxruntime, layoutlmv2), the opened session (`OnnxModel`), then ``--batches``
batches of ``--batch-size`` x ``--length`` tokens with random inputs (`example_inputs`), timed.

    python benchmarks/onnx_memory.py model.onnx model-int8.onnx   # writes benchmarks/results/onnx_memory.{json,md}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import _status, load_average, machine  # noqa: E402  (also puts src/ on sys.path)


def child(path: str, arena: bool, batches: int, batch_size: int, length: int) -> dict:
    import torch

    from layoutlmv2 import LayoutLMv2Config
    from layoutlmv2.deployment.onnx_model import OnnxModel
    from layoutlmv2.modeling.example_inputs import example_inputs

    mb = lambda key: _status(key) / 2 ** 20  # noqa: E731
    row = {"imports_mb": mb("VmRSS")}
    model = OnnxModel(path, memory_arena=arena)
    row["session_mb"], row["session_peak_mb"] = mb("VmRSS"), mb("VmHWM")
    size = model.image_shape[-1]
    seconds = []
    for seed in range(batches):
        inputs = example_inputs(LayoutLMv2Config(), batch_size, length, image_size=size, seed=seed)
        start = time.perf_counter()
        with torch.inference_mode():
            model(**inputs)
        seconds.append(time.perf_counter() - start)
    row.update(after_mb=mb("VmRSS"), peak_mb=mb("VmHWM"), seconds_per_batch=seconds)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="exported full-size ONNX files")
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(HERE / "results" / "onnx_memory"))
    args = parser.parse_args()
    if args.child:
        row = child(args.child[0], args.child[1] == "on", args.batches, args.batch_size, args.length)
        print("RESULT " + json.dumps(row))
        return
    rows = []
    for path in args.files:
        for arena in ("on", "off"):
            command = [sys.executable, __file__, path, "--child", path, arena, "--batches", str(args.batches),
                       "--batch-size", str(args.batch_size), "--length", str(args.length)]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"{path} arena {arena} failed:\n{done.stderr[-3000:]}")
            rows.append({"file": Path(path).name, "size_mb": Path(path).stat().st_size / 2 ** 20, "arena": arena,
                         **json.loads(lines[-1][len("RESULT "):])})
            print(json.dumps(rows[-1]), flush=True)
    result = {"command": "python " + " ".join(sys.argv), "machine": machine(), "load_average": load_average(),
              "batch": [args.batch_size, args.length], "rows": rows}
    Path(args.output + ".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Batches of {args.batch_size} x {args.length} tokens, {args.batches} per process; MB of resident memory.",
             "", "| file (MB on disk) | arena | after imports | session open | peak | peak vs arena on | "
             "s per batch (median) |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        reference = next(r for r in rows if r["file"] == row["file"] and r["arena"] == "on")
        median = sorted(row["seconds_per_batch"])[len(row["seconds_per_batch"]) // 2]
        lines.append(f"| {row['file']} ({row['size_mb']:.0f}) | {row['arena']} | {row['imports_mb']:.0f} | "
                     f"{row['session_mb']:.0f} | {row['peak_mb']:.0f} | {row['peak_mb'] / reference['peak_mb']:.2f}x | "
                     f"{median:.2f} |")
    Path(args.output + ".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
