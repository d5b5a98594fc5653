"""Helpers to rebuild the golden reference models from the seeded recipe and read their cases.

The golden files (copied from ../shared/reference into tests/fixtures) are outputs of the real
transformers + detectron2 implementation on weights from the recipe in `seeded_weights.py`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Dict, Tuple

import numpy as np
import torch

import layoutlmv2
from layoutlmv2 import LayoutLMv2Config
from layoutlmv2.checkpoints.conversion import original_to_ours
from layoutlmv2.checkpoints.io import skip_weight_init
from layoutlmv2.checkpoints.seeded_weights import seeded_state_dict

from conftest import FIXTURES

CLASSES = {
    "LayoutLMv2Model": "LayoutLMv2Model",
    "LayoutLMv2ForSequenceClassification": "LayoutLMv2ForSequenceClassification",
    "LayoutLMv2ForTokenClassification": "LayoutLMv2ForTokenClassification",
    "LayoutLMv2ForQuestionAnswering": "LayoutLMv2ForQuestionAnswering",
}


@lru_cache(maxsize=None)
def cases() -> Dict[str, dict]:
    return json.loads((FIXTURES / "cases.json").read_text())["cases"]


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    """name: 'base_model' or 'schema/base_model.json'."""
    stem = name.split("/")[-1].removesuffix(".json")
    return json.loads((FIXTURES / "schema" / f"{stem}.json").read_text())


def is_full_size(case_name: str) -> bool:
    """Cases with the ResNeXt-101 backbone and a 768-wide transformer build in seconds, not fractions."""
    return not case_name.startswith("small_r50")


@lru_cache(maxsize=1)  # cases of one schema run one after another; one full-size copy (0.8 GB) is kept
def original_state_dict(schema_name: str) -> Dict[str, torch.Tensor]:
    """The seeded checkpoint in the original (detectron2) naming, keys as the schema lists them.
    Callers must not change the tensors in place (they are shared through the cache)."""
    return seeded_state_dict((key, spec["shape"]) for key, spec in schema(schema_name)["keys"].items())


def build_model(case_name: str) -> torch.nn.Module:
    """The case's model class with the seeded weights, eval mode, loaded strictly."""
    case = cases()[case_name]
    sch = schema(case["schema"])
    config = LayoutLMv2Config.from_dict(sch["config"])
    with skip_weight_init():  # every weight is loaded next (strict), so random init would be wasted time
        model = getattr(layoutlmv2, CLASSES[case["model_class"]])(config)
    ours, _ = original_to_ours(original_state_dict(case["schema"]))
    model.load_state_dict(ours, strict=True)
    return model.eval()


def load_case(case_name: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, np.ndarray], Dict[str, np.ndarray]]:
    """(inputs as tensors, golden outputs, debug arrays) of one case."""
    data = np.load(FIXTURES / cases()[case_name]["file"])
    pick = lambda prefix: {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}  # noqa: E731
    inputs = {k: torch.from_numpy(v) for k, v in pick("input.").items()}
    return inputs, pick("output."), pick("debug.")


def tolerance(case_name: str, output: str) -> float:
    return cases()[case_name]["tolerance"]["per_output"][output]
