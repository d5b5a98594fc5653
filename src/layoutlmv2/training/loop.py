"""A small, resumable fine-tuning loop for the LayoutLMv2 task heads on CPU or GPU.

What it does, and why:

* AdamW with two learning rates: weights that came from a pre-trained checkpoint get ``lr``;
  weights that start from scratch (layout tables, relative biases, visual side, head) get
  ``lr * new_lr_scale`` — they have everything to learn and would crawl at a fine-tuning rate.
  The relative-position bias tables get a further ``bias_lr_scale``: each entry is one
  attention-logit offset that must grow from 0 to a few units to matter, while Adam moves a
  parameter by about its learning rate per step (5e-4 x 1000 steps is at most 0.5).
  No weight decay on biases, layer norms and the 1-D/2-D tables.
* ``group_by_length``: each batch holds windows of similar length (`training.length_grouping`),
  so little of it is padding.
* Linear warmup over ``warmup_ratio`` of the optimizer steps, then linear decay to 0.
* Gradient accumulation (``grad_accum`` micro-batches per step), gradient-norm clipping.
* ``device`` (auto: CUDA, else MPS, else CPU) and ``precision`` (`deployment.devices`): fp32,
  bf16 autocast, or fp16 autocast with a `torch.amp.GradScaler` (scale, unscale before
  clipping, step, update; its state is in the checkpoints). ``bf16=True`` is ``precision="bf16"``.
  Training batches are pinned and copied with ``non_blocking``; ``compile=True`` trains
  ``torch.compile(model)`` (the uncompiled module is what is saved).
* Evaluation after every epoch; the best model (by the task's main metric) is kept in
  ``<output>/best`` with ``save_pretrained``, together with the processor files.
* Checkpoints every ``save_steps`` optimizer steps and at every epoch end, in
  ``<output>/checkpoint-<step>``: weights, optimizer, scheduler, RNG states and position.
  Each is written to a ``.tmp`` folder and renamed when complete, and the previous one is
  deleted only after that, so Ctrl-C (or a crash) never leaves a half-written checkpoint nor
  loses the last complete one. ``resume=True`` continues from the newest complete one at the
  same step, on the same batch order (each epoch's order is drawn from ``seed + epoch``).
* ``metrics.jsonl`` (one JSON object per log/eval event) and ``curves.png`` (matplotlib).
* Under ``torchrun``, `DistributedDataParallel` over the processes (`training.distributed`): each
  rank trains on its share of every epoch, rank 0 alone evaluates and writes; ``sync_batch_norm``
  turns the frozen batch norms into trained `SyncBatchNorm` (GPUs only).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import pickle
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import torch

from ..deployment.devices import autocast, grad_scaler, move_batch, resolve_device, resolve_precision
from ..tasks.windows import Encoded, collate
from ..tasks.definitions import Task
from .distributed import distributed_context, shard
from .length_grouping import length_grouped_order

logger = logging.getLogger(__name__)

STATE_FILE = "training_state.pt"
ARGS_FILE = "training_args.json"
METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "curves.png"


@dataclass
class TrainingArguments:
    """Every knob of `Trainer`; saved as ``training_args.json`` next to the checkpoints."""

    output_dir: str
    epochs: int = 10
    batch_size: int = 4
    eval_batch_size: int = 8
    lr: float = 5e-5
    new_lr_scale: float = 1.0
    bias_lr_scale: float = 1.0  # relative-position bias tables: lr * new_lr_scale * bias_lr_scale
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    bf16: bool = False  # the same as precision="bf16" (kept for old scripts and training_args.json files)
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto: fp32 on CPU/MPS, bf16 or fp16 on CUDA)
    compile: bool = False  # torch.compile the model
    seed: int = 42
    save_steps: int = 0  # 0: checkpoint only at epoch ends
    logging_steps: int = 10
    max_steps: int = 0  # 0: run all epochs (tests use a few steps)
    eval_each_epoch: bool = True
    progress: bool = True
    dataloader_workers: int = 0  # processes collating the next batches while the model trains (0: in line)
    group_by_length: bool = False  # batches of windows of similar length (`training.length_grouping`)
    sync_batch_norm: bool = False  # under torchrun: train the visual batch norms as SyncBatchNorm (GPUs)
    extra: dict[str, Any] = field(default_factory=dict)  # recorded as is (model/data options)

    def __post_init__(self) -> None:
        checks = {"epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1, "lr": self.lr > 0,
                  "grad_accum": self.grad_accum >= 1, "warmup_ratio": 0 <= self.warmup_ratio < 1,
                  "max_grad_norm": self.max_grad_norm >= 0, "new_lr_scale": self.new_lr_scale > 0,
                  "bias_lr_scale": self.bias_lr_scale > 0,
                  "save_steps": self.save_steps >= 0, "max_steps": self.max_steps >= 0,
                  "dataloader_workers": self.dataloader_workers >= 0}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"invalid training argument {name}={getattr(self, name)!r}")
        if self.bf16:
            if (self.precision or "auto") not in ("auto", "bf16"):
                raise ValueError(f"bf16=True is precision='bf16', but precision={self.precision!r} was also given")
            self.precision = "bf16"


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _no_decay(name: str) -> bool:
    return name.endswith(".bias") or "LayerNorm" in name or "_embeddings" in name or name.endswith("_bias")


def _is_relative_bias(name: str) -> bool:
    return ".rel_pos" in name


def parameter_groups(model: torch.nn.Module, pretrained: Sequence[str], lr: float, new_lr_scale: float,
                     weight_decay: float, bias_lr_scale: float = 1.0) -> list[dict[str, Any]]:
    """AdamW groups: (pretrained | new) x (decay | no decay), plus the relative-position biases
    on their own (new, no decay, ``bias_lr_scale`` faster); empty groups are left out."""
    pretrained = set(pretrained)
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    biases: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if _is_relative_bias(name) and name not in pretrained:
            biases.append(parameter)
        else:
            groups.setdefault((name in pretrained, _no_decay(name)), []).append(parameter)
    out = []
    for (is_pretrained, no_decay), params in sorted(groups.items()):
        out.append({"params": params, "lr": lr if is_pretrained else lr * new_lr_scale,
                    "weight_decay": 0.0 if no_decay else weight_decay,
                    "name": f"{'pretrained' if is_pretrained else 'new'}{'-no-decay' if no_decay else ''}"})
    if biases:
        out.append({"params": biases, "lr": lr * new_lr_scale * bias_lr_scale, "weight_decay": 0.0,
                    "name": "new-relative-bias"})
    return out


def warmup_linear(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """LR factor: 0 -> 1 over ``warmup_steps``, then 1 -> 0 at ``total_steps``."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def _rng_state() -> dict[str, Any]:
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    # plain numbers and tensors only, so that resuming can load the state with weights_only=True
    state = {"python": random.getstate(), "numpy": (kind, keys.tolist(), position, has_gauss, gauss),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, position, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class _Collate:
    """(batch index, window indices) -> one padded batch (a class, so DataLoader workers can receive it)."""

    def __init__(self, data: Encoded) -> None:
        self.data = data

    def __call__(self, item: tuple[int, Sequence[int]]) -> dict[str, torch.Tensor]:
        _, picked = item
        return collate([self.data.windows[i] for i in picked], self.data.pages)


def _replace_dir(tmp: Path, final: Path) -> None:
    """Move a completed ``tmp`` folder to ``final``; an older ``final`` is removed only afterwards."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


class Trainer:
    """Fine-tune ``model`` on ``train`` windows for a `Task`; see the module docstring.

    ``pretrained`` lists the parameter names loaded from a checkpoint (for the two learning
    rates). ``save_extra(folder)`` writes anything that belongs beside a saved model (the
    processor), so ``<output>/best`` is a complete model folder.
    """

    def __init__(self, model: torch.nn.Module, task: Task, args: TrainingArguments, train: Encoded,
                 eval_data: Optional[Encoded] = None, eval_documents: Optional[Sequence] = None,
                 pretrained: Sequence[str] = (), save_extra: Optional[Callable[[Path], None]] = None) -> None:
        if len(train) == 0:
            raise ValueError("no training windows")
        if (eval_data is None) != (eval_documents is None):
            raise ValueError("give both eval_data and eval_documents, or neither")
        self.model, self.task, self.args = model, task, args
        self.train_data, self.eval_data, self.eval_documents = train, eval_data, eval_documents
        self.pretrained = list(pretrained)
        self.save_extra = save_extra
        self.output = Path(args.output_dir)
        set_seed(args.seed)
        self.device = resolve_device(args.device)
        self.dist = distributed_context(self.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)  # one GPU per process
        shard_size = len(shard(range(len(train)), self.dist.rank, self.dist.world_size))
        self.batches_per_epoch = math.ceil(shard_size / args.batch_size)
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / args.grad_accum)
        self.total_steps = self.steps_per_epoch * args.epochs
        if args.max_steps:
            self.total_steps = min(self.total_steps, args.max_steps)
        self.amp_dtype, needs_scaler = resolve_precision(args.precision, self.device)
        if args.sync_batch_norm:
            self._check_sync_batch_norm()
            model.synchronize_batch_norm()
        self.model = model = model.to(self.device)
        self.scaler = grad_scaler(self.device, needs_scaler)
        # what runs the forward passes; self.model (unwrapped, uncompiled) is what is saved and loaded
        self.runner = self._wrapped(model)
        self.optimizer = torch.optim.AdamW(
            parameter_groups(model, self.pretrained, args.lr, args.new_lr_scale, args.weight_decay,
                             args.bias_lr_scale), lr=args.lr)
        warmup = int(round(args.warmup_ratio * self.total_steps))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, warmup_linear(self.total_steps, warmup))
        self.global_step = 0
        self.epoch = 0  # epochs completed
        self.batches_done = 0  # micro-batches done in the current epoch
        self.best_metric: Optional[float] = None
        self.history: list[dict[str, Any]] = []
        self.main_metric = task.main_metric

    def _wrapped(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel under torchrun, then ``torch.compile`` when asked."""
        runner = model
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            runner = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        return torch.compile(runner) if self.args.compile else runner

    def _check_sync_batch_norm(self) -> None:
        if not self.dist.enabled:
            raise ValueError("sync_batch_norm needs a distributed run (torchrun --nproc_per_node N ...)")
        if self.device.type != "cuda":
            raise ValueError(f"sync_batch_norm trains only on CUDA GPUs (PyTorch's SyncBatchNorm refuses "
                             f"{self.device.type} tensors); this run is on {self.device}")

    # ------------------------------------------------------------------ order and batches
    def epoch_order(self, epoch: int) -> list[int]:
        """This rank's windows for ``epoch``: its share of one random order that every rank draws alike."""
        generator = torch.Generator().manual_seed(self.args.seed + epoch)
        order = torch.randperm(len(self.train_data), generator=generator).tolist()
        if self.args.group_by_length:
            lengths = [len(window.input_ids) for window in self.train_data.windows]
            order = length_grouped_order(order, lengths, self.args.batch_size * self.dist.world_size, generator)
        return shard(order, self.dist.rank, self.dist.world_size)

    def batch_collator(self) -> Callable[[tuple[int, Sequence[int]]], dict[str, Any]]:
        """(batch index in the epoch, window indices) -> one batch; picklable, for DataLoader workers."""
        return _Collate(self.train_data)

    def epoch_batches(self, order: list[int]) -> Iterator[dict[str, torch.Tensor]]:
        """The epoch's batches from ``batches_done`` on, on the device: collated in line, or by
        ``dataloader_workers`` processes ahead of the model (pinned for CUDA, copied ``non_blocking``)."""
        size = self.args.batch_size
        picks = [(i, order[i * size: (i + 1) * size]) for i in range(self.batches_done, self.batches_per_epoch)]
        collate_picked = self.batch_collator()
        if self.args.dataloader_workers == 0:
            for picked in picks:
                yield move_batch(collate_picked(picked), self.device, pin_memory=True)
            return
        from torch.utils.data import DataLoader

        loader = DataLoader(picks, batch_size=None, shuffle=False, collate_fn=collate_picked,
                            num_workers=self.args.dataloader_workers, pin_memory=self.device.type == "cuda")
        for batch in loader:
            yield move_batch(batch, self.device)

    # ------------------------------------------------------------------ checkpoints
    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (``.tmp`` folders are never complete)."""
        found = [p for p in self.output.glob("checkpoint-*") if p.is_dir() and p.name.split("-", 1)[1].isdigit()]
        return sorted(found, key=lambda p: int(p.name.split("-", 1)[1]))

    def save_checkpoint(self) -> Path:
        final = self.output / f"checkpoint-{self.global_step}"
        if not self.dist.is_main:
            return final
        tmp = self.output / f"checkpoint-{self.global_step}.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        self.model.save_pretrained(tmp)
        torch.save({
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": _rng_state(), "global_step": self.global_step, "epoch": self.epoch,
            "batches_done": self.batches_done, "best_metric": self.best_metric, "history": self.history,
        }, tmp / STATE_FILE)
        _replace_dir(tmp, final)
        for older in self.checkpoints():
            if older != final:
                shutil.rmtree(older)
        logger.info("checkpoint saved: %s", final)
        return final

    def resume(self) -> bool:
        """Load the newest complete checkpoint; False when there is none."""
        best_old = self.output / "best.old"
        if self.dist.is_main and best_old.exists() and not (self.output / "best").exists():
            best_old.rename(self.output / "best")  # an interrupted best-model swap
        found = self.checkpoints()
        if not found:
            return False
        folder = found[-1]
        from safetensors.torch import load_file

        weights = folder / "model.safetensors"
        if weights.is_file():
            self.model.load_state_dict(load_file(str(weights)))
        else:
            self.model.load_state_dict(type(self.model).from_pretrained(folder).state_dict())
        try:  # never unpickles code: tensors, numbers, strings and containers only
            state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as error:
            raise ValueError(f"{folder / STATE_FILE} holds more than tensors and numbers (written by an older "
                             f"version?); it is not loaded: {str(error).splitlines()[0]}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        self.global_step, self.epoch, self.batches_done = state["global_step"], state["epoch"], state["batches_done"]
        self.best_metric, self.history = state["best_metric"], state["history"]
        self._rewrite_metrics()
        logger.info("resumed from %s (step %d, epoch %d, batch %d)", folder, self.global_step, self.epoch,
                    self.batches_done)
        return True

    def save_best(self) -> None:
        if not self.dist.is_main:
            return
        tmp = self.output / "best.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        self.model.save_pretrained(tmp)
        if self.save_extra is not None:
            self.save_extra(tmp)
        _replace_dir(tmp, self.output / "best")

    # ------------------------------------------------------------------ logging
    def _log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if not self.dist.is_main:
            return
        with open(self.output / METRICS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def _learning_rates(self) -> dict[str, float]:
        """``lr`` (pre-trained weights, or the only rate) and ``lr_new`` (fresh weights) right now."""
        rates = {group["name"].replace("-no-decay", ""): group["lr"] for group in self.optimizer.param_groups}
        out = {"lr": rates.get("pretrained", rates.get("new"))}
        if "pretrained" in rates and "new" in rates:
            out["lr_new"] = rates["new"]
        return out

    def _rewrite_metrics(self) -> None:
        """After a resume the file holds only what the checkpoint knew (no duplicated steps)."""
        if not self.dist.is_main:
            return
        with open(self.output / METRICS_FILE, "w", encoding="utf-8") as handle:
            for record in self.history:
                handle.write(json.dumps(record) + "\n")

    def plot(self) -> Optional[Path]:
        """Training loss per step and the evaluation metric per epoch, as ``curves.png``."""
        if not self.dist.is_main:
            return None
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            logger.warning("matplotlib is not installed: no %s", PLOT_FILE)
            return None
        train = [r for r in self.history if "loss" in r]
        evals = [r for r in self.history if self.main_metric in r]
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        left.plot([r["step"] for r in train], [r["loss"] for r in train])
        left.set(xlabel="optimizer step", ylabel="training loss", title="loss", yscale="log")
        right.plot([r["epoch"] for r in evals], [r[self.main_metric] for r in evals], marker="o")
        right.set(xlabel="epoch", ylabel=self.main_metric, title=f"evaluation: {self.main_metric}")
        figure.tight_layout()
        path = self.output / PLOT_FILE
        figure.savefig(path, dpi=100)
        plt.close(figure)
        return path

    # ------------------------------------------------------------------ evaluate
    def evaluate(self) -> dict[str, float]:
        runner = self.model if self.dist.enabled else self.runner  # rank 0 alone: no collectives
        outputs = self.task.window_outputs(runner, self.eval_data, self.args.eval_batch_size,
                                           autocast=self.amp_dtype, progress=self.args.progress)
        predictions = self.task.decode(self.eval_documents, self.eval_data, outputs)
        return self.task.evaluate(self.eval_documents, predictions)

    # ------------------------------------------------------------------ train
    def train(self, resume: bool = False) -> dict[str, Any]:
        """Run (or continue) training; returns the final summary (also in ``summary.json``)."""
        from tqdm.auto import tqdm

        self._prepare_output(resume)
        started = time.time()
        self.model.train()
        bar = tqdm(total=self.total_steps, initial=self.global_step, desc="train",
                   disable=not (self.args.progress and self.dist.is_main))
        try:
            self._run_epochs(bar)
        finally:
            bar.close()
            self._remove_partial_saves()
        if self.eval_data is None or not self.args.eval_each_epoch or not (self.output / "best").exists():
            self.save_best()  # nothing to select on (or stopped mid-epoch before any evaluation)
        self.plot()
        self.dist.barrier()  # every rank returns once rank 0's saves are complete
        return self._write_summary(time.time() - started)

    def _remove_partial_saves(self) -> None:
        """Delete ``*.tmp`` folders (saves that never completed), on rank 0 only: it alone saves, and
        another rank that finished first once deleted the checkpoint rank 0 was still writing."""
        if not self.dist.is_main:
            return
        for stale in self.output.glob("*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)

    def _prepare_output(self, resume: bool) -> None:
        """The output folder: stale partial saves removed, the run resumed or its metrics log restarted."""
        if self.dist.is_main:
            self.output.mkdir(parents=True, exist_ok=True)
        self._remove_partial_saves()
        self.dist.barrier()
        resumed = resume and self.resume()
        if self.dist.is_main:
            if not resumed:
                (self.output / METRICS_FILE).write_text("", encoding="utf-8")
            (self.output / ARGS_FILE).write_text(json.dumps(asdict(self.args), indent=2) + "\n", encoding="utf-8")

    def _run_epochs(self, bar: Any) -> None:
        """Optimiser steps until the epochs or the step budget run out; logs, checkpoints, evaluations."""
        args = self.args
        running, running_count = torch.zeros((), device=self.device), 0  # summed on the device: no sync per batch
        while self.epoch < args.epochs and self.global_step < self.total_steps:
            batches = self.epoch_batches(self.epoch_order(self.epoch))
            while self.batches_done < self.batches_per_epoch and self.global_step < self.total_steps:
                running_count += self._optimizer_step(batches, running)
                bar.update(1)
                if self.global_step % args.logging_steps == 0 or self.global_step == self.total_steps:
                    self._log_loss(bar, float(self.dist.mean(running)) / max(running_count, 1))
                    running, running_count = torch.zeros((), device=self.device), 0
                if args.save_steps and self.global_step % args.save_steps == 0:
                    self.save_checkpoint()
            if self.batches_done >= self.batches_per_epoch:
                self.epoch += 1
                self.batches_done = 0
                self._end_of_epoch()
                self.save_checkpoint()

    def _optimizer_step(self, batches: Iterator[dict[str, torch.Tensor]], running: torch.Tensor) -> int:
        """One step over a group of ``grad_accum`` batches; adds their losses to ``running`` (in place)
        and returns how many batches it ran."""
        accum = self.args.grad_accum
        group_start = (self.batches_done // accum) * accum
        group = range(group_start, min(group_start + accum, self.batches_per_epoch))
        self.optimizer.zero_grad(set_to_none=True)
        for index in group:
            synced = index == group[-1] or not self.dist.enabled
            with contextlib.nullcontext() if synced else self.runner.no_sync():  # all-reduce once per step
                loss = self._backward(next(batches), len(group))
            running += loss.detach() * len(group)
        self._apply_gradients()
        self.scheduler.step()
        self.global_step += 1
        self.batches_done = group[-1] + 1
        return len(group)

    def _backward(self, batch: Any, group_size: int) -> torch.Tensor:
        """Forward (under autocast) and backward of one batch; its loss is divided by ``group_size``."""
        with autocast(self.device, self.amp_dtype):
            outputs = self.runner(**self.task.model_inputs(batch))
        loss = self.task.loss(outputs, batch) / group_size  # float32, on the device
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        return loss

    def _apply_gradients(self) -> None:
        """Clip (the unscaled gradients under fp16) and step the optimiser."""
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients
        if self.args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.max_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)  # skipped when the gradients overflowed
            self.scaler.update()
        else:
            self.optimizer.step()

    def _log_loss(self, bar: Any, loss: float) -> None:
        record = {"step": self.global_step, "epoch": self.epoch + self.batches_done / self.batches_per_epoch,
                  "loss": loss, **self._learning_rates()}
        bar.set_postfix(loss=f"{record['loss']:.4f}")
        self._log(record)

    def _write_summary(self, seconds: float) -> dict[str, Any]:
        summary = {"global_step": self.global_step, "epochs_completed": self.epoch, "world_size": self.dist.world_size,
                   "best_" + self.main_metric: self.best_metric, "train_seconds": round(seconds, 1),
                   "best_model": str(self.output / "best")}
        if self.dist.is_main:
            (self.output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return summary

    def _end_of_epoch(self) -> None:
        if self.eval_data is None or not self.args.eval_each_epoch:
            return
        if not self.dist.is_main:
            self.dist.barrier()  # rank 0 evaluates
            return
        scores = self.evaluate()
        record = {"step": self.global_step, "epoch": self.epoch, **{k: float(v) for k, v in scores.items()}}
        self._log(record)
        value = scores[self.main_metric]
        logger.info("epoch %d: %s", self.epoch, json.dumps(scores))
        if self.best_metric is None or value > self.best_metric:
            self.best_metric = float(value)
            self.save_best()
        self.plot()
        self.dist.barrier()
