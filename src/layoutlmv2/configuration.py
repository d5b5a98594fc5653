"""LayoutLMv2Config: the fields, defaults and config.json format of transformers' config.

A published ``config.json`` (with ``detectron2_config_args``) reads and writes back unchanged.
The detectron2 settings are kept verbatim for the round trip; the few that shape the visual
backbone are resolved by :meth:`LayoutLMv2Config.backbone_settings`, which refuses what the
timm backbone cannot build.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

CONFIG_NAME = "config.json"

# transformers' `get_default_detectron2_config()`: what a LayoutLMv2 config.json carries.
DEFAULT_DETECTRON2_CONFIG: Dict[str, Any] = {
    "MODEL.MASK_ON": True,
    "MODEL.PIXEL_STD": [57.375, 57.120, 58.395],
    "MODEL.BACKBONE.NAME": "build_resnet_fpn_backbone",
    "MODEL.FPN.IN_FEATURES": ["res2", "res3", "res4", "res5"],
    "MODEL.ANCHOR_GENERATOR.SIZES": [[32], [64], [128], [256], [512]],
    "MODEL.RPN.IN_FEATURES": ["p2", "p3", "p4", "p5", "p6"],
    "MODEL.RPN.PRE_NMS_TOPK_TRAIN": 2000,
    "MODEL.RPN.PRE_NMS_TOPK_TEST": 1000,
    "MODEL.RPN.POST_NMS_TOPK_TRAIN": 1000,
    "MODEL.POST_NMS_TOPK_TEST": 1000,
    "MODEL.ROI_HEADS.NAME": "StandardROIHeads",
    "MODEL.ROI_HEADS.NUM_CLASSES": 5,
    "MODEL.ROI_HEADS.IN_FEATURES": ["p2", "p3", "p4", "p5"],
    "MODEL.ROI_BOX_HEAD.NAME": "FastRCNNConvFCHead",
    "MODEL.ROI_BOX_HEAD.NUM_FC": 2,
    "MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION": 14,
    "MODEL.ROI_MASK_HEAD.NAME": "MaskRCNNConvUpsampleHead",
    "MODEL.ROI_MASK_HEAD.NUM_CONV": 4,
    "MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION": 7,
    "MODEL.RESNETS.DEPTH": 101,
    "MODEL.RESNETS.SIZES": [[32], [64], [128], [256], [512]],
    "MODEL.RESNETS.ASPECT_RATIOS": [[0.5, 1.0, 2.0]],
    "MODEL.RESNETS.OUT_FEATURES": ["res2", "res3", "res4", "res5"],
    "MODEL.RESNETS.NUM_GROUPS": 32,
    "MODEL.RESNETS.WIDTH_PER_GROUP": 8,
    "MODEL.RESNETS.STRIDE_IN_1X1": False,
}

# Named visual backbones, as the detectron2 settings a config.json carries. The paper's is
# ResNeXt-101 32x8d (the published checkpoints); ResNeXt-50 32x4d is the smallest our FPN builds,
# for fine-tuning from scratch on a CPU and for tests.
BACKBONE_PRESETS: Dict[str, Dict[str, Any]] = {
    "resnext101_32x8d": dict(DEFAULT_DETECTRON2_CONFIG),
    "resnext50_32x4d": {**DEFAULT_DETECTRON2_CONFIG, "MODEL.RESNETS.DEPTH": 50,
                        "MODEL.RESNETS.NUM_GROUPS": 32, "MODEL.RESNETS.WIDTH_PER_GROUP": 4},
}


def backbone_preset(name: str) -> Dict[str, Any]:
    """A copy of the detectron2 settings of a named backbone (``BACKBONE_PRESETS``)."""
    if name not in BACKBONE_PRESETS:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONE_PRESETS)}")
    return copy.deepcopy(BACKBONE_PRESETS[name])


# detectron2's `get_cfg()` defaults for the keys that shape the backbone. A config.json's
# `detectron2_config_args` *replaces* the dict above, so keys it leaves out take these values.
DETECTRON2_BACKBONE_DEFAULTS: Dict[str, Any] = {
    "MODEL.BACKBONE.NAME": "build_resnet_backbone",
    "MODEL.BACKBONE.FREEZE_AT": 2,
    "MODEL.PIXEL_MEAN": [103.530, 116.280, 123.675],
    "MODEL.PIXEL_STD": [1.0, 1.0, 1.0],
    "MODEL.RESNETS.DEPTH": 50,
    "MODEL.RESNETS.NUM_GROUPS": 1,
    "MODEL.RESNETS.WIDTH_PER_GROUP": 64,
    "MODEL.RESNETS.STRIDE_IN_1X1": True,
    "MODEL.RESNETS.NORM": "FrozenBN",
    "MODEL.RESNETS.STEM_OUT_CHANNELS": 64,
    "MODEL.RESNETS.RES2_OUT_CHANNELS": 256,
    "MODEL.RESNETS.RES5_DILATION": 1,
    "MODEL.RESNETS.DEFORM_ON_PER_STAGE": [False, False, False, False],
    "MODEL.RESNETS.OUT_FEATURES": ["res4"],
    "MODEL.FPN.IN_FEATURES": [],
    "MODEL.FPN.OUT_CHANNELS": 256,
    "MODEL.FPN.NORM": "",
    "MODEL.FPN.FUSE_TYPE": "sum",
}

# ResNet depth -> blocks per stage (res2..res5), as detectron2 and timm define them.
RESNET_STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

ATTRIBUTE_ALIASES = {"num_classes": "num_labels"}

# Field types `validate` checks (a config.json edited by hand, or damaged, fails there by name).
POSITIVE_INT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                       "max_position_embeddings", "type_vocab_size", "max_2d_position_embeddings", "max_rel_pos",
                       "rel_pos_bins", "max_rel_2d_pos", "rel_2d_pos_bins", "coordinate_size", "shape_size")
PROBABILITY_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob")
BOOL_FIELDS = ("has_relative_attention_bias", "has_spatial_attention_bias", "has_visual_segment_embedding", "fast_qkv",
               "relation_pair_geometry")

# Fields every transformers config has, and ours that the original has not; config.json leaves them
# out while they hold these values (a published config.json is written back key for key).
_GENERIC_DEFAULTS: Dict[str, Any] = {
    "relation_pair_geometry": False,
    "problem_type": None,
    "output_hidden_states": False,
    "output_attentions": False,
    "return_dict": True,
}


@dataclass(frozen=True)
class BackboneSettings:
    """What the visual backbone is built from, resolved from `detectron2_config_args`."""

    stage_blocks: Tuple[int, int, int, int]
    groups: int
    width_per_group: int
    fpn_channels: int
    freeze_at: int
    pixel_mean: Tuple[float, float, float]
    pixel_std: Tuple[float, float, float]


class LayoutLMv2Config:
    """Configuration of a LayoutLMv2 model; the same fields and defaults as transformers.

    Example:
        >>> config = LayoutLMv2Config(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        ...                           intermediate_size=128, coordinate_size=12, shape_size=8)
        >>> LayoutLMv2Config.from_dict(config.to_dict()).hidden_size
        64
    """

    model_type = "layoutlmv2"

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 3072,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.1,
        max_position_embeddings: int = 512,
        type_vocab_size: int = 2,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        pad_token_id: int = 0,
        max_2d_position_embeddings: int = 1024,
        max_rel_pos: int = 128,
        rel_pos_bins: int = 32,
        fast_qkv: bool = True,
        max_rel_2d_pos: int = 256,
        rel_2d_pos_bins: int = 64,
        convert_sync_batchnorm: bool = True,
        image_feature_pool_shape: Optional[List[int]] = None,
        coordinate_size: int = 128,
        shape_size: int = 128,
        has_relative_attention_bias: bool = True,
        has_spatial_attention_bias: bool = True,
        has_visual_segment_embedding: bool = False,
        detectron2_config_args: Optional[Dict[str, Any]] = None,
        relation_pair_geometry: bool = False,
        num_labels: Optional[int] = None,
        id2label: Optional[Dict[Any, str]] = None,
        label2id: Optional[Dict[str, int]] = None,
        problem_type: Optional[str] = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        return_dict: bool = True,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.pad_token_id = pad_token_id
        self.max_2d_position_embeddings = max_2d_position_embeddings
        self.max_rel_pos = max_rel_pos
        self.rel_pos_bins = rel_pos_bins
        self.fast_qkv = fast_qkv
        self.max_rel_2d_pos = max_rel_2d_pos
        self.rel_2d_pos_bins = rel_2d_pos_bins
        # Kept for config.json compatibility only: nothing converts implicitly, see
        # `LayoutLMv2Model.synchronize_batch_norm()`.
        self.convert_sync_batchnorm = convert_sync_batchnorm
        pool = [7, 7, 256] if image_feature_pool_shape is None else image_feature_pool_shape
        self.image_feature_pool_shape = list(pool) if isinstance(pool, (list, tuple)) else pool
        self.coordinate_size = coordinate_size
        self.shape_size = shape_size
        self.has_relative_attention_bias = has_relative_attention_bias
        self.has_spatial_attention_bias = has_spatial_attention_bias
        self.has_visual_segment_embedding = has_visual_segment_embedding
        self.detectron2_config_args = copy.deepcopy(
            DEFAULT_DETECTRON2_CONFIG if detectron2_config_args is None else detectron2_config_args
        )
        # LayoutLMv2ForRelationExtraction only: a box-pair score next to the biaffine one (ours, not layoutlmft's)
        self.relation_pair_geometry = relation_pair_geometry
        self.problem_type = problem_type
        self.output_hidden_states = output_hidden_states
        self.output_attentions = output_attentions
        self.return_dict = return_dict
        self._set_labels(num_labels, id2label, label2id)
        # Anything else (architectures, transformers_version, bos_token_id, ...) is kept as is so a
        # published config.json round-trips.
        for key, value in kwargs.items():
            setattr(self, ATTRIBUTE_ALIASES.get(key, key), value)
        self.validate()

    # ----------------------------------------------------------------------------- labels
    def _set_labels(self, num_labels, id2label, label2id) -> None:
        if num_labels is not None and (isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1):
            raise ValueError(f"num_labels={num_labels!r} must be a positive integer")
        if id2label is not None:
            if not isinstance(id2label, dict):
                raise ValueError(f"id2label must map label ids to names, got {id2label!r}")
            try:
                id2label = {int(k): v for k, v in id2label.items()}
            except ValueError:
                raise ValueError(f"id2label keys must be label ids (0, 1, ...), got {sorted(id2label)!r}") from None
            if sorted(id2label) != list(range(len(id2label))):
                raise ValueError(f"id2label must number the labels 0..{len(id2label) - 1}, got ids {sorted(id2label)}")
        if id2label is None:
            count = 2 if num_labels is None else int(num_labels)
            id2label = {i: f"LABEL_{i}" for i in range(count)}
        elif num_labels is not None and int(num_labels) != len(id2label):
            raise ValueError(f"num_labels={num_labels} does not match id2label with {len(id2label)} entries")
        self.id2label = id2label
        if label2id is not None and not isinstance(label2id, dict):
            raise ValueError(f"label2id must map label names to ids, got {label2id!r}")
        self.label2id = {v: k for k, v in id2label.items()} if label2id is None else dict(label2id)

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, value: int) -> None:
        if value != len(getattr(self, "id2label", {}) or {}):
            self._set_labels(value, None, None)

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict

    # ------------------------------------------------------------------------- validation
    def validate(self) -> None:
        """Reject settings that cannot build a model, naming the setting."""
        self._check_field_types()
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not a multiple of num_attention_heads={self.num_attention_heads}"
            )
        spatial = 4 * self.coordinate_size + 2 * self.shape_size
        if spatial != self.hidden_size:
            raise ValueError(
                f"4 * coordinate_size + 2 * shape_size = {spatial} must equal hidden_size={self.hidden_size} "
                f"(coordinate_size={self.coordinate_size}, shape_size={self.shape_size})"
            )
        if len(self.image_feature_pool_shape) not in (2, 3):
            raise ValueError(f"image_feature_pool_shape={self.image_feature_pool_shape} must be [rows, cols(, channels)]")
        if self.problem_type not in (None, "regression", "single_label_classification", "multi_label_classification"):
            raise ValueError(f"problem_type={self.problem_type!r} is not one of regression, "
                             "single_label_classification, multi_label_classification")
        self.backbone_settings()

    def _check_field_types(self) -> None:
        for name in POSITIVE_INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        for name in PROBABILITY_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name}={value!r} must be a number in [0, 1)")
        for name in BOOL_FIELDS:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} must be true or false")
        eps = self.layer_norm_eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
            raise ValueError(f"layer_norm_eps={eps!r} must be a small positive number")
        shape = self.image_feature_pool_shape
        if not isinstance(shape, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                  for v in shape):
            raise ValueError(f"image_feature_pool_shape={shape!r} must be a list of positive integers")
        if not isinstance(self.detectron2_config_args, dict):
            raise ValueError(f"detectron2_config_args={self.detectron2_config_args!r} must be an object")

    def backbone_settings(self) -> BackboneSettings:
        """Resolve `detectron2_config_args` (over detectron2's defaults) into what timm can build."""
        args = dict(DETECTRON2_BACKBONE_DEFAULTS)
        args.update(self.detectron2_config_args)

        def refuse(key: str, why: str) -> None:
            raise ValueError(f"detectron2_config_args[{key!r}] = {args[key]!r} is not supported: {why}")

        expected = {
            "MODEL.BACKBONE.NAME": "build_resnet_fpn_backbone",
            "MODEL.RESNETS.STRIDE_IN_1X1": False,
            "MODEL.RESNETS.NORM": "FrozenBN",
            "MODEL.RESNETS.STEM_OUT_CHANNELS": 64,
            "MODEL.RESNETS.RES2_OUT_CHANNELS": 256,
            "MODEL.RESNETS.RES5_DILATION": 1,
            "MODEL.FPN.NORM": "",
            "MODEL.FPN.FUSE_TYPE": "sum",
        }
        for key, value in expected.items():
            if args[key] != value:
                refuse(key, f"the timm ResNeXt + FPN backbone supports only {value!r}")
        if any(args["MODEL.RESNETS.DEFORM_ON_PER_STAGE"]):
            refuse("MODEL.RESNETS.DEFORM_ON_PER_STAGE", "deformable convolutions are not available")
        if args["MODEL.RESNETS.DEPTH"] not in RESNET_STAGE_BLOCKS:
            refuse("MODEL.RESNETS.DEPTH", f"supported depths are {sorted(RESNET_STAGE_BLOCKS)}")
        if "p2" not in self._fpn_levels(args):
            refuse("MODEL.FPN.IN_FEATURES", "LayoutLMv2 pools the p2 map, which needs res2..res5")
        if not 0 <= int(args["MODEL.BACKBONE.FREEZE_AT"]) <= 5:
            refuse("MODEL.BACKBONE.FREEZE_AT", "must be 0..5")
        channels = int(args["MODEL.FPN.OUT_CHANNELS"])
        if len(self.image_feature_pool_shape) == 3 and self.image_feature_pool_shape[2] != channels:
            raise ValueError(
                f"image_feature_pool_shape[2]={self.image_feature_pool_shape[2]} must equal "
                f"detectron2_config_args['MODEL.FPN.OUT_CHANNELS']={channels}"
            )
        for key in ("MODEL.PIXEL_MEAN", "MODEL.PIXEL_STD"):
            if len(args[key]) != 3:
                refuse(key, "needs three values (B, G, R)")
        return BackboneSettings(
            stage_blocks=RESNET_STAGE_BLOCKS[args["MODEL.RESNETS.DEPTH"]],
            groups=int(args["MODEL.RESNETS.NUM_GROUPS"]),
            width_per_group=int(args["MODEL.RESNETS.WIDTH_PER_GROUP"]),
            fpn_channels=channels,
            freeze_at=int(args["MODEL.BACKBONE.FREEZE_AT"]),
            pixel_mean=tuple(float(v) for v in args["MODEL.PIXEL_MEAN"]),
            pixel_std=tuple(float(v) for v in args["MODEL.PIXEL_STD"]),
        )

    @staticmethod
    def _fpn_levels(args: Dict[str, Any]) -> List[str]:
        ins = list(args["MODEL.FPN.IN_FEATURES"])
        outs = set(args["MODEL.RESNETS.OUT_FEATURES"])
        if ins != ["res2", "res3", "res4", "res5"] or not set(ins) <= outs:
            return []
        return ["p2", "p3", "p4", "p5", "p6"]

    @property
    def visual_grid(self) -> Tuple[int, int]:
        """(rows, cols) of the pooled visual token grid."""
        return int(self.image_feature_pool_shape[0]), int(self.image_feature_pool_shape[1])

    @property
    def visual_channels(self) -> int:
        return self.backbone_settings().fpn_channels

    # ------------------------------------------------------------------------ (de)serialise
    def to_dict(self) -> Dict[str, Any]:
        """The config.json content. Generic fields left at their defaults are omitted, as
        transformers omits them, so a published config.json is written back key for key."""
        out = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("_")}
        for key, default in _GENERIC_DEFAULTS.items():
            if out.get(key, default) == default:
                out.pop(key, None)
        if self.id2label == {0: "LABEL_0", 1: "LABEL_1"} and self.label2id == {"LABEL_0": 0, "LABEL_1": 1}:
            out.pop("id2label")
            out.pop("label2id")
        else:
            out["id2label"] = {str(k): v for k, v in self.id2label.items()}
        out["model_type"] = self.model_type
        return dict(sorted(out.items()))

    @classmethod
    def from_dict(cls, config_dict: Dict[str, Any], **overrides: Any) -> "LayoutLMv2Config":
        values = dict(config_dict)
        values.pop("model_type", None)
        values.update(overrides)
        return cls(**values)

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: Union[str, os.PathLike]) -> None:
        Path(path).write_text(self.to_json_string(), encoding="utf-8")

    @classmethod
    def from_json_file(cls, path: Union[str, os.PathLike]) -> "LayoutLMv2Config":
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
        if not isinstance(values, dict):
            raise ValueError(f"{path} must hold a JSON object, not {type(values).__name__}")
        try:
            return cls.from_dict(values)
        except (ValueError, TypeError, AttributeError, KeyError) as err:  # a field of the wrong type or value
            raise ValueError(f"{path}: {' '.join(str(err).split())}") from None

    def save_pretrained(self, save_directory: Union[str, os.PathLike]) -> None:
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.to_json_file(directory / CONFIG_NAME)

    @classmethod
    def from_pretrained(cls, path_or_id: Union[str, os.PathLike], **kwargs: Any) -> "LayoutLMv2Config":
        """Read config.json from a folder, a file, or a hub id (through huggingface_hub)."""
        from .hub import resolve_file

        hub_kwargs = {k: kwargs.pop(k) for k in ("revision", "cache_dir", "local_files_only", "token") if k in kwargs}
        path = Path(path_or_id)
        if path.is_file():
            config_file = path
        else:
            config_file = resolve_file(path_or_id, CONFIG_NAME, **hub_kwargs)
        config = cls.from_json_file(config_file)
        for key, value in kwargs.items():
            setattr(config, ATTRIBUTE_ALIASES.get(key, key), value)
        if kwargs:
            config.validate()
        return config

    def copy(self) -> "LayoutLMv2Config":
        return copy.deepcopy(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LayoutLMv2Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"
