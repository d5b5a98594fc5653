"""The tokenizer's keyword options, written once (`EncodingOptions`): unknown names and bad values
are refused with errors that name them, on every entry point, and the defaults are transformers'."""

import dataclasses
import enum
import inspect

import pytest

from layoutlmv2 import LayoutLMv2Processor, LayoutLMv2Tokenizer, LayoutLMv2TokenizerFast
from layoutlmv2.preprocessing.encoding_options import EncodingOptions

VOCAB = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "##d"])}
WORDS, BOXES = ["a", "b", "cd"], [[0, 0, 10, 10], [10, 0, 20, 10], [20, 0, 30, 10]]

BAD_VALUES = [
    ("max_length", 0), ("max_length", -3), ("max_length", 2.5), ("max_length", True),
    ("stride", -1), ("stride", "2"), ("stride", None),
    ("pad_to_multiple_of", 0), ("padding", "sideways"), ("padding", 1), ("truncation", "middle"),
    ("padding_side", "up"), ("return_tensors", "tf"), ("return_length", "yes"), ("verbose", None),
    ("return_attention_mask", 1), ("add_special_tokens", "no"),
]


@pytest.fixture(scope="module", params=[LayoutLMv2TokenizerFast, LayoutLMv2Tokenizer])
def tokenizer(request):
    return request.param(vocab=VOCAB)


class NeverCalled:
    """An image processor that fails the test if the processor runs it (OCR before the checks)."""

    apply_ocr = False

    def __call__(self, *args, **kwargs):
        raise AssertionError("the options must be checked before the image processor runs")


def entry_points(tokenizer):
    processor = LayoutLMv2Processor(image_processor=NeverCalled(), tokenizer=tokenizer)
    return {
        "__call__": lambda **options: tokenizer(WORDS, boxes=BOXES, **options),
        "encode_plus": lambda **options: tokenizer.encode_plus(WORDS, boxes=BOXES, **options),
        "encode": lambda **options: tokenizer.encode(WORDS, boxes=BOXES, **options),
        "batch_encode_plus": lambda **options: tokenizer.batch_encode_plus([WORDS], boxes=[BOXES], **options),
        "processor": lambda **options: processor(None, text=WORDS, boxes=BOXES, **options),
    }


@pytest.mark.parametrize("entry", ["__call__", "encode_plus", "encode", "batch_encode_plus", "processor"])
def test_unknown_keyword_is_named(tokenizer, entry):
    with pytest.raises(ValueError, match=r"unknown keyword arguments \['pading', 'return_tensor'\]"):
        entry_points(tokenizer)[entry](pading=True, return_tensor="pt")


@pytest.mark.parametrize("entry", ["__call__", "encode_plus", "batch_encode_plus", "processor"])
@pytest.mark.parametrize("name, value", BAD_VALUES)
def test_bad_value_is_named(tokenizer, entry, name, value):
    with pytest.raises(ValueError, match=rf"^{name} must be .*got {value!r}"):
        entry_points(tokenizer)[entry](**{name: value})


def test_good_values_are_normalised():
    class Strategy(enum.Enum):  # like transformers' PaddingStrategy / TensorType
        MAX_LENGTH = "max_length"
        PT = "pt"

    import numpy as np

    options = EncodingOptions.from_kwargs({"padding": Strategy.MAX_LENGTH, "return_tensors": Strategy.PT,
                                           "max_length": np.int64(8), "return_length": np.bool_(True)})
    assert (options.padding, options.return_tensors, options.max_length) == ("max_length", "pt", 8)
    assert type(options.max_length) is int and options.return_length is True
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.padding = True


def test_plan_resolves_as_transformers():
    plan = EncodingOptions(truncation=True).plan(model_max_length=512, is_pair=False, default_padding_side="right")
    assert (plan.truncation, plan.max_length, plan.padding, plan.padding_side) == ("longest_first", 512, None, "right")
    plan = EncodingOptions(max_length=16).plan(512, False, "left")  # a max_length alone truncates to it
    assert (plan.truncation, plan.max_length, plan.padding_side) == ("longest_first", 16, "left")
    plan = EncodingOptions(max_length=16, truncation=False).plan(512, False, "right")  # ... but not with False
    assert plan.truncation is None
    plan = EncodingOptions(padding="do_not_pad", truncation="do_not_truncate").plan(512, True, "right")
    assert (plan.padding, plan.truncation) == (None, None)
    with pytest.raises(ValueError, match="stride=7 is too large for max_length=8"):
        EncodingOptions(truncation=True, max_length=8, stride=7).plan(512, False, "right")
    with pytest.raises(ValueError, match="max_length=2 is smaller than the 3 special tokens"):
        EncodingOptions(truncation=True, max_length=2).plan(512, True, "right")


def test_processor_does_not_truncate_on_max_length_alone(tokenizer):
    class Features(NeverCalled):
        def __call__(self, images, return_tensors=None):
            return {"pixel_values": [images], "words": [WORDS], "boxes": [BOXES]}

    processor = LayoutLMv2Processor(image_processor=Features(), tokenizer=tokenizer)
    assert len(processor("page", text=WORDS, boxes=BOXES, max_length=3)["input_ids"]) == 6
    assert len(tokenizer(WORDS, boxes=BOXES, max_length=3)["input_ids"]) == 3


def _parameters(function):
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name != "self"}


def test_signatures_match_transformers():
    transformers = pytest.importorskip("transformers")
    for ours, theirs in ((LayoutLMv2TokenizerFast.__call__, transformers.LayoutLMv2TokenizerFast.__call__),
                         (LayoutLMv2TokenizerFast.encode_plus, transformers.LayoutLMv2TokenizerFast.encode_plus),
                         (LayoutLMv2Tokenizer.batch_encode_plus, transformers.LayoutLMv2TokenizerFast.batch_encode_plus),
                         (LayoutLMv2Processor.__call__, transformers.LayoutLMv2Processor.__call__)):
        ours, theirs = _parameters(ours), _parameters(theirs)
        # transformers' processor takes padding_side through **kwargs; ours lists it
        assert set(ours) - set(theirs) <= {"padding_side"}, set(ours) - set(theirs)
        assert {name: ours[name] for name in theirs} == theirs
