"""The three task heads. Each calls the base model once and adds a small classifier.

The pooler of the base model feeds none of these heads, so they freeze it (no gradient, so
DistributedDataParallel needs no `find_unused_parameters`); its weights still load and save.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import LayoutLMv2Config
from .model import LayoutLMv2Model, LayoutLMv2PreTrainedModel
from .outputs import QuestionAnsweringModelOutput, SequenceClassifierOutput, TokenClassifierOutput


def _text_length(input_ids: Optional[torch.Tensor], inputs_embeds: Optional[torch.Tensor]) -> int:
    return (input_ids if input_ids is not None else inputs_embeds).shape[1]


class _TaskHead(LayoutLMv2PreTrainedModel):
    """What the three heads share: the base model (under `layoutlmv2.`) with its pooler frozen."""

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.layoutlmv2 = LayoutLMv2Model(config)
        self.layoutlmv2.pooler.requires_grad_(False)

    def encode(self, input_ids, bbox, image, attention_mask, token_type_ids, position_ids, head_mask,
               inputs_embeds, output_attentions, output_hidden_states, return_visual_embeddings=False):
        """One pass of the base model, always as a dataclass."""
        return self.layoutlmv2(
            input_ids=input_ids, bbox=bbox, image=image, attention_mask=attention_mask,
            token_type_ids=token_type_ids, position_ids=position_ids, head_mask=head_mask,
            inputs_embeds=inputs_embeds, output_attentions=output_attentions,
            output_hidden_states=output_hidden_states, return_dict=True,
            return_visual_embeddings=return_visual_embeddings,
        )


class LayoutLMv2ForSequenceClassification(_TaskHead):
    """Document classification from [CLS] + mean initial visual tokens + mean final visual tokens.

    The reference runs the visual backbone twice per forward (once more for the "initial" visual
    embeddings); here the base model returns them from its single pass.
    """

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(3 * config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, bbox=None, image=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        length = _text_length(input_ids, inputs_embeds)
        outputs = self.encode(input_ids, bbox, image, attention_mask, token_type_ids, position_ids, head_mask,
                              inputs_embeds, output_attentions, output_hidden_states, return_visual_embeddings=True)
        hidden = outputs.last_hidden_state  # (B, L + V, H)
        features = torch.cat(
            [hidden[:, 0], outputs.visual_embeddings.mean(dim=1), hidden[:, length:].mean(dim=1)], dim=1
        )  # (B, 3H)
        logits = self.classifier(self.dropout(features))
        loss = None if labels is None else self.loss(logits, labels)
        result = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                          attentions=outputs.attentions)
        return result if return_dict else result.to_tuple()

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Regression (MSE), single-label (cross-entropy) or multi-label (BCE), as transformers infers it."""
        problem = self.config.problem_type
        if problem is None:
            if self.num_labels == 1:
                problem = "regression"
            elif labels.dtype in (torch.long, torch.int):
                problem = "single_label_classification"
            else:
                problem = "multi_label_classification"
        if problem == "regression":
            if self.num_labels == 1:
                return F.mse_loss(logits.squeeze(), labels.squeeze().to(logits.dtype))
            return F.mse_loss(logits, labels.to(logits.dtype))
        if problem == "single_label_classification":
            return F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


class LayoutLMv2ForTokenClassification(_TaskHead):
    """Per-token labels (e.g. BIO entity tags) on the text positions."""

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, bbox=None, image=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, labels=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        length = _text_length(input_ids, inputs_embeds)
        outputs = self.encode(input_ids, bbox, image, attention_mask, token_type_ids, position_ids, head_mask,
                              inputs_embeds, output_attentions, output_hidden_states)
        text = outputs.last_hidden_state[:, :length]  # (B, L, H): visual tokens get no label
        logits = self.classifier(self.dropout(text))  # (B, L, num_labels)
        loss = None
        if labels is not None:
            if tuple(labels.shape) != tuple(logits.shape[:2]):
                raise ValueError(f"labels must have shape {tuple(logits.shape[:2])}, got {tuple(labels.shape)}")
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1), ignore_index=-100)
        result = TokenClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states,
                                       attentions=outputs.attentions)
        return result if return_dict else result.to_tuple()


class LayoutLMv2ForQuestionAnswering(_TaskHead):
    """Extractive QA: start and end logits over the text positions.

    As in transformers, the visual segment embedding is always on for this head, so its
    checkpoints have `layoutlmv2.visual_segment_embedding` and their config says so. The
    caller's config object is not changed: the model keeps a copy.
    """

    def __init__(self, config: LayoutLMv2Config, has_visual_segment_embedding: bool = True) -> None:
        config = config.copy()
        config.has_visual_segment_embedding = has_visual_segment_embedding
        super().__init__(config)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, bbox=None, image=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, start_positions=None,
                end_positions=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        length = _text_length(input_ids, inputs_embeds)
        outputs = self.encode(input_ids, bbox, image, attention_mask, token_type_ids, position_ids, head_mask,
                              inputs_embeds, output_attentions, output_hidden_states)
        logits = self.qa_outputs(outputs.last_hidden_state[:, :length])  # (B, L, 2)
        # indexing, not split(): split exports to ONNX opset 17 as an op only opset 18 knows
        start_logits, end_logits = logits[..., 0].contiguous(), logits[..., 1].contiguous()
        loss = None
        if start_positions is not None and end_positions is not None:
            # positions outside the text are clamped to L and ignored, as in transformers
            ignored = start_logits.shape[1]
            start = start_positions.view(-1).clamp(0, ignored)
            end = end_positions.view(-1).clamp(0, ignored)
            loss = (F.cross_entropy(start_logits, start, ignore_index=ignored)
                    + F.cross_entropy(end_logits, end, ignore_index=ignored)) / 2
        result = QuestionAnsweringModelOutput(loss=loss, start_logits=start_logits, end_logits=end_logits,
                                              hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        return result if return_dict else result.to_tuple()
