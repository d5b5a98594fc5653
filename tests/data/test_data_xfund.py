"""The XFUND reader on the real German annotations: SER tags, and the blank-page notice."""

import logging

import pytest

from layoutlmv2.data import FUNSD_LABELS, load_xfund

pytestmark = pytest.mark.data


def test_german_forms_and_the_missing_images_are_said_once(xfund_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="layoutlmv2.data.xfund"):
        train = load_xfund(xfund_dir, "train", "de")
    assert len(train) == 149
    notices = [r.getMessage() for r in caplog.records if "no image" in r.getMessage()]
    assert notices == [f"XFUND de train: 149 of 149 pages have no image in {xfund_dir} (they are published apart, "
                       "as release assets): blank pages are used, so the model sees text and layout only"]
    document = train[0]
    assert len(document.words) == len(document.boxes) == len(document.word_labels) > 0
    assert set(document.word_labels) <= set(FUNSD_LABELS) and "B-QUESTION" in document.word_labels
    assert all(0 <= v <= 1000 for box in document.boxes for v in box)
