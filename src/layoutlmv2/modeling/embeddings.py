"""Text and layout embeddings, and the fixed boxes of the visual token grid.

A token's embedding is word + 1-D position + 2-D layout + token type. The layout part
concatenates learned tables for the box edges and its size:
[x(x0), y(y0), x(x1), y(y1), h(y1 - y0), w(x1 - x0)] -> 4 * coordinate_size + 2 * shape_size.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import nn


class LayoutLMv2Embeddings(nn.Module):
    """Word, position, layout and token-type tables (module names as in the checkpoints)."""

    def __init__(self, config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.x_position_embeddings = nn.Embedding(config.max_2d_position_embeddings, config.coordinate_size)
        self.y_position_embeddings = nn.Embedding(config.max_2d_position_embeddings, config.coordinate_size)
        self.h_position_embeddings = nn.Embedding(config.max_2d_position_embeddings, config.shape_size)
        self.w_position_embeddings = nn.Embedding(config.max_2d_position_embeddings, config.shape_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def spatial(self, bbox: torch.Tensor) -> torch.Tensor:
        """(B, L, 4) boxes [x0, y0, x1, y1] in 0..1000 -> (B, L, hidden)."""
        x0, y0, x1, y1 = bbox.unbind(-1)
        return torch.cat(
            [
                self.x_position_embeddings(x0),
                self.y_position_embeddings(y0),
                self.x_position_embeddings(x1),
                self.y_position_embeddings(y1),
                self.h_position_embeddings(y1 - y0),
                self.w_position_embeddings(x1 - x0),
            ],
            dim=-1,
        )

    def forward(
        self,
        input_ids: Optional[torch.Tensor],
        bbox: torch.Tensor,
        position_ids: torch.Tensor,
        token_type_ids: torch.Tensor,
        inputs_embeds: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Text tokens -> (B, L, hidden), normalised (dropout applied in training)."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        # the reference's summation order, for bit-level agreement
        embeddings = (
            inputs_embeds
            + self.position_embeddings(position_ids)
            + self.spatial(bbox)
            + self.token_type_embeddings(token_type_ids)
        )
        return self.dropout(self.LayerNorm(embeddings))


def visual_token_boxes(grid: Tuple[int, int], device: Optional[torch.device] = None) -> torch.Tensor:
    """Boxes of the pooled visual tokens, (rows * cols, 4), row-major, in 0..1000.

    Cell boundaries are `1000 * i // n`: for a 7x7 grid [0, 142, 285, 428, 571, 714, 857, 1000].
    """
    rows, cols = grid
    xs = torch.arange(cols + 1, device=device) * 1000 // cols
    ys = torch.arange(rows + 1, device=device) * 1000 // rows
    y0, x0 = torch.meshgrid(ys[:-1], xs[:-1], indexing="ij")  # (rows, cols)
    y1, x1 = torch.meshgrid(ys[1:], xs[1:], indexing="ij")
    return torch.stack([x0, y0, x1, y1], dim=-1).reshape(rows * cols, 4)
