"""Running the ``layoutlmv2`` command in-process for the CLI tests, and reading its errors."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from layoutlmv2.cli.main import main


@dataclass
class Run:
    """Exit status and captured output of one command."""

    code: int
    out: str
    err: str


def run_cli(argv: Sequence[str]) -> Run:
    """`main(argv)` with its output captured; argparse's ``SystemExit`` becomes the exit status, as in a shell."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:
            code = exit_.code
    return Run(code, out.getvalue(), err.getvalue())


def predict(model: Path, files: Sequence[Union[str, Path]], *flags: str, ocr_words: Optional[Path] = None) -> Run:
    """``layoutlmv2 predict --model MODEL FILES... [--words-json W] FLAGS``."""
    words = ["--words-json", str(ocr_words)] if ocr_words is not None else []
    return run_cli(["--threads", "1", "predict", "--model", str(model), *map(str, files), *words, *flags])


def error_lines(err: str, command: str = "predict") -> list[str]:
    """The ``layoutlmv2 <command>: error: ...`` lines of stderr; fails on a traceback or an internal error."""
    assert "Traceback" not in err, err
    assert "internal error" not in err, err
    return [line for line in err.splitlines() if line.startswith(f"layoutlmv2 {command}: error:")]
