"""An exported LayoutLMv2 graph run by ONNX Runtime, called like the PyTorch model.

`OnnxModel("model.onnx")(input_ids=..., bbox=..., image=..., attention_mask=...)` returns a
dict of CPU tensors named as the PyTorch outputs (`logits`, `start_logits`, ...), so the
same code paths take either: `batching.predict` (length-sorted batches, several workers),
`Task.window_outputs` for evaluation, and the benchmarks.

Several workers: `session.run` releases the GIL and one session serves concurrent calls, so
`runs_concurrently = True` tells `worker_pool` to run `workers` pages at once in threads of this
process, on one session of `cores // workers` intra-op threads: one copy of the weights, nothing to
start, and each page on its own core, which beats one session splitting every operation over both
cores (50 FUNSD pages on 2 cores, three runs: fp32 493-508 against 530-548 ms per page, smoothed
int8 184-203 against 200-261). Two threads on a session of 2 intra-op threads oversubscribe the
cores (fp32, 20 pages: 619-656 ms per page).
The session is reopened (about 2 s for the full-size model) when the thread count changes.

Memory: ONNX Runtime's CPU arena keeps, for the life of the session, the largest activations of
any batch it has run. Batches of 4 x 512 tokens made the full-size int8 graph's process peak at
1752 MB with the arena and 1344 MB without (fp32: 2352 against 2236 MB; `benchmarks/onnx_memory.py`),
for batch times within the noise of each other, so `memory_arena=False` is the default.

Pickling sends the path and settings only (a session cannot be pickled), and ONNX Runtime's
global state does not survive `fork` (a session opened in a forked child hung here), so
`fork_safe = False` makes `worker_pool.run_in_processes` spawn, not fork, if it gets this model.

Example:
    >>> from layoutlmv2.deployment.onnx_export import to_onnx
    >>> to_onnx(model, "model.onnx")                             # doctest: +SKIP
    >>> onnx_model = OnnxModel("model.onnx")                     # doctest: +SKIP
    >>> predict(onnx_model, encodings, batch_size=1, workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Union

import torch

from .. import registry
from .onnx_io import INPUT_NAMES, onnx_feed


def check_providers(providers: Optional[Sequence[str]] = None) -> tuple[str, ...]:
    """The execution providers to open sessions with: ``("CPUExecutionProvider",)`` by default;
    ValueError for one this onnxruntime does not have (CUDA: install onnxruntime-gpu)."""
    if providers is None:
        return ("CPUExecutionProvider",)
    if isinstance(providers, str):
        providers = [providers]
    providers = tuple(providers)
    if not providers:
        raise ValueError("providers must name at least one ONNX Runtime execution provider")
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError("OnnxModel needs onnxruntime: pip install 'layoutlmv2[onnx]'") from error
    available = onnxruntime.get_available_providers()
    missing = [name for name in providers if name not in available]
    if "CUDAExecutionProvider" in missing:
        raise ValueError("CUDAExecutionProvider was asked for but this onnxruntime has no CUDA support "
                         f"(available: {', '.join(available)}); install onnxruntime-gpu instead of onnxruntime "
                         "(pip uninstall onnxruntime && pip install onnxruntime-gpu), or use the CPU provider")
    if missing:
        raise ValueError(f"ONNX Runtime execution provider(s) {', '.join(missing)} not available here; "
                         f"available: {', '.join(available)}")
    return providers


class OnnxModel:
    """Callable with the keyword inputs of a LayoutLMv2 model; returns `{output name: tensor}`.

    `threads`: intra-op threads of the session (default: `torch.get_num_threads()` in the
    process that first runs it). Inference only: `train()` raises.

    `memory_arena`: keep ONNX Runtime's CPU memory arena (off by default: see the module docstring).

    `providers`: ONNX Runtime execution providers in order of preference (default
    ``["CPUExecutionProvider"]``), e.g. ``["CUDAExecutionProvider", "CPUExecutionProvider"]``; each must
    be one onnxruntime reports available (`onnxruntime.get_available_providers()`), and asking for
    CUDA without the onnxruntime-gpu package is a ValueError saying so. Inputs and outputs stay CPU
    tensors (ONNX Runtime copies them to and from the GPU).
    """

    training = False
    fork_safe = False
    runs_concurrently = True

    def __init__(self, path: Union[str, Path], threads: Optional[int] = None,
                 providers: Optional[Sequence[str]] = None, memory_arena: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"no ONNX file at {self.path}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        self.threads = threads
        self.providers = check_providers(providers)
        self.memory_arena = bool(memory_arena)
        self._session: Any = None
        self._session_key: Optional[tuple[int, int]] = None  # (process id, intra-op threads) it was opened for
        session = self.session()  # fail here, not on the first page, if the file is not a model
        self.output_names = tuple(output.name for output in session.get_outputs())
        self.output_ranks = tuple(len(output.shape) for output in session.get_outputs())
        self.image_shape = tuple(session.get_inputs()[INPUT_NAMES.index("image")].shape[1:])  # (3, H, W)

    def session(self) -> Any:
        """This process's `onnxruntime.InferenceSession` for the current thread count, opened on first use.

        Only one session is kept: a new thread count closes the old one first (the full-size fp32
        graph holds 800 MB of weights).
        """
        key = (os.getpid(), self.threads or torch.get_num_threads())
        if self._session is None or self._session_key != key:
            try:
                import onnxruntime
            except ImportError as error:
                raise ImportError("OnnxModel needs onnxruntime: pip install 'layoutlmv2[onnx]'") from error
            self._session = None
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = key[1]
            options.inter_op_num_threads = 1
            options.enable_cpu_mem_arena = self.memory_arena
            try:
                self._session = onnxruntime.InferenceSession(str(self.path), options,
                                                             providers=list(self.providers))
            except Exception as error:  # onnxruntime raises its own classes (InvalidProtobuf, Fail, ...)
                raise ValueError(f"cannot load {self.path} as an ONNX model: {error}") from error
            self._session_key = key
        return self._session

    @contextmanager
    def using_threads(self, threads: int) -> Iterator["OnnxModel"]:
        """Within the block, calls run on a session of `threads` intra-op threads, opened here once
        (not by the first of several concurrent calls); the previous setting applies afterwards."""
        previous = self.threads
        self.threads = threads
        try:
            self.session()
            yield self
        finally:
            self.threads = previous

    def __call__(self, input_ids: torch.Tensor, bbox: torch.Tensor, image: torch.Tensor,
                 attention_mask: Optional[torch.Tensor] = None, token_type_ids: Optional[torch.Tensor] = None,
                 return_dict: bool = True, **unexpected: Any) -> Dict[str, torch.Tensor]:
        if unexpected:
            raise ValueError(f"an exported model takes only {', '.join(INPUT_NAMES)}; got {sorted(unexpected)}")
        if tuple(image.shape[1:]) != self.image_shape:
            raise ValueError(f"{self.path.name} was exported for images of shape {self.image_shape}; "
                             f"got {tuple(image.shape[1:])} (export again with image_size=...)")
        feed = onnx_feed(input_ids, bbox, image, attention_mask, token_type_ids)
        values = self.session().run(list(self.output_names), feed)
        return {name: torch.from_numpy(value) for name, value in zip(self.output_names, values)}

    def check_compatible(self, class_name: str, image_size: Mapping[str, int]) -> "OnnxModel":
        """Raise unless this graph has the outputs of `class_name` and takes the processor's `image_size`.

        Checked before any page is encoded, so a file exported from another head or at another
        image size fails at once, with both values named.
        """
        spec = registry.task_for_class(class_name)
        expected = (spec.outputs, spec.output_ranks) if spec is not None else (None, None)
        if spec is not None and (self.output_names, self.output_ranks) != expected:
            raise ValueError(f"{self.path.name} returns {self.output_names} of ranks {self.output_ranks}; "
                             f"a {class_name} returns {expected[0]} of ranks {expected[1]} "
                             "(export the model of this folder)")
        size = (3, image_size["height"], image_size["width"])
        if self.image_shape != size:
            raise ValueError(f"{self.path.name} takes images of shape {self.image_shape}; the processor makes {size} "
                             "(export with layoutlmv2-export, which reads the folder's image size)")
        return self

    def eval(self) -> "OnnxModel":
        return self

    def train(self, mode: bool = True) -> "OnnxModel":
        if mode:
            raise ValueError("an ONNX model runs inference only; train the PyTorch model")
        return self

    def __getstate__(self) -> Dict[str, Any]:
        """Another process gets the path and settings, and opens its own session."""
        state = dict(self.__dict__)
        state["_session"], state["_session_key"] = None, None
        return state

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.path)!r}, outputs={self.output_names}, image={self.image_shape})"
