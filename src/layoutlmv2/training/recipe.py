"""The whole fine-tuning recipe as plain calls: processor, model, data, `Trainer`, evaluation.

`finetune` is what ``layoutlmv2 train`` runs (``layoutlmv2 evaluate`` is `layoutlmv2.inference.evaluate`).

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
from typing import Any, Optional, Union

import torch

from ..configuration import backbone_preset
from ..deployment.devices import precision_name, resolve_device, resolve_precision
from ..preprocessing.image_processing import LayoutLMv2ImageProcessor
from ..preprocessing.processing import LayoutLMv2Processor
from ..preprocessing.tokenization_fast import LayoutLMv2TokenizerFast
from ..registry import load_dataset
from ..tasks.definitions import Task, make_task
from .loop import Trainer, TrainingArguments
from .text_init import config_from_bert, load_text_weights

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


def processor_for_pages(processor: LayoutLMv2Processor) -> LayoutLMv2Processor:
    """The processor a trained folder keeps: training reads words from the data set, but the saved one
    OCRs raw pages (``apply_ocr=True``, transformers' default), so ``processor(Image.open(page))`` works."""
    settings = {**processor.image_processor.to_dict(), "apply_ocr": True}
    settings.pop("image_processor_type", None)
    return LayoutLMv2Processor(image_processor=LayoutLMv2ImageProcessor(**settings), tokenizer=processor.tokenizer)


# --backbone-depth of the command line -> the named backbone it builds
BACKBONE_BY_DEPTH = {50: "resnext50_32x4d", 101: "resnext101_32x8d"}


def backbone_args(depth: int = 50) -> dict[str, Any]:
    """detectron2 settings for ``--backbone-depth``: 50 (ResNeXt-50 32x4d, smallest) or 101 (the paper's)."""
    if depth not in BACKBONE_BY_DEPTH:
        raise ValueError(f"backbone depth must be one of {sorted(BACKBONE_BY_DEPTH)}, got {depth}")
    return backbone_preset(BACKBONE_BY_DEPTH[depth])


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
                config_overrides: Optional[dict[str, Any]] = None,
                layout_scale: float = 1.0) -> tuple[torch.nn.Module, list[str]]:
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
        names = load_text_weights(model, init_text_from, layout_init=layout_init, layout_scale=layout_scale)
        return model, names
    from ..configuration import LayoutLMv2Config

    if "LayoutLMv2ForPreTraining" in (LayoutLMv2Config.from_pretrained(model_dir).architectures or []):
        # a `layoutlmv2 pretrain` folder: its base model, this task's labels, a fresh head
        model = task.model_class.from_pretrained(model_dir, **task.config_labels(), **(config_overrides or {}))
    else:
        model = task.model_class.from_pretrained(model_dir, **(config_overrides or {}))
    if task.labels is not None and [model.config.id2label[i] for i in range(model.config.num_labels)] != task.labels:
        raise ValueError(f"{model_dir} predicts {list(model.config.id2label.values())}, the data set has {task.labels}")
    model.config.finetuning_task = task.name
    return model, [name for name, _ in model.named_parameters() if not name.startswith(("classifier", "qa_outputs", "extractor"))]


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
    layout_scale: float = 1.0,
    label_smoothing: float = 0.0,
    num_layers: Optional[int] = None,
    limit: Optional[int] = None,
    lang: Optional[str] = None,
    resume: bool = False,
    config_overrides: Optional[dict[str, Any]] = None,
    ocr_cache: Optional[Union[str, Path]] = None,
    **training: Any,
) -> dict[str, Any]:
    """Fine-tune on ``dataset``'s train split, evaluating on ``eval_split`` after each epoch.

    ``training`` holds `TrainingArguments` fields (epochs, batch_size, lr, device, precision,
    compile, ...). ``limit``
    keeps the first documents of each split (smoke runs); ``lang`` picks XFUND's language. Returns the trainer's summary plus
    the final evaluation of the best model. ``ocr_cache``: the folder of cached Tesseract words for
    data sets of page images only (RVL-CDIP, DocVQA without OCR files; default ``~/.cache/layoutlmv2/ocr``).
    """
    started = time.time()
    checked = TrainingArguments(output_dir=str(output_dir), **training)  # bad arguments fail before any loading
    resolve_precision(checked.precision, resolve_device(checked.device))  # so do a missing GPU and fp16 on CPU
    task = make_task(task_name, dataset, label_smoothing=label_smoothing)
    torch.manual_seed(training.get("seed", 42))  # the fresh weights depend on it
    model, pretrained = build_model(task, init_text_from, model_dir, backbone_depth, layout_init, num_layers,
                                    config_overrides, layout_scale)
    apply_visual_mode(model, visual_mode)
    processor = _finetuning_processor(init_text_from, model_dir, image_size)
    train_docs, train = _encoded_split(task, dataset, data_dir, train_split, limit, processor, max_length, stride,
                                       lang, ocr_cache)
    eval_docs = eval_data = None
    if eval_split:
        eval_docs, eval_data = _encoded_split(task, dataset, data_dir, eval_split, limit, processor, max_length,
                                              stride, lang, ocr_cache)
    logger.info("%s: %d train documents -> %d windows; %s documents -> %s windows", dataset, len(train_docs),
                len(train), len(eval_docs or []), len(eval_data) if eval_data is not None else 0)
    recipe = dict(task=task_name, dataset=dataset, data_dir=str(data_dir), init_text_from=str(init_text_from),
                  model_dir=str(model_dir), max_length=max_length, stride=stride, image_size=image_size,
                  visual_mode=visual_mode, backbone_depth=backbone_depth, layout_init=layout_init,
                  layout_scale=layout_scale, label_smoothing=label_smoothing, num_layers=num_layers, limit=limit, lang=lang,
                  config_overrides=config_overrides)
    args = TrainingArguments(output_dir=str(output_dir), extra=recipe, **training)
    trainer = Trainer(model, task, args, train, eval_data, eval_docs, pretrained,
                      save_extra=lambda folder: processor_for_pages(processor).save_pretrained(folder))
    summary = {**trainer.train(resume=resume), **_run_facts(trainer, recipe, train_docs, train)}
    if not trainer.dist.is_main:  # torchrun: rank 0 evaluates the best model and writes the summary
        return summary
    if getattr(train, "stats", None):  # relation extraction: entities and links no window holds whole
        summary["train_stats"] = train.stats
        if eval_data is not None:
            summary["test_stats"] = eval_data.stats
    if eval_docs is not None:
        summary.update(_evaluate_best(task, trainer, Path(output_dir) / "best", eval_docs, eval_data))
    summary["wall_seconds"] = round(time.time() - started, 1)
    (Path(output_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _run_facts(trainer: Trainer, recipe: dict, train_docs: list, train: Any) -> dict:
    """What the summary records about the run besides the trainer's own numbers."""
    parameters = list(trainer.model.parameters())
    return dict(device=str(trainer.device), precision=precision_name(trainer.amp_dtype), recipe=recipe,
                train_windows=len(train), train_documents=len(train_docs),
                trainable_parameters=sum(p.numel() for p in parameters if p.requires_grad),
                parameters=sum(p.numel() for p in parameters))


def _finetuning_processor(init_text_from: Any, model_dir: Any, image_size: int) -> LayoutLMv2Processor:
    """A new processor over the text model's vocabulary, or the fine-tuned model's own (no OCR either way)."""
    if init_text_from is not None:
        return build_processor(init_text_from, image_size)
    processor = LayoutLMv2Processor.from_pretrained(model_dir, apply_ocr=False)
    processor.image_processor.size = {"height": image_size, "width": image_size}
    return processor


def _encoded_split(task: Any, dataset: str, data_dir: Any, split: str, limit: Optional[int],
                   processor: LayoutLMv2Processor, max_length: int, stride: int, lang: Optional[str] = None,
                   ocr_cache: Optional[Union[str, Path]] = None) -> tuple:
    """(documents, encoded windows) of one split, the first ``limit`` documents when given."""
    documents = load_dataset(dataset, data_dir, split, lang, ocr_cache=ocr_cache, limit=limit)
    return documents, task.encode(documents, processor.tokenizer, processor.image_processor, max_length, stride)


def _evaluate_best(task: Any, trainer: Trainer, best_dir: Path, eval_docs: list, eval_data: Any) -> dict:
    """The best checkpoint's scores on the evaluation split."""
    best = task.model_class.from_pretrained(best_dir).to(trainer.device)
    outputs = task.window_outputs(best, eval_data, trainer.args.eval_batch_size, autocast=trainer.amp_dtype)
    return {"test": task.evaluate(eval_docs, task.decode(eval_docs, eval_data, outputs)),
            "test_documents": len(eval_docs)}
