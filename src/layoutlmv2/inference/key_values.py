"""Key -> value pairs from two models: a token-classification model finds the entities, a
relation-extraction model links them.

The relation model (`LayoutLMv2ForRelationExtraction`) is trained on gold entities; on a raw page
the entities come from a token-classification model of the same label set (FUNSD, XFUND:
HEADER / QUESTION / ANSWER). Its BIO spans become the relation model's entities, so the pairs a
user reads are the ones the two models give together, and the end-to-end score below is the
number they get.

End-to-end scoring: a predicted pair is right when its key's words and its value's words are
exactly those of a gold question entity and a gold answer entity that the annotation links.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..data.document import Document
from ..errors import LayoutLMv2Error
from ..tasks import metrics
from ..tasks.windows import RELATION_LABEL_IDS, document_relations

__all__ = ["check_entity_model", "end_to_end_relation_scores", "set_predicted_entities", "with_boxes"]


def check_entity_model(folder: Any, task_name: str, labels: Sequence[str]) -> None:
    """The entity model must tag the relation model's entity types (question and answer at least)."""
    if task_name != "token-classification":
        raise LayoutLMv2Error(f"--entities-from {folder}: a token-classification model is needed, not {task_name}")
    types = {label.partition("-")[2].lower() for label in labels if "-" in label}
    missing = sorted({"question", "answer"} - types)
    if missing:
        raise LayoutLMv2Error(f"--entities-from {folder}: its labels {list(labels)} have no "
                              f"{' or '.join(m.upper() for m in missing)} entities to link")


def set_predicted_entities(document: Document, entities: Sequence[dict[str, Any]]) -> None:
    """Put a token-classification record's ``entities`` on the document as relation-extraction input
    (FUNSD-style ``extra``: ids, lower-case labels, word indices; no links)."""
    document.extra["entities"] = [{"id": i, "label": entity["type"].lower(), "words": list(entity["words"])}
                                  for i, entity in enumerate(entities)
                                  if entity["type"].lower() in RELATION_LABEL_IDS]
    document.extra["links"] = []


def with_boxes(prediction: dict[str, Any], boxes: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Each pair's key and value get ``box``: the union of its words' boxes (0..1000)."""
    for pair in prediction["pairs"]:
        for side in ("key", "value"):
            member = [boxes[i] for i in pair[side]["words"]]
            pair[side]["box"] = [min(b[0] for b in member), min(b[1] for b in member),
                                 max(b[2] for b in member), max(b[3] for b in member)]
    return prediction


def end_to_end_relation_scores(gold: Sequence[Document], predicted: Sequence[Document],
                               predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Relation P/R/F1 with predicted entities: pairs compared as (key words, value words)."""
    if len(gold) != len(predicted) or len(predicted) != len(predictions):
        raise ValueError(f"{len(gold)} gold documents, {len(predicted)} with predicted entities, "
                         f"{len(predictions)} predictions")
    gold_pairs, found_pairs = [], []
    for truth, document, prediction in zip(gold, predicted, predictions):
        entities, links = document_relations(truth)
        gold_pairs.append([(tuple(entities[h]["words"]), tuple(entities[t]["words"])) for h, t in links])
        mine, _ = document_relations(document)
        found_pairs.append([(tuple(mine[p["head"]]["words"]), tuple(mine[p["tail"]]["words"]))
                            for p in prediction["pairs"]])
    return {f"relation_{k}": v for k, v in metrics.relation_scores(gold_pairs, found_pairs).items()}
