"""The shared record and box helpers: normalisation must always give a valid 0..1000 box."""

import pytest
from PIL import Image

from layoutlmv2.data import Document, find_word_span, quad_to_box, split_line_box

def test_quad_to_box_takes_the_bounding_rectangle():
    assert quad_to_box([10, 5, 50, 7, 48, 30, 9, 28]) == [9, 5, 50, 30]
    with pytest.raises(ValueError, match="8 numbers"):
        quad_to_box([1, 2, 3, 4])


def test_split_line_box_is_proportional_to_characters():
    words, boxes = split_line_box("AB  CDEF", [0, 10, 80, 20])
    assert words == ["AB", "CDEF"]
    assert boxes == [[0, 10, 20, 20], [40, 10, 80, 20]]
    assert split_line_box("", [0, 0, 1, 1]) == ([], [])


def test_find_word_span_ignores_case_and_spacing():
    words = ["Date:", "1/", "27/01", "To", "Dr.", "Jane", "Doe"]
    assert find_word_span(words, "1/27/01") == (1, 2)
    assert find_word_span(words, "dr. jane  DOE") == (4, 6)
    assert find_word_span(words, "Jane Smith") is None
    assert find_word_span(words, "   ") is None


def test_document_opens_its_image_lazily(tmp_path):
    path = tmp_path / "page.png"
    Image.new("RGB", (4, 3), (255, 0, 0)).save(path)
    document = Document(id="p", words=[], boxes=[], image_path=path, image_mode="L")
    image = document.load_image()
    assert image.mode == "L" and image.size == (4, 3)
    with pytest.raises(ValueError, match="'q' has no image_path"):
        Document(id="q", words=[], boxes=[]).load_image()
