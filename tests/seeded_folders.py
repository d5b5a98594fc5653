"""Original-format checkpoint folders written from the golden schemas (the reference's
`seeded_checkpoint.py` recipe): config.json + pytorch_model.bin, optionally with the legacy keys
of the published checkpoints (zero counters, the true pixel mean/std, arange position ids)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Dict

import torch

from golden import original_state_dict, schema


@lru_cache(maxsize=8)
def _seeded(schema_name: str) -> Dict[str, torch.Tensor]:
    return original_state_dict(schema_name)


def seeded_original(schema_name: str) -> Dict[str, torch.Tensor]:
    """The seeded state dict (original naming), cached; a new dict each call, shared tensors."""
    return dict(_seeded(schema_name))


def legacy_tensors(schema_name: str) -> Dict[str, torch.Tensor]:
    """The schema's legacy keys with the values the reference writes for `--legacy-keys`."""
    out = {}
    for key, spec in schema(schema_name)["legacy_keys"].items():
        dtype = getattr(torch, spec["dtype"])
        if "value" in spec:
            out[key] = torch.tensor(spec["value"], dtype=dtype).reshape(spec["shape"])
        else:
            out[key] = torch.zeros(spec["shape"], dtype=dtype)
    return out


def write_original_folder(schema_name: str, folder: Path, legacy_keys: bool = True,
                          weights_name: str = "pytorch_model.bin", cached: bool = True) -> Path:
    """Write the seeded checkpoint of a schema in the original naming; returns the folder.

    `cached=False` for the full-size schemas: their tensors are not kept after writing."""
    state = seeded_original(schema_name) if cached else original_state_dict(schema_name)
    if legacy_keys:
        state.update(legacy_tensors(schema_name))
    folder.mkdir(parents=True, exist_ok=True)
    if weights_name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(folder / weights_name), metadata={"format": "pt"})
    else:
        torch.save(state, folder / weights_name)
    (folder / "config.json").write_text(json.dumps(schema(schema_name)["config"], indent=2, sort_keys=True) + "\n")
    return folder
