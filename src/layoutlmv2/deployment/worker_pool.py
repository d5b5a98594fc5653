"""Run inference batches in several workers, each with its own share of the cores.

Why processes and not more threads: at inference sizes (one page, a few hundred tokens) many
operations are too small to split well over threads (layer norms, GELU, the 7x7 convolutions of
res5, attention per head), so 2 threads on one page run about 1.75x one thread, while 2
processes on different pages run close to 2x. Each process gets `torch.get_num_threads() //
workers` threads.

On Linux the workers are forked: they share the parent's weights copy-on-write (no extra
memory for the parameters, no pickling) and start in milliseconds. Elsewhere, or for a model
that cannot be forked (an ONNX Runtime session hangs in a forked child:
`onnx_model.OnnxModel.fork_safe`), they are spawned and receive the model through
`torch.multiprocessing`, which moves its tensors to shared memory.
Outputs come back as NumPy arrays (plain pickles through the pipe), not as shared-memory
tensors, so a long run does not pile up open file descriptors.

A model that runs outside the GIL and serves concurrent calls (`runs_concurrently = True`: an
ONNX Runtime session, `onnx_model.OnnxModel`) needs no processes: its workers are threads of this
process, calling one shared session of `torch.get_num_threads() // workers` threads.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Dict, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import multiprocessing
from torch import nn

from .devices import autocast as autocast_context
from .devices import module_device, move_batch, outputs_to_cpu, precision_name

# The model of this worker process: set before forking, or by `_initialize` when spawned.
_MODEL: Optional[nn.Module] = None

Batch = Dict[str, torch.Tensor]
Outputs = Dict[str, np.ndarray]


def check_workers(workers: int) -> int:
    """A worker count must be a positive int (bool excluded)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    return workers


def _threads_per_worker(workers: int, given: Optional[int]) -> int:
    """`given`, or each worker's share of this process's threads (at least one)."""
    check_workers(workers)
    return given or max(1, torch.get_num_threads() // workers)


def _start_method(model: object) -> str:
    """fork on Linux, unless the model says it cannot be forked (`fork_safe = False`)."""
    return "fork" if sys.platform.startswith("linux") and getattr(model, "fork_safe", True) else "spawn"


def _initialize(model: Optional[nn.Module], threads: int) -> None:
    global _MODEL
    if model is not None:
        _MODEL = model
    torch.set_num_threads(threads)


def _run(task: Tuple[int, Batch]) -> Tuple[int, Outputs]:
    index, batch = task
    with torch.inference_mode():
        outputs = _MODEL(**batch, return_dict=True)
    return index, {name: value.numpy() for name, value in outputs.items() if isinstance(value, torch.Tensor)}


def run_batches(model: nn.Module, batches: Sequence[Batch], workers: int = 1,
                autocast: Union[bool, torch.dtype, None] = False) -> Iterator[Tuple[int, Dict[str, torch.Tensor]]]:
    """Yield `(batch index, outputs)` for every batch: in this process, or with `workers` workers
    (threads for a model that `runs_concurrently`, processes otherwise) when there is more than one
    worker and more than one batch.

    `autocast`: True (bf16) or an autocast dtype (`devices.resolve_precision`); it runs in this
    process only. A model on a GPU (`devices.module_device`) runs here too: each batch is moved to
    its device (``non_blocking``) and the outputs come back as float32 CPU tensors, as they do
    under autocast.
    """
    check_workers(workers)
    dtype = torch.bfloat16 if autocast is True else (autocast or None)
    device = module_device(model)
    if dtype is not None and workers > 1:
        raise ValueError(f"{precision_name(dtype)} autocast runs in this process only; got workers={workers}")
    if device.type != "cpu" and workers > 1:
        raise ValueError(f"a model on {device} runs in this process only; got workers={workers} "
                         "(workers are CPU processes: use --device cpu, or --workers 1)")
    if workers > 1 and len(batches) > 1:
        concurrent = getattr(model, "runs_concurrently", False)
        yield from (run_in_threads if concurrent else run_in_processes)(model, batches, workers)
        return
    convert = dtype is not None or device.type != "cpu"
    for index, batch in enumerate(batches):
        with torch.inference_mode(), autocast_context(device, dtype):
            outputs = model(**move_batch(batch, device), return_dict=True)
            if convert:
                outputs = outputs_to_cpu(outputs)
        yield index, outputs


def run_in_processes(model: nn.Module, batches: Sequence[Batch], workers: int,
                     threads_per_worker: Optional[int] = None) -> Iterator[Tuple[int, Dict[str, torch.Tensor]]]:
    """Yield `(batch index, outputs)` as each batch finishes, in completion order.

    Batches are handed out one at a time, so a worker that draws short pages takes more of them.
    Only the tensor outputs are returned (no hidden-state tuples).
    """
    global _MODEL
    threads = _threads_per_worker(workers, threads_per_worker)
    method = _start_method(model)
    context = multiprocessing.get_context(method)
    model.eval()
    if method == "fork":
        _MODEL, initargs = model, (None, threads)
    else:
        initargs = (model, threads)
    try:
        with context.Pool(min(workers, len(batches)) or 1, initializer=_initialize, initargs=initargs) as pool:
            for index, outputs in pool.imap_unordered(_run, enumerate(batches)):
                yield index, {name: torch.from_numpy(value) for name, value in outputs.items()}
    finally:
        _MODEL = None


def run_in_threads(model: nn.Module, batches: Sequence[Batch], workers: int,
                   threads_per_worker: Optional[int] = None) -> Iterator[Tuple[int, Dict[str, torch.Tensor]]]:
    """Yield `(batch index, outputs)` as each batch finishes, from `workers` threads sharing `model`.

    For models whose calls release the GIL and may overlap (`runs_concurrently`); `model` must
    offer `using_threads(n)`, which sets the intra-op threads of each call for the duration.
    """
    threads = _threads_per_worker(workers, threads_per_worker)
    with model.using_threads(threads), ThreadPoolExecutor(min(workers, len(batches)) or 1) as pool:
        futures = {pool.submit(model, **batch, return_dict=True): index for index, batch in enumerate(batches)}
        try:
            for future in as_completed(futures):
                outputs = future.result()
                yield futures[future], {name: value for name, value in outputs.items()
                                        if isinstance(value, torch.Tensor)}
        finally:
            for future in futures:  # a consumer that stops early does not wait for the rest
                future.cancel()
