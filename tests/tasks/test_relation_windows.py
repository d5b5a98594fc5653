"""Relation-extraction data on real pages: FUNSD and XFUND links, entity token spans through the
tokenizer's word ids, stride windows and the links they cannot hold, decoding and the metric."""

import json

import pytest
import torch

from layoutlmv2.data import load_funsd, load_xfund
from layoutlmv2.preprocessing.image_processing import LayoutLMv2ImageProcessor
from layoutlmv2.preprocessing.tokenization_fast import LayoutLMv2TokenizerFast
from layoutlmv2.registry import load_dataset
from layoutlmv2.tasks import metrics
from layoutlmv2.tasks.definitions import make_task
from layoutlmv2.tasks.windows import collate, document_relations

pytestmark = pytest.mark.data

LONG_PAGE = "0000999294"  # the FUNSD train page with 195 links (a table): two windows at 512 tokens


@pytest.fixture(scope="module")
def tokenizer(bert_vocab_file):
    return LayoutLMv2TokenizerFast(vocab_file=str(bert_vocab_file), do_lower_case=True)


@pytest.fixture(scope="module")
def image_processor():
    return LayoutLMv2ImageProcessor(apply_ocr=False, size={"height": 32, "width": 32})


@pytest.fixture(scope="module")
def funsd_test(funsd_dir):
    return load_funsd(funsd_dir, "test")


def gold_links_from_json(path):
    """The question -> answer links of a FUNSD annotation file, read here independently of the reader."""
    form = json.loads(path.read_text())["form"]
    label = {e["id"]: e["label"] for e in form if any(w["text"].strip() for w in e["words"])}
    links = set()
    for entity in form:
        for a, b in entity["linking"]:
            if label.get(a) == "question" and label.get(b) == "answer":
                links.add((a, b))
            elif label.get(a) == "answer" and label.get(b) == "question":
                links.add((b, a))
    return links


def test_funsd_links_are_question_to_answer_pairs_as_the_annotation_has_them(funsd_dir, funsd_test):
    total = 0
    for document in funsd_test:
        entities, links = document_relations(document)
        ids = [(entities[h]["id"], entities[t]["id"]) for h, t in links]
        assert set(ids) == gold_links_from_json(funsd_dir / "testing_data" / "annotations" / f"{document.id}.json")
        assert all(entities[h]["label"] == 1 and entities[t]["label"] == 2 for h, t in links)
        assert len(set(links)) == len(links)
        total += len(links)
    assert total == 823  # the FUNSD test split's question -> answer links


def test_xfund_german_counts_equal_the_official_table(xfund_dir):
    for split, expected in [("train", (149, 155, 2609, 3992, 1876, 29770)), ("test", (50, 59, 858, 1322, 650, 10005))]:
        documents = load_xfund(xfund_dir, split)
        labels = [e["label"] for d in documents for e in d.extra["entities"]]
        counts = (len(documents), *(labels.count(k) for k in ("header", "question", "answer", "other")),
                  sum(len(d.words) for d in documents))
        assert counts == expected
    assert documents[0].image_path is None and documents[0].page_size == (2480, 3508)
    assert all(0 <= v <= 1000 for d in documents for box in d.boxes for v in box)
    assert sum(len(document_relations(d)[1]) for d in documents) == 1299
    with pytest.raises(ValueError, match="split must be one of"):
        load_xfund(xfund_dir, "dev")


def test_entity_spans_cover_exactly_their_words_in_every_window(funsd_dir, tokenizer, image_processor):
    documents = [d for d in load_funsd(funsd_dir, "train") if d.id == LONG_PAGE]
    task = make_task("relation-extraction", "funsd")
    encoded = task.encode(documents, tokenizer, image_processor, max_length=512, stride=128, load_images=False)
    assert len(encoded) == 2
    entities, links = document_relations(documents[0])
    for window in encoded.windows:
        spans = window.targets["entities"]
        for k, entity_id in enumerate(window.targets["entity_ids"]):
            words = entities[entity_id]["words"]
            start, end = spans["start"][k], spans["end"][k]
            covered = [w for w in window.word_ids[start:end]]
            assert sorted(set(covered)) == words  # every token of the span is one of the entity's words
            assert window.word_ids[start - 1] != words[0] and (end == len(window.word_ids)
                                                                or window.word_ids[end] != words[-1])
            assert spans["label"][k] == entities[entity_id]["label"]
        heads, tails = window.targets["relations"]["head"], window.targets["relations"]["tail"]
        ids = window.targets["entity_ids"]
        assert {(ids[h], ids[t]) for h, t in zip(heads, tails)} <= set(links)
    # a link is lost exactly when no window holds both of its entities
    together = {(ids[h], ids[t]) for w in encoded.windows for ids in [w.targets["entity_ids"]]
                for h, t in zip(w.targets["relations"]["head"], w.targets["relations"]["tail"])}
    lost = [link for link in links if link not in together]
    assert encoded.stats == {"entities": len(entities), "entities_outside_windows": 0, "links": len(links),
                             "links_across_windows": len(lost)}
    assert len(lost) == 102


def test_short_windows_lose_links_and_say_how_many(funsd_test, tokenizer, image_processor, caplog):
    task = make_task("relation-extraction", "funsd")
    encoded = task.encode(funsd_test[:5], tokenizer, image_processor, max_length=64, stride=16, load_images=False)
    stats = encoded.stats
    assert stats["links"] == sum(len(document_relations(d)[1]) for d in funsd_test[:5])
    assert 0 < stats["links_across_windows"] < stats["links"]
    assert f"{stats['links_across_windows']} of {stats['links']} links" in caplog.text
    batch = collate(encoded.windows[:3], encoded.pages)
    assert len(batch["entities"]) == 3 and len(batch["relations"]) == 3


def test_decoding_the_gold_links_scores_the_recall_the_windows_allow(funsd_test, tokenizer, image_processor):
    """Probability 1 on every gold pair of every window: precision 1, and recall loses only the links
    that no window holds whole (one on the FUNSD test split at 512 tokens)."""
    task = make_task("relation-extraction", "funsd")
    encoded = task.encode(funsd_test, tokenizer, image_processor, max_length=512, stride=128, load_images=False)
    results = []
    for window in encoded.windows:
        labels = window.targets["entities"]["label"]
        gold = set(zip(window.targets["relations"]["head"], window.targets["relations"]["tail"]))
        heads = [i for i, a in enumerate(labels) if a == 1 for j, b in enumerate(labels) if b == 2]
        tails = [j for i, a in enumerate(labels) if a == 1 for j, b in enumerate(labels) if b == 2]
        probs = torch.tensor([float((h, t) in gold) for h, t in zip(heads, tails)])
        results.append({"head": heads, "tail": tails, "probs": probs})
    predictions = task.decode(funsd_test, encoded, results)
    scores = task.evaluate(funsd_test, predictions)
    assert encoded.stats["links_across_windows"] == 1
    assert scores["relation_precision"] == 1.0
    assert scores["relation_tp"] == 822 and scores["relation_fn"] == 1
    pair = predictions[0]["pairs"][0]
    entities, _ = document_relations(funsd_test[0])
    assert pair["key"]["text"] == " ".join(funsd_test[0].words[i] for i in entities[pair["head"]]["words"])


def test_relation_extraction_data_sets_are_funsd_and_xfund(funsd_dir, xfund_dir):
    assert len(load_dataset("xfund", xfund_dir, "test")) == 50
    with pytest.raises(ValueError, match="data set 'sroie' is for token-classification, not relation-extraction"):
        make_task("relation-extraction", "sroie")
    assert make_task("relation-extraction", "xfund").labels is None
    assert make_task("token-classification", "xfund").labels[1] == "B-HEADER"


def test_relation_scores():
    gold = [[(0, 1), (2, 3)], [(0, 1)], []]
    predicted = [[(0, 1), (2, 1), (0, 1)], [], [(4, 5)]]
    scores = metrics.relation_scores(gold, predicted)
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 2, 2)
    assert scores["precision"] == pytest.approx(1 / 3) and scores["recall"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx(1 / 3)
    assert metrics.relation_scores([[]], [[]])["f1"] == 0.0
    with pytest.raises(ValueError, match="gold has 1 items but predicted has 2"):
        metrics.relation_scores([[]], [[], []])
