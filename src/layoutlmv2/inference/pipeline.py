"""`layoutlmv2.pipeline`: from scanned pages and PDFs to answers in one call.

    from layoutlmv2 import pipeline

    extract = pipeline("token-classification", model="runs/funsd/best")
    for page in extract(["scan.pdf", "form.png"]):           # one list of pages per input
        ...
    ask = pipeline("document-question-answering", model="runs/docvqa/best", top_k=3)
    ask("invoice.png", question="What is the total?")[0]["answers"]

Inputs: a path, PDF or image bytes, a PIL image, a numpy array, or a list/iterator of them. Each
page gives one JSON-able dict (`Predictor` records): ``file`` (the path, or ``<image 2>`` for
in-memory inputs), ``page``, ``size``, ``ocr`` (the engine that read the words), ``words``,
``boxes`` (0..1000), ``boxes_pixels``, and by task:

- token classification: ``entities`` (word labels merged into spans, as transformers'
  ``aggregation_strategy="simple"``: ``type``, ``text``, ``words``, ``score`` (mean), ``box`` and
  ``box_pixels``), plus ``labels``/``scores`` per word;
- document question answering: ``answers`` (`top_k`, best first: ``answer``, ``score``,
  ``start``/``end`` word indices, ``box``, ``box_pixels``); long pages go through ``doc_stride``
  windows; ``handle_impossible_answer`` lets the empty answer win;
- document classification: ``label``, ``score`` and ``probabilities``;
- key-value pairs (a relation-extraction model, ``entities_from=`` a token-classification model):
  ``pairs`` (``key`` and ``value``, each ``text``, ``words``, ``box`` and ``box_pixels``; ``score``)
  and the ``entities`` they were found among.

A page or file that fails gives a dict with ``error`` (and no prediction) in its place, so one bad
file of many loses nothing else. `DocumentPipeline.stream` yields pages one by one as they are
ready (pages are OCR'd on a thread pool ahead of the model).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Union

from PIL import Image

from ..errors import LayoutLMv2Error
from .loading import resolve_placement
from ..preprocessing.ocr_engines import EngineSpec
from ..preprocessing.pages import Dpi, page_count
from .predictor import PageResult, Predictor, pixel_box

__all__ = ["DocumentPipeline", "PIPELINE_TASKS", "pipeline"]

# pipeline task names (transformers' and ours) -> the model's task
PIPELINE_TASKS = {
    "token-classification": "token-classification", "ner": "token-classification",
    "document-question-answering": "question-answering", "question-answering": "question-answering",
    "document-classification": "sequence-classification", "sequence-classification": "sequence-classification",
    "key-value-pairs": "relation-extraction", "relation-extraction": "relation-extraction",
}

_SINGLE = (str, Path, bytes, bytearray, memoryview, Image.Image)


def pipeline(task: Optional[str] = None, model: Union[str, Path, None] = None, ocr: EngineSpec = "tesseract",
             device: str = "auto", onnx: Optional[Union[str, Path]] = None, precision: str = "auto",
             max_length: int = 512, doc_stride: int = 128, batch_size: int = 4, top_k: int = 1,
             handle_impossible_answer: bool = False, dpi: Dpi = "auto", ocr_lang: Optional[str] = None,
             ocr_workers: Optional[int] = None, progress: bool = False, workers: int = 1,
             compile: bool = False, entities_from: Union[str, Path, None] = None) -> "DocumentPipeline":
    """A pipeline over a fine-tuned model folder (or hub id); ``task`` defaults to the model's and must
    agree with it. See the module docstring for inputs and outputs. A relation-extraction model
    ("key-value-pairs") needs ``entities_from``: the token-classification folder whose entities it links."""
    if model is None:
        raise LayoutLMv2Error("pipeline needs model= (a fine-tuned model folder or hub id)")
    if task is not None and task not in PIPELINE_TASKS:
        raise LayoutLMv2Error(f"unknown pipeline task {task!r}; choose from {sorted(PIPELINE_TASKS)}")
    resolve_placement(device, precision, workers=workers, onnx=onnx)  # a bad device is named before any download
    predictor = Predictor(_local_folder(model), max_length=max_length, stride=doc_stride, batch_size=batch_size,
                          onnx=onnx, device=device, precision=precision, ocr=ocr, ocr_lang=ocr_lang,
                          ocr_workers=ocr_workers, workers=workers, compile=compile,
                          entities_from=None if entities_from is None else _local_folder(entities_from))
    if task is not None and PIPELINE_TASKS[task] != predictor.task.name:
        raise LayoutLMv2Error(f"{model} is a {predictor.task.name} model, not one for {task!r}")
    if predictor.task.name == "question-answering":
        predictor.task.top_k, predictor.task.handle_impossible_answer = _checked_top_k(top_k), handle_impossible_answer
    elif top_k != 1 or handle_impossible_answer:
        raise LayoutLMv2Error(f"top_k and handle_impossible_answer are for question answering, not {predictor.task.name}")
    return DocumentPipeline(predictor, dpi=dpi, progress=progress)


class DocumentPipeline:
    """Pages in, JSON-able results out (see the module docstring)."""

    def __init__(self, predictor: Predictor, dpi: Dpi = "auto", progress: bool = False) -> None:
        self.predictor, self.dpi, self.progress = predictor, dpi, progress

    @property
    def task(self) -> str:
        return self.predictor.task.name

    def __call__(self, inputs: Any, question: Optional[str] = None) -> list:
        """One input -> the list of its pages' results; several -> one such list per input, in order."""
        single = isinstance(inputs, _SINGLE) or hasattr(inputs, "__array__")
        items = [inputs] if single else list(inputs)
        pages: list[list[dict[str, Any]]] = [[] for _ in items]
        for index, result in self._indexed(items, question):
            pages[index].append(result)
        return pages[0] if single else pages

    def stream(self, inputs: Iterable[Any], question: Optional[str] = None) -> Iterator[dict[str, Any]]:
        """Each page's result as soon as it is ready (failed inputs as ``{"file", "page", "error"}``)."""
        for _, result in self._indexed(inputs, question):
            yield result

    def _indexed(self, inputs: Iterable[Any], question: Optional[str]) -> Iterator[tuple[int, dict[str, Any]]]:
        for result in self.results(inputs, question):
            if result.error is not None:
                yield result.input, {"file": result.file, "page": result.page, "error": result.error}
            else:
                yield result.input, result.record

    def results(self, inputs: Iterable[Any], question: Optional[str] = None,
                words_json: Optional[Union[str, Path]] = None) -> Iterator[PageResult]:
        """The `PageResult`s (record and page image, or error) in order, with a progress bar: what the
        command line writes."""
        items = list(inputs) if isinstance(inputs, (list, tuple)) else inputs
        bar = self._progress_bar(items)
        try:
            for result in self.predictor.iter_inputs(items, words_json=words_json, question=question, dpi=self.dpi):
                bar.update(1)
                if result.record is not None:
                    with_pixel_boxes(result.record)
                yield result
        finally:
            bar.close()

    def _progress_bar(self, items):
        from tqdm.auto import tqdm

        total = None
        if isinstance(items, list) and all(isinstance(item, (str, Path)) for item in items):
            total = sum(max(page_count(item), 1) for item in items)
        elif isinstance(items, list):
            total = len(items) if not any(isinstance(i, (str, Path, bytes)) for i in items) else None
        return tqdm(total=total, unit="page", disable=not self.progress, desc=f"layoutlmv2 {self.task}")


def with_pixel_boxes(record: dict[str, Any]) -> dict[str, Any]:
    """The record with ``box_pixels`` beside every entity and answer ``box`` (0..1000)."""
    width, height = record["size"]
    sides = [pair[side] for pair in record.get("pairs", []) for side in ("key", "value")]
    for item in record.get("entities", []) + record.get("answers", []) + sides:
        if item.get("box") is not None:
            item["box_pixels"] = pixel_box(item["box"], width, height)
        elif "box" in item:
            item["box_pixels"] = None
    return record


def _checked_top_k(top_k: Any) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise LayoutLMv2Error(f"top_k must be a positive integer, got {top_k!r}")
    return top_k


def _local_folder(model: Union[str, Path]) -> Path:
    """A model folder, or a hub id downloaded (through the one resolver) into the local cache."""
    path = Path(model)
    if path.exists():
        return path
    from ..hub import resolve_folder

    return Path(resolve_folder(str(model), ("config.json",)))
