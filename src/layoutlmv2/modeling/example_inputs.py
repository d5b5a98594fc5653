"""Valid random model inputs, from a seed: the one generator behind ONNX export, conversion checks and tests.

Valid means what the model's input checks ask (`input_checks`): ids below the vocabulary size
with [CLS] first, boxes on the 0..1000 grid with x0 <= x1 and y0 <= y1, a BGR 0..255 image,
padding (attention mask 0) at the end only.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import torch

CLS_ID = 101  # [CLS] of the BERT vocabulary


def example_inputs(config=None, batch_size: int = 2, seq_length: int = 16,
                   image_size: Union[int, Tuple[int, int]] = 224, seed: int = 0,
                   padded_tokens: Optional[int] = None, pad_ids: bool = False, two_segments: bool = False,
                   vocab_size: Optional[int] = None) -> Dict[str, torch.Tensor]:
    """``input_ids``, ``bbox``, ``image``, ``attention_mask``, ``token_type_ids`` for a batch.

    ``padded_tokens``: how many tokens at the end of the first sample are padding (default a
    quarter of the length; 0 for none), with their ids set to 0 when ``pad_ids``.
    ``two_segments`` gives the second half token type 1. Ids are drawn from 1000 up to the
    config's ``vocab_size`` (or ``vocab_size``).
    """
    high = vocab_size if vocab_size is not None else config.vocab_size
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, high, (batch_size, seq_length), generator=g)
    input_ids[:, 0] = CLS_ID
    corners = torch.randint(0, 1001, (batch_size, seq_length, 2, 2), generator=g)  # (B, L, {x, y}, 2)
    low, top = corners.min(dim=-1).values, corners.max(dim=-1).values  # (B, L, 2)
    bbox = torch.stack([low[..., 0], low[..., 1], top[..., 0], top[..., 1]], dim=-1)  # (B, L, 4)
    attention_mask = torch.ones(batch_size, seq_length, dtype=torch.long)
    padded = seq_length // 4 if padded_tokens is None else padded_tokens
    if padded:
        attention_mask[0, seq_length - padded:] = 0
        if pad_ids:
            input_ids[0, seq_length - padded:] = 0
    token_type_ids = torch.zeros(batch_size, seq_length, dtype=torch.long)
    if two_segments:
        token_type_ids[:, seq_length // 2:] = 1
    image = torch.randint(0, 256, (batch_size, 3, height, width), generator=g).float()  # (B, 3, H, W)
    return dict(input_ids=input_ids, bbox=bbox, image=image, attention_mask=attention_mask,
                token_type_ids=token_type_ids)
