"""The transformer encoder: post-LN BERT layers sharing one set of relative-position biases.

The biases depend only on positions and boxes, not on the layer, so they are computed once per
forward and passed to every layer.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .attention import LayoutLMv2Attention, sdpa_mask
from .relative_position import RelativePositionBias

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


class LayoutLMv2Intermediate(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        if config.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act={config.hidden_act!r} is not one of {sorted(ACTIVATIONS)}")
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACTIVATIONS[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states))


class LayoutLMv2Output(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class LayoutLMv2Layer(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.attention = LayoutLMv2Attention(config)
        self.intermediate = LayoutLMv2Intermediate(config)
        self.output = LayoutLMv2Output(config)

    def forward(self, hidden_states, padding_mask, bias, implementation="sdpa", output_attentions=False):
        attended, probs = self.attention(hidden_states, padding_mask, bias, implementation, output_attentions)
        return self.output(self.intermediate(attended), attended), probs


class LayoutLMv2Encoder(nn.Module):
    """Layers plus the relative-position bias tables (`rel_pos_bias`, `rel_pos_x_bias`, `rel_pos_y_bias`)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.layer = nn.ModuleList(LayoutLMv2Layer(config) for _ in range(config.num_hidden_layers))
        heads = config.num_attention_heads
        self.rel_pos_bias = self.rel_pos_x_bias = self.rel_pos_y_bias = None
        if config.has_relative_attention_bias:
            self.rel_pos_bias = RelativePositionBias(config.rel_pos_bins, config.max_rel_pos, heads)
        if config.has_spatial_attention_bias:
            # x from the left edge (x0), y from the bottom edge (y1), as the reference does
            self.rel_pos_x_bias = RelativePositionBias(config.rel_2d_pos_bins, config.max_rel_2d_pos, heads)
            self.rel_pos_y_bias = RelativePositionBias(config.rel_2d_pos_bins, config.max_rel_2d_pos, heads)
        self.attn_implementation = "sdpa"
        self.gradient_checkpointing = False
        # Benchmark-only switches (benchmarks/bench_model.py and bench_end_to_end.py set them; the
        # library never does): False recomputes the biases in every layer, or masks the padded keys
        # in every layer (the reference's way), to measure what each saving is worth.
        self.share_bias = True
        self.fold_padding_mask = True

    def attention_bias(self, position_ids: torch.Tensor, bbox: torch.Tensor) -> Optional[torch.Tensor]:
        """(B, heads, L, L): 1-D bias + (x bias + y bias), or None when both are off."""
        bias = None
        if self.rel_pos_bias is not None:
            bias = self.rel_pos_bias(position_ids)
        if self.rel_pos_x_bias is not None:
            spatial = self.rel_pos_x_bias(bbox[..., 0]) + self.rel_pos_y_bias(bbox[..., 3])
            bias = spatial if bias is None else bias + spatial
        return bias

    def forward(
        self,
        hidden_states: torch.Tensor,
        padding_mask: torch.Tensor,
        bbox: torch.Tensor,
        position_ids: torch.Tensor,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> Tuple[torch.Tensor, Optional[Tuple[torch.Tensor, ...]], Optional[Tuple[torch.Tensor, ...]]]:
        """Returns (last hidden state, all hidden states or None, attention maps or None)."""
        bias = self.attention_bias(position_ids, bbox) if self.share_bias else None
        if self.share_bias and self.fold_padding_mask and not output_attentions \
                and not torch.is_autocast_enabled(hidden_states.device.type):
            # one additive mask for all layers (bias + padding); see `sdpa_mask`. Attention maps
            # (output_attentions) keep the reference's per-layer masked fill.
            bias, padding_mask = sdpa_mask(bias, padding_mask, hidden_states.dtype), None
        all_hidden = (hidden_states,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layer:
            layer_bias = bias if self.share_bias else self.attention_bias(position_ids, bbox)
            args = (hidden_states, padding_mask, layer_bias, self.attn_implementation, output_attentions)
            if self.gradient_checkpointing and self.training:
                hidden_states, probs = checkpoint(layer, *args, use_reentrant=False)
            else:
                hidden_states, probs = layer(*args)
            if output_hidden_states:
                all_hidden = all_hidden + (hidden_states,)
            if output_attentions:
                all_attentions = all_attentions + (probs,)
        return hidden_states, all_hidden, all_attentions
