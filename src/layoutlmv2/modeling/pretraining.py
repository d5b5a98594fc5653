"""LayoutLMv2 with its three pre-training heads (Xu et al., 2021, section 2.2).

* MVLM (masked visual-language modelling): predict the masked text tokens from the rest of the
  text, the layout and the image. BERT's LM head: dense + activation + LayerNorm, then a decoder
  whose weight *is* the word-embedding table (tied) plus an output bias.
* TIA (text-image alignment): per text token, is its region covered in the image (2 classes).
* TIM (text-image matching): at [CLS] (through the pooler, as BERT's next-sentence head), does
  the image belong to the text (2 classes: 0 no, 1 yes).

The heads live under ``cls.`` (BERT's name for its pre-training heads), so a checkpoint saved by
this class loads into every task head: `from_pretrained` drops ``cls.*`` with one message and
starts the task head afresh. The inputs (masked ids, covered image, labels) are made by
`layoutlmv2.tasks.pretraining`.

Example:
    >>> model = LayoutLMv2ForPreTraining(config)            # any LayoutLMv2Config
    >>> out = model(input_ids=ids, bbox=bbox, image=image,    # (B, L), (B, L, 4), (B, 3, H, W)
    ...             mvlm_labels=mvlm, tia_labels=tia, tim_labels=tim)   # (B, L), (B, L), (B,)
    >>> out.loss, out.mvlm_loss, out.tia_loss, out.tim_loss   # scalars
    >>> out.mvlm_logits.shape                                 # (B, L, vocab_size)
"""

from __future__ import annotations

from typing import Mapping, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import LayoutLMv2Config
from .encoder import ACTIVATIONS
from .model import LayoutLMv2Model, LayoutLMv2PreTrainedModel
from .outputs import PreTrainingOutput

IGNORE_INDEX = -100
OBJECTIVES = ("mvlm", "tia", "tim")


class LMPredictionHead(nn.Module):
    """BERT's masked-LM head; ``decoder.weight`` is tied to the word embeddings by the owner."""

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__()
        self.transform = nn.Module()  # BERT's key names: cls.predictions.transform.dense / .LayerNorm
        self.transform.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        x = self.transform.LayerNorm(self.activation(self.transform.dense(hidden)))  # (B, L, H)
        return self.decoder(x) + self.bias  # (B, L, vocab)


class PreTrainingHeads(nn.Module):
    """``cls.predictions`` (MVLM), ``cls.text_image_alignment`` (TIA), ``cls.text_image_matching`` (TIM)."""

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__()
        self.predictions = LMPredictionHead(config)
        self.text_image_alignment = nn.Linear(config.hidden_size, 2)
        self.text_image_matching = nn.Linear(config.hidden_size, 2)


def _masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labels that are not -100; 0 (still connected to the graph) if none are."""
    logits = logits.float().reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1)
    if not bool((labels != IGNORE_INDEX).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)


class LayoutLMv2ForPreTraining(LayoutLMv2PreTrainedModel):
    """The base model plus the MVLM, TIA and TIM heads; the loss is their weighted sum.

    ``loss_weights`` maps "mvlm", "tia", "tim" to the weight of each loss (default 1 each, the
    paper sums them). It is an attribute, not a config field: it belongs to the run, not to the
    weights.
    """

    def __init__(self, config: LayoutLMv2Config, loss_weights: Optional[Mapping[str, float]] = None) -> None:
        super().__init__(config)
        self.layoutlmv2 = LayoutLMv2Model(config)
        self.cls = PreTrainingHeads(config)
        self.loss_weights = self.check_loss_weights(loss_weights or {})
        self.post_init()
        self.tie_weights()

    @staticmethod
    def check_loss_weights(weights: Mapping[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(OBJECTIVES))
        if unknown:
            raise ValueError(f"loss_weights has unknown objective(s) {unknown}; the objectives are {list(OBJECTIVES)}")
        out = {name: float(weights.get(name, 1.0)) for name in OBJECTIVES}
        bad = {k: v for k, v in out.items() if not v >= 0}
        if bad:
            raise ValueError(f"loss weights must be >= 0, got {bad}")
        return out

    def tie_weights(self) -> None:
        """The MVLM decoder shares the word-embedding table (one Parameter); called again after loading."""
        self.cls.predictions.decoder.weight = self.layoutlmv2.embeddings.word_embeddings.weight

    def get_output_embeddings(self) -> nn.Linear:
        return self.cls.predictions.decoder

    def forward(self, input_ids=None, bbox=None, image=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, mvlm_labels=None, tia_labels=None,
                tim_labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        """``mvlm_labels`` (B, L): the original id at masked tokens, -100 elsewhere; ``tia_labels``
        (B, L): 1 covered, 0 not, -100 ignored; ``tim_labels`` (B,): 1 the image is the text's page,
        0 not, -100 ignored."""
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        outputs = self.layoutlmv2(
            input_ids=input_ids, bbox=bbox, image=image, attention_mask=attention_mask,
            token_type_ids=token_type_ids, position_ids=position_ids, head_mask=head_mask,
            inputs_embeds=inputs_embeds, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
        )
        text = outputs.last_hidden_state[:, :length]  # (B, L, H): the visual tokens have no target
        mvlm_logits = self.cls.predictions(text)  # (B, L, vocab)
        tia_logits = self.cls.text_image_alignment(text)  # (B, L, 2)
        tim_logits = self.cls.text_image_matching(outputs.pooler_output)  # (B, 2)

        losses = {}
        for name, logits, labels in (("mvlm", mvlm_logits, mvlm_labels), ("tia", tia_logits, tia_labels),
                                     ("tim", tim_logits, tim_labels)):
            if labels is not None:
                if tuple(labels.shape) != tuple(logits.shape[:-1]):
                    raise ValueError(f"{name}_labels must have shape {tuple(logits.shape[:-1])}, "
                                     f"got {tuple(labels.shape)}")
                losses[name] = _masked_cross_entropy(logits, labels)
        loss = sum(self.loss_weights[name] * value for name, value in losses.items()) if losses else None
        result = PreTrainingOutput(
            loss=loss, mvlm_loss=losses.get("mvlm"), tia_loss=losses.get("tia"), tim_loss=losses.get("tim"),
            mvlm_logits=mvlm_logits, tia_logits=tia_logits, tim_logits=tim_logits,
            hidden_states=outputs.hidden_states, attentions=outputs.attentions,
        )
        return result if return_dict else result.to_tuple()
