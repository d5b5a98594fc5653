"""Model speed: the pieces, the switches that skip work, lower precision, torch.compile.

Every function builds what it measures, returns result rows (see `common.record`) and is run
by run.py in a process of its own. All use the full-size base model (ResNeXt-101 32x8d FPN +
12 x 768 encoder) with the golden seeded weights, on synthetic inputs of a fixed length.
"""

from __future__ import annotations

import contextlib
import copy
import types
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F

from common import HEADS, count_flops, full_size_model, measure, peak_rss, record, reset_peak_rss, synthetic_inputs


def _forward(model, inputs, mode: str = "inference") -> Callable[[], object]:
    context = {"inference": torch.inference_mode, "no_grad": torch.no_grad,
               "grad": contextlib.nullcontext}[mode]

    def run():
        with context():
            return model(**inputs)

    return run


def _row(name: str, group: str, function: Callable[[], object], documents: int, repeats: int, budget: float,
         flops: int = None, **extra) -> dict:
    """Time `function` with its peak RSS; FLOPs counted once unless given."""
    if flops is None:
        with torch.inference_mode():
            flops = count_flops(function)
    before = reset_peak_rss()
    timing = measure(function, warmup=1, repeats=repeats, budget_s=budget)
    return record(name, group, timing, documents, flops, peak_rss(), rss_before_mb=before / 2 ** 20, **extra)


def _base(model):
    return model if type(model).__name__ == "LayoutLMv2Model" else model.layoutlmv2


def pieces(head: str, lengths: List[int], batches: List[int], quick: bool) -> List[dict]:
    """The full model with one head at each (batch, length); for the token head also the parts."""
    model = full_size_model(HEADS[head])
    rows = []
    repeats, budget = (3, 10.0) if quick else (10, 40.0)
    base = _base(model)
    for batch in batches:
        if head == "token":
            image = synthetic_inputs(model.config, batch, 8)["image"]
            with torch.inference_mode():
                rows.append(_row(f"visual backbone b{batch}", "pieces", lambda: base.visual(image), batch,
                                 repeats, budget, batch=batch, length=0))
        for length in lengths:
            inputs = synthetic_inputs(model.config, batch, length)
            slow = batch * length >= 4096  # fewer repeats for batch 8 at 512
            r, b = (max(3, repeats // 3), budget) if slow else (repeats, budget)
            if head == "token":
                with torch.inference_mode():
                    hidden = torch.randn(batch, length + 49, model.config.hidden_size)
                    padding = torch.zeros(batch, 1, 1, length + 49, dtype=torch.bool)
                    boxes = torch.cat([inputs["bbox"], base.visual_bbox.expand(batch, 49, 4)], dim=1)
                    positions = torch.cat([torch.arange(length), torch.arange(49)]).expand(batch, -1)
                    encoder = lambda: base.encoder(hidden, padding, boxes, positions)  # noqa: E731
                    rows.append(_row(f"encoder b{batch} L{length}", "pieces", encoder, batch, r, b,
                                     batch=batch, length=length))
            rows.append(_row(f"{head} model b{batch} L{length}", "pieces", _forward(model, inputs), batch, r, b,
                             batch=batch, length=length, head=head))
    return rows


def _all_fpn_levels(backbone):
    """Make `backbone` compute p2..p6 as the reference does, and keep p2."""
    def forward(self, images):
        p2 = self.fpn(self.stages(images), all_levels=True)[0]
        return self.pool(p2).flatten(2).transpose(1, 2)

    backbone.forward = types.MethodType(forward, backbone)


def _one_hot_biases(encoder) -> None:
    """The original code's bias lookup on `encoder`: a bias-free Linear on one-hot buckets."""
    from layoutlmv2.modeling.relative_position import relative_position_bucket

    def forward(self, coordinate):
        relative = coordinate.unsqueeze(-2) - coordinate.unsqueeze(-1)
        bucket = relative_position_bucket(relative, self.num_buckets, self.max_distance)
        one_hot = F.one_hot(bucket, self.num_buckets).to(self.weight.dtype)
        return (one_hot @ self.weight.t()).permute(0, 3, 1, 2)

    for table in (encoder.rel_pos_bias, encoder.rel_pos_x_bias, encoder.rel_pos_y_bias):
        table.forward = types.MethodType(forward, table)


def _backbone_twice(model):
    """The reference's sequence head: the visual embeddings once more, outside the base model."""
    def run(**inputs):
        outputs = model(**inputs)
        model.layoutlmv2.visual_embeddings(inputs["image"])
        return outputs

    return run


def switches(length: int, quick: bool) -> List[dict]:
    """Each saving switched off in turn (token head, batch 1): what it is worth, same run."""
    model = full_size_model(HEADS["token"])
    inputs = synthetic_inputs(model.config, 1, length)
    repeats, budget = (3, 8.0) if quick else (8, 30.0)
    rows = []

    def row(name, function, **extra):
        rows.append(_row(name, "switches", function, 1, repeats, budget, length=length, **extra))

    base = model.layoutlmv2
    row("ours (sdpa, inference_mode, shared biases, p2 only)", _forward(model, inputs))
    row("torch.no_grad instead of inference_mode", _forward(model, inputs, "no_grad"))
    row("autograd on (no no_grad)", _forward(model, inputs, "grad"))
    model.set_attn_implementation("eager")
    row("eager attention", _forward(model, inputs))
    base.encoder.fold_padding_mask = False
    row("eager attention, padded keys masked in every layer (reference)", _forward(model, inputs))
    base.encoder.fold_padding_mask = True
    model.set_attn_implementation("sdpa")
    base.encoder.share_bias = False
    row("biases recomputed in every layer", _forward(model, inputs))
    base.encoder.share_bias = True
    one_hot = copy.deepcopy(model)
    _one_hot_biases(one_hot.layoutlmv2.encoder)
    row("biases by one-hot matmul (original code; transformers' too)", _forward(one_hot, inputs))
    del one_hot
    full_fpn = copy.deepcopy(model)
    _all_fpn_levels(full_fpn.layoutlmv2.visual)
    row("FPN p2..p6 computed (reference)", _forward(full_fpn, inputs))
    del full_fpn
    sequence = full_size_model(HEADS["sequence"])
    row("sequence head, backbone once", _forward(sequence, inputs), head="sequence")
    twice = _backbone_twice(sequence)
    row("sequence head, backbone twice (reference)", lambda: _inference(twice, inputs), head="sequence")
    del sequence, twice
    channels_last = copy.deepcopy(model)
    channels_last.layoutlmv2.visual.to(memory_format=torch.channels_last)
    row("channels-last visual backbone", _forward(channels_last, inputs))
    del channels_last
    if not quick:
        rows.extend(compiled(model, inputs, repeats, budget, length))
    return rows


def _inference(function, inputs):
    with torch.inference_mode():
        return function(**inputs)


def compiled(model, inputs, repeats: int, budget: float, length: int) -> List[dict]:
    """torch.compile, first-call compile time and steady latency: the whole model (inductor,
    default mode), and the visual backbone alone compiled in place with inductor's freezing
    (weights as constants: batch norms folded into the convolutions, weights packed once). The
    backbone's input is always a 224 x 224 page, so it compiles once whatever the text length."""
    import time

    flops = count_flops(_forward(model, inputs))
    with torch.inference_mode():
        eager_logits = model(**inputs).logits

    def frozen_visual():
        frozen = copy.deepcopy(model)
        frozen.layoutlmv2.visual.compile(options={"freezing": True})
        return frozen

    rows = []
    for name, build in (("torch.compile (inductor)", lambda: torch.compile(model)),
                        ("visual backbone compiled in place, inductor freezing", frozen_visual)):
        try:
            candidate = build()
            start = time.perf_counter()
            with torch.inference_mode():
                logits = candidate(**inputs).logits
            compile_s = time.perf_counter() - start
            rows.append(_row(name, "switches", _forward(candidate, inputs), 1, repeats, budget, flops=flops,
                             length=length, compile_s=compile_s, **_drift(logits, eager_logits)))
        except Exception as error:  # noqa: BLE001 - a failed compile is a result to report, not a crash
            rows.append({"name": name, "group": "switches", "error": repr(error)[:300]})
    return rows


def _drift(logits: torch.Tensor, reference: torch.Tensor) -> Dict[str, float]:
    logits, reference = logits.float().flatten(), reference.float().flatten()
    return {"max_abs_diff": float((logits - reference).abs().max()),
            "cosine": float(F.cosine_similarity(logits, reference, dim=0))}


def precision(length: int, batch: int, quick: bool) -> List[dict]:
    """fp32 vs int8 (fbgemm, torchao) vs bfloat16 (autocast, visual stream only): speed and logits drift.

    `quick`: fp32, bf16 autocast and int8 (fbgemm) only.
    """
    from layoutlmv2.deployment.torch_quantization import bf16_autocast, quantize_dynamic_int8, visual_in_bfloat16

    model = full_size_model(HEADS["token"])
    inputs = synthetic_inputs(model.config, batch, length)
    repeats, budget = (3, 8.0) if quick else (8, 30.0)
    flops = count_flops(_forward(model, inputs))
    with torch.inference_mode():
        reference = model(**inputs).logits
    rows = []

    def row(name, candidate, autocast=False):
        def run():
            with torch.inference_mode(), bf16_autocast(enabled=autocast):
                return candidate(**inputs)

        drift = _drift(run().logits, reference)
        rows.append(_row(name, "precision", run, batch, repeats, budget, flops=flops, length=length, batch=batch,
                         **drift))

    row("fp32", model)
    row("bf16 autocast", model, autocast=True)
    int8 = quantize_dynamic_int8(model, backend="fbgemm")
    row("int8 encoder (fbgemm)", int8)
    if quick:
        return rows
    bf16_visual = visual_in_bfloat16(model)
    row("bf16 visual stream", bf16_visual)
    del bf16_visual
    int8_bf16 = visual_in_bfloat16(int8)
    row("int8 encoder + bf16 visual", int8_bf16)
    del int8, int8_bf16
    try:
        torchao = quantize_dynamic_int8(model, backend="torchao")
        row("int8 encoder (torchao)", torchao)
    except ValueError as error:
        rows.append({"name": "int8 encoder (torchao)", "group": "precision", "error": str(error)})
    return rows
