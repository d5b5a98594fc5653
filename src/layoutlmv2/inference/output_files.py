"""Where `layoutlmv2 predict --output` puts each page's result, written so that no result is lost.

Names: ``<stem>-p<page>.json`` (and ``.png``). Inputs that share a stem (``a/page.png``,
``b/page.png``, ``page.pdf``) would overwrite each other, so those get their path relative to the
inputs' common folder, with the extension, as the stem: ``a__page.png-p1.json``.

Files are written to a temporary name and renamed, so a result on disk is always complete; a
place that cannot be written is one `LayoutLMv2Error` naming it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Sequence, Union

from ..errors import LayoutLMv2Error, describe_os_error

__all__ = ["JsonLinesOutput", "make_output_folder", "output_stems", "pages_done", "write_atomically"]


def output_stems(files: Sequence[Union[str, Path]]) -> dict[str, str]:
    """{input file: the stem of its outputs}, unique across the inputs."""
    paths = [Path(file) for file in files]
    counts = Counter(path.stem for path in paths)
    clashing = [path.resolve() for path in paths if counts[path.stem] > 1]
    root = Path(os.path.commonpath([str(p.parent) for p in clashing])) if clashing else None
    stems = {}
    for file, path in zip(files, paths):
        if counts[path.stem] == 1:
            stems[str(file)] = path.stem
        else:
            stems[str(file)] = "__".join(path.resolve().relative_to(root).parts)
    return stems


def make_output_folder(folder: Union[str, Path]) -> Path:
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LayoutLMv2Error(describe_os_error(error, "create the output folder", folder)) from None
    if not os.access(folder, os.W_OK):
        raise LayoutLMv2Error(f"cannot write into the output folder {folder}: Permission denied")
    return folder


def write_atomically(path: Path, data: Union[str, bytes, "Image.Image"]) -> None:  # noqa: F821 (PIL type)
    """Write text, bytes or a PIL image (PNG) to ``path`` through a temporary file and a rename."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(data, str):
            temporary.write_text(data, encoding="utf-8")
        elif isinstance(data, bytes):
            temporary.write_bytes(data)
        else:
            data.save(temporary, format="PNG")
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise LayoutLMv2Error(describe_os_error(error, "write", path)) from None


def pages_done(folder: Path, stems: dict[str, str], file: str, pages: int) -> bool:
    """Whether every page of ``file`` already has its JSON in ``folder`` (``--resume``)."""
    return pages > 0 and all((folder / f"{stems[file]}-p{page}.json").is_file() for page in range(1, pages + 1))


class JsonLinesOutput:
    """``--output results.jsonl``: one JSON line per page (failures too, with ``error``), appended and
    flushed as each page is done, so a run cut short keeps every finished page."""

    def __init__(self, path: Union[str, Path], resume: bool = False) -> None:
        self.path = Path(path)
        self.done: set[tuple[str, int]] = set()
        if resume and self.path.is_file():
            self._drop_cut_off_line()
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # not one of ours: left as it is
                if isinstance(record, dict) and "error" not in record and "page" in record:
                    self.done.add((record.get("file"), record["page"]))
        if self.path.parent != Path(""):
            make_output_folder(self.path.parent)
        try:
            self.handle = self.path.open("a" if resume else "w", encoding="utf-8")
        except OSError as error:
            raise LayoutLMv2Error(describe_os_error(error, "write", self.path)) from None

    def _drop_cut_off_line(self) -> None:
        """A run killed while writing leaves a last line without its newline: cut it, so the next line
        starts on a line of its own (the page is done again)."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            try:
                with self.path.open("r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)
            except OSError as error:
                raise LayoutLMv2Error(describe_os_error(error, "write", self.path)) from None

    def has(self, file: str, pages: int) -> bool:
        return pages > 0 and all((file, page) in self.done for page in range(1, pages + 1))

    def write(self, record: dict) -> None:
        try:
            self.handle.write(json.dumps(record) + "\n")
            self.handle.flush()
        except OSError as error:
            raise LayoutLMv2Error(describe_os_error(error, "write", self.path)) from None

    def close(self) -> None:
        self.handle.close()
