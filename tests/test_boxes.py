"""The one pixel -> 0..1000 rule: transformers' truncation, and for annotations corners sorted and clamped."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from transformers.models.layoutlmv2.image_processing_layoutlmv2 import normalize_box as transformers_normalize_box

from layoutlmv2.boxes import normalize_box

coordinate = st.floats(min_value=-500, max_value=5000, allow_nan=False)
size = st.integers(min_value=1, max_value=4000)


@given(st.lists(st.integers(min_value=0, max_value=4000), min_size=4, max_size=4), size, size)
def test_without_clamping_the_boxes_are_transformers_boxes(box, width, height):
    assert normalize_box(box, width, height) == transformers_normalize_box(box, width, height)


def test_truncated_not_rounded():
    assert normalize_box([1, 1, 2, 2], 3, 3) == [333, 333, 666, 666]
    assert normalize_box([95, 355, 169, 370], 762, 1000) == [124, 355, 221, 370]  # the layoutlm FUNSD script's


def test_clamping_sorts_the_corners_and_keeps_them_on_the_page():
    assert normalize_box([820, -5, 10, 1200], 800, 1000, clamp=True) == [12, 0, 1000, 1000]
    assert normalize_box([820, -5, 10, 1200], 800, 1000) == [1025, -5, 12, 1200]


@given(st.lists(coordinate, min_size=4, max_size=4), size, size)
def test_clamped_boxes_are_always_valid(box, width, height):
    x0, y0, x1, y1 = normalize_box(box, width, height, clamp=True)
    assert all(isinstance(v, int) for v in (x0, y0, x1, y1))
    assert 0 <= x0 <= x1 <= 1000 and 0 <= y0 <= y1 <= 1000


@pytest.mark.parametrize("box, width, height", [([1, 2, 3], 10, 10), ([1, 2, 3, 4], 0, 10)])
def test_bad_boxes_and_page_sizes_are_named(box, width, height):
    with pytest.raises(ValueError, match="box|size"):
        normalize_box(box, width, height)
