"""Tesseract with text lines (for pre-training): the same words and boxes as without, plus line ids."""

import pytest
from PIL import Image

from layoutlmv2.preprocessing.ocr import tesseract_pixel_lines, tesseract_pixel_words

pytestmark = [pytest.mark.data, pytest.mark.ocr]


def test_lines_add_ids_to_the_same_words(funsd_dir):
    image = Image.open(funsd_dir / "training_data" / "images" / "0000971160.png").convert("RGB")
    words, boxes = tesseract_pixel_words(image)
    line_words, line_boxes, lines = tesseract_pixel_lines(image)
    assert (line_words, line_boxes) == (words, boxes)
    assert len(lines) == len(words) and lines[0] == 0
    # numbered in reading order: each id is at most one more than the largest before it
    assert all(b <= max(lines[:i + 1]) + 1 for i, b in enumerate(lines[1:]))
    assert 10 <= max(lines) < len(words)
    # the words of one line sit side by side: their vertical extents overlap the line's first word
    for line in set(lines):
        members = [boxes[i] for i, l in enumerate(lines) if l == line]
        top, bottom = members[0][1], members[0][3]
        assert all(b[1] < bottom and b[3] > top for b in members), line
