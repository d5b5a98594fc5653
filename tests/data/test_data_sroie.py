"""SROIE reader: box-file parsing, the derived labelling, and decoding tags back to fields."""

import re

import pytest

from layoutlmv2.data import SROIE_FIELDS, SROIE_LABELS, decode_sroie_fields, load_sroie, parse_sroie_box_file
from layoutlmv2.data.sroie import label_sroie_lines
from layoutlmv2.tasks.metrics import sroie_scores


def _loose(text):
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.casefold()).split())


@pytest.fixture(scope="module")
def receipts(sroie_dir):
    return {split: load_sroie(sroie_dir, split) for split in ("train", "test")}


@pytest.mark.data
def test_counts_and_alignment(receipts):
    assert len(receipts["train"]) == 50 and len(receipts["test"]) == 25
    for doc in receipts["train"] + receipts["test"]:
        assert len(doc.words) == len(doc.boxes) == len(doc.word_labels) == len(doc.extra["line_index"])
        assert set(doc.extra["entities"]) == set(SROIE_FIELDS)
        assert all(0 <= b[0] <= b[2] <= 1000 and 0 <= b[1] <= b[3] <= 1000 for b in doc.boxes)
        previous = "O"
        for tag in doc.word_labels:
            assert tag in SROIE_LABELS
            if tag.startswith("I-"):
                assert previous[2:] == tag[2:], (doc.id, previous, tag)
            previous = tag


@pytest.mark.data
def test_labelling_recovers_most_fields(receipts):
    # Measured on the 75 receipts: company 71, date 71, address 69, total 74 decode back to
    # the key value (loosely: case and punctuation ignored); the bounds sit just below.
    docs = receipts["train"] + receipts["test"]
    recovered = {name: 0 for name in SROIE_FIELDS}
    for doc in docs:
        decoded = decode_sroie_fields(doc.words, doc.word_labels)
        for name in SROIE_FIELDS:
            recovered[name] += _loose(decoded[name]) == _loose(doc.extra["entities"][name])
    rates = {name: count / len(docs) for name, count in recovered.items()}
    assert rates["total"] >= 0.96 and rates["date"] >= 0.92
    assert rates["company"] >= 0.92 and rates["address"] >= 0.88
    # the official exact match is stricter: the OCR spaces punctuation differently
    gold = [doc.extra["entities"] for doc in docs]
    ceiling = sroie_scores(gold, [decode_sroie_fields(d.words, d.word_labels) for d in docs])
    assert 0.85 <= ceiling["f1"] < 1.0


@pytest.mark.data
def test_first_receipt(receipts):
    doc = next(d for d in receipts["train"] if d.id == "X00016469612")
    tagged = {w: t for w, t in zip(doc.words, doc.word_labels) if t != "O"}
    assert tagged["25/12/2018"] == "B-DATE" and "8:13:39" not in tagged
    decoded = decode_sroie_fields(doc.words, doc.word_labels)
    assert decoded["total"] == "9.00"
    assert decoded["address"] == "NO.53 55,57 & 59, JALAN SAGU 18, TAMAN DAYA, 81100 JOHOR BAHRU, JOHOR."
    assert decoded["company"] == "BOOK TA .K(TAMAN DAYA) SDN BND"  # OCR typo, found by similarity
    total_line = doc.extra["line_index"][doc.word_labels.index("B-TOTAL")]
    assert total_line == max(doc.extra["line_index"])  # the 9.00 beside "TOTAL:", last in the file


def test_labelling_rules_on_a_made_up_receipt():
    lines = [["ACME", "SDN", "BHD", "(1234-X)"], ["NO.5", ",", "JALAN", "SATU"], ["KUALA", "LUMPUR"],
             ["DATE:", "01/02/2019", "10:00"], ["ITEM", "19.00"], ["TOTAL:"], ["9.00"], ["9.00"]]
    boxes = [[0, 0, 100, 10], [0, 10, 100, 20], [0, 20, 100, 30], [0, 30, 100, 40],
             [0, 40, 100, 50], [0, 60, 40, 70], [60, 60, 100, 70], [60, 80, 100, 90]]
    entities = {"company": "ACME SDN BHD", "address": "No.5, Jalan Satu, Kuala Lumpur.",
                "date": "01/02/2019", "total": "9.00"}  # fmt: skip
    tags = label_sroie_lines(lines, boxes, entities)
    assert tags[0] == ["B-COMPANY", "I-COMPANY", "I-COMPANY", "O"]
    assert tags[1] == ["B-ADDRESS", "I-ADDRESS", "I-ADDRESS", "I-ADDRESS"]
    assert tags[2] == ["I-ADDRESS", "I-ADDRESS"]
    assert tags[3] == ["O", "B-DATE", "O"]
    assert tags[4] == ["O", "O"]  # 19.00 is not 9.00
    assert tags[6] == ["B-TOTAL"] and tags[7] == ["O"]  # beside TOTAL beats the last match
    words = [w for line in lines for w in line]
    flat = [t for line in tags for t in line]
    assert decode_sroie_fields(words, flat) == {
        "company": "ACME SDN BHD",
        "date": "01/02/2019",
        "address": "NO.5 , JALAN SATU KUALA LUMPUR",
        "total": "9.00",
    }


def test_decode_takes_first_date_and_last_total():
    words = ["1/1/19", "x", "2/2/19", "5.00", "y", "7.00"]
    tags = ["B-DATE", "O", "B-DATE", "B-TOTAL", "O", "B-TOTAL"]
    decoded = decode_sroie_fields(words, tags)
    assert decoded == {"company": "", "date": "1/1/19", "address": "", "total": "7.00"}
    with pytest.raises(ValueError, match="2 words but 1 tags"):
        decode_sroie_fields(["a", "b"], ["O"])


def test_malformed_box_line_names_file_and_line(tmp_path):
    path = tmp_path / "X1.txt"
    path.write_text("1,2,3,4,5,6,7,8,HELLO, WORLD\n\n1,2,3,a,5,6,7,8,BAD\n")
    with pytest.raises(ValueError, match=r"X1.txt:3: non-numeric"):
        parse_sroie_box_file(path)
    path.write_text("1,2,3,4,5,6,7,8,HELLO, WORLD\n1,2,3,4\n")
    with pytest.raises(ValueError, match=r"X1.txt:2: expected 8 coordinates"):
        parse_sroie_box_file(path)
    path.write_text("1,2,3,4,5,6,7,8,HELLO, WORLD\n")
    assert parse_sroie_box_file(path) == [([1, 2, 3, 4, 5, 6, 7, 8], "HELLO, WORLD")]
