"""Spatial-aware self-attention: scaled dot product plus the relative 1-D/2-D biases.

Two implementations share one set of weights:
- "eager" is the reference arithmetic: scores = (q / sqrt(d)) @ k^T + biases, padded keys
  *set* to the float minimum, softmax in float32. When the encoder has already folded the
  padding into the biases (`sdpa_mask`, once per forward) the padded keys are *pushed* to the
  minimum instead: the same probabilities (exactly 0 on padded keys) without a masked fill per
  layer, which was 2% of an exported model's time per page (same-process A/B).
- "sdpa" hands the same computation to `torch.nn.functional.scaled_dot_product_attention`, the
  biases and the padding folded into one additive mask. It is the default; its difference from
  the reference is measured in the tests (well inside each golden case's tolerance).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


def sdpa_mask(bias: Optional[torch.Tensor], padding_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """SDPA's additive mask: the relative-position bias with padded keys at the dtype's minimum.

    Contiguous, because the bias comes out of the bucket lookup permuted, and SDPA reads the
    mask once per layer: one copy here instead of twelve strided reads.
    """
    mask = torch.zeros((), dtype=dtype, device=padding_mask.device) if bias is None else bias.to(dtype)
    return mask.masked_fill(padding_mask, torch.finfo(dtype).min).contiguous()


class LayoutLMv2SelfAttention(nn.Module):
    """Multi-head attention with either a fused `qkv_linear` (+ q/v biases) or separate q/k/v.

    With `fast_qkv` the key has no bias: a bias on the key adds the same amount to every score
    of a query row, which the softmax cancels.
    """

    def __init__(self, config) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.fast_qkv = config.fast_qkv
        hidden = config.hidden_size
        if self.fast_qkv:
            self.qkv_linear = nn.Linear(hidden, 3 * hidden, bias=False)
            self.q_bias = nn.Parameter(torch.zeros(1, 1, hidden))
            self.v_bias = nn.Parameter(torch.zeros(1, 1, hidden))
        else:
            self.query = nn.Linear(hidden, hidden)
            self.key = nn.Linear(hidden, hidden)
            self.value = nn.Linear(hidden, hidden)
        self.dropout_prob = config.attention_probs_dropout_prob
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def projections(self, hidden_states: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, L, hidden) -> q, k, v each (B, heads, L, head_size)."""
        if self.fast_qkv:
            qkv = self.qkv_linear(hidden_states)  # (B, L, 3 * hidden)
            # slices rather than chunk(3): chunk exports to ONNX as Split with `num_outputs`,
            # which exists only from opset 18; slices export to any opset (same values)
            hidden = qkv.shape[-1] // 3
            q = qkv[..., :hidden] + self.q_bias
            k = qkv[..., hidden : 2 * hidden]
            v = qkv[..., 2 * hidden :] + self.v_bias
        else:
            q, k, v = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
        batch, length, _ = hidden_states.shape
        split = lambda t: t.view(batch, length, self.num_heads, self.head_size).transpose(1, 2)  # noqa: E731
        return split(q), split(k), split(v)

    def forward(
        self,
        hidden_states: torch.Tensor,
        padding_mask: torch.Tensor,
        bias: Optional[torch.Tensor],
        implementation: str = "sdpa",
        output_attentions: bool = False,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """`padding_mask` (B, 1, 1, L) is True on padded keys; `bias` is (B, heads, L, L) or None.

        `padding_mask=None` means `bias` is already the whole additive mask (`sdpa_mask`), built
        once per forward by the encoder instead of once per layer.
        """
        q, k, v = self.projections(hidden_states)
        if implementation == "sdpa" and not output_attentions:
            mask = bias.to(q.dtype) if padding_mask is None else sdpa_mask(bias, padding_mask, q.dtype)
            context = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout_prob if self.training else 0.0
            )
            probs = None
        else:
            scores = (q / math.sqrt(self.head_size)) @ k.transpose(-1, -2)  # (B, heads, L, L)
            if bias is not None:
                scores = scores + bias
            scores = scores.float()
            if padding_mask is not None:
                scores = scores.masked_fill(padding_mask, torch.finfo(torch.float32).min)
            probs = F.softmax(scores, dim=-1, dtype=torch.float32).type_as(v)
            context = self.dropout(probs) @ v
        batch, _, length, _ = context.shape
        context = context.transpose(1, 2).reshape(batch, length, self.num_heads * self.head_size)
        return context, probs


class LayoutLMv2SelfOutput(nn.Module):
    def __init__(self, config) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, context: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(context)) + residual)


class LayoutLMv2Attention(nn.Module):
    """Self-attention and its output projection (post-LN), named as in the checkpoints."""

    def __init__(self, config) -> None:
        super().__init__()
        self.self = LayoutLMv2SelfAttention(config)
        self.output = LayoutLMv2SelfOutput(config)

    def forward(self, hidden_states, padding_mask, bias, implementation="sdpa", output_attentions=False):
        context, probs = self.self(hidden_states, padding_mask, bias, implementation, output_attentions)
        return self.output(context, hidden_states), probs
