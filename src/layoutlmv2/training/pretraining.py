"""Pre-training (MVLM, TIA, TIM) on a folder of unlabelled pages: what ``layoutlmv2 pretrain`` runs.

The recipe: list the page images and PDFs, OCR each page once into the cache
(`tasks.pretraining.load_pages`), hold out a share of the pages (never trained on) for the
scores, cut the pages into token windows, and train `LayoutLMv2ForPreTraining` with the
fine-tuning `Trainer` (AdamW with two learning rates, warmup, gradient accumulation, clipping,
devices and precisions, checkpoints and ``--resume``, progress bars, ``metrics.jsonl``). Two
things differ, in `PreTrainer`: each batch is masked and covered afresh by
`PretrainingCollator` (seeded from the seed, epoch and batch, so a resumed run draws the same
masks), and the evaluation is `pretraining_scores` (MVLM, TIA and TIM accuracy on the held-out
pages, beside their majority baselines). ``<output>/best`` (best held-out MVLM accuracy) holds the
model and the processor, so ``layoutlmv2 train --model <output>/best`` fine-tunes from it (the
pre-training heads are dropped on loading, with one message).

Distributed: the `Trainer` runs one process; neither ``train`` nor ``pretrain`` wraps the model in
DistributedDataParallel today (see docs/pretraining.md).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch

from ..deployment.devices import autocast, precision_name, resolve_device, resolve_precision
from ..modeling.pretraining import OBJECTIVES, LayoutLMv2ForPreTraining
from ..tasks.pretraining import (
    MaskingSettings, PretrainingCollator, PretrainingTask, batch_seed, encode_pages, load_pages, page_files,
    pretraining_scores,
)
from .loop import Trainer, TrainingArguments
from .recipe import _finetuning_processor, apply_visual_mode, backbone_args, processor_for_pages
from .text_init import config_from_bert, load_text_weights

logger = logging.getLogger(__name__)


class PreTrainer(Trainer):
    """The `Trainer` with batches from a `PretrainingCollator` and the pre-training scores as evaluation.

    Each of the three losses is also logged on its own (``mvlm_loss``, ``tia_loss``, ``tim_loss``
    in ``metrics.jsonl``, averaged like ``loss`` over the logging interval).
    """

    def __init__(self, model, task, args, train, eval_data, collator: PretrainingCollator, pretrained=(),
                 save_extra=None) -> None:
        super().__init__(model, task, args, train, eval_data, eval_documents=[] if eval_data is not None else None,
                         pretrained=pretrained, save_extra=save_extra)
        self.collator = collator
        self._parts = {name: 0.0 for name in OBJECTIVES}
        self._part_count = 0

    def batch_collator(self):
        return _MaskedBatches(self.train_data, self.collator, self.task, self.args.seed, self.epoch)

    def _backward(self, batch, group_size):
        with autocast(self.device, self.amp_dtype):
            outputs = self.runner(**batch)
        loss = self.task.loss(outputs, batch) / group_size
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        for name in OBJECTIVES:
            self._parts[name] = self._parts[name] + outputs[f"{name}_loss"].detach()  # on the device: no sync
        self._part_count += 1
        return loss

    def _log_loss(self, bar, loss):
        super()._log_loss(bar, loss)
        record = self.history[-1]
        record.update({f"{name}_loss": float(value) / max(self._part_count, 1) for name, value in self._parts.items()})
        self._rewrite_metrics()  # the record just written, now with the three losses
        self._parts = {name: 0.0 for name in OBJECTIVES}
        self._part_count = 0

    def evaluate(self):
        runner = self.model if self.dist.enabled else self.runner  # rank 0 alone: no collectives
        return pretraining_scores(runner, self.eval_data, self.collator, self.args.eval_batch_size,
                                  seed=self.args.seed, device=self.device, autocast=self.amp_dtype)


class _MaskedBatches:
    """(batch index, window indices) -> a masked, covered batch whose masks are drawn from (seed, epoch,
    batch index): the same on a resumed run and in DataLoader workers."""

    def __init__(self, data, collator: PretrainingCollator, task, seed: int, epoch: int) -> None:
        self.data, self.collator, self.task, self.seed, self.epoch = data, collator, task, seed, epoch

    def __call__(self, item):
        index, picked = item
        generator = torch.Generator().manual_seed(batch_seed(self.seed, self.epoch, index))
        batch = self.collator([self.data.windows[i] for i in picked], self.data.pages, generator)
        return self.task.model_inputs(batch)


def build_pretraining_model(init_text_from=None, model_dir=None, backbone_depth: int = 50,
                            layout_init: str = "sinusoidal", num_layers: Optional[int] = None,
                            loss_weights: Optional[Mapping[str, float]] = None) -> tuple[LayoutLMv2ForPreTraining, list]:
    """(model, names of pre-trained parameters) from a BERT folder or any LayoutLMv2 folder."""
    if (init_text_from is None) == (model_dir is None):
        raise ValueError("give exactly one of init_text_from (a BERT folder) and model_dir (a LayoutLMv2 folder)")
    if init_text_from is not None:
        overrides = {"num_hidden_layers": num_layers} if num_layers is not None else {}
        config = config_from_bert(init_text_from, backbone_args(backbone_depth), **overrides)
        model = LayoutLMv2ForPreTraining(config, loss_weights)
        names = load_text_weights(model, init_text_from, layout_init=layout_init)
    else:
        model = LayoutLMv2ForPreTraining.from_pretrained(model_dir)
        model.loss_weights = model.check_loss_weights(loss_weights or {})
        names = [name for name, _ in model.named_parameters()]  # heads too when the folder had them
    model.config.finetuning_task = "pretraining"
    return model, names


def _split(documents: list, eval_share: float) -> tuple[list, list]:
    """The last ``eval_share`` of the pages (at least one, when there are two or more) held out."""
    if eval_share <= 0 or len(documents) < 2:
        return documents, []
    held = min(max(1, round(eval_share * len(documents))), len(documents) - 1)
    return documents[:-held], documents[-held:]


def pretrain(
    pages_dir: Union[str, Path],
    output_dir: Union[str, Path],
    init_text_from: Optional[Union[str, Path]] = None,
    model_dir: Optional[Union[str, Path]] = None,
    *,
    eval_pages_dir: Optional[Union[str, Path]] = None,
    eval_share: float = 0.1,
    cache_dir: Optional[Union[str, Path]] = None,
    ocr: str = "tesseract",
    ocr_lang: Optional[str] = None,
    max_length: int = 512,
    stride: int = 128,
    image_size: int = 224,
    backbone_depth: int = 50,
    layout_init: str = "sinusoidal",
    num_layers: Optional[int] = None,
    visual_mode: str = "train",
    loss_weights: Optional[Mapping[str, float]] = None,
    masking: Optional[Mapping[str, float]] = None,
    resume: bool = False,
    **training: Any,
) -> dict[str, Any]:
    """Pre-train on the pages of ``pages_dir``; held-out pages from ``eval_pages_dir`` or the last
    ``eval_share`` of ``pages_dir``. ``masking`` overrides `MaskingSettings` rates; ``training``
    holds `TrainingArguments` fields. The OCR cache is ``cache_dir`` (default ``<output>/ocr-cache``).
    Returns the summary (also in ``<output>/summary.json``)."""
    started = time.time()
    output = Path(output_dir)
    checked = TrainingArguments(output_dir=str(output), **training)  # bad arguments fail before any OCR
    resolve_precision(checked.precision, resolve_device(checked.device))
    LayoutLMv2ForPreTraining.check_loss_weights(loss_weights or {})
    MaskingSettings(mask_token_id=0, vocab_size=1, **dict(masking or {}))  # bad rates, too, before any OCR
    files = page_files(pages_dir)
    if not files:
        raise ValueError(f"--pages {pages_dir}: no page images or PDFs")
    cache = Path(cache_dir) if cache_dir is not None else output / "ocr-cache"
    progress = training.get("progress", True)
    documents, ocr_counts = load_pages(files, cache, ocr, ocr_lang, progress=progress)
    if eval_pages_dir is not None:
        train_docs = documents
        eval_docs, _ = load_pages(page_files(eval_pages_dir), cache, ocr, ocr_lang, progress=progress)
    else:
        train_docs, eval_docs = _split(documents, eval_share)
    if not train_docs:
        raise ValueError(f"--pages {pages_dir}: no page with words to pre-train on")

    torch.manual_seed(training.get("seed", 42))
    model, pretrained = build_pretraining_model(init_text_from, model_dir, backbone_depth, layout_init, num_layers,
                                                loss_weights)
    apply_visual_mode(model, visual_mode)
    processor = _finetuning_processor(init_text_from, model_dir, image_size)
    tokenizer = processor.tokenizer
    collator = PretrainingCollator(MaskingSettings(mask_token_id=tokenizer.mask_token_id,
                                                   vocab_size=model.config.vocab_size, **dict(masking or {})))
    train = encode_pages(train_docs, tokenizer, processor.image_processor, max_length, stride)
    eval_data = encode_pages(eval_docs, tokenizer, processor.image_processor, max_length, stride) if eval_docs else None
    logger.info("pre-training on %d pages (%d windows), %d held out", len(train_docs), len(train), len(eval_docs))
    recipe = dict(task="pretraining", pages=str(pages_dir), eval_pages=str(eval_pages_dir), eval_share=eval_share,
                  cache_dir=str(cache), ocr=ocr, ocr_lang=ocr_lang, init_text_from=str(init_text_from),
                  model_dir=str(model_dir), max_length=max_length, stride=stride, image_size=image_size,
                  backbone_depth=backbone_depth, layout_init=layout_init, num_layers=num_layers,
                  visual_mode=visual_mode, loss_weights=model.loss_weights, masking=dict(collator.settings.__dict__))
    args = TrainingArguments(output_dir=str(output), extra=recipe, **training)
    trainer = PreTrainer(model, PretrainingTask(), args, train, eval_data, collator, pretrained,
                         save_extra=lambda folder: processor_for_pages(processor).save_pretrained(folder))
    summary = trainer.train(resume=resume)
    evals = [r for r in trainer.history if "mvlm_accuracy" in r]
    summary.update(
        device=str(trainer.device), precision=precision_name(trainer.amp_dtype), recipe=recipe, ocr_files=ocr_counts,
        train_pages=len(train_docs), train_windows=len(train), eval_pages=[d.id for d in eval_docs],
        held_out=evals[-1] if evals else None, wall_seconds=round(time.time() - started, 1),
    )
    (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
