"""Save and load fine-tuned models: ``save_pretrained``/``from_pretrained`` when available.

The library's `layoutlmv2.checkpoint` module (behind ``model.save_pretrained``) is written by
another part of the project. Until it is importable, this module writes the same two files
itself (``config.json`` + ``model.safetensors``), so training never depends on its timing.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Union

import torch

from ..configuration import LayoutLMv2Config

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"


def _library_checkpoint_available() -> bool:
    return importlib.util.find_spec("layoutlmv2.checkpoint") is not None


def save_model(model: torch.nn.Module, folder: Union[str, Path]) -> None:
    """Write ``config.json`` (with ``architectures``) and the weights into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.architectures = [type(model).__name__]
    if _library_checkpoint_available():
        model.save_pretrained(folder)
        return
    from safetensors.torch import save_file

    model.config.save_pretrained(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})


def load_model(model_class, folder: Union[str, Path]) -> torch.nn.Module:
    """Load a model saved by `save_model` (or any LayoutLMv2 checkpoint folder)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {folder}: not a model folder")
    if _library_checkpoint_available():
        return model_class.from_pretrained(folder)
    from safetensors.torch import load_file

    path = folder / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {folder}")
    config = LayoutLMv2Config.from_json_file(folder / "config.json")
    model = model_class(config)
    missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: missing keys {missing[:5]}..., unexpected keys {unexpected[:5]}...")
    return model
