"""Pages from many inputs, OCR'd ahead of the model: the road from files to results, one page at a time.

`page_jobs` turns inputs (paths, PDF or image bytes, PIL images, numpy arrays) into pages in order,
and a file that cannot be read into one failed job (the next inputs go on). `prefetched` OCRs the
coming pages on a thread pool while the caller runs the model on the current ones: Tesseract runs
as one process per page and ONNX Runtime releases the GIL, so the OCR of the next pages uses the
cores the model leaves idle. Only ``ahead`` pages are held in memory at once, so a long PDF is
rendered and released a page at a time.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Union

from PIL import Image

from ..errors import LayoutLMv2Error
from ..preprocessing.pages import IMAGE_SUFFIXES, Dpi, as_rgb_page, iter_bytes_pages, iter_pages

PAGE_SUFFIXES = IMAGE_SUFFIXES | {".pdf"}

__all__ = ["PageJob", "expand_paths", "page_jobs", "prefetched", "source_name"]


@dataclass
class PageJob:
    """One page to predict (``image``, with its OCR ``words``/``boxes`` once read), or a failed input."""

    source: str
    page: Optional[int]
    image: Optional[Image.Image] = None
    words: Optional[list[str]] = None
    boxes: Optional[list[list[int]]] = None
    error: Optional[str] = None
    clamped: int = 0  # given pixel boxes clamped to the page
    input: int = 0  # position of its input among the inputs


def expand_paths(paths: Iterable[Union[str, Path]], recursive: bool = False) -> list[str]:
    """Files and folders -> files: a folder gives its page files (images and PDFs, sorted by name),
    those of its subfolders too with ``recursive``; other paths stay (a missing one fails on its own)."""
    files: list[str] = []
    for path in map(Path, paths):
        if not path.is_dir():
            files.append(str(path))
            continue
        found = path.rglob("*") if recursive else path.iterdir()
        files += sorted(str(p) for p in found if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES
                        and not p.name.startswith("."))
    return files


def source_name(item: Any, index: int) -> str:
    """How results and errors name an input: its path, or its kind and position (``<image 3>``)."""
    if isinstance(item, (str, Path)):
        return str(item)
    kind = {bytes: "bytes", bytearray: "bytes", memoryview: "bytes"}.get(type(item))
    if kind is None:
        kind = "image" if isinstance(item, Image.Image) else "array"
    return f"<{kind} {index + 1}>"


def _source_pages(item: Any, name: str, dpi: Dpi) -> Iterator[Image.Image]:
    if isinstance(item, (str, Path)):
        return iter_pages(item, dpi)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return iter_bytes_pages(bytes(item), name, dpi)
    if isinstance(item, Image.Image) or hasattr(item, "__array__"):
        return iter([as_rgb_page(item, name)])
    raise LayoutLMv2Error(f"{name}: cannot read a page from a {type(item).__name__} (give a path, PDF or image "
                          f"bytes, a PIL image or a numpy array)")


def page_jobs(inputs: Iterable[Any], dpi: Dpi = "auto") -> Iterator[PageJob]:
    """Every page of every input in order; an input that cannot be read is one job with ``error``."""
    for index, item in enumerate(inputs):
        name = source_name(item, index)
        number = 0
        try:
            for number, image in enumerate(_source_pages(item, name, dpi), start=1):
                yield PageJob(name, number, image, input=index)
        except LayoutLMv2Error as error:
            message = str(error) if name in str(error) else f"{name} page {number + 1}: {error}"
            yield PageJob(name, number + 1 if number else None, error=message, input=index)


def prefetched(jobs: Iterable[PageJob], ocr: Optional[Callable[[Image.Image], tuple]], ahead: int = 16,
               workers: Optional[int] = None) -> Iterator[PageJob]:
    """The jobs in order, each with its OCR words filled in by a pool that runs ``ahead`` pages early.

    An OCR error of one page (`LayoutLMv2Error`) fails that page only; any other error (no Tesseract)
    stops the run, as it would fail every page.
    """
    if ocr is None:
        yield from jobs
        return
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr") as pool:
        queue: deque[tuple[PageJob, Optional[Future]]] = deque()
        for job in jobs:
            queue.append((job, pool.submit(ocr, job.image) if job.image is not None else None))
            while len(queue) > ahead:
                yield _resolved(*queue.popleft())
        while queue:
            yield _resolved(*queue.popleft())


def _resolved(job: PageJob, future: Optional[Future]) -> PageJob:
    if future is None:
        return job
    try:
        job.words, job.boxes = future.result()
    except LayoutLMv2Error as error:
        job.error, job.image = f"{job.source} page {job.page}: {error}", None
    return job
