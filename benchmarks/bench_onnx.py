"""ONNX export of the token classifier and ONNX Runtime latency beside PyTorch's, same process."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import List

import torch

from common import HEADS, count_flops, full_size_model, measure, peak_rss, record, reset_peak_rss, synthetic_inputs


def run(lengths: List[int], quick: bool) -> List[dict]:
    import onnxruntime

    from layoutlmv2.deployment.onnx_export import to_onnx, verify_onnx
    from layoutlmv2.deployment.onnx_io import INPUT_NAMES

    if quick:  # the small golden config (28M parameters): the code path, not the full-size numbers
        from small_models import seeded_model

        model, size = seeded_model("LayoutLMv2ForTokenClassification"), "small"
    else:
        model, size = full_size_model(HEADS["token"]), "base"
    repeats, budget = (3, 5.0) if quick else (10, 30.0)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        start = time.perf_counter()
        to_onnx(model, path)
        export_s = time.perf_counter() - start
        max_diff = verify_onnx(model, path, shapes=((1, 7), (2, 100)))
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle ORT threads otherwise spin for a while after each run and slow PyTorch down
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        group = f"ONNX Runtime vs PyTorch ({size} token classifier)"
        for length in lengths:
            inputs = synthetic_inputs(model.config, 1, length)
            feed = {n: inputs[n].numpy() for n in INPUT_NAMES}

            def torch_run():
                with torch.inference_mode():
                    return model(**inputs)

            with torch.inference_mode():
                flops = count_flops(torch_run)  # the same arithmetic in both runtimes
            reset_peak_rss()
            torch_row = record(f"PyTorch (sdpa, inference_mode) L{length}", group,
                               measure(torch_run, 1, repeats, budget), flops=flops, peak_bytes=peak_rss(),
                               length=length)
            reset_peak_rss()
            ort_row = record(f"ONNX Runtime L{length}", group,
                             measure(lambda: session.run(["logits"], feed), 1, repeats, budget),
                             flops=flops, peak_bytes=peak_rss(), length=length, export_s=export_s,
                             max_abs_diff_vs_pytorch=max_diff)
            ort_row["speedup_vs_pytorch"] = torch_row["median_s"] / ort_row["median_s"]
            rows.extend([torch_row, ort_row])
    return rows
