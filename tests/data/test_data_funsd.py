"""FUNSD reader on the real data in ../shared/data (counts from its README)."""

import json
from collections import Counter

import pytest

from layoutlmv2.data import FUNSD_LABELS, load_funsd

pytestmark = pytest.mark.data

# README: 22512 / 8973 words including blank ones; 624 / 266 of them are blank.
EXPECTED = {"train": (149, 21888), "test": (50, 8707)}
TAG_COUNTS = {
    "train": {"O": 3632, "B-HEADER": 441, "I-HEADER": 1035, "B-QUESTION": 3253,
              "I-QUESTION": 4008, "B-ANSWER": 2732, "I-ANSWER": 6787},
    "test": {"O": 2385, "B-HEADER": 119, "I-HEADER": 255, "B-QUESTION": 1070,
             "I-QUESTION": 1584, "B-ANSWER": 809, "I-ANSWER": 2485},
}  # fmt: skip


@pytest.fixture(scope="module", params=["train", "test"])
def split_docs(request, funsd_dir):
    return request.param, load_funsd(funsd_dir, request.param)


def test_counts(split_docs):
    split, docs = split_docs
    n_docs, n_words = EXPECTED[split]
    assert len(docs) == n_docs
    assert sum(len(d.words) for d in docs) == n_words
    assert Counter(t for d in docs for t in d.word_labels) == TAG_COUNTS[split]


def test_words_boxes_and_tags_line_up(split_docs):
    _, docs = split_docs
    for doc in docs:
        assert len(doc.words) == len(doc.boxes) == len(doc.word_labels)
        assert all(w and w == w.strip() for w in doc.words)
        assert all(0 <= b[0] <= b[2] <= 1000 and 0 <= b[1] <= b[3] <= 1000 for b in doc.boxes)
        assert doc.image_path.is_file() and doc.page_size[1] == 1000


def test_bio_is_well_formed(split_docs):
    _, docs = split_docs
    for doc in docs:
        previous = "O"
        for tag in doc.word_labels:
            assert tag in FUNSD_LABELS
            if tag.startswith("I-"):
                assert previous != "O" and previous[2:] == tag[2:], (doc.id, previous, tag)
            previous = tag


def test_first_train_form_matches_its_json(funsd_dir):
    doc = load_funsd(funsd_dir, "train")[0]
    form = json.loads((funsd_dir / "training_data/annotations" / f"{doc.id}.json").read_text())["form"]
    suggestion = next(e for e in doc.extra["entities"] if e["text"] == "Suggestion:")
    assert [doc.words[i] for i in suggestion["words"]] == ["Suggestion:"]
    assert doc.word_labels[suggestion["words"][0]] == "B-QUESTION"
    assert (2, 16) in doc.extra["links"]
    assert len(doc.extra["entities"]) == len(form)
    other = next(e for e in doc.extra["entities"] if e["label"] == "other" and e["words"])
    assert all(doc.word_labels[i] == "O" for i in other["words"])


def test_bad_split_and_root(tmp_path, funsd_dir):
    with pytest.raises(ValueError, match="'validation'"):
        load_funsd(funsd_dir, "validation")
    with pytest.raises(ValueError, match="no FUNSD annotations"):
        load_funsd(tmp_path, "train")
