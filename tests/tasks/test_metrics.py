"""Metrics against hand-computed values."""

import pytest

from layoutlmv2.tasks.metrics import (
    accuracy,
    anls,
    entity_report,
    entity_scores,
    kleister_scores,
    levenshtein,
    sroie_scores,
    word_tags_from_label_ids,
    word_tags_from_windows,
)

# ----------------------------------------------------------------------------- entities


def test_entity_scores_two_thirds_precision():
    # gold: Q[0:2], A[3], H[5]; predicted: Q[0:2] right, A[3:5] wrong span, H[5] right
    gold = [["B-QUESTION", "I-QUESTION", "O", "B-ANSWER", "O", "B-HEADER"]]
    pred = [["B-QUESTION", "I-QUESTION", "O", "B-ANSWER", "I-ANSWER", "B-HEADER"]]
    scores = entity_scores(gold, pred)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3)


def test_entity_scores_micro_over_documents_and_lenient_i_start():
    gold = [["B-A", "I-A", "O"], ["B-B", "O", "B-A"]]
    # seqeval's default mode reads a leading I- as the start of an entity
    pred = [["I-A", "I-A", "O"], ["O", "O", "B-A"]]
    scores = entity_scores(gold, pred)
    assert scores == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8})


def test_entity_report_per_type():
    gold = [["B-A", "O", "B-B", "B-B"]]
    pred = [["B-A", "O", "B-B", "O"]]
    report = entity_report(gold, pred)
    assert report["A"]["f1"] == 1.0
    assert report["B"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2.0})
    assert report["micro avg"]["recall"] == pytest.approx(2 / 3)


def test_entity_scores_length_mismatch():
    with pytest.raises(ValueError, match="document 0: 2 gold tags but 1 predicted"):
        entity_scores([["O", "O"]], [["O"]])


def test_word_tags_single_window_first_subtoken_wins():
    # [CLS] w0 w0 w1 [SEP] [PAD]
    word_ids = [[None, 0, 0, 1, None, None]]
    preds = [[0, 1, 2, 3, 0, 0]]
    assert word_tags_from_windows(preds, word_ids, id2label=["O", "B-Q", "I-Q", "B-A"]) == ["B-Q", "B-A"]
    assert word_tags_from_windows(preds, word_ids, num_words=4) == [1, 3, "O", "O"]


def test_word_tags_overlapping_windows_take_the_central_one():
    # window 0 holds words 0..4, window 1 holds words 2..6 (stride overlap of 3 words)
    word_ids = [[None, 0, 1, 2, 3, 4, None], [None, 2, 3, 4, 5, 6, None]]
    preds = [["a0", "a1", "a2", "a3", "a4"], ["b2", "b3", "b4", "b5", "b6"]]
    preds = [[None] + p + [None] for p in preds]
    # word 2: centrality 2 in window 0 vs 0 (and window-start) in 1 -> a; word 3: 1 vs 1 tie -> a;
    # word 4: 0 in window 0 vs 2 in window 1 -> b
    assert word_tags_from_windows(preds, word_ids) == ["a0", "a1", "a2", "a3", "b4", "b5", "b6"]


def test_word_tags_window_starting_mid_word_is_not_trusted():
    # word 1 has 3 sub-tokens; window 1 begins on its last sub-token
    word_ids = [[None, 0, 1, 1, None], [None, 1, 2, 3, None]]
    preds = [[None, "x0", "x1", "bad", None], [None, "y1", "y2", "y3", None]]
    assert word_tags_from_windows(preds, word_ids) == ["x0", "x1", "y2", "y3"]


def test_word_tags_errors():
    with pytest.raises(ValueError, match="window 0: 2 predictions but 3 word ids"):
        word_tags_from_windows([[0, 1]], [[None, 0, None]])
    with pytest.raises(ValueError, match="word id 3 is outside"):
        word_tags_from_windows([[0, 1]], [[0, 3]], num_words=2)
    with pytest.raises(ValueError, match="prediction 7 is not in id2label"):
        word_tags_from_windows([[7]], [[0]], id2label=["O"])


def test_word_tags_from_label_ids_drops_minus_100():
    gold, pred = word_tags_from_label_ids(
        [[0, 1, 2, 1, 0]], [[-100, 1, -100, 2, -100]], {0: "O", 1: "B-Q", 2: "I-Q"}
    )
    assert gold == [["B-Q", "I-Q"]] and pred == [["B-Q", "B-Q"]]


# ----------------------------------------------------------------------------- SROIE


def test_sroie_scores_counts_pairs_and_ignores_empty_predictions():
    gold = [
        {"company": "ACME SDN BHD", "date": "01/02/2019", "address": "1 JALAN", "total": "9.00"},
        {"company": "BETA", "date": "03/04/2019", "address": "2 JALAN", "total": "10.00"},
    ]
    pred = [
        {"company": "ACME  SDN BHD ", "date": "01/02/2019", "address": "", "total": "9.00"},  # 3 right, 1 empty
        {"company": "beta", "date": "03/04/2019", "address": "2 JALAN", "total": "1.00"},  # 2 right, 2 wrong
    ]
    scores = sroie_scores(gold, pred)
    assert scores["precision"] == pytest.approx(5 / 7)
    assert scores["recall"] == pytest.approx(5 / 8)
    assert scores["f1"] == pytest.approx(2 * (5 / 7) * (5 / 8) / (5 / 7 + 5 / 8))
    assert scores["company_f1"] == pytest.approx(0.5) and scores["date_f1"] == 1.0
    assert scores["address_f1"] == pytest.approx(2 / 3) and scores["total_f1"] == pytest.approx(0.5)
    assert sroie_scores(gold, pred, case_sensitive=False)["precision"] == pytest.approx(6 / 7)


# ----------------------------------------------------------------------------- accuracy, ANLS


def test_accuracy():
    assert accuracy(["form", "receipt", "form", "form"], ["form", "form", "form", "receipt"]) == {"accuracy": 0.5}
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])


def test_levenshtein():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0


@pytest.mark.parametrize(
    "prediction, answers, expected",
    [
        ("1/27/01", ["1/27/01"], 1.0),
        ("abc", ["abd"], 1 - 1 / 3),
        ("abc", ["xyz"], 0.0),
        ("ab", ["abcd"], 0.0),  # NL = 0.5 exactly is not below the threshold
        ("  Dr. JANE   doe ", ["dr. jane doe"], 1.0),  # lower-cased, stripped, spaces collapsed
        ("abcd", ["xyz", "abce", "abcdx"], 0.8),  # max over answers: 0, 1 - 1/4, 1 - 1/5
    ],
)
def test_anls_single_questions(prediction, answers, expected):
    assert anls([prediction], [answers])["anls"] == pytest.approx(expected)


def test_anls_averages_over_questions():
    assert anls(["1/27/01", "abc", "abc"], [["1/27/01"], ["abd"], ["xyz"]])["anls"] == pytest.approx(5 / 9)
    with pytest.raises(ValueError, match="question 0: gold answers must be a non-empty list"):
        anls(["a"], ["a"])


def test_anls_weights_count_a_question_as_its_links():
    # question 1 (right) stands for 3 links, question 2 (wrong) for 1: 3 of 4 links answered
    assert anls(["x", "y"], [["x", "z"], ["w"]], weights=[3, 1])["anls"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="weights"):
        anls(["x", "y"], [["x"], ["w"]], weights=[1])


# ----------------------------------------------------------------------------- Kleister-NDA


def test_kleister_scores_multiset_micro():
    gold = [
        [("party", "Alpha Corp"), ("party", "Beta LLC"), ("jurisdiction", "Delaware")],
        {"term": "2 years", "effective_date": "2010-05-01"},
    ]
    pred = [
        [("party", "Alpha_Corp"), ("party", "alpha corp"), ("jurisdiction", "New York")],  # 1 right of 3
        {"term": ["2_years"], "effective_date": "", "party": "Gamma"},  # 1 right of 2 (empty dropped)
    ]
    scores = kleister_scores(gold, pred)
    assert scores["precision"] == pytest.approx(2 / 5)
    assert scores["recall"] == pytest.approx(2 / 5)
    assert scores["f1"] == pytest.approx(2 / 5)
    assert kleister_scores(gold, pred, casefold=False)["precision"] == pytest.approx(2 / 5)
    assert kleister_scores([[]], [[]]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
