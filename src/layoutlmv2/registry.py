"""The one table of what the library can do: tasks (head, outputs, metric) and data sets (reader, labels).

Everything that needs to know "which class answers token classification" or "which data sets
are there" reads it here: the command line's choices, the task code, the trainer's model
selection, ONNX export and ONNX Runtime. Adding a task or a data set is one entry below (plus,
for a task, its `layoutlmv2.tasks.definitions.Task` subclass for encoding and decoding).

==========================  =============================================  =====================
task                        data sets                                      main metric
==========================  =============================================  =====================
token-classification        funsd, xfund, sroie, cord, kleister-nda        entity F1 (seqeval)
sequence-classification     forms-vs-receipts, rvl-cdip                    accuracy
question-answering          funsd-qa, docvqa                               ANLS
relation-extraction         funsd, xfund                                   relation F1 (gold entities)
base (export only)          -                                              -
==========================  =============================================  =====================
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from torch import nn

from . import data
from .modeling import heads, model, relation_extraction
from .preprocessing.ocr_cache import CachedOcr

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSpec:
    """A task as the command line names it, and the model class that does it."""

    name: str
    model_class: type[nn.Module]
    outputs: tuple[str, ...]  # what an exported graph returns, in order
    output_ranks: tuple[int, ...]  # rank of each output (token and sequence logits share a name)
    main_metric: Optional[str]  # selects the best checkpoint; None: not a fine-tuning task
    has_labels: bool  # whether the config carries a label list (id2label)


TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    TaskSpec("token-classification", heads.LayoutLMv2ForTokenClassification, ("logits",), (3,), "entity_f1", True),
    TaskSpec("sequence-classification", heads.LayoutLMv2ForSequenceClassification, ("logits",), (2,),
             "accuracy", True),
    TaskSpec("question-answering", heads.LayoutLMv2ForQuestionAnswering, ("start_logits", "end_logits"), (2, 2),
             "anls", False),
    TaskSpec("relation-extraction", relation_extraction.LayoutLMv2ForRelationExtraction, ("last_hidden_state",),
             (3,), "relation_f1", False),
    TaskSpec("base", model.LayoutLMv2Model, ("last_hidden_state", "pooler_output"), (3, 2), None, False),
)}

FINETUNING_TASKS = [name for name, spec in TASKS.items() if spec.main_metric is not None]


def task_spec(name: str) -> TaskSpec:
    """The entry of a task name, or a ValueError that lists the names."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]


def task_for_class(class_name: str) -> Optional[TaskSpec]:
    """The entry whose model class has this name (as in config.json's ``architectures``), or None."""
    return next((spec for spec in TASKS.values() if spec.model_class.__name__ == class_name), None)


@dataclass(frozen=True)
class DatasetSpec:
    """How to read a data set, and which task and labels it has."""

    name: str
    task: str
    labels: Optional[list[str]]  # None for question answering
    load: Callable[[Path, str], list[data.Document]]
    layout: str  # what --data-dir holds, for error messages
    also: tuple[str, ...] = ()  # other tasks the same documents serve (their labels are not `labels`)
    languages: tuple[str, ...] = ()  # what --lang may choose (XFUND's seven); empty: one language
    page_ocr: bool = False  # pages may need OCR: `load` takes ``ocr=`` (a `CachedOcr`)

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.task, *self.also)


DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (
    DatasetSpec("funsd", "token-classification", data.FUNSD_LABELS, data.load_funsd,
                "the FUNSD root (training_data/, testing_data/)", also=("relation-extraction",)),
    DatasetSpec("xfund", "token-classification", data.FUNSD_LABELS, data.load_xfund,
                "the XFUND folder (<lang>.train.json, <lang>.val.json, e.g. de.train.json; split test reads val)",
                also=("relation-extraction",), languages=data.XFUND_LANGUAGES),
    DatasetSpec("sroie", "token-classification", data.SROIE_LABELS, data.load_sroie,
                "the SROIE root (train/, test/ with img/, box/, entities/)"),
    DatasetSpec("cord", "token-classification", data.CORD_LABELS, data.load_cord,
                "the CORD root (train/, dev/, test/ with json/ and image/)"),
    DatasetSpec("kleister-nda", "token-classification", data.KLEISTER_LABELS, data.load_kleister_nda_tagged,
                "the Kleister-NDA root (train/, dev-0/ with in.tsv, expected.tsv)"),
    DatasetSpec("forms-vs-receipts", "sequence-classification", data.FORMS_VS_RECEIPTS_LABELS,
                lambda root, split: data.load_forms_vs_receipts(root / "funsd", root / "sroie", split),
                "a folder holding funsd/ and sroie/ (a smoke test: a colour histogram separates them)"),
    DatasetSpec("rvl-cdip", "sequence-classification", data.RVL_CDIP_CLASSES, data.load_rvl_cdip,
                "the RVL-CDIP root (labels/<split>.txt, <split>.json of the Kaggle subset, or <split>/<class>/ "
                "folders); words from Tesseract, cached", page_ocr=True),
    DatasetSpec("funsd-qa", "question-answering", None, data.load_funsd_qa, "the FUNSD root"),
    DatasetSpec("docvqa", "question-answering", None, data.load_docvqa_split,
                "the DocVQA root (<split>/<split>_v1.0.json, images and ocr_results/; without OCR files, words "
                "from Tesseract, cached), or the folder holding <split>_v1.0.json", page_ocr=True),
)}


def dataset_spec(name: str) -> DatasetSpec:
    """The entry of a data set name, or a ValueError that lists the names."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {sorted(DATASETS)}")
    return DATASETS[name]


def load_dataset(name: str, data_dir: Union[str, Path], split: str, lang: Optional[str] = None,
                 ocr_cache: Union[str, Path, None] = None, limit: Optional[int] = None) -> list[data.Document]:
    """Documents of one split of a data set named as on the command line (``lang``: XFUND's language).

    Data sets of page images only (``page_ocr``) get their words from Tesseract through a
    `CachedOcr` in ``ocr_cache`` (default ``~/.cache/layoutlmv2/ocr``): a page is OCRed once, and
    with ``limit`` only the first ``limit`` documents are read (and OCRed).
    """
    spec = dataset_spec(name)
    if lang is not None and lang not in spec.languages:
        raise ValueError(f"--lang {lang!r}: {name} " + (f"has the languages {', '.join(spec.languages)}"
                                                        if spec.languages else "has one language (--lang is for xfund)"))
    folder = Path(data_dir)
    if not folder.exists():
        raise FileNotFoundError(f"--data-dir {folder} does not exist ({name} expects {spec.layout})")
    if spec.page_ocr:
        ocr = CachedOcr(ocr_cache)
        documents = spec.load(folder, split, ocr=ocr, limit=limit)  # type: ignore[call-arg]
        if ocr.misses or ocr.hits:
            logger.info("%s %s: OCR cache %s: %d hits, %d pages OCRed", name, split, ocr.cache_dir, ocr.hits,
                        ocr.misses)
    else:
        documents = spec.load(folder, split, lang) if lang is not None else spec.load(folder, split)
        documents = documents[:limit]
    if not documents:
        raise ValueError(f"{name} {split}: no documents found in {folder}")
    return documents
