"""Run a fine-tuned model on page files: images (PNG/JPEG/TIFF, every TIFF frame) and PDFs.

Words come from Tesseract OCR (the image processor with ``apply_ocr``) unless given in a JSON
file (``words_json``)::

    {"words": ["Date:", "12/01/98"], "boxes": [[40, 30, 90, 44], [96, 30, 170, 44]]}

``boxes`` are ``[x0, y0, x1, y1]`` in **pixels of the page as given** (for a PDF: of the page
rendered at ``dpi``) unless ``"box_units": "0-1000"`` says they are already on LayoutLM's
0..1000 grid. For several pages use ``{"pages": [{"words": ..., "boxes": ...}, ...]}``, one
entry per page in file order.

Each page gives one JSON-able dict: ``file``, ``page``, ``size``, ``words``, ``boxes`` (0..1000)
and, by task, ``labels``/``scores``/``entities`` (token classification), ``label``/
``probabilities`` (sequence classification) or ``answer``/``score`` (question answering).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

from PIL import Image

from ..configuration import LayoutLMv2Config
from ..boxes import normalize_box
from ..data.document import Document
from ..deployment.worker_pool import check_workers
from ..tasks.definitions import Task, task_from_config

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
BOX_UNITS = ("pixels", "0-1000")


def iter_pages(path: Union[str, Path], dpi: int = 170) -> Iterator[Image.Image]:
    """Every page of a file as an RGB image: TIFF frames one by one, PDF pages rendered at ``dpi``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        try:
            import pypdfium2 as pdfium
        except ImportError as error:
            raise ImportError("reading PDFs needs pypdfium2: pip install 'layoutlmv2[pdf]'") from error
        pdf = pdfium.PdfDocument(str(path))
        try:
            for index in range(len(pdf)):
                page = pdf[index]
                yield page.render(scale=dpi / 72).to_pil().convert("RGB")
                page.close()
        finally:
            pdf.close()
        return
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {suffix!r} (images {sorted(IMAGE_SUFFIXES)} or .pdf)")
    with Image.open(path) as image:
        for frame in range(getattr(image, "n_frames", 1)):
            image.seek(frame)
            yield image.convert("RGB")


def read_words_json(path: Union[str, Path]) -> list[dict[str, Any]]:
    """The page entries of a words JSON file (see the module docstring), checked."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    pages = data.get("pages", [data]) if isinstance(data, dict) else None
    if not isinstance(pages, list):
        raise ValueError(f"{path}: expected an object with 'words' and 'boxes' (or 'pages': [...])")
    for number, page in enumerate(pages):
        if not isinstance(page, dict) or "words" not in page or "boxes" not in page:
            raise ValueError(f"{path}: page {number} needs 'words' and 'boxes'")
        if len(page["words"]) != len(page["boxes"]):
            raise ValueError(f"{path}: page {number} has {len(page['words'])} words but {len(page['boxes'])} boxes")
        units = page.get("box_units", data.get("box_units", "pixels") if isinstance(data, dict) else "pixels")
        if units not in BOX_UNITS:
            raise ValueError(f"{path}: box_units must be one of {BOX_UNITS}, got {units!r}")
        page["box_units"] = units
    return pages


class Predictor:
    """A fine-tuned model folder (model + processor) ready to label pages."""

    def __init__(self, model_dir: Union[str, Path], max_length: int = 512, stride: int = 128,
                 batch_size: int = 4, workers: int = 1, onnx: Optional[Union[str, Path]] = None,
                 device: str = "auto", precision: str = "auto", compile: bool = False) -> None:
        """`onnx`: an exported file of this folder's model, run in ONNX Runtime instead of PyTorch.
        `device` (auto | cpu | cuda | cuda:N | mps), `precision` (auto | fp32 | bf16 | fp16):
        `layoutlmv2.deployment.devices`; `compile`: ``torch.compile`` the model."""
        from .loading import load_inference_model, load_processor, resolve_placement

        self.device, self.autocast = resolve_placement(device, precision, workers=workers, onnx=onnx)

        self.model_dir = Path(model_dir)
        config = LayoutLMv2Config.from_pretrained(self.model_dir)
        self.task: Task = task_from_config(config)
        self.processor = load_processor(self.model_dir)
        self.model = load_inference_model(self.task, self.model_dir, self.processor, onnx, device=self.device,
                                          compile=compile)
        self.max_length, self.stride, self.batch_size = max_length, stride, batch_size
        self.workers = check_workers(workers)  # processes sharing the cores (`layoutlmv2.worker_pool`)

    def ocr(self, image: Image.Image) -> tuple[list[str], list[list[int]]]:
        """Tesseract words and 0..1000 boxes of one page."""
        from ..preprocessing.image_processing import LayoutLMv2ImageProcessor

        settings = self.processor.image_processor
        reader = LayoutLMv2ImageProcessor(apply_ocr=True, size=settings.size, ocr_lang=settings.ocr_lang,
                                          tesseract_config=settings.tesseract_config)
        features = reader(image)
        return list(features["words"][0]), [list(map(int, b)) for b in features["boxes"][0]]

    def predict_pages(self, pages: Sequence[Image.Image], words: Optional[Sequence[dict[str, Any]]] = None,
                      question: Optional[str] = None, names: Optional[Sequence[tuple[str, int]]] = None
                      ) -> list[dict[str, Any]]:
        """Predictions for in-memory pages; ``words[i]`` optionally gives page i's words (see module doc)."""
        if self.task.name == "question-answering" and not question:
            raise ValueError("this is a question-answering model: give a question")
        if words is not None and len(words) != len(pages):
            raise ValueError(f"{len(pages)} pages but words for {len(words)}")
        documents = []
        for i, image in enumerate(pages):
            if words is None:
                page_words, boxes = self.ocr(image)
            else:
                page_words = [str(w) for w in words[i]["words"]]
                if words[i].get("box_units", "pixels") == "0-1000":
                    boxes = [list(map(int, b)) for b in words[i]["boxes"]]
                else:
                    boxes = [normalize_box(b, image.width, image.height, clamp=True) for b in words[i]["boxes"]]
            name = names[i] if names is not None else ("<memory>", i + 1)
            documents.append(Document(id=f"{name[0]}#{name[1]}", words=page_words, boxes=boxes,
                                      page_size=image.size, question=question, extra={"image": image}))
        encoded = self.task.encode(documents, self.processor.tokenizer, self.processor.image_processor,
                                   self.max_length, self.stride)
        outputs = self.task.window_outputs(self.model, encoded, self.batch_size, autocast=self.autocast,
                                           workers=self.workers)
        decoded = self.task.decode(documents, encoded, outputs)
        results = []
        for i, (document, prediction) in enumerate(zip(documents, decoded)):
            name = names[i] if names is not None else ("<memory>", i + 1)
            width, height = document.page_size
            record = {"file": name[0], "page": name[1], "size": [width, height], "task": self.task.name,
                      "words": document.words, "boxes": document.boxes,
                      "boxes_pixels": [pixel_box(b, width, height) for b in document.boxes]}
            if question is not None:
                record["question"] = question
            record.update(prediction)
            results.append(record)
        return results

    def predict_files(self, files: Sequence[Union[str, Path]], words_json: Optional[Union[str, Path]] = None,
                      question: Optional[str] = None, dpi: int = 170) -> tuple[list[dict[str, Any]], list[Image.Image]]:
        """(per-page predictions, the page images) for every page of every file, in order."""
        pages, names = [], []
        for file in files:
            for number, image in enumerate(iter_pages(file, dpi), start=1):
                pages.append(image)
                names.append((str(file), number))
        words = read_words_json(words_json) if words_json is not None else None
        return self.predict_pages(pages, words, question, names), pages


def pixel_box(box: Sequence[int], width: int, height: int) -> list[int]:
    """A 0..1000 box back to (rounded) pixels of a ``width`` x ``height`` page."""
    x0, y0, x1, y1 = box
    return [round(x0 * width / 1000), round(y0 * height / 1000), round(x1 * width / 1000), round(y1 * height / 1000)]


def draw_prediction(image: Image.Image, record: dict[str, Any], label_names: Optional[Sequence[str]] = None
                    ) -> Image.Image:
    """The page with its predicted word labels (token classification) or answer words (QA) boxed."""
    from .drawing import draw_labels

    if "labels" in record:
        return draw_labels(image, record["boxes_pixels"], record["labels"], types=label_names)
    labels = ["O"] * len(record["words"])
    if record.get("span") is not None:
        first, last = record["span"]
        labels[first: last + 1] = ["ANSWER"] * (last - first + 1)
    return draw_labels(image, record["boxes_pixels"], labels)
