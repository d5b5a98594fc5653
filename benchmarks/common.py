"""What every benchmark module shares: timing, peak memory, FLOPs, the matmul peak, the models.

Rules kept throughout the suite:
- a latency is the median (and p90) of repeated runs after warm-up runs, stopped early by a
  time budget so that batch 8 at 512 tokens does not take minutes;
- peak memory is the peak resident set size (VmHWM) of the measuring process, reset right
  before the measurement (`/proc/self/clear_refs`), so it holds weights + activations and
  not the memory used while building the model; run.py gives each group its own process;
- FLOPs come from `torch.utils.flop_counter.FlopCounterMode` (matmuls, convolutions and
  attention); efficiency = FLOPs / median time / fp32 matmul peak, the peak measured in the
  same run.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, Optional

import torch

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "src", ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

SHARED = Path(os.environ.get("LAYOUTLMV2_SHARED", ROOT.parent / "shared")) / "data"
CACHE = Path(os.environ.get("LAYOUTLMV2_BENCH_CACHE", Path.home() / ".cache" / "layoutlmv2-bench"))
# golden schema of the full-size base model (ResNeXt-101 32x8d, 12 x 768) for each class
SCHEMAS = {
    "LayoutLMv2Model": "base_model",
    "LayoutLMv2ForSequenceClassification": "sequence_classification",
    "LayoutLMv2ForTokenClassification": "token_classification",
    "LayoutLMv2ForQuestionAnswering": "question_answering",
}
HEADS = {"base": "LayoutLMv2Model", "sequence": "LayoutLMv2ForSequenceClassification",
         "token": "LayoutLMv2ForTokenClassification", "qa": "LayoutLMv2ForQuestionAnswering"}


# ---------------------------------------------------------------------------------- timing
def measure(function: Callable[[], object], warmup: int = 2, repeats: int = 10, budget_s: float = 60.0,
            min_repeats: int = 3) -> Dict[str, float]:
    """Median / p90 / min seconds of `function()`, after `warmup` calls, within `budget_s`."""
    for _ in range(warmup):
        function()
    times = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < min_repeats or time.perf_counter() - start < budget_s):
        begin = time.perf_counter()
        function()
        times.append(time.perf_counter() - begin)
    times.sort()
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return {"median_s": statistics.median(times), "p90_s": p90, "min_s": times[0], "runs": len(times)}


# ---------------------------------------------------------------------------------- memory
def _status(field: str) -> int:
    """A VmXXX field of /proc/self/status in bytes (0 where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak_rss() -> int:
    """Reset the process's peak RSS to the current RSS (Linux); returns the current RSS in bytes."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return _status("VmRSS")


def peak_rss() -> int:
    return _status("VmHWM")


# ---------------------------------------------------------------------------------- FLOPs and peak
def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def count_flops(function: Callable[[], object]) -> int:
    """Matmul and convolution FLOPs of `function()`, attention included.

    torch's counter has no formula for the CPU kernel of `scaled_dot_product_attention`, so it
    counted the attention matmuls (11.6 GFLOP at 561 tokens) only under eager attention. The
    same formula as for the GPU kernels is registered here: both implementations, and the
    reference's 145 GFLOP at 512 tokens, count the same arithmetic.
    """
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        function()
    return counter.get_total_flops()


def matmul_peak_gflops(size: int = 4096, repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of a square `torch.mm` over `repeats` runs (the machine's practical peak)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    out = torch.empty(size, size)
    torch.mm(a, b, out=out)
    best = min(_timed(lambda: torch.mm(a, b, out=out)) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def load_average() -> list:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "python": platform.python_version()}


# ---------------------------------------------------------------------------------- models
def _weights_file(class_name: str) -> Path:
    return CACHE / f"{SCHEMAS[class_name]}.safetensors"


@lru_cache(maxsize=None)
def _config(class_name: str):
    from golden import schema

    from layoutlmv2 import LayoutLMv2Config

    return LayoutLMv2Config.from_dict(schema(SCHEMAS[class_name])["config"])


def full_size_model(class_name: str) -> torch.nn.Module:
    """The full-size base model of `class_name` with the golden seeded weights, eval mode.

    The seeded state dict takes ~10 s to generate; it is cached as safetensors in CACHE.
    """
    from safetensors.torch import load_file, save_file

    import layoutlmv2

    path = _weights_file(class_name)
    if not path.exists():
        from golden import original_state_dict

        from layoutlmv2.checkpoints.conversion import original_to_ours

        ours, _ = original_to_ours(original_state_dict(SCHEMAS[class_name]))
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in ours.items()}, str(path))
        del ours
    model = getattr(layoutlmv2, class_name)(_config(class_name))
    model.load_state_dict(load_file(str(path)), strict=True, assign=True)  # frees the random init
    return model.eval()


def synthetic_inputs(config, batch: int, length: int, seed: int = 0) -> Dict[str, torch.Tensor]:
    """Full (unpadded) random inputs of `length` text tokens and a 224 x 224 page."""
    from layoutlmv2.modeling.example_inputs import example_inputs

    inputs = example_inputs(config, batch, length, 224, seed=seed)
    inputs["attention_mask"].fill_(1)
    return inputs


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def record(name: str, group: str, timing: Dict[str, float], documents: int = 1, flops: Optional[int] = None,
           peak_bytes: Optional[int] = None, **extra) -> dict:
    """One row of the results: latency, documents/s, GFLOP, peak memory and anything in `extra`."""
    row = {"name": name, "group": group, **timing, "docs_per_s": documents / timing["median_s"]}
    if flops is not None:
        row["gflop"] = flops / 1e9
        row["gflops_per_s"] = flops / 1e9 / timing["median_s"]
    if peak_bytes is not None:
        row["peak_rss_mb"] = peak_bytes / 2 ** 20
    row.update(extra)
    return row
