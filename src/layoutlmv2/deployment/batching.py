"""Length-aware batching for inference: no compute on padding that nothing reads.

The usual recipe pads every page to 512 tokens. Attention and the feed-forward layers then
spend most of their time on padding: a FUNSD test page has about 200 tokens, so padded to 512
the encoder does 2.5x (linear layers) to 6x (attention) the work it needs. Padded keys are
masked, and the visual tokens' positions and boxes do not depend on where the text ends, so
the outputs on the real tokens do not change (up to float summation order) when the padding
is cut. Here:

1. `trim_padding` cuts a batch to its longest real sequence;
2. `length_batches` groups documents of similar length (sorted), so each batch pads little;
3. `predict` runs a model over a list of single-document encodings that way and returns the
   outputs per document, in the input order, without their padding.

Example:
    >>> encodings = [processor(image, words, boxes=boxes, return_tensors="pt") for ...]  # doctest: +SKIP
    >>> outputs = predict(model, encodings, batch_size=8)           # doctest: +SKIP
    >>> outputs[0]["logits"].shape                                  # (real tokens, num_labels)
"""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from .worker_pool import check_workers, run_batches

# Per-token inputs and the value that pads them (labels pad with the loss's ignore index).
TEXT_PAD_VALUES = {
    "input_ids": 0,
    "bbox": 0,
    "attention_mask": 0,
    "token_type_ids": 0,
    "position_ids": 0,
    "labels": -100,
}
# Outputs indexed by text position (visual tokens excluded); `last_hidden_state` also holds the
# visual tokens after the text.
_TOKEN_OUTPUTS = ("start_logits", "end_logits")


def real_lengths(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) mask -> (B,) index after the last attended token (padding is at the end)."""
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, seq_len), got shape {tuple(attention_mask.shape)}")
    positions = torch.arange(1, attention_mask.shape[1] + 1, device=attention_mask.device)
    return (attention_mask.ne(0) * positions).amax(dim=1)


def trim_padding(inputs: Mapping[str, torch.Tensor], pad_to_multiple_of: int = 1) -> Dict[str, torch.Tensor]:
    """A copy of `inputs` with every per-token tensor cut to the batch's longest real sequence.

    Needs `attention_mask`. Tensors not listed in `TEXT_PAD_VALUES` (the image) are kept whole.
    """
    if "attention_mask" not in inputs:
        raise ValueError("trim_padding needs attention_mask to know where the padding starts")
    mask = inputs["attention_mask"]
    keep = max(int(real_lengths(mask).max()), 1)
    keep = min(-(-keep // pad_to_multiple_of) * pad_to_multiple_of, mask.shape[1])
    return {name: value[:, :keep] if name in TEXT_PAD_VALUES else value for name, value in inputs.items()}


def length_batches(lengths: Sequence[int], batch_size: int) -> List[List[int]]:
    """Indices grouped into batches of at most `batch_size`, longest documents first.

    Sorting puts documents of similar length together, so padding each batch to its longest
    member wastes little; longest first makes the first batch the one that needs most memory.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def run_length_sorted(model: nn.Module, lengths: Sequence[int], make_batch: Callable[[List[int]], Dict[str, torch.Tensor]],
                      batch_size: int = 8, workers: int = 1, autocast: bool = False
                      ) -> Iterator[Tuple[List[int], Dict[str, torch.Tensor], Dict[str, torch.Tensor]]]:
    """The one collate-and-run engine: items grouped by length, each group collated by `make_batch`,
    run (in `workers` workers), yielded as `(item indices, batch inputs, outputs)` as batches finish.

    `predict` below (encodings of whole documents) and the task code (`Task.window_outputs`,
    windows of long pages) both run through it; they differ only in how they collate and split.
    """
    check_workers(workers)
    groups = length_batches(lengths, batch_size)
    batches = [make_batch(group) for group in groups]
    for index, outputs in run_batches(model, batches, workers, autocast):
        yield groups[index], batches[index], outputs


def _as_batch_of_one(encoding: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Accept (L,) / (3, H, W) tensors of one document as well as (1, L) / (1, 3, H, W)."""
    result = {}
    for name, value in encoding.items():
        value = torch.as_tensor(value)
        unbatched = value.dim() == 3 if name == "image" else value.dim() == (2 if name == "bbox" else 1)
        if not unbatched and value.shape[0] != 1:
            raise ValueError(f"each encoding must hold one document; {name} has batch size {value.shape[0]}")
        result[name] = value.unsqueeze(0) if unbatched else value
    return result


def collate(encodings: Sequence[Mapping[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Single-document encodings -> one batch padded (at the end) to its longest real sequence."""
    if not encodings:
        raise ValueError("collate needs at least one encoding")
    documents = [trim_padding(_as_batch_of_one(e)) for e in encodings]
    names = documents[0].keys()
    for doc in documents[1:]:
        if doc.keys() != names:
            raise ValueError(f"encodings hold different inputs: {sorted(names)} vs {sorted(doc.keys())}")
    length = max(doc["attention_mask"].shape[1] for doc in documents)
    batch = {}
    for name in names:
        if name not in TEXT_PAD_VALUES:
            batch[name] = torch.cat([doc[name] for doc in documents])
            continue
        padded = []
        for doc in documents:
            value = doc[name]
            missing = length - value.shape[1]
            if missing:
                pad = value.new_full((1, missing, *value.shape[2:]), TEXT_PAD_VALUES[name])
                value = torch.cat([value, pad], dim=1)
            padded.append(value)
        batch[name] = torch.cat(padded)  # (B, length, ...)
    return batch


def _split_outputs(outputs, lengths: Sequence[int], text_length: int) -> List[Dict[str, torch.Tensor]]:
    """Batched model outputs -> one dict per document, per-token outputs cut to its real tokens."""
    per_document: List[Dict[str, torch.Tensor]] = [{} for _ in lengths]
    for name, value in outputs.items():
        if not isinstance(value, torch.Tensor):
            continue  # None, or tuples of hidden states / attention maps
        for i, n in enumerate(lengths):
            if name == "last_hidden_state":  # (B, L + V, H): real text tokens, then the visual tokens
                per_document[i][name] = torch.cat([value[i, :n], value[i, text_length:]])
            elif name in _TOKEN_OUTPUTS or (name == "logits" and value.dim() == 3):
                per_document[i][name] = value[i, :n]
            else:  # per-document outputs: sequence logits, pooler output, loss
                per_document[i][name] = value[i] if value.dim() else value
    return per_document


def predict(model: nn.Module, encodings: Sequence[Mapping[str, torch.Tensor]], batch_size: int = 8,
            progress: Optional[Callable[[int], None]] = None, workers: int = 1) -> List[Dict[str, torch.Tensor]]:
    """Run `model` on single-document encodings in length-sorted batches, under `torch.inference_mode`.

    Returns one dict of output tensors per encoding, in the input order: per-token outputs hold
    only the document's real tokens (`last_hidden_state`: its text tokens, then the visual
    tokens); per-document outputs drop the batch dimension. Labels, if present, are not passed.
    `progress`, if given, is called with the number of documents done after each batch.
    `workers` > 1 runs the batches in that many workers sharing the cores (processes; threads
    for an `OnnxModel`: `layoutlmv2.worker_pool`); the outputs are the same.
    """
    check_workers(workers)
    documents = [_as_batch_of_one(e) for e in encodings]
    for index, doc in enumerate(documents):
        if "attention_mask" not in doc:
            raise ValueError(f"encoding {index} has no attention_mask")
    lengths = [max(int(real_lengths(doc["attention_mask"])[0]), 1) for doc in documents]

    def make_batch(group: List[int]) -> Dict[str, torch.Tensor]:
        batch = collate([documents[i] for i in group])
        batch.pop("labels", None)
        return batch

    results: List[Optional[Dict[str, torch.Tensor]]] = [None] * len(documents)
    for group, batch, outputs in run_length_sorted(model, lengths, make_batch, batch_size, workers):
        text_length = batch["attention_mask"].shape[1]
        for i, result in zip(group, _split_outputs(outputs, [lengths[i] for i in group], text_length)):
            results[i] = result
        if progress is not None:
            progress(len(group))
    return results
