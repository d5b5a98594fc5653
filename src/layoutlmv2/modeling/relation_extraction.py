"""Relation extraction (key -> value linking): which answer entity belongs to which question entity.

The decoder follows the one of microsoft/unilm ``layoutlmft`` (``REDecoder``), and its parameter
names are the same, so a relation-extraction checkpoint fine-tuned with layoutlmft loads as is:

    extractor.entity_emb.weight                 (3, H)        one row per entity label
    extractor.ffnn_head.{0,3}.{weight,bias}      2H -> H -> H/2 (ReLU, dropout after each linear)
    extractor.ffnn_tail.{0,3}.{weight,bias}      the same, for the answer side
    extractor.rel_classifier.bilinear.weight    (2, H/2, H/2)  biaffine pair classifier, no bias
    extractor.rel_classifier.linear.{weight,bias} (2, H), (2,)

An entity is represented by the hidden state of its first token concatenated with the embedding
of its label (0 header, 1 question, 2 answer, as layoutlmft numbers them). Every (question,
answer) pair of a page is a candidate; the gold relations are its positives, every other
candidate a negative, and the loss is the cross-entropy of the two-way pair classifier.

Differences from layoutlmft, each on purpose:

* a page with no question or no answer entity has no candidate and adds nothing to the loss
  (layoutlmft invents a dummy entity pair, and replaces any page of at most two entities by it);
* the loss is the mean over the pages that have candidates of each page's mean pair loss
  (layoutlmft sums the pages, so its loss grows with the batch size);
* each entity goes through the projections once, not once per pair it belongs to (the same
  numbers in eval mode; in training the dropout mask is shared by the pairs of one entity);
* the projections start from He initialisation (normal, std sqrt(2 / fan_in), zero bias), not
  the text model's normal(0.02): at 0.02 a fresh decoder sits for hundreds of steps at the prior
  of "no link" (measured: F1 0 after 2 FUNSD epochs; 275 steps to overfit two pages, against 20);
  a loaded checkpoint overwrites it either way;
* bad input (a span outside the sequence, a relation naming a missing entity, a label outside
  0..2) is a ValueError naming the document and the value, not an IndexError deep inside.

Gold relations that are not (question, answer) candidates are ignored, as in layoutlmft.

One addition, off unless ``config.relation_pair_geometry`` is true: a small MLP over the two
entities' boxes (`PairGeometry`) adds its two logits to the biaffine ones. Forms put a value to
the right of or below its key; a model with layout pre-training reads that from its hidden states,
one trained from a text-only checkpoint here did not (FUNSD F1 0.086 after 13 epochs). Its keys
(``extractor.pair_geometry.*``) exist only when it is on, so layoutlmft checkpoints load either
way (with it on, its weights start fresh).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..configuration import LayoutLMv2Config
from .heads import _TaskHead, _text_length
from .outputs import ModelOutput

# layoutlmft's entity label ids (its data sets' ClassLabel(names=["HEADER", "QUESTION", "ANSWER"]))
RELATION_ENTITY_LABELS = ("HEADER", "QUESTION", "ANSWER")
HEAD_LABEL = 1  # question: the key
TAIL_LABEL = 2  # answer: the value


@dataclass
class RelationExtractionOutput(ModelOutput):
    """Output of `LayoutLMv2ForRelationExtraction`.

    * ``loss``: the pair cross-entropy (when ``relations`` were given);
    * ``pred_relations``: per document, the candidates classified as linked, as layoutlmft returns
      them (``head_id``, ``head`` = (start, end) tokens, ``head_type``, the same for ``tail``,
      ``type`` = 1), plus ``score`` (the probability of the link);
    * ``entities`` / ``relations``: the inputs, as layoutlmft returns them;
    * ``candidates``: per document, ``{"head": [...], "tail": [...]}`` entity indices of every
      (question, answer) pair, in the order of ``pair_logits``;
    * ``pair_logits``: per document, a (pairs, 2) tensor (column 1: linked);
    * ``last_hidden_state``: the base model's output, text then visual tokens.
    """

    loss: Optional[torch.Tensor] = None
    last_hidden_state: Optional[torch.Tensor] = None
    pred_relations: Optional[list] = None
    entities: Optional[list] = None
    relations: Optional[list] = None
    candidates: Optional[list] = None
    pair_logits: Optional[list] = None
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


class BiaffineAttention(nn.Module):
    """Two-way score of a (head, tail) pair: ``x1^T W_k x2 + V_k [x1; x2] + b_k`` for each class k."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.bilinear = nn.Bilinear(in_features, in_features, out_features, bias=False)
        self.linear = nn.Linear(2 * in_features, out_features, bias=True)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Pairs given one by one: x1, x2 (..., in) -> (..., out)."""
        return self.bilinear(x1, x2) + self.linear(torch.cat((x1, x2), dim=-1))

    def grid(self, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """Every head with every tail: (Q, in), (A, in) -> (Q, A, out), without building Q x A copies."""
        d = self.in_features
        bilinear = torch.einsum("qi,kij,aj->qak", heads, self.bilinear.weight, tails)
        weight, bias = self.linear.weight, self.linear.bias  # (out, 2d), (out,)
        return bilinear + (heads @ weight[:, :d].T)[:, None, :] + (tails @ weight[:, d:].T)[None, :, :] + bias


GEOMETRY_FEATURES = 16


def pair_features(heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
    """(Q, 4), (A, 4) boxes in 0..1000 -> (Q, A, 16): where the tail is relative to the head.

    Per pair, in units of a tenth of the page: the four coordinate differences (tail - head), the
    centre differences, the horizontal gap (tail's left - head's right) and the vertical gap (tail's
    top - head's bottom), and both boxes.
    """
    q, a = heads.float()[:, None, :] / 100.0, tails.float()[None, :, :] / 100.0
    q, a = torch.broadcast_tensors(q, a)
    q_centre = (q[..., :2] + q[..., 2:]) / 2
    a_centre = (a[..., :2] + a[..., 2:]) / 2
    gaps = torch.stack((a[..., 0] - q[..., 2], a[..., 1] - q[..., 3]), dim=-1)
    return torch.cat((a - q, a_centre - q_centre, gaps, q, a), dim=-1)


class PairGeometry(nn.Module):
    """Two logits per (head, tail) pair from their boxes alone (see the module docstring)."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(GEOMETRY_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        for linear in (self.mlp[0], self.mlp[2]):
            linear.relu_init = True

    def grid(self, head_boxes: torch.Tensor, tail_boxes: torch.Tensor) -> torch.Tensor:
        """(Q, 4), (A, 4) -> (Q, A, 2)."""
        return self.mlp(pair_features(head_boxes, tail_boxes).to(self.mlp[0].weight.dtype))


def entity_boxes(boxes: torch.Tensor, entities: dict) -> torch.Tensor:
    """(L, 4) token boxes, checked entities -> (E, 4): each entity's box, the union of its tokens'."""
    spans = [boxes[start:end] for start, end in zip(entities["start"], entities["end"])]
    return torch.stack([torch.cat((span[:, :2].amin(0), span[:, 2:].amax(0))) for span in spans])


def _projection(hidden: int, dropout: float) -> nn.Sequential:
    layers = nn.Sequential(nn.Linear(hidden * 2, hidden), nn.ReLU(), nn.Dropout(dropout),
                           nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Dropout(dropout))
    for linear in (layers[0], layers[3]):
        linear.relu_init = True  # He initialisation (`LayoutLMv2ForRelationExtraction._init_weights`)
    return layers


def _as_list(value: Any, what: str, doc: int) -> list:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"document {doc}: {what} must be a list, got {type(value).__name__}")
    out = []
    for item in value:
        try:
            number = int(item)
        except (TypeError, ValueError):
            number = None
        if number is None or number != item:
            raise ValueError(f"document {doc}: {what} must hold integers, got {item!r}")
        out.append(number)
    return out


def check_entities(entities: Sequence[dict], relations: Optional[Sequence[dict]], batch: int,
                   seq_length: int) -> tuple[list[dict], Optional[list[dict]]]:
    """Entities and relations as lists of int lists, or one ValueError naming the document and value.

    Entity spans are token indices, ``start`` inclusive and ``end`` exclusive (layoutlmft's
    convention), inside the text part of the sequence (``seq_length`` tokens).
    """
    if len(entities) != batch:
        raise ValueError(f"entities has {len(entities)} documents but the batch has {batch}")
    if relations is not None and len(relations) != batch:
        raise ValueError(f"relations has {len(relations)} documents but the batch has {batch}")
    clean_entities, clean_relations = [], [] if relations is not None else None
    for doc, entity in enumerate(entities):
        if not isinstance(entity, dict) or not {"start", "end", "label"} <= set(entity):
            raise ValueError(f"document {doc}: entities must be a dict with start, end and label lists")
        start, end, label = (_as_list(entity[k], f"entity {k}", doc) for k in ("start", "end", "label"))
        if not len(start) == len(end) == len(label):
            raise ValueError(f"document {doc}: entity start, end and label have {len(start)}, {len(end)} and "
                             f"{len(label)} items")
        for i, (s, e, l) in enumerate(zip(start, end, label)):
            if not 0 <= s < e <= seq_length:
                raise ValueError(f"document {doc}: entity {i} spans tokens [{s}, {e}), outside the {seq_length} "
                                 "tokens of the sequence (start inclusive, end exclusive)")
            if not 0 <= l < len(RELATION_ENTITY_LABELS):
                raise ValueError(f"document {doc}: entity {i} has label {l}, not one of "
                                 f"{dict(enumerate(RELATION_ENTITY_LABELS))}")
        clean_entities.append({"start": start, "end": end, "label": label})
        if relations is None:
            continue
        relation = relations[doc]
        if not isinstance(relation, dict) or not {"head", "tail"} <= set(relation):
            raise ValueError(f"document {doc}: relations must be a dict with head and tail lists")
        head, tail = _as_list(relation["head"], "relation head", doc), _as_list(relation["tail"], "relation tail", doc)
        if len(head) != len(tail):
            raise ValueError(f"document {doc}: relation head and tail have {len(head)} and {len(tail)} items")
        for r, pair in enumerate(zip(head, tail)):
            for side, index in zip(("head", "tail"), pair):
                if not 0 <= index < len(label):
                    raise ValueError(f"document {doc}: relation {r} {side} names entity {index}, but the document "
                                     f"has {len(label)} entities")
        clean_relations.append({"head": head, "tail": tail})
    return clean_entities, clean_relations


def candidate_pairs(labels: Sequence[int]) -> tuple[list[int], list[int]]:
    """(heads, tails): every (question, answer) pair of entity indices, question-major order."""
    questions = [i for i, label in enumerate(labels) if label == HEAD_LABEL]
    answers = [j for j, label in enumerate(labels) if label == TAIL_LABEL]
    return [i for i in questions for _ in answers], [j for _ in questions for j in answers]


class REDecoder(nn.Module):
    """layoutlmft's relation decoder (same parameter names); see the module docstring."""

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.entity_emb = nn.Embedding(len(RELATION_ENTITY_LABELS), hidden, scale_grad_by_freq=True)
        self.ffnn_head = _projection(hidden, config.hidden_dropout_prob)
        self.ffnn_tail = _projection(hidden, config.hidden_dropout_prob)
        self.rel_classifier = BiaffineAttention(hidden // 2, 2)
        if config.relation_pair_geometry:
            self.pair_geometry = PairGeometry()

    def pair_logits(self, hidden: torch.Tensor, entities: dict,
                    boxes: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, list[int], list[int]]:
        """One document: hidden (L, H), checked entities, token boxes (L, 4) -> ((pairs, 2) logits,
        heads, tails)."""
        labels = entities["label"]
        questions = [i for i, label in enumerate(labels) if label == HEAD_LABEL]
        answers = [j for j, label in enumerate(labels) if label == TAIL_LABEL]
        heads, tails = candidate_pairs(labels)
        if not heads:
            return hidden.new_zeros((0, 2)), heads, tails
        device = hidden.device
        starts = torch.tensor(entities["start"], device=device)
        label_ids = torch.tensor(labels, device=device)
        represented = torch.cat((hidden[starts], self.entity_emb(label_ids).to(hidden.dtype)), dim=-1)  # (E, 2H)
        q = self.ffnn_head(represented[torch.tensor(questions, device=device)])  # (Q, H/2)
        a = self.ffnn_tail(represented[torch.tensor(answers, device=device)])  # (A, H/2)
        logits = self.rel_classifier.grid(q, a)
        if hasattr(self, "pair_geometry"):
            if boxes is None:
                raise ValueError("relation_pair_geometry needs the token boxes (bbox)")
            per_entity = entity_boxes(boxes, entities)
            logits = logits + self.pair_geometry.grid(per_entity[questions], per_entity[answers]).to(logits.dtype)
        return logits.reshape(-1, 2), heads, tails

    def forward(self, hidden_states: torch.Tensor, entities: list[dict], relations: Optional[list[dict]] = None,
                boxes: Optional[torch.Tensor] = None):
        """hidden (B, L, H), checked entities and relations, token boxes (B, L, 4) -> (loss or None,
        predictions, candidates, logits)."""
        losses, predictions, candidates, all_logits = [], [], [], []
        for b, entity in enumerate(entities):
            logits, heads, tails = self.pair_logits(hidden_states[b], entity, None if boxes is None else boxes[b])
            candidates.append({"head": heads, "tail": tails})
            all_logits.append(logits)
            if relations is not None and heads:
                gold = set(zip(relations[b]["head"], relations[b]["tail"]))
                target = torch.tensor([int(pair in gold) for pair in zip(heads, tails)], device=logits.device)
                losses.append(F.cross_entropy(logits.float(), target))
            predictions.append(self.predicted_relations(logits, heads, tails, entity))
        loss = None
        if relations is not None:
            # no candidate anywhere: a zero that still has a graph, so backward() works
            loss = torch.stack(losses).mean() if losses else hidden_states.sum() * 0.0
        return loss, predictions, candidates, all_logits

    @staticmethod
    def predicted_relations(logits: torch.Tensor, heads: list[int], tails: list[int], entities: dict) -> list[dict]:
        """The candidates whose linked logit wins, in layoutlmft's format plus ``score``."""
        if not heads:
            return []
        probs = logits.detach().float().softmax(-1)[:, 1].tolist()
        out = []
        for h, t, p, linked in zip(heads, tails, probs, logits.detach().argmax(-1).tolist()):
            if linked != 1:
                continue
            out.append({"head_id": h, "head": (entities["start"][h], entities["end"][h]),
                        "head_type": entities["label"][h], "tail_id": t,
                        "tail": (entities["start"][t], entities["end"][t]), "tail_type": entities["label"][t],
                        "type": 1, "score": p})
        return out


class LayoutLMv2ForRelationExtraction(_TaskHead):
    """The base model plus layoutlmft's relation decoder (``extractor``); see the module docstring.

    ``forward`` takes the usual inputs plus ``entities`` (per document ``{"start": [...], "end":
    [...], "label": [...]}``: token spans, end exclusive, labels 0 header / 1 question / 2 answer)
    and, for a loss, ``relations`` (per document ``{"head": [...], "tail": [...]}``: entity
    indices). Without ``entities`` it returns only the base model's ``last_hidden_state``.
    """

    def __init__(self, config: LayoutLMv2Config) -> None:
        super().__init__(config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.extractor = REDecoder(config)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if getattr(module, "relu_init", False):  # the decoder's projections: see the module docstring
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
            return
        super()._init_weights(module)

    def forward(self, input_ids=None, bbox=None, image=None, attention_mask=None, token_type_ids=None,
                position_ids=None, head_mask=None, inputs_embeds=None, entities=None, relations=None, labels=None,
                output_attentions=None, output_hidden_states=None, return_dict=None):
        # `labels` (token tags) is accepted and unused, as in layoutlmft, whose collator passes it
        return_dict = self.config.use_return_dict if return_dict is None else return_dict
        length = _text_length(input_ids, inputs_embeds)
        batch = (input_ids if input_ids is not None else inputs_embeds).shape[0]
        if entities is None and relations is not None:
            raise ValueError("relations were given without entities")
        if entities is not None:
            entities, relations = check_entities(entities, relations, batch, length)  # before the forward
        outputs = self.encode(input_ids, bbox, image, attention_mask, token_type_ids, position_ids, head_mask,
                              inputs_embeds, output_attentions, output_hidden_states)
        result = RelationExtractionOutput(last_hidden_state=outputs.last_hidden_state,
                                          hidden_states=outputs.hidden_states, attentions=outputs.attentions)
        if entities is not None:
            text = self.dropout(outputs.last_hidden_state[:, :length])
            boxes = bbox[:, :length] if bbox is not None else torch.zeros(*text.shape[:2], 4, device=text.device)
            loss, predictions, candidates, logits = self.extractor(text, entities, relations, boxes)
            result.loss, result.pred_relations, result.candidates, result.pair_logits = (
                loss, predictions, candidates, logits)
            result.entities, result.relations = entities, relations
        return result if return_dict else result.to_tuple()
