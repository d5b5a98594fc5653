"""LayoutLMv2Config: transformers' fields and defaults, round trips, and the settings we refuse.

transformers is the peer: every field its LayoutLMv2Config has must exist here with the same
default. Backbone settings the timm ResNeXt + FPN cannot build must fail at config time with a
ValueError that names the setting, not later as a shape error or a silently different model.
"""

import copy
import inspect
import json

import pytest
import torch
import transformers

import layoutlmv2
from layoutlmv2 import LayoutLMv2Config
from layoutlmv2.configuration import DEFAULT_DETECTRON2_CONFIG

from conftest import FIXTURES
from small_models import SMALL_BACKBONE, small_config

# transformers' PretrainedConfig bookkeeping, not LayoutLMv2 settings
GENERIC = {"transformers_version", "architectures", "_name_or_path", "dtype", "chunk_size_feed_forward",
           "is_encoder_decoder", "model_type", "_output_attentions", "_attn_implementation_internal",
           "_experts_implementation_internal", "_post_init_done", "id2label", "label2id"}
SCHEMAS = sorted(p.stem for p in (FIXTURES / "schema").glob("*.json") if p.stem != "diffs")


def _normalise(value):
    """transformers keeps image_feature_pool_shape as a tuple, config.json (and we) as a list."""
    return list(value) if isinstance(value, tuple) else value


def test_every_transformers_field_has_the_same_default():
    theirs = transformers.LayoutLMv2Config()
    ours = LayoutLMv2Config()
    fields = set(theirs.to_dict()) - GENERIC
    assert len(fields) >= 30  # the LayoutLMv2 fields really were found
    for name in sorted(fields):
        assert hasattr(ours, name), f"transformers field {name!r} is missing"
        assert _normalise(getattr(ours, name)) == _normalise(getattr(theirs, name)), name
    assert ours.detectron2_config_args == transformers.models.layoutlmv2.configuration_layoutlmv2 \
        .LayoutLMv2Config().detectron2_config_args == DEFAULT_DETECTRON2_CONFIG
    assert ours.id2label == theirs.id2label and ours.label2id == theirs.label2id
    assert ours.num_labels == theirs.num_labels == 2


def test_every_transformers_argument_is_accepted_with_the_same_default():
    theirs = inspect.signature(transformers.LayoutLMv2Config.__init__).parameters
    ours = inspect.signature(LayoutLMv2Config.__init__).parameters
    for name, parameter in theirs.items():
        if name in ("self", "kwargs") or name in GENERIC:
            continue
        assert name in ours, f"argument {name!r} of transformers.LayoutLMv2Config is missing"
        if ours[name].default is None and name in ("image_feature_pool_shape", "detectron2_config_args"):
            continue  # None stands for the (mutable) default, compared field by field above
        assert _normalise(ours[name].default) == _normalise(parameter.default), name


def test_dict_and_json_round_trip(tmp_path):
    config = small_config(num_labels=3, hidden_dropout_prob=0.0, problem_type="multi_label_classification",
                          architectures=["LayoutLMv2ForTokenClassification"])
    again = LayoutLMv2Config.from_dict(config.to_dict())
    assert again == config and again.to_dict() == config.to_dict()
    assert again.problem_type == "multi_label_classification" and again.hidden_dropout_prob == 0.0
    config.save_pretrained(tmp_path)
    loaded = LayoutLMv2Config.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.architectures == ["LayoutLMv2ForTokenClassification"]
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "layoutlmv2"
    assert LayoutLMv2Config.from_json_file(tmp_path / "config.json") == config


def test_transformers_reads_our_config_json(tmp_path):
    config = small_config(num_labels=4)
    config.save_pretrained(tmp_path)
    theirs = transformers.LayoutLMv2Config.from_pretrained(tmp_path)
    for name, value in config.to_dict().items():
        if name in GENERIC:
            continue
        assert _normalise(getattr(theirs, name)) == value, name
    assert theirs.num_labels == 4


@pytest.mark.parametrize("name", SCHEMAS)
def test_published_config_json_reads_and_writes_back_equal(name):
    published = json.loads((FIXTURES / "schema" / f"{name}.json").read_text())["config"]
    config = LayoutLMv2Config.from_dict(published)
    assert config.to_dict() == published
    assert json.loads(config.to_json_string()) == published


def test_labels_as_transformers_sets_them():
    for kwargs in ({"num_labels": 5}, {"id2label": {"0": "O", "1": "B-Q", "2": "I-Q"}}):
        ours, theirs = LayoutLMv2Config(**kwargs), transformers.LayoutLMv2Config(**kwargs)
        assert ours.id2label == theirs.id2label and ours.num_labels == theirs.num_labels
    config = LayoutLMv2Config(id2label={"0": "O", "1": "B-Q", "2": "I-Q"})
    assert config.label2id == {"O": 0, "B-Q": 1, "I-Q": 2}
    config.num_labels = 4
    assert config.id2label == {i: f"LABEL_{i}" for i in range(4)}
    with pytest.raises(ValueError, match="num_labels=3"):
        LayoutLMv2Config(num_labels=3, id2label={0: "a", 1: "b"})
    # written with string keys, read back with int keys
    assert LayoutLMv2Config.from_dict(LayoutLMv2Config(num_labels=3).to_dict()).id2label == {
        0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}


@pytest.mark.parametrize("key, value", [
    ("MODEL.RESNETS.STRIDE_IN_1X1", True),
    ("MODEL.RESNETS.NORM", "BN"),
    ("MODEL.RESNETS.NORM", "GN"),
    ("MODEL.RESNETS.DEFORM_ON_PER_STAGE", [False, True, False, False]),
    ("MODEL.RESNETS.DEPTH", 18),
    ("MODEL.RESNETS.DEPTH", 34),
    ("MODEL.FPN.NORM", "GN"),
    ("MODEL.RESNETS.RES5_DILATION", 2),
    ("MODEL.BACKBONE.NAME", "build_resnet_backbone"),
    ("MODEL.FPN.FUSE_TYPE", "avg"),
])
def test_backbone_settings_timm_cannot_build_are_refused(key, value):
    args = {**DEFAULT_DETECTRON2_CONFIG, key: value}
    with pytest.raises(ValueError) as err:
        LayoutLMv2Config(detectron2_config_args=args)
    assert key in str(err.value) and repr(value) in str(err.value)


def test_left_out_keys_take_detectron2_defaults():
    """config.json's dict replaces transformers' default dict; detectron2 then fills what it leaves out."""
    args = {k: v for k, v in DEFAULT_DETECTRON2_CONFIG.items() if k != "MODEL.RESNETS.STRIDE_IN_1X1"}
    with pytest.raises(ValueError, match="STRIDE_IN_1X1.*True"):
        LayoutLMv2Config(detectron2_config_args=args)
    # without DEPTH, NUM_GROUPS and WIDTH_PER_GROUP: detectron2's ResNet-50 1x64d
    args = {k: v for k, v in DEFAULT_DETECTRON2_CONFIG.items()
            if k not in ("MODEL.RESNETS.DEPTH", "MODEL.RESNETS.NUM_GROUPS", "MODEL.RESNETS.WIDTH_PER_GROUP")}
    settings = LayoutLMv2Config(detectron2_config_args=args).backbone_settings()
    assert (settings.stage_blocks, settings.groups, settings.width_per_group) == ((3, 4, 6, 3), 1, 64)
    # without PIXEL_MEAN: detectron2's mean; the published dict's std
    settings = LayoutLMv2Config().backbone_settings()
    assert settings.pixel_mean == (103.530, 116.280, 123.675)
    assert settings.pixel_std == (57.375, 57.120, 58.395)
    assert settings.freeze_at == 2


def test_layout_sizes_must_sum_to_hidden_size():
    with pytest.raises(ValueError, match="coordinate_size=12, shape_size=9"):
        small_config(shape_size=9)
    with pytest.raises(ValueError, match="num_attention_heads=5"):
        small_config(num_attention_heads=5)
    with pytest.raises(ValueError, match="image_feature_pool_shape"):
        small_config(image_feature_pool_shape=[7, 7, 128])


CLASSES = ["LayoutLMv2Model", "LayoutLMv2ForSequenceClassification", "LayoutLMv2ForTokenClassification",
           "LayoutLMv2ForQuestionAnswering"]


@pytest.mark.parametrize("class_name", CLASSES)
def test_building_a_model_does_not_change_the_config(class_name):
    config = small_config(num_labels=3, detectron2_config_args=dict(SMALL_BACKBONE))
    before = copy.deepcopy(config.__dict__)
    model = getattr(layoutlmv2, class_name)(config)
    assert config.__dict__ == before
    assert config.has_visual_segment_embedding is False
    if class_name == "LayoutLMv2ForQuestionAnswering":
        # the head runs with the visual segment embedding, on its own copy of the config
        assert model.config is not config and model.config.has_visual_segment_embedding is True
        assert isinstance(model.layoutlmv2.visual_segment_embedding, torch.nn.Parameter)
