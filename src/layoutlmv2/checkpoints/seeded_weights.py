"""Deterministic weights from key names: the recipe behind the golden reference outputs.

Each tensor depends only on its key (without a leading `layoutlmv2.`) and shape, drawn from a
PCG64 generator seeded with the CRC32 of the name, so any implementation can rebuild the same
checkpoint bit for bit. Used by the parity tests, the demo and the benchmarks as a stand-in
for published weights, which cannot be downloaded here.
"""

from __future__ import annotations

import math
import zlib
from typing import Dict, Iterable, Sequence, Tuple

import numpy as np
import torch

_REL_BIAS_SUFFIXES = ("rel_pos_bias.weight", "rel_pos_x_bias.weight", "rel_pos_y_bias.weight")


def seeded_array(key: str, shape: Sequence[int]) -> np.ndarray:
    """The float32 tensor the recipe assigns to `key` (an original-naming key)."""
    name = key[len("layoutlmv2."):] if key.startswith("layoutlmv2.") else key
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(name.encode("utf-8"))))
    shape = tuple(int(s) for s in shape)
    if key.endswith(".norm.running_var"):
        return rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
    z = rng.standard_normal(size=shape)
    if key.endswith(".norm.running_mean") or key.endswith(".norm.bias"):
        value = 0.1 * z
    elif key.endswith(".norm.weight") or key.endswith("LayerNorm.weight"):
        value = 1.0 + 0.1 * z
    elif len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        value = z * (0.7 * math.sqrt(1.0 / fan_in))
    elif key.endswith(_REL_BIAS_SUFFIXES):
        value = 0.5 * z
    else:
        value = 0.02 * z
    return value.astype(np.float32)


def seeded_state_dict(shapes: Iterable[Tuple[str, Sequence[int]]]) -> Dict[str, torch.Tensor]:
    """{key: tensor} for (key, shape) pairs in original naming."""
    return {key: torch.from_numpy(seeded_array(key, shape)) for key, shape in shapes}
