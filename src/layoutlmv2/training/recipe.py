"""The whole fine-tuning recipe as plain calls: processor, model, data, `Trainer`, evaluation.

`finetune` is what ``layoutlmv2 train`` runs; `evaluate_model` what ``layoutlmv2 evaluate`` runs.

Visual stream (``visual_mode``). No pre-trained visual weights are available offline (timm would
download them), so the ResNeXt starts from random weights. Three documented choices:

* ``"train"``: train it with everything else (the paper's setting, but from scratch here);
* ``"frozen"``: keep the random backbone fixed; only the projection to the hidden size learns;
* ``"zero"``: also zero and freeze the projection, so visual tokens carry only their grid
  position and box (their 1-D/2-D embeddings): the image contributes nothing that 149 pages
  could overfit. With it a small ``image_size`` saves the backbone's compute.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from ..image_processing import LayoutLMv2ImageProcessor
from ..processing import LayoutLMv2Processor
from ..tokenization_fast import LayoutLMv2TokenizerFast
from .loop import MAIN_METRIC, Trainer, TrainingArguments
from .model_io import load_model
from .tasks import Task, load_dataset, make_task, task_from_config
from .text_init import SMALL_BACKBONE_ARGS, config_from_bert, load_text_weights

logger = logging.getLogger(__name__)

VISUAL_MODES = ("train", "frozen", "zero")


def build_processor(vocab_dir: Union[str, Path], image_size: int = 224) -> LayoutLMv2Processor:
    """Processor for words we already have (no OCR): tokenizer from ``vocab_dir/vocab.txt``."""
    vocab = Path(vocab_dir) / "vocab.txt"
    if not vocab.is_file():
        raise FileNotFoundError(f"no vocab.txt in {vocab_dir}")
    tokenizer = LayoutLMv2TokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    image_processor = LayoutLMv2ImageProcessor(apply_ocr=False, size={"height": image_size, "width": image_size})
    return LayoutLMv2Processor(image_processor=image_processor, tokenizer=tokenizer)


def load_processor(model_dir: Union[str, Path], apply_ocr: bool = False) -> LayoutLMv2Processor:
    """The processor saved beside a fine-tuned model."""
    return LayoutLMv2Processor.from_pretrained(model_dir, apply_ocr=apply_ocr)


def backbone_args(depth: int = 50) -> dict[str, Any]:
    """detectron2 settings for ``--backbone-depth``: 50 (ResNeXt-50 32x4d, smallest) or 101 (the paper's)."""
    if depth == 50:
        return dict(SMALL_BACKBONE_ARGS)
    if depth == 101:
        from ..configuration import DEFAULT_DETECTRON2_CONFIG

        return dict(DEFAULT_DETECTRON2_CONFIG)
    raise ValueError(f"backbone depth must be 50 or 101, got {depth}")


def apply_visual_mode(model: torch.nn.Module, mode: str) -> None:
    """Freeze (and for "zero", zero) the visual side; see the module docstring."""
    if mode not in VISUAL_MODES:
        raise ValueError(f"visual_mode must be one of {VISUAL_MODES}, got {mode!r}")
    base = getattr(model, "layoutlmv2", model)
    if mode in ("frozen", "zero"):
        base.visual.requires_grad_(False)
    if mode == "zero":
        with torch.no_grad():
            base.visual_proj.weight.zero_()
            base.visual_proj.bias.zero_()
        base.visual_proj.requires_grad_(False)


def build_model(task: Task, init_text_from: Optional[Union[str, Path]] = None,
                model_dir: Optional[Union[str, Path]] = None, backbone_depth: int = 50,
                layout_init: str = "sinusoidal", num_layers: Optional[int] = None,
                config_overrides: Optional[dict[str, Any]] = None) -> tuple[torch.nn.Module, list[str]]:
    """(model, names of pre-trained parameters) from a BERT folder or a LayoutLMv2 model folder.

    ``num_layers`` keeps only the first layers of the BERT checkpoint (fast tests).
    """
    if (init_text_from is None) == (model_dir is None):
        raise ValueError("give exactly one of init_text_from (a BERT folder) and model_dir (a LayoutLMv2 folder)")
    if init_text_from is not None:
        overrides = dict(task.config_labels(), **(config_overrides or {}))
        if num_layers is not None:
            overrides["num_hidden_layers"] = num_layers
        config = config_from_bert(init_text_from, backbone_args(backbone_depth), **overrides)
        config.finetuning_task = task.name
        model = task.model_class(config)
        names = load_text_weights(model, init_text_from, layout_init=layout_init)
        return model, names
    model = load_model(task.model_class, model_dir)
    if task.labels is not None and [model.config.id2label[i] for i in range(model.config.num_labels)] != task.labels:
        raise ValueError(f"{model_dir} predicts {list(model.config.id2label.values())}, the data set has {task.labels}")
    model.config.finetuning_task = task.name
    return model, [name for name, _ in model.named_parameters() if not name.startswith(("classifier", "qa_outputs"))]


def finetune(
    task_name: str,
    dataset: str,
    data_dir: Union[str, Path],
    output_dir: Union[str, Path],
    init_text_from: Optional[Union[str, Path]] = None,
    model_dir: Optional[Union[str, Path]] = None,
    *,
    train_split: str = "train",
    eval_split: Optional[str] = "test",
    max_length: int = 512,
    stride: int = 128,
    image_size: int = 224,
    visual_mode: str = "train",
    backbone_depth: int = 50,
    layout_init: str = "sinusoidal",
    label_smoothing: float = 0.0,
    num_layers: Optional[int] = None,
    limit: Optional[int] = None,
    resume: bool = False,
    config_overrides: Optional[dict[str, Any]] = None,
    **training: Any,
) -> dict[str, Any]:
    """Fine-tune on ``dataset``'s train split, evaluating on ``eval_split`` after each epoch.

    ``training`` holds `TrainingArguments` fields (epochs, batch_size, lr, ...). ``limit``
    keeps the first documents of each split (smoke runs). Returns the trainer's summary plus
    the final evaluation of the best model.
    """
    started = time.time()
    task = make_task(task_name, dataset, label_smoothing=label_smoothing)
    torch.manual_seed(training.get("seed", 42))  # the fresh weights depend on it
    model, pretrained = build_model(task, init_text_from, model_dir, backbone_depth, layout_init, num_layers,
                                    config_overrides)
    apply_visual_mode(model, visual_mode)
    processor = build_processor(init_text_from if init_text_from is not None else model_dir, image_size) \
        if init_text_from is not None else load_processor(model_dir)
    if init_text_from is None:
        processor.image_processor.size = {"height": image_size, "width": image_size}

    train_docs = load_dataset(dataset, data_dir, train_split)[:limit]
    train = task.encode(train_docs, processor.tokenizer, processor.image_processor, max_length, stride)
    eval_docs = eval_data = None
    if eval_split:
        eval_docs = load_dataset(dataset, data_dir, eval_split)[:limit]
        eval_data = task.encode(eval_docs, processor.tokenizer, processor.image_processor, max_length, stride)
    logger.info("%s: %d train documents -> %d windows; %s documents -> %s windows", dataset, len(train_docs),
                len(train), len(eval_docs or []), len(eval_data) if eval_data is not None else 0)
    recipe = dict(task=task_name, dataset=dataset, data_dir=str(data_dir), init_text_from=str(init_text_from),
                  model_dir=str(model_dir), max_length=max_length, stride=stride, image_size=image_size,
                  visual_mode=visual_mode, backbone_depth=backbone_depth, layout_init=layout_init,
                  label_smoothing=label_smoothing, num_layers=num_layers, limit=limit)
    args = TrainingArguments(output_dir=str(output_dir), extra=recipe, **training)
    trainer = Trainer(model, task, args, train, eval_data, eval_docs, pretrained,
                      save_extra=lambda folder: processor.save_pretrained(folder))
    summary = trainer.train(resume=resume)
    summary.update(recipe=recipe, train_windows=len(train), train_documents=len(train_docs),
                   trainable_parameters=sum(p.numel() for p in model.parameters() if p.requires_grad),
                   parameters=sum(p.numel() for p in model.parameters()))
    if eval_docs is not None:
        best = load_model(task.model_class, Path(output_dir) / "best")
        outputs = task.window_outputs(best, eval_data, args.eval_batch_size, autocast=args.bf16)
        summary["test"] = task.evaluate(eval_docs, task.decode(eval_docs, eval_data, outputs))
        summary["test_documents"] = len(eval_docs)
    summary["wall_seconds"] = round(time.time() - started, 1)
    (Path(output_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def load_inference_model(task: Task, model_dir: Union[str, Path], processor: LayoutLMv2Processor,
                         onnx: Optional[Union[str, Path]] = None, bf16: bool = False):
    """The folder's PyTorch model in eval mode, or with `onnx` its exported graph (`OnnxModel`), checked
    against the task's outputs and the processor's image size."""
    if onnx is None:
        return load_model(task.model_class, model_dir).eval()
    if bf16:
        raise ValueError("bf16 autocast applies to the PyTorch model; an ONNX file runs as exported")
    from ..onnx_model import OnnxModel

    return OnnxModel(onnx).check_compatible(task.model_class.__name__, processor.image_processor.size)


def evaluate_model(model_dir: Union[str, Path], dataset: str, data_dir: Union[str, Path], split: str = "test",
                   max_length: int = 512, stride: int = 128, batch_size: int = 8, limit: Optional[int] = None,
                   bf16: bool = False, workers: int = 1, onnx: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """Score a fine-tuned model folder on one split; returns the metrics and the document count.

    `onnx`: run this exported file of the folder's model in ONNX Runtime instead of PyTorch
    (the folder still gives the config and the processor).
    """
    from ..configuration import LayoutLMv2Config
    from ..worker_pool import check_workers

    check_workers(workers)  # before minutes of encoding

    config = LayoutLMv2Config.from_pretrained(model_dir)
    task = task_from_config(config, dataset)
    make_task(task.name, dataset)  # checks that the data set belongs to the model's task
    processor = load_processor(model_dir)
    model = load_inference_model(task, model_dir, processor, onnx, bf16)
    documents = load_dataset(dataset, data_dir, split)[:limit]
    encoded = task.encode(documents, processor.tokenizer, processor.image_processor, max_length, stride)
    outputs = task.window_outputs(model, encoded, batch_size, autocast=bf16, workers=workers)
    scores = task.evaluate(documents, task.decode(documents, encoded, outputs))
    return {"dataset": dataset, "split": split, "documents": len(documents), "main_metric": MAIN_METRIC[task.name],
            **scores}
