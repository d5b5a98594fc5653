"""Where `layoutlmv2 predict --output` puts each page's result, written so that no result is lost.

Names: ``<stem>-p<page>.json`` (and ``.png``). Inputs that share a stem (``a/page.png``,
``b/page.png``, ``page.pdf``) would overwrite each other, so those get their path relative to the
inputs' common folder, with the extension, as the stem: ``a__page.png-p1.json``.

Files are written to a temporary name and renamed, so a result on disk is always complete; a
place that cannot be written is one `LayoutLMv2Error` naming it.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Sequence, Union

from ..errors import LayoutLMv2Error, describe_os_error

__all__ = ["make_output_folder", "output_stems", "write_atomically"]


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
