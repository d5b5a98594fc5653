"""How each fine-tuning task encodes documents, scores a batch, decodes windows and evaluates.

Which head and metric a task has is in `layoutlmv2.registry`; this module holds the behaviour.
A task object turns Documents into windows (`windows.encode_documents`), computes the loss
from the head's logits (so label smoothing is an option without touching the heads), runs
prediction over windows and merges it back to one answer per document (SROIE adds the ICDAR
field scores, Kleister-NDA its key F1, QA exact match beside ANLS).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F

from .. import registry
from ..data import Document, decode_sroie_fields
from ..deployment.batching import run_length_sorted
from . import metrics
from .windows import IGNORE_INDEX, Encoded, collate, document_relations, encode_documents

logger = logging.getLogger(__name__)


class Task:
    """Shared plumbing; subclasses say how to encode, score a batch, decode and evaluate."""

    name = ""

    def __init__(self, labels: Optional[Sequence[str]] = None, dataset: Optional[str] = None,
                 label_smoothing: float = 0.0) -> None:
        self.labels = list(labels) if labels is not None else None
        self.dataset = dataset
        self.label_smoothing = float(label_smoothing)
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")

    @property
    def model_class(self):
        return registry.task_spec(self.name).model_class

    @property
    def main_metric(self) -> Optional[str]:
        """The score that selects the best checkpoint."""
        return registry.task_spec(self.name).main_metric

    def config_labels(self) -> dict[str, Any]:
        """``num_labels``/``id2label``/``label2id`` for the model config."""
        if self.labels is None:
            return {"num_labels": 2}
        return {"num_labels": len(self.labels), "id2label": dict(enumerate(self.labels)),
                "label2id": {label: i for i, label in enumerate(self.labels)}}

    def encode(self, documents: Sequence[Document], tokenizer, image_processor, max_length: int = 512,
               stride: int = 128, load_images: bool = True) -> Encoded:
        raise NotImplementedError

    def loss(self, outputs, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def model_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch without targets (the task computes the loss itself)."""
        return {k: v for k, v in batch.items() if k not in ("labels", "start_positions", "end_positions")}

    @torch.no_grad()
    def window_outputs(self, model, encoded: Encoded, batch_size: int = 8, autocast: bool = False,
                       progress: bool = False, workers: int = 1) -> list[dict[str, torch.Tensor]]:
        """Run the model over every window (eval mode), one dict of float32 CPU tensors per window.

        Windows go in batches of similar length (sorted), so little compute goes to padding.
        `workers` > 1 spreads the batches over that many workers (`layoutlmv2.worker_pool`).
        """
        from tqdm.auto import tqdm

        windows = encoded.windows
        was_training = model.training
        model.eval()
        results: list[Optional[dict[str, torch.Tensor]]] = [None] * len(windows)
        try:
            finished = run_length_sorted(
                model, [len(w.input_ids) for w in windows],
                lambda group: self.model_inputs(collate([windows[i] for i in group], encoded.pages)),
                batch_size, workers, autocast)
            total = -(-len(windows) // batch_size)
            for group, _, outputs in tqdm(finished, total=total, desc="predict", disable=not progress, leave=False):
                for i, window_index in enumerate(group):
                    results[window_index] = self._window_result(outputs, i, len(windows[window_index].input_ids))
        finally:
            model.train(was_training)
        return results

    def _window_result(self, outputs, i: int, length: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def decode(self, documents: Sequence[Document], encoded: Encoded,
               window_results: Sequence[dict[str, torch.Tensor]]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def evaluate(self, documents: Sequence[Document], predictions: Sequence[dict[str, Any]]) -> dict[str, float]:
        raise NotImplementedError


class TokenClassificationTask(Task):
    """BIO word tags; predictions merged over windows with `metrics.word_tags_from_windows`."""

    name = "token-classification"

    def encode(self, documents, tokenizer, image_processor, max_length=512, stride=128, load_images=True):
        label2id = {label: i for i, label in enumerate(self.labels)}
        has_labels = all(d.word_labels is not None for d in documents)
        return encode_documents(documents, tokenizer, image_processor, max_length, stride,
                                word_label2id=label2id if has_labels else None, load_images=load_images)

    def loss(self, outputs, batch):
        logits = outputs.logits  # (B, L, num_labels)
        return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE_INDEX,
                               label_smoothing=self.label_smoothing)

    def _window_result(self, outputs, i, length):
        return {"probs": outputs["logits"][i, :length].float().softmax(-1)}  # (L, num_labels)

    def decode(self, documents, encoded, window_results):
        """Per document: ``labels`` (one tag per word), ``scores`` (its probability), ``entities``."""
        per_doc: dict[int, list[int]] = {}
        for w, window in enumerate(encoded.windows):
            per_doc.setdefault(window.doc_index, []).append(w)
        out = []
        for index, document in enumerate(documents):
            ids = per_doc.get(index, [])
            word_ids = [encoded.windows[w].word_ids for w in ids]
            best = [window_results[w]["probs"].max(-1) for w in ids]
            tags = metrics.word_tags_from_windows([b.indices.tolist() for b in best], word_ids,
                                                  num_words=len(document.words), id2label=self.labels)
            scores = metrics.word_tags_from_windows([b.values.tolist() for b in best], word_ids,
                                                    num_words=len(document.words), default=0.0)
            entities = group_entities(document.words, tags, scores)
            for entity in entities:
                entity["box"] = union_box([document.boxes[i] for i in entity["words"]])
            out.append({"labels": tags, "scores": [float(s) for s in scores], "entities": entities})
        return out

    def evaluate(self, documents, predictions):
        gold = [d.word_labels for d in documents]
        pred = [p["labels"] for p in predictions]
        result = {f"entity_{k}": v for k, v in metrics.entity_scores(gold, pred).items()}
        if self.dataset == "sroie":
            fields = [decode_sroie_fields(d.words, p) for d, p in zip(documents, pred)]
            truth = [d.extra["entities"] for d in documents]
            result.update({f"icdar_{k}": v for k, v in metrics.sroie_scores(truth, fields).items()})
        if self.dataset == "kleister-nda":
            found = [[(e["type"].lower(), e["text"]) for e in p["entities"]] for p in predictions]
            truth = [d.extra.get("expected", []) for d in documents]
            result.update({f"kleister_{k}": v for k, v in metrics.kleister_scores(truth, found).items()})
        return result


def group_entities(words: Sequence[str], tags: Sequence[str], scores: Sequence[float]) -> list[dict[str, Any]]:
    """Join consecutive words tagged B-X I-X I-X ... (or I-X after a different tag) into entities.

    Each entity: ``type``, ``text``, ``words`` (indices), ``score`` (mean word score).
    """
    entities: list[dict[str, Any]] = []
    current: Optional[dict[str, Any]] = None
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if prefix not in ("B", "I") or not kind:
            current = None
            continue
        if prefix == "B" or current is None or current["type"] != kind:
            current = {"type": kind, "words": []}
            entities.append(current)
        current["words"].append(i)
    for entity in entities:
        entity["text"] = " ".join(words[i] for i in entity["words"])
        entity["score"] = float(sum(scores[i] for i in entity["words"]) / len(entity["words"]))
    return entities


def union_box(boxes: Sequence[Sequence[int]]) -> list[int]:
    """The smallest box holding all of ``boxes``."""
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


class SequenceClassificationTask(Task):
    """One class per page, from the first window (the page start)."""

    name = "sequence-classification"

    def encode(self, documents, tokenizer, image_processor, max_length=512, stride=128, load_images=True):
        label2id = {label: i for i, label in enumerate(self.labels)}
        has_labels = all(d.label is not None for d in documents)
        return encode_documents(documents, tokenizer, image_processor, max_length, stride=0,
                                label2id=label2id if has_labels else None, single_window=True,
                                load_images=load_images)

    def loss(self, outputs, batch):
        return F.cross_entropy(outputs.logits.float(), batch["labels"], label_smoothing=self.label_smoothing)

    def _window_result(self, outputs, i, length):
        return {"probs": outputs["logits"][i].float().softmax(-1)}

    def decode(self, documents, encoded, window_results):
        out = [None] * len(documents)
        for window, result in zip(encoded.windows, window_results):
            probs = result["probs"]
            out[window.doc_index] = {"label": self.labels[int(probs.argmax())], "score": float(probs.max()),
                                     "probabilities": {l: float(p) for l, p in zip(self.labels, probs.tolist())}}
        return out

    def evaluate(self, documents, predictions):
        return metrics.accuracy([d.label for d in documents], [p["label"] for p in predictions])


class QuestionAnsweringTask(Task):
    """Extractive QA over the page words: best (start <= end) token span over all windows."""

    name = "question-answering"

    def __init__(self, labels=None, dataset=None, label_smoothing=0.0, max_answer_tokens: int = 64,
                 top_k: int = 1, handle_impossible_answer: bool = False) -> None:
        """`top_k` answers per document (best first, in ``answers``); with `handle_impossible_answer`
        the empty answer competes with its score p([CLS] start) * p([CLS] end), the lowest over the
        windows, as transformers' document-question-answering pipeline scores it."""
        super().__init__(None, dataset, label_smoothing)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
        self.max_answer_tokens, self.top_k, self.handle_impossible_answer = max_answer_tokens, top_k, handle_impossible_answer

    def encode(self, documents, tokenizer, image_processor, max_length=512, stride=128, load_images=True):
        return encode_documents(documents, tokenizer, image_processor, max_length, stride, with_question=True,
                                load_images=load_images)

    def loss(self, outputs, batch):
        ce = lambda logits, target: F.cross_entropy(logits.float(), target,  # noqa: E731
                                                    label_smoothing=self.label_smoothing)
        return (ce(outputs.start_logits, batch["start_positions"]) + ce(outputs.end_logits, batch["end_positions"])) / 2

    def _window_result(self, outputs, i, length):
        return {"start": outputs["start_logits"][i, :length].float().log_softmax(-1),
                "end": outputs["end_logits"][i, :length].float().log_softmax(-1)}

    def decode(self, documents, encoded, window_results):
        """Per document: ``answers`` (the `top_k` best word spans over all windows: ``answer``, ``score``
        = p(start) * p(end), ``start``/``end`` word indices, ``box``), and the best one's ``answer``,
        ``span`` ([first, last] word indices, None for no answer) and ``score``."""
        spans: dict[int, dict[tuple[int, int], float]] = {}
        null: dict[int, float] = {}
        for window, result in zip(encoded.windows, window_results):
            null[window.doc_index] = min(null.get(window.doc_index, math.inf), float(result["start"][0] + result["end"][0]))
            found = spans.setdefault(window.doc_index, {})
            for score, first, last in self._window_spans(window.word_ids, result):
                found[(first, last)] = max(found.get((first, last), -math.inf), score)
        return [self._answers(document, spans.get(index, {}), null.get(index)) for index, document in enumerate(documents)]

    def _window_spans(self, word_ids, result) -> list[tuple[float, int, int]]:
        """The `top_k` best (log score, first word, last word) spans of one window's context tokens."""
        context = torch.tensor([w is not None for w in word_ids])
        if not bool(context.any()):
            return []
        pair = result["start"][:, None] + result["end"][None, :]  # (L, L): log p(start) + log p(end)
        length = pair.shape[0]
        offsets = torch.arange(length)[None, :] - torch.arange(length)[:, None]  # end - start
        valid = (offsets >= 0) & (offsets < self.max_answer_tokens) & context[:, None] & context[None, :]
        pair = pair.masked_fill(~valid, -math.inf).flatten()
        k = min(self.top_k * 4, int(valid.sum()))  # several token spans can map to one word span
        scores, flat = pair.topk(k)
        return [(float(score), word_ids[int(i) // length], word_ids[int(i) % length])
                for score, i in zip(scores, flat)]

    def _answers(self, document, spans: dict[tuple[int, int], float], null_score: Optional[float]) -> dict[str, Any]:
        answers = [{"answer": " ".join(document.words[first: last + 1]), "score": math.exp(score), "start": first,
                    "end": last, "box": union_box(document.boxes[first: last + 1])}
                   for (first, last), score in spans.items()]
        if self.handle_impossible_answer and null_score is not None and math.isfinite(null_score):
            answers.append({"answer": "", "score": math.exp(null_score), "start": None, "end": None, "box": None})
        answers = sorted(answers, key=lambda a: -a["score"])[: self.top_k]
        if not answers:
            return {"answer": "", "span": None, "score": 0.0, "answers": []}
        best = answers[0]
        span = None if best["start"] is None else [best["start"], best["end"]]
        return {"answer": best["answer"], "span": span, "score": best["score"], "answers": answers}

    def evaluate(self, documents, predictions):
        answers = [d.answers or [""] for d in documents]
        guesses = [p["answer"] for p in predictions]
        exact = sum(any(" ".join(g.lower().split()) == " ".join(a.lower().split()) for a in ans)
                    for g, ans in zip(guesses, answers)) / len(guesses)
        result = {**metrics.anls(guesses, answers), "exact_match": exact}
        links = [(d.extra or {}).get("links", 1) for d in documents]
        if any(n != 1 for n in links):  # FUNSD-QA: each annotated link counts once, as in the pair-per-link count
            result["anls_per_link"] = metrics.anls(guesses, answers, weights=links)["anls"]
        return result


class RelationExtractionTask(Task):
    """Key -> value links between the gold entities of a page (`LayoutLMv2ForRelationExtraction`).

    Entities and links come from ``document.extra`` (`windows.document_relations`); each window
    holds the entities that lie whole inside it and the links between them. A pair seen in
    several (overlapping) windows is linked when its mean probability over them exceeds 0.5.
    Links that no window holds whole cannot be predicted: they stay in the gold set (missed),
    and `Encoded.stats` counts them.
    """

    name = "relation-extraction"

    def __init__(self, labels=None, dataset=None, label_smoothing=0.0) -> None:
        super().__init__(None, dataset, label_smoothing)
        if self.label_smoothing:
            raise ValueError("relation extraction has no label smoothing")

    def encode(self, documents, tokenizer, image_processor, max_length=512, stride=128, load_images=True):
        return encode_documents(documents, tokenizer, image_processor, max_length, stride, with_relations=True,
                                load_images=load_images)

    def loss(self, outputs, batch):
        return outputs.loss.float()

    def window_outputs(self, model, encoded, batch_size=8, autocast=False, progress=False, workers=1):
        if workers != 1:
            raise ValueError("relation extraction runs in one worker (its outputs are per-page lists)")
        return super().window_outputs(model, encoded, batch_size, autocast, progress, workers)

    def _window_result(self, outputs, i, length):
        candidates = outputs["candidates"][i]
        probs = outputs["pair_logits"][i].detach().float().cpu().softmax(-1)[:, 1]
        return {"head": list(candidates["head"]), "tail": list(candidates["tail"]), "probs": probs}

    def decode(self, documents, encoded, window_results):
        """Per document: ``pairs``, each ``{"head", "tail"}`` (indices into `document_relations`'s
        entities), ``score``, and ``key`` / ``value`` (``text``, ``words``), best score first."""
        scores: dict[int, dict[tuple[int, int], list[float]]] = {}
        for window, result in zip(encoded.windows, window_results):
            ids = window.targets["entity_ids"]
            found = scores.setdefault(window.doc_index, {})
            for h, t, p in zip(result["head"], result["tail"], result["probs"].tolist()):
                found.setdefault((ids[h], ids[t]), []).append(p)
        out = []
        for index, document in enumerate(documents):
            entities, _ = document_relations(document)
            pairs = []
            for (h, t), probs in scores.get(index, {}).items():
                score = sum(probs) / len(probs)
                if score > 0.5:
                    pairs.append({"head": h, "tail": t, "score": score,
                                  "key": _entity_text(document, entities[h]), "value": _entity_text(document, entities[t])})
            out.append({"pairs": sorted(pairs, key=lambda p: -p["score"])})
        return out

    def evaluate(self, documents, predictions):
        gold = [document_relations(d)[1] for d in documents]
        found = [[(p["head"], p["tail"]) for p in prediction["pairs"]] for prediction in predictions]
        return {f"relation_{k}": v for k, v in metrics.relation_scores(gold, found).items()}


def _entity_text(document: Document, entity: dict[str, Any]) -> dict[str, Any]:
    return {"text": " ".join(document.words[i] for i in entity["words"]), "words": list(entity["words"])}


_TASK_CLASSES = {cls.name: cls for cls in (TokenClassificationTask, SequenceClassificationTask, QuestionAnsweringTask,
                                           RelationExtractionTask)}


def make_task(task: str, dataset: Optional[str] = None, labels: Optional[Sequence[str]] = None,
              label_smoothing: float = 0.0) -> Task:
    """The task object for a command-line task name; labels default to the data set's."""
    if task not in _TASK_CLASSES:
        raise ValueError(f"unknown task {task!r}; choose from {list(_TASK_CLASSES)}")
    if dataset is not None:
        spec = registry.dataset_spec(dataset)
        if task not in spec.tasks:
            raise ValueError(f"data set {dataset!r} is for {' and '.join(spec.tasks)}, not {task}")
        if labels is None and task == spec.task:
            labels = spec.labels
    if registry.task_spec(task).has_labels and not labels:
        raise ValueError(f"{task} needs a label list (give a data set or labels)")
    return _TASK_CLASSES[task](labels=labels, dataset=dataset, label_smoothing=label_smoothing)


def task_from_config(config, dataset: Optional[str] = None) -> Task:
    """Rebuild the task of a saved model from its config (finetuning_task, or architectures + id2label)."""
    architecture = (getattr(config, "architectures", None) or [""])[0]
    by_class = registry.task_for_class(architecture)
    task = getattr(config, "finetuning_task", None) or (by_class.name if by_class else None)
    if task not in _TASK_CLASSES:
        raise ValueError(f"cannot tell the task of this model (architectures={architecture!r}); "
                         "it was not saved by `layoutlmv2 train`")
    labels = [config.id2label[i] for i in range(config.num_labels)] if registry.task_spec(task).has_labels else None
    return _TASK_CLASSES[task](labels=labels, dataset=dataset)
