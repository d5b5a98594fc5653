"""The detectron2 <-> ours key table, checked against the schemas of the real checkpoints.

The schemas (tests/fixtures/schema) list every key and shape of the state dicts that
transformers + detectron2 build, including the published large and LayoutXLM configurations.
Our models are built on the meta device (no memory, no time), renamed to the original naming,
and must give exactly the schema: same keys, same shapes, nothing more.
"""

import json

import pytest
import torch

import layoutlmv2
from layoutlmv2 import LayoutLMv2Config
from layoutlmv2.checkpoints.conversion import (
    is_legacy_key,
    original_key_to_ours,
    original_to_ours,
    our_key_to_original,
    ours_to_original,
    uses_original_naming,
)

from conftest import FIXTURES

SCHEMAS = sorted(p.stem for p in (FIXTURES / "schema").glob("*.json") if p.stem != "diffs")


def load_schema(name):
    return json.loads((FIXTURES / "schema" / f"{name}.json").read_text())


def meta_model(schema):
    config = LayoutLMv2Config.from_dict(schema["config"])
    with torch.device("meta"):
        return getattr(layoutlmv2, schema["model_class"])(config)


@pytest.mark.parametrize("name", SCHEMAS)
def test_our_keys_map_onto_the_original_schema(name):
    schema = load_schema(name)
    model = meta_model(schema)
    mapped = {k: list(v.shape) for k, v in ours_to_original(model.state_dict()).items()}
    expected = {k: spec["shape"] for k, spec in schema["keys"].items()}
    assert sorted(set(expected) - set(mapped)) == []  # nothing of the checkpoint is left out
    assert sorted(set(mapped) - set(expected)) == []  # nothing extra
    wrong = {k: (mapped[k], expected[k]) for k in expected if mapped[k] != expected[k]}
    assert wrong == {}


@pytest.mark.parametrize("name", SCHEMAS)
def test_key_renaming_round_trips(name):
    keys = list(load_schema(name)["keys"])
    ours = [original_key_to_ours(k) for k in keys]
    assert len(set(ours)) == len(keys)
    assert [our_key_to_original(k) for k in ours] == keys
    assert uses_original_naming(keys) and not uses_original_naming(ours)


def test_legacy_keys_are_recognised_and_pixel_values_checked():
    schema = load_schema("base_model")
    legacy = schema["legacy_keys"]
    assert legacy and all(is_legacy_key(k) for k in legacy)
    assert not any(is_legacy_key(k) for k in schema["keys"])
    state = {k: torch.zeros(()) for k in schema["keys"]}
    mean, std = [103.53, 116.28, 123.675], [57.375, 57.12, 58.395]
    state["visual.pixel_mean"] = torch.tensor(mean).view(3, 1, 1)
    state["visual.pixel_std"] = torch.tensor(std).view(3, 1, 1)
    state["visual.backbone.bottom_up.stem.conv1.norm.num_batches_tracked"] = torch.tensor(0)
    converted, dropped = original_to_ours(state, mean, std)
    assert set(dropped) == {"visual.pixel_mean", "visual.pixel_std",
                            "visual.backbone.bottom_up.stem.conv1.norm.num_batches_tracked"}
    assert len(converted) == len(schema["keys"])
    state["visual.pixel_std"] = torch.ones(3, 1, 1)
    with pytest.raises(ValueError, match="visual.pixel_std"):
        original_to_ours(state, mean, std)


def test_mixed_naming_is_refused():
    with pytest.raises(ValueError, match="mixes"):
        uses_original_naming(["visual.backbone.bottom_up.stem.conv1.weight", "visual.trunk.conv1.weight"])
