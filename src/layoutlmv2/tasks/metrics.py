"""Evaluation metrics for the fine-tuning tasks: pure functions, lists in, dict of floats out.

* `entity_scores` / `entity_report`: entity-level P/R/F1 over word BIO tags with seqeval
  (default, non-strict mode, micro average), as LayoutLM's FUNSD script reports.
* `word_tags_from_windows` / `word_tags_from_label_ids`: turn token predictions back into
  one tag per word (a word takes its first sub-token's prediction).
* `sroie_scores`: ICDAR 2019 SROIE task 3 (exact field match per receipt).
* `accuracy`, `anls` (DocVQA), `kleister_scores` (Kleister-NDA key=value F1), `relation_scores`
  (P/R/F1 over predicted (head, tail) entity pairs, layoutlmft's relation-extraction metric).
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping, Optional, Sequence, Union

Label = Union[int, str]
Pairs = Union[Mapping[str, Union[str, Sequence[str]]], Iterable[tuple[str, str]]]

IGNORE_INDEX = -100
SROIE_FIELDS = ("company", "date", "address", "total")


def _prf(correct: int, predicted: int, gold: int) -> dict[str, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _check_lengths(name_a: str, a: Sequence, name_b: str, b: Sequence) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} has {len(a)} items but {name_b} has {len(b)}")


# ----------------------------------------------------------------------------- entities


def _seqeval():
    """seqeval is an optional dependency (the ``train`` extra); the other metrics work without it."""
    try:
        from seqeval import metrics
    except ImportError as error:
        raise ImportError("entity metrics need seqeval: pip install 'layoutlmv2[train]'") from error
    return metrics


def entity_scores(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro entity precision/recall/F1 over documents of word BIO tags (seqeval default mode).

    An entity counts as found only if its type and its exact word range both match.
    """
    _check_lengths("y_true", y_true, "y_pred", y_pred)
    for i, (true, pred) in enumerate(zip(y_true, y_pred)):
        if len(true) != len(pred):
            raise ValueError(f"document {i}: {len(true)} gold tags but {len(pred)} predicted")
    seqeval = _seqeval()
    true, pred = [list(t) for t in y_true], [list(p) for p in y_pred]
    return {
        "precision": float(seqeval.precision_score(true, pred)),
        "recall": float(seqeval.recall_score(true, pred)),
        "f1": float(seqeval.f1_score(true, pred)),
    }


def entity_report(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> dict[str, dict[str, float]]:
    """Per entity type precision/recall/F1/support (plus seqeval's averages), as nested dicts."""
    _check_lengths("y_true", y_true, "y_pred", y_pred)
    true, pred = [list(t) for t in y_true], [list(p) for p in y_pred]
    report = _seqeval().classification_report(true, pred, output_dict=True, zero_division=0)
    return {
        name: {"precision": float(row["precision"]), "recall": float(row["recall"]),
               "f1": float(row["f1-score"]), "support": float(row["support"])}
        for name, row in report.items()
    }  # fmt: skip


def _label(value: Label, id2label: Union[Mapping[int, str], Sequence[str], None]) -> Label:
    if id2label is None:
        return value
    try:
        return id2label[int(value)]
    except (KeyError, IndexError, ValueError, TypeError) as error:
        raise ValueError(f"prediction {value!r} is not in id2label") from error


def word_tags_from_windows(
    predictions: Sequence[Sequence[Label]],
    word_ids: Sequence[Sequence[Optional[int]]],
    num_words: Optional[int] = None,
    id2label: Union[Mapping[int, str], Sequence[str], None] = None,
    default: str = "O",
) -> list[Label]:
    """One tag per word from the token predictions of one document's window(s).

    ``predictions[w][t]`` is window ``w``'s predicted label (id or name) for token ``t`` and
    ``word_ids[w][t]`` that token's word index (None for [CLS], [SEP], padding), as a fast
    tokenizer's ``word_ids()`` gives. A word takes the prediction at its first sub-token.

    With overlapping windows (``return_overflowing_tokens`` with a stride) a word can appear
    in several; we use the window where the word's first sub-token sits most centrally
    (largest distance to the nearer end of the window's text), since the model saw the
    most context on both sides there. A window that begins with the word does not count if
    an earlier window already held it, because that window may begin mid-word, so its first
    token need not be the word's first sub-token. Ties go to the earlier window.
    Words in no window get ``default``; pass ``num_words`` to size the output (otherwise it
    covers up to the largest word index seen).
    """
    _check_lengths("predictions", predictions, "word_ids", word_ids)
    best: dict[int, tuple[int, Label]] = {}  # word -> (centrality, label)
    seen: set[int] = set()
    for w, (window_preds, window_ids) in enumerate(zip(predictions, word_ids)):
        if len(window_preds) != len(window_ids):
            raise ValueError(f"window {w}: {len(window_preds)} predictions but {len(window_ids)} word ids")
        positions = [t for t, word in enumerate(window_ids) if word is not None]
        if not positions:
            continue
        lo, hi = positions[0], positions[-1]
        firsts: dict[int, int] = {}
        for t in positions:
            firsts.setdefault(window_ids[t], t)
        for word, t in firsts.items():
            if t == lo and word in seen:
                continue
            centrality = min(t - lo, hi - t)
            if word not in best or centrality > best[word][0]:
                best[word] = (centrality, window_preds[t])
        seen.update(firsts)
    size = num_words if num_words is not None else (max(best) + 1 if best else 0)
    tags: list[Label] = [default] * size
    for word, (_, value) in best.items():
        if word < 0 or word >= size:
            raise ValueError(f"word id {word} is outside 0..{size - 1} (num_words={num_words})")
        tags[word] = _label(value, id2label)
    return tags


def word_tags_from_label_ids(
    predictions: Sequence[Sequence[int]],
    label_ids: Sequence[Sequence[int]],
    id2label: Union[Mapping[int, str], Sequence[str]],
) -> tuple[list[list[str]], list[list[str]]]:
    """(gold, predicted) tag lists per sequence, keeping positions whose label is not -100.

    This is the usual Trainer ``compute_metrics`` path: labels were aligned so that only a
    word's first sub-token carries a label and everything else is -100.
    """
    _check_lengths("predictions", predictions, "label_ids", label_ids)
    gold, pred = [], []
    for preds, labels in zip(predictions, label_ids):
        _check_lengths("a prediction row", preds, "its label row", labels)
        keep = [i for i, label in enumerate(labels) if int(label) != IGNORE_INDEX]
        gold.append([_label(labels[i], id2label) for i in keep])
        pred.append([_label(preds[i], id2label) for i in keep])
    return gold, pred


# ----------------------------------------------------------------------------- SROIE


def _squash(text: str) -> str:
    return " ".join(str(text).split())


def sroie_scores(
    gold: Sequence[Mapping[str, str]], predicted: Sequence[Mapping[str, str]], case_sensitive: bool = True
) -> dict[str, float]:
    """ICDAR 2019 SROIE task 3: micro P/R/F1 over (receipt, field) pairs, exact match.

    Values are compared after collapsing runs of whitespace and stripping; case matters by
    default, as in the competition (the key files are upper case, so a model that changes
    case is wrong). An empty predicted field is no prediction (it costs recall, not
    precision); an empty gold field is not counted in recall. Also returns ``<field>_f1``.
    """
    _check_lengths("gold", gold, "predicted", predicted)
    totals = {name: [0, 0, 0] for name in SROIE_FIELDS}  # correct, predicted, gold
    for true, pred in zip(gold, predicted):
        for name in SROIE_FIELDS:
            t, p = _squash(true.get(name, "")), _squash(pred.get(name, ""))
            if not case_sensitive:
                t, p = t.casefold(), p.casefold()
            counts = totals[name]
            counts[0] += bool(t) and t == p
            counts[1] += bool(p)
            counts[2] += bool(t)
    scores = _prf(*(sum(c[k] for c in totals.values()) for k in range(3)))
    for name, counts in totals.items():
        scores[f"{name}_f1"] = _prf(*counts)["f1"]
    return scores


# ----------------------------------------------------------------------------- classification, DocVQA


def accuracy(y_true: Sequence[Label], y_pred: Sequence[Label]) -> dict[str, float]:
    """Fraction of equal items (document classification)."""
    _check_lengths("y_true", y_true, "y_pred", y_pred)
    if not y_true:
        raise ValueError("accuracy of an empty list is undefined")
    return {"accuracy": sum(t == p for t, p in zip(y_true, y_pred)) / len(y_true)}


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _anls_norm(text: str) -> str:
    return " ".join(str(text).strip().lower().split())


def anls(predictions: Sequence[str], gold_answers: Sequence[Sequence[str]], threshold: float = 0.5,
         weights: Optional[Sequence[float]] = None) -> dict[str, float]:
    """DocVQA's Average Normalised Levenshtein Similarity.

    Per question: for each gold answer, NL = edit distance / length of the longer string
    (both lower-cased, stripped, spaces collapsed); similarity is 1 - NL if NL < threshold
    else 0; the question scores the best over its answers. The result is the mean over
    questions, weighted by ``weights`` when given (FUNSD-QA: a question stands for as many
    annotated links as it has answers).
    """
    _check_lengths("predictions", predictions, "gold_answers", gold_answers)
    if not predictions:
        raise ValueError("anls of an empty list is undefined")
    if weights is None:
        weights = [1.0] * len(predictions)
    _check_lengths("predictions", predictions, "weights", weights)
    total = 0.0
    for i, (prediction, answers, weight) in enumerate(zip(predictions, gold_answers, weights)):
        if isinstance(answers, str) or not answers:
            raise ValueError(f"question {i}: gold answers must be a non-empty list of strings, got {answers!r}")
        pred = _anls_norm(prediction)
        best = 0.0
        for answer in answers:
            gold = _anls_norm(answer)
            longest = max(len(gold), len(pred))
            distance = levenshtein(gold, pred) / longest if longest else 0.0
            best = max(best, 1.0 - distance if distance < threshold else 0.0)
        total += weight * best
    return {"anls": total / sum(weights)}


# ----------------------------------------------------------------------------- Kleister-NDA


def _pairs(document: Pairs, casefold: bool) -> Counter:
    if isinstance(document, Mapping):
        items = [(k, v) for k, vs in document.items() for v in ([vs] if isinstance(vs, str) else vs)]
    else:
        items = list(document)
    counter: Counter = Counter()
    for key, value in items:
        value = " ".join(str(value).replace("_", " ").split())
        if value:
            counter[(key, value.casefold() if casefold else value)] += 1
    return counter


def kleister_scores(gold: Sequence[Pairs], predicted: Sequence[Pairs], casefold: bool = True) -> dict[str, float]:
    """Kleister-NDA key=value F1: micro P/R/F1 over multisets of (key, value) per document.

    Each document is a list of (key, value) pairs or a dict of key -> value(s). Values are
    normalised as in ``expected.tsv`` (``_`` and runs of whitespace become one space) and,
    by default, case-folded; empty values are dropped. A pair is correct as many times as it
    occurs in both the gold and the predicted multiset.
    """
    _check_lengths("gold", gold, "predicted", predicted)
    correct = n_pred = n_gold = 0
    for true, pred in zip(gold, predicted):
        t, p = _pairs(true, casefold), _pairs(pred, casefold)
        correct += sum((t & p).values())
        n_pred += sum(p.values())
        n_gold += sum(t.values())
    return _prf(correct, n_pred, n_gold)


# ----------------------------------------------------------------------------- relation extraction


def relation_scores(gold: Sequence[Iterable[tuple]], predicted: Sequence[Iterable[tuple]]) -> dict[str, float]:
    """Micro P/R/F1 over (head, tail) pairs per document, as layoutlmft's ``re_score`` (mode
    "boundaries": a pair is right when both its entities are; the entities are the gold ones).

    Each document is an iterable of hashable (head, tail) pairs (entity indices or spans);
    duplicates count once. Also returns the counts ``tp``, ``fp``, ``fn``.
    """
    _check_lengths("gold", gold, "predicted", predicted)
    tp = fp = fn = 0
    for true, pred in zip(gold, predicted):
        t, p = {tuple(x) for x in true}, {tuple(x) for x in pred}
        tp, fp, fn = tp + len(t & p), fp + len(p - t), fn + len(t - p)
    return {**_prf(tp, tp + fp, tp + fn), "tp": tp, "fp": fp, "fn": fn}
