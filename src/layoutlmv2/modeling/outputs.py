"""Model outputs: dataclasses with attribute, key and index access, as transformers' ModelOutput.

Fields left as None are skipped by index access and `to_tuple()`, so `outputs[0]` is always the
first field that was computed (`loss` when labels were given, else the logits or hidden state).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Iterator, Optional, Tuple

import torch


class ModelOutput:
    """Base of the output dataclasses below."""

    def to_tuple(self) -> Tuple[Any, ...]:
        return tuple(value for _, value in self.items())

    def keys(self) -> list:
        return [key for key, _ in self.items()]

    def values(self) -> list:
        return [value for _, value in self.items()]

    def items(self) -> list:
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key not in self.keys():
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    """Output of `LayoutLMv2Model`.

    `last_hidden_state` is (batch, text_len + 49, hidden): the text tokens, then the visual grid.
    `visual_embeddings` is filled only on request (the sequence-classification head uses it): the
    visual tokens as they entered the encoder, (batch, 49, hidden).
    """

    last_hidden_state: Optional[torch.Tensor] = None
    pooler_output: Optional[torch.Tensor] = None
    hidden_states: Optional[Tuple[torch.Tensor, ...]] = None
    attentions: Optional[Tuple[torch.Tensor, ...]] = None
    visual_embeddings: Optional[torch.Tensor] = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    hidden_states: Optional[Tuple[torch.Tensor, ...]] = None
    attentions: Optional[Tuple[torch.Tensor, ...]] = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    hidden_states: Optional[Tuple[torch.Tensor, ...]] = None
    attentions: Optional[Tuple[torch.Tensor, ...]] = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Optional[torch.Tensor] = None
    start_logits: Optional[torch.Tensor] = None
    end_logits: Optional[torch.Tensor] = None
    hidden_states: Optional[Tuple[torch.Tensor, ...]] = None
    attentions: Optional[Tuple[torch.Tensor, ...]] = None


@dataclass
class PreTrainingOutput(ModelOutput):
    """Output of `LayoutLMv2ForPreTraining`: the weighted sum `loss` and each objective's own loss.

    `mvlm_logits` is (batch, text_len, vocab), `tia_logits` (batch, text_len, 2: not covered /
    covered), `tim_logits` (batch, 2: image does not / does belong to the text). A loss is None
    when its labels were not given; it is 0 (with a gradient path) when every label is ignored.
    """

    loss: Optional[torch.Tensor] = None
    mvlm_loss: Optional[torch.Tensor] = None
    tia_loss: Optional[torch.Tensor] = None
    tim_loss: Optional[torch.Tensor] = None
    mvlm_logits: Optional[torch.Tensor] = None
    tia_logits: Optional[torch.Tensor] = None
    tim_logits: Optional[torch.Tensor] = None
    hidden_states: Optional[Tuple[torch.Tensor, ...]] = None
    attentions: Optional[Tuple[torch.Tensor, ...]] = None
