"""LayoutLMv2Processor: the five documented uses, batched and unbatched, against transformers.

Reference: transformers' ``LayoutLMv2Processor`` with its Pillow-backed image processor and the
fast tokenizer, fed pages converted to RGB (ours takes the grey FUNSD pages as they are).
Deliberate difference: with ``return_overflowing_tokens`` and tensors, transformers returns
``image`` as a Python list of tensors (the other keys are tensors); ours stacks it into one tensor.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from preprocessing_data import funsd_documents, reference_tokenizer  # noqa: E402

from layoutlmv2 import (  # noqa: E402
    LayoutLMv2ImageProcessor,
    LayoutLMv2Processor,
    LayoutLMv2Tokenizer,
    LayoutLMv2TokenizerFast,
)

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def ref_tokenizer(bert_vocab_file, tmp_path_factory):
    pytest.importorskip("transformers")
    return reference_tokenizer(bert_vocab_file, tmp_path_factory.mktemp("processor_reference"))


def make_reference(ref_tokenizer, apply_ocr):
    import transformers

    image_processor = transformers.LayoutLMv2ImageProcessorPil(apply_ocr=apply_ocr)
    return transformers.LayoutLMv2Processor(image_processor, ref_tokenizer)


def make_ours(bert_vocab_file, apply_ocr, slow=False):
    tokenizer_class = LayoutLMv2Tokenizer if slow else LayoutLMv2TokenizerFast
    tokenizer = tokenizer_class(vocab_file=str(bert_vocab_file))
    return LayoutLMv2Processor(LayoutLMv2ImageProcessor(apply_ocr=apply_ocr), tokenizer)


@pytest.fixture(scope="module")
def pages(funsd_dir):
    """Two FUNSD pages (grey) cut to their top part so that OCR stays quick, and their annotations."""
    docs = funsd_documents(funsd_dir)
    return [Image.open(docs[i]["image"]).crop((0, 0, 754, 260)) for i in (3, 150)], [docs[3], docs[150]]


def as_array(value):
    if hasattr(value, "numpy"):
        return value.numpy()
    return np.asarray(value)


def assert_same_output(expected, got):
    assert list(got.keys()) == list(expected.keys())
    for key in expected:
        if key == "image":
            exp, out = expected[key], got[key]
            if isinstance(exp, list) and not isinstance(out, list):  # documented: we stack overflow images
                exp = np.stack([as_array(e) for e in exp])
            assert len(exp) == len(out)
            for a, b in zip(exp, out):
                assert np.array_equal(as_array(a), as_array(b))
        elif hasattr(expected[key], "shape"):
            assert np.array_equal(as_array(expected[key]), as_array(got[key])), key
        else:
            assert expected[key] == got[key], key


def rgb(images):
    return [im.convert("RGB") for im in images] if isinstance(images, list) else images.convert("RGB")


def check(reference, ours_list, images, **kwargs):
    expected = reference(rgb(images), **kwargs)
    for ours in ours_list:
        assert_same_output(expected, ours(images, **kwargs))
    return expected


@pytest.mark.ocr
def test_case_1_and_4_ocr_words_and_visual_questions(ref_tokenizer, bert_vocab_file, pages):
    images, _ = pages
    reference = make_reference(ref_tokenizer, apply_ocr=True)
    ours = [make_ours(bert_vocab_file, True), make_ours(bert_vocab_file, True, slow=True)]
    out = check(reference, ours, images[0])  # (1) one page, OCR words
    assert len(out["input_ids"]) == 1 and len(out["input_ids"][0]) > 10
    check(reference, ours, images, padding=True, return_tensors="pt")  # (1) batched
    check(reference, ours, images[0], text="What is the date?")  # (4) a question on OCR words
    check(reference, ours, images, text=["What is the date?", "Who signed?"], padding="max_length",
          truncation=True, max_length=64, stride=16, return_overflowing_tokens=True, return_offsets_mapping=True,
          return_tensors="pt")


def test_case_2_3_5_own_words(ref_tokenizer, bert_vocab_file, pages):
    images, docs = pages
    reference = make_reference(ref_tokenizer, apply_ocr=False)
    ours = [make_ours(bert_vocab_file, False), make_ours(bert_vocab_file, False, slow=True)]
    words, boxes, labels = docs[0]["words"], docs[0]["boxes"], docs[0]["labels"]
    batch = dict(text=[d["words"] for d in docs], boxes=[d["boxes"] for d in docs])
    check(reference, ours, images[0], text=words, boxes=boxes)  # (2) own words, unbatched
    check(reference, ours, images, padding=True, **batch)  # (2) batched
    check(reference, ours, images[0], text=words, boxes=boxes, word_labels=labels)  # (3) labels
    check(reference, ours, images, word_labels=[d["labels"] for d in docs], padding="max_length",
          truncation=True, max_length=512, return_tensors="pt", **batch)
    check(reference, ours, images, word_labels=[d["labels"] for d in docs], padding=True, truncation=True,
          max_length=128, stride=32, return_overflowing_tokens=True, return_offsets_mapping=True, **batch)
    check(reference, ours, images[0], text="What is the date?", text_pair=words, boxes=boxes)  # (5) QA
    check(reference, ours, images, text=["What is the date?", "Who?"], text_pair=batch["text"], boxes=batch["boxes"],
          truncation="only_second", max_length=100, padding=True, return_tensors="np")


def test_overflow_repeats_the_page_image(bert_vocab_file, pages):
    torch = pytest.importorskip("torch")
    images, docs = pages
    ours = make_ours(bert_vocab_file, False)
    out = ours(images, text=[d["words"] for d in docs], boxes=[d["boxes"] for d in docs], truncation=True,
               max_length=64, stride=8, padding=True, return_overflowing_tokens=True, return_offsets_mapping=True,
               return_tensors="pt")
    mapping = out["overflow_to_sample_mapping"].tolist()
    assert len(mapping) > 2 and isinstance(out["image"], torch.Tensor)
    assert out["image"].shape == (len(mapping), 3, 224, 224) and out["image"].dtype == torch.uint8
    single = ours(images, text=[d["words"] for d in docs], boxes=[d["boxes"] for d in docs], padding=True,
                  truncation=True, return_tensors="pt")["image"]
    for row, page in enumerate(mapping):
        assert torch.equal(out["image"][row], single[page])
    assert set(out.keys()) >= {"input_ids", "bbox", "attention_mask", "token_type_ids", "image"}


def test_conflicting_arguments(ref_tokenizer, bert_vocab_file, pages):
    images, docs = pages
    with_ocr, without_ocr = make_ours(bert_vocab_file, True), make_ours(bert_vocab_file, False)
    words, boxes = docs[0]["words"], docs[0]["boxes"]
    for processor, kwargs, message in (
        (with_ocr, dict(text=words, boxes=boxes), "bounding boxes .* apply_ocr set to True"),
        (with_ocr, dict(word_labels=[0] * len(words)), "word labels .* apply_ocr set to True"),
        (without_ocr, dict(text=words, boxes=boxes, return_overflowing_tokens=True), "offsets mapping"),
        (without_ocr, dict(), "apply_ocr=False"),
    ):
        with pytest.raises(ValueError, match=message):
            processor(images[0], **kwargs)
    reference = make_reference(ref_tokenizer, apply_ocr=True)
    with pytest.raises(ValueError, match="apply_ocr set to True"):
        reference(rgb(images[0]), text=words, boxes=boxes)
    with pytest.raises(ValueError, match="tokenizer"):
        LayoutLMv2Processor(LayoutLMv2ImageProcessor())


def test_save_load_decode(ref_tokenizer, bert_vocab_file, pages, tmp_path):
    import transformers

    images, docs = pages
    ours = make_ours(bert_vocab_file, False)
    ours.image_processor.size = {"height": 112, "width": 112}
    ours.save_pretrained(tmp_path / "ours")
    assert (tmp_path / "ours" / "preprocessor_config.json").is_file() and (tmp_path / "ours" / "vocab.txt").is_file()
    words, boxes = docs[0]["words"], docs[0]["boxes"]
    for loaded in (LayoutLMv2Processor.from_pretrained(tmp_path / "ours"),
                   LayoutLMv2Processor.from_pretrained(tmp_path / "ours", use_fast=False)):
        assert loaded.image_processor.apply_ocr is False and loaded.image_processor.size["height"] == 112
        assert_same_output(ours(images[0], text=words, boxes=boxes), loaded(images[0], text=words, boxes=boxes))
    theirs = transformers.LayoutLMv2Processor.from_pretrained(str(tmp_path / "ours"))
    assert theirs.image_processor.apply_ocr is False
    make_reference(ref_tokenizer, apply_ocr=False).save_pretrained(str(tmp_path / "theirs"))
    loaded = LayoutLMv2Processor.from_pretrained(tmp_path / "theirs")
    assert loaded.image_processor.apply_ocr is False and loaded.tokenizer.vocab_size == 30522
    ids = ours(images[0], text=words, boxes=boxes)["input_ids"]
    assert ours.decode(ids, skip_special_tokens=True) == ref_tokenizer.decode(ids, skip_special_tokens=True)
    assert ours.batch_decode([ids]) == ref_tokenizer.batch_decode([ids])
    assert ours.model_input_names == ["input_ids", "bbox", "token_type_ids", "attention_mask", "image"]
