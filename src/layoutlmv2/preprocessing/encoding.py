"""The dict that preprocessing returns: attribute access and ``.to(device)``, as transformers' outputs have.

`BatchFeature` (the image processor's) and `BatchEncoding` (the tokenizer's, with token maps
and tensor conversion) both build on it.
"""

from __future__ import annotations

from typing import Any


class BatchOutput(dict):
    """A dict whose keys also read as attributes, and whose torch tensors move with ``.to(device)``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no key {name!r}") from None

    def to(self, device: Any):
        """Move every torch tensor to ``device`` (other values stay as they are)."""
        for key, value in list(self.items()):
            if hasattr(value, "to") and hasattr(value, "device"):
                dict.__setitem__(self, key, value.to(device))
        return self
