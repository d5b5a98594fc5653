"""Run a fine-tuned model on page files: images (PNG/JPEG/TIFF, every TIFF frame) and PDFs.

Words come from Tesseract OCR (the image processor with ``apply_ocr``) unless given in a words
JSON file (`layoutlmv2.inference.words_file`). `Predictor.iter_files` streams: pages are read,
predicted and yielded a few at a time, and a file that cannot be read is one failed `PageResult`
(the others go on), so a caller can write each result as soon as it is ready.

Each page gives one JSON-able dict: ``file``, ``page``, ``size``, ``words``, ``boxes`` (0..1000)
and, by task, ``labels``/``scores``/``entities`` (token classification), ``label``/
``probabilities`` (sequence classification) or ``answer``/``score`` (question answering).
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

from PIL import Image

from ..configuration import LayoutLMv2Config
from ..data.document import Document
from ..deployment.worker_pool import check_workers
from ..errors import LayoutLMv2Error
from ..preprocessing.ocr_engines import EngineSpec, ocr_engine, ocr_page
from ..preprocessing.pages import Dpi, iter_pages, page_count
from .streaming import PageJob, page_jobs, prefetched
from ..tasks.definitions import Task, task_from_config
from .words_file import page_words, read_words_json

logger = logging.getLogger(__name__)

__all__ = ["PageResult", "Predictor", "draw_prediction", "iter_pages", "pixel_box", "read_words_json"]

PAGES_PER_STEP = 8  # pages read and predicted together by `Predictor.iter_files` (length-sorted batches)


@dataclass
class PageResult:
    """One page's prediction (``record``, with its ``image``), or why the file failed (``error``)."""

    file: str
    page: Optional[int]
    record: Optional[dict[str, Any]] = None
    image: Optional[Image.Image] = None
    error: Optional[str] = None
    input: int = 0  # position of its input among the inputs


class Predictor:
    """A fine-tuned model folder (model + processor) ready to label pages."""

    def __init__(self, model_dir: Union[str, Path], max_length: int = 512, stride: int = 128,
                 batch_size: int = 4, workers: int = 1, onnx: Optional[Union[str, Path]] = None,
                 device: str = "auto", precision: str = "auto", compile: bool = False,
                 ocr: EngineSpec = "tesseract", ocr_lang: Optional[str] = None,
                 ocr_workers: Optional[int] = None, entities_from: Optional[Union[str, Path]] = None) -> None:
        """`onnx`: an exported file of this folder's model, run in ONNX Runtime instead of PyTorch.
        `device` (auto | cpu | cuda | cuda:N | mps), `precision` (auto | fp32 | bf16 | fp16):
        `layoutlmv2.deployment.devices`; `compile`: ``torch.compile`` the model. `ocr`: the engine
        for pages without given words (`layoutlmv2.preprocessing.ocr_engines`; ``ocr_lang`` for
        Tesseract, default the folder's), run on ``ocr_workers`` threads (default: all cores).
        `entities_from`: for a relation-extraction model, the token-classification folder whose
        entities it links (`layoutlmv2.inference.key_values`)."""
        from .loading import load_inference_model, load_processor, resolve_placement

        self.device, self.autocast = resolve_placement(device, precision, workers=workers, onnx=onnx)

        self.model_dir = Path(model_dir)
        with naming_the_folder(self.model_dir):
            config = LayoutLMv2Config.from_pretrained(self.model_dir)
            self.task: Task = task_from_config(config)
            self.processor = load_processor(self.model_dir)
            self.model = load_inference_model(self.task, self.model_dir, self.processor, onnx, device=self.device,
                                              compile=compile)
        self.max_length, self.stride, self.batch_size = max_length, stride, batch_size
        self.workers = check_workers(workers)  # processes sharing the cores (`layoutlmv2.worker_pool`)
        settings = self.processor.image_processor
        self.ocr_engine = ocr_engine(ocr, ocr_lang if ocr_lang is not None else
                                     (settings.ocr_lang if ocr in (None, "tesseract") else None),
                                     settings.tesseract_config)
        self.ocr_workers = ocr_workers
        self.entity_predictor = self._entity_predictor(entities_from, max_length, stride, batch_size, device,
                                                       precision)

    def _entity_predictor(self, entities_from, max_length, stride, batch_size, device, precision
                          ) -> Optional["Predictor"]:
        """The token-classification predictor a relation-extraction model needs for its entities."""
        from .key_values import check_entity_model

        if self.task.name != "relation-extraction":
            if entities_from is not None:
                raise LayoutLMv2Error(f"entities_from (--entities-from) is for relation-extraction models; "
                                      f"{self.model_dir} is a {self.task.name} model")
            return None
        if entities_from is None:
            raise LayoutLMv2Error(f"{self.model_dir} is a relation-extraction model: give entities_from= "
                                  "(--entities-from), a token-classification model folder whose entities it links")
        with naming_the_folder(Path(entities_from)):
            task = task_from_config(LayoutLMv2Config.from_pretrained(entities_from))
        check_entity_model(entities_from, task.name, task.labels or [])
        return Predictor(entities_from, max_length=max_length, stride=stride, batch_size=batch_size, device=device,
                         precision=precision)

    def ocr(self, image: Image.Image) -> tuple[list[str], list[list[int]]]:
        """Words and 0..1000 boxes of one page, from this predictor's OCR engine."""
        return ocr_page(self.ocr_engine, image)

    def check_question(self, question: Optional[str]) -> None:
        """A QA model needs a question; the other tasks must not get one (it would be ignored)."""
        is_qa = self.task.name == "question-answering"
        if is_qa and not question:
            raise LayoutLMv2Error(f"{self.model_dir} is a question-answering model: give a question")
        if question and not is_qa:
            raise LayoutLMv2Error(f"a question was given, but {self.model_dir} is a {self.task.name} model "
                                  f"(only question-answering models take one)")

    def predict_pages(self, pages: Sequence[Image.Image], words: Optional[Sequence[dict[str, Any]]] = None,
                      question: Optional[str] = None, names: Optional[Sequence[tuple[str, int]]] = None
                      ) -> list[dict[str, Any]]:
        """Predictions for in-memory pages; ``words[i]`` optionally gives page i's words (see module doc)."""
        self.check_question(question)
        if words is not None and len(words) != len(pages):
            raise LayoutLMv2Error(f"{len(pages)} pages but words for {len(words)}")
        names = names if names is not None else [("<memory>", i + 1) for i in range(len(pages))]
        documents = []
        for i, image in enumerate(pages):
            page, boxes, clamped = (None, None, 0) if words is None else page_words(words[i], image.width, image.height)
            documents.append(self._document(image, page, boxes, question, names[i], clamped))
        return self._predict_documents(documents, names, question)

    def iter_inputs(self, inputs: Iterable[Any], words_json: Optional[Union[str, Path]] = None,
                    question: Optional[str] = None, dpi: Dpi = "auto") -> Iterator[PageResult]:
        """Every page of every input (paths, PDF or image bytes, PIL images, numpy arrays), in order,
        predicted `PAGES_PER_STEP` pages at a time while the next pages are OCR'd (`streaming`).

        An input that cannot be read (or OCR'd) yields one `PageResult` with ``error`` and the run
        goes on; problems of the whole run (a bad words file, no Tesseract, a question for the wrong
        model) raise before anything is predicted or when first met.
        """
        self.check_question(question)
        words = None
        if words_json is not None:
            inputs = [str(item) for item in inputs]
            words = self._words_by_page(inputs, words_json)
        jobs = prefetched(page_jobs(inputs, dpi), None if words is not None else self.ocr,
                          ahead=2 * PAGES_PER_STEP, workers=self.ocr_workers)
        pending: list[tuple[Document, tuple[str, int]]] = []
        for job in jobs:
            if job.error is None and words is not None:
                job = self._with_words_entry(job, words)
            if job.error is not None:
                yield from self._results(pending, question)
                pending = []
                yield PageResult(job.source, job.page, error=job.error, input=job.input)
                continue
            name = (job.source, job.page)
            document = self._document(job.image, job.words, job.boxes, question, name, job.clamped,
                                      ocr_name=None if words is not None else self.ocr_engine.name)
            document.extra["input"] = job.input
            pending.append((document, name))
            if len(pending) >= PAGES_PER_STEP:
                yield from self._results(pending, question)
                pending = []
        yield from self._results(pending, question)

    def iter_files(self, files: Iterable[Union[str, Path]], words_json: Optional[Union[str, Path]] = None,
                   question: Optional[str] = None, dpi: Dpi = "auto") -> Iterator[PageResult]:
        """`iter_inputs` over files (the command line's path)."""
        return self.iter_inputs([str(file) for file in files], words_json, question, dpi)

    def predict_files(self, files: Sequence[Union[str, Path]], words_json: Optional[Union[str, Path]] = None,
                      question: Optional[str] = None, dpi: Dpi = "auto"
                      ) -> tuple[list[dict[str, Any]], list[Image.Image]]:
        """(per-page predictions, the page images) for every page of every file; the first failure raises."""
        records, images = [], []
        for result in self.iter_files(files, words_json, question, dpi):
            if result.error is not None:
                raise LayoutLMv2Error(result.error)
            records.append(result.record)
            images.append(result.image)
        return records, images

    # ------------------------------------------------------------------ steps
    def _words_by_page(self, files: Sequence[str], words_json: Union[str, Path]
                       ) -> dict[tuple[str, int], dict[str, Any]]:
        """The words file's entries keyed by (file, page): one entry per page the files declare, in order
        (a file that cannot be opened declares none; it fails on its own)."""
        entries = read_words_json(words_json)
        keys = [(file, number) for file in files for number in range(1, page_count(file) + 1)]
        if len(keys) != len(entries):
            raise LayoutLMv2Error(f"{words_json} has words for {len(entries)} pages, but the files have "
                                  f"{len(keys)} pages")
        return dict(zip(keys, entries))

    @staticmethod
    def _with_words_entry(job: PageJob, words: dict[tuple[str, int], dict[str, Any]]) -> PageJob:
        """The job with its words-file entry's words and 0..1000 boxes (checked against the page)."""
        entry = words.get((job.source, job.page))
        if entry is None:
            job.error = f"{job.source} page {job.page}: not counted in the words file (its header declares fewer pages)"
            return job
        job.words, job.boxes, clamped = page_words(entry, job.image.width, job.image.height)
        if clamped:
            logger.warning("%s page %d: %d word box(es) spill over the %d x %d page; clamped to it",
                           job.source, job.page, clamped, job.image.width, job.image.height)
            job.clamped = clamped
        return job

    def _document(self, image: Image.Image, words: Optional[list[str]], boxes: Optional[list[list[int]]],
                  question: Optional[str], name: tuple[str, int], clamped: int = 0,
                  ocr_name: Optional[str] = None) -> Document:
        """One page as a `Document`: the given words and 0..1000 boxes (``ocr_name``: the engine that read
        them), or OCR'd now."""
        ocr = ocr_name
        if words is None:
            words, boxes = self.ocr(image)
            ocr = self.ocr_engine.name
        return Document(id=f"{name[0]}#{name[1]}", words=[str(w) for w in words], boxes=boxes,
                        page_size=image.size, question=question,
                        extra={"image": image, "clamped_boxes": clamped, "ocr": ocr})

    def _results(self, pending: Sequence[tuple[Document, tuple[str, int]]], question: Optional[str]
                 ) -> Iterator[PageResult]:
        if not pending:
            return
        documents, names = [d for d, _ in pending], [n for _, n in pending]
        for document, name, record in zip(documents, names, self._predict_documents(documents, names, question)):
            yield PageResult(name[0], name[1], record=record, image=document.extra["image"],
                             input=document.extra.get("input", 0))

    def _predict_documents(self, documents: Sequence[Document], names: Sequence[tuple[str, int]],
                           question: Optional[str]) -> list[dict[str, Any]]:
        entity_records = self._predicted_entities(documents, names)
        encoded = self.task.encode(documents, self.processor.tokenizer, self.processor.image_processor,
                                   self.max_length, self.stride)
        outputs = self.task.window_outputs(self.model, encoded, self.batch_size, autocast=self.autocast,
                                           workers=self.workers)
        decoded = self.task.decode(documents, encoded, outputs)
        results = []
        for document, name, prediction in zip(documents, names, decoded):
            width, height = document.page_size
            record = {"file": name[0], "page": name[1], "size": [width, height], "task": self.task.name,
                      "words": document.words, "boxes": document.boxes,
                      "boxes_pixels": [pixel_box(b, width, height) for b in document.boxes]}
            if document.extra.get("ocr"):
                record["ocr"] = document.extra["ocr"]
            if document.extra.get("clamped_boxes"):
                record["clamped_boxes"] = document.extra["clamped_boxes"]
            if question is not None:
                record["question"] = question
            if entity_records is not None:
                from .key_values import with_boxes

                record["entities"] = entity_records[len(results)]["entities"]
                prediction = with_boxes(prediction, document.boxes)
            record.update(prediction)
            results.append(record)
        return results

    def _predicted_entities(self, documents: Sequence[Document], names: Sequence[tuple[str, int]]
                            ) -> Optional[list[dict[str, Any]]]:
        """Relation extraction: the entity model's records, its entities set on each document."""
        from .key_values import set_predicted_entities

        if self.entity_predictor is None:
            return None
        records = self.entity_predictor._predict_documents(documents, names, None)
        for document, record in zip(documents, records):
            set_predicted_entities(document, record["entities"])
        return records


@contextmanager
def naming_the_folder(folder: Path) -> Iterator[None]:
    """Errors while a model folder loads name the folder (a damaged vocab.txt, a config field of the wrong
    type, ...), as one `LayoutLMv2Error` unless they are already ours and name it."""
    try:
        yield
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, LayoutLMv2Error) and str(folder) in message:
            raise
        raise LayoutLMv2Error(message if str(folder) in message else f"{folder}: {message}") from error


def pixel_box(box: Sequence[int], width: int, height: int) -> list[int]:
    """A 0..1000 box back to (rounded) pixels of a ``width`` x ``height`` page."""
    x0, y0, x1, y1 = box
    return [round(x0 * width / 1000), round(y0 * height / 1000), round(x1 * width / 1000), round(y1 * height / 1000)]


def draw_prediction(image: Image.Image, record: dict[str, Any], label_names: Optional[Sequence[str]] = None
                    ) -> Image.Image:
    """The page with its predicted word labels (token classification) or answer words (QA) boxed."""
    from .drawing import draw_labels

    if "pairs" in record:
        from .drawing import draw_pairs

        width, height = image.size
        return draw_pairs(image, [(pixel_box(p["key"]["box"], width, height), pixel_box(p["value"]["box"], width, height))
                                  for p in record["pairs"]])
    if "labels" in record:
        return draw_labels(image, record["boxes_pixels"], record["labels"], types=label_names)
    labels = ["O"] * len(record["words"])
    if record.get("span") is not None:
        first, last = record["span"]
        labels[first: last + 1] = ["ANSWER"] * (last - first + 1)
    return draw_labels(image, record["boxes_pixels"], labels)
