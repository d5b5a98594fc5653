"""The library's one error type for problems a user can fix: a bad file, a bad value, a missing tool.

`LayoutLMv2Error` is a `ValueError` (code that caught ValueError before keeps working). Its message
names the file or value and says what is wrong, in one line; the ``layoutlmv2`` command prints it
as ``layoutlmv2 <command>: error: <message>`` and exits with status 1, without a traceback.
"""

from __future__ import annotations

__all__ = ["LayoutLMv2Error", "describe_os_error"]


class LayoutLMv2Error(ValueError):
    """A bad input or environment (unreadable page, malformed words file, unwritable output, ...)."""


def describe_os_error(error: OSError, action: str, path: object) -> str:
    """'cannot write out/a.json: Permission denied': an OSError in one line, naming the path."""
    reason = error.strerror or str(error) or type(error).__name__
    return f"cannot {action} {path}: {reason}"
