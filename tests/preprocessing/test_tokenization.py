"""LayoutLMv2 tokenizers: parity with transformers on every FUNSD and SROIE document, slow == fast.

The reference is transformers 5.x ``LayoutLMv2TokenizerFast`` (its pure-Python tokenizer is gone,
so our slow tokenizer is compared with the fast reference as well). Known, deliberate differences
(each has its own test below):
* word labels of a question + words pair: transformers labels the question tokens with the
  document's labels at the question's word indices (an IndexError when the question has more words
  than the document); ours gives them ``pad_token_label``, like every token that is not a word of
  the document;
* ``max_length`` smaller than the special tokens: transformers silently skips truncation; ours
  raises a ValueError.
"""

import json
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from preprocessing_data import FUNSD_LABELS, funsd_documents, reference_tokenizer, sroie_documents  # noqa: E402

from layoutlmv2 import LayoutLMv2Tokenizer, LayoutLMv2TokenizerFast  # noqa: E402

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def ref(bert_vocab_file, tmp_path_factory):
    pytest.importorskip("transformers")
    return reference_tokenizer(bert_vocab_file, tmp_path_factory.mktemp("reference_tokenizer"))


@pytest.fixture(scope="module")
def fast(bert_vocab_file):
    return LayoutLMv2TokenizerFast(vocab_file=str(bert_vocab_file))


@pytest.fixture(scope="module")
def slow(bert_vocab_file):
    return LayoutLMv2Tokenizer(vocab_file=str(bert_vocab_file))


def outputs(encoding):
    """Everything a caller can see: the dict and the word/sequence id maps of every row."""
    rows = len(encoding["input_ids"]) if encoding["input_ids"] and isinstance(encoding["input_ids"][0], list) else 1
    return dict(encoding), [encoding.word_ids(i) for i in range(rows)], [encoding.sequence_ids(i) for i in range(rows)]


def assert_same(ref, ours, *args, **kwargs):
    expected = ref(*args, **kwargs)
    for tokenizer in ours:
        got = tokenizer(*args, **kwargs)
        assert list(got.keys()) == list(expected.keys())
        assert outputs(got) == outputs(expected), type(tokenizer).__name__
    return expected


CONFIGS = {
    "plain": {},
    "truncate_pad_512": {"truncation": True, "padding": "max_length", "max_length": 512},
    "stride_overflow": {"truncation": True, "padding": True, "max_length": 512, "stride": 128,
                        "return_overflowing_tokens": True, "return_offsets_mapping": True},
}


# ---- parity on the real documents ----------------------------------------------------------


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_funsd_document_with_labels(ref, fast, slow, funsd_dir, config):
    docs = funsd_documents(funsd_dir)
    assert len(docs) == 199
    words = [d["words"] for d in docs]
    boxes = [d["boxes"] for d in docs]
    labels = [d["labels"] for d in docs]
    out = assert_same(ref, (fast, slow), words, boxes=boxes, word_labels=labels, **CONFIGS[config])
    if config == "stride_overflow":
        assert len(out["input_ids"]) > len(docs)  # some FUNSD pages need more than one window


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_every_sroie_document(ref, fast, slow, sroie_dir, config):
    docs = sroie_documents(sroie_dir)
    assert len(docs) == 75
    assert_same(ref, (fast, slow), [d["words"] for d in docs], boxes=[d["boxes"] for d in docs],
                **CONFIGS[config])


def test_funsd_documents_one_by_one(ref, fast, slow, funsd_dir):
    """The unbatched path (batch axis dropped) on a sample of pages, with every optional output."""
    for doc in funsd_documents(funsd_dir)[::20]:
        assert_same(ref, (fast, slow), doc["words"], boxes=doc["boxes"], word_labels=doc["labels"],
                    return_special_tokens_mask=True, return_offsets_mapping=True, return_length=True)


def test_funsd_question_answering_pairs(ref, fast, slow, funsd_dir):
    docs = funsd_documents(funsd_dir)[:60]
    questions = ["What is the date?", "Who is the sender of this form?", "naïve QUESTION, with punctuation!"]
    text = [questions[i % 3] for i in range(len(docs))]
    for config in ({}, {"truncation": "only_second", "max_length": 128, "stride": 32, "padding": "max_length",
                        "return_overflowing_tokens": True},
                   {"truncation": "longest_first", "max_length": 64, "padding": True, "padding_side": "left"}):
        assert_same(ref, (fast, slow), text, [d["words"] for d in docs], boxes=[d["boxes"] for d in docs], **config)
    doc = docs[0]
    assert_same(ref, (fast, slow), questions[0], doc["words"], boxes=doc["boxes"], truncation="only_second",
                max_length=100)


@pytest.mark.parametrize("tensor_type", ["pt", "np"])
def test_tensors(ref, fast, slow, funsd_dir, tensor_type):
    docs = funsd_documents(funsd_dir)[:8]
    kwargs = dict(boxes=[d["boxes"] for d in docs], word_labels=[d["labels"] for d in docs], padding=True,
                  truncation=True, return_tensors=tensor_type)
    expected = ref([d["words"] for d in docs], **kwargs)
    for tokenizer in (fast, slow):
        got = tokenizer([d["words"] for d in docs], **kwargs)
        assert list(got) == list(expected)
        for key in expected:
            assert type(got[key]) is type(expected[key])
            assert got[key].dtype == expected[key].dtype, key
            assert np.array_equal(np.asarray(got[key]), np.asarray(expected[key])), key
    with pytest.raises(ValueError, match="padding"):
        fast([d["words"] for d in docs], boxes=kwargs["boxes"], return_tensors=tensor_type)


def test_first_subword_labels_and_special_boxes(fast, slow, bert_vocab_file):
    for tokenizer in (fast, slow):
        enc = tokenizer(["Hello", "unaffable"], boxes=[[1, 2, 3, 4], [5, 6, 7, 8]], word_labels=[3, 4])
        assert enc["input_ids"][0] == tokenizer.cls_token_id and enc["input_ids"][-1] == tokenizer.sep_token_id
        assert enc["bbox"][0] == [0, 0, 0, 0] and enc["bbox"][-1] == [1000, 1000, 1000, 1000]
        n = len(enc["input_ids"])
        assert enc["labels"] == [-100, 3, 4] + [-100] * (n - 3)  # only the first sub-word of a word
        all_labels = type(tokenizer)(vocab_file=str(bert_vocab_file), only_label_first_subword=False,
                                     pad_token_label=-1, cls_token_box=[9, 9, 9, 9])
        enc = all_labels(["Hello", "unaffable"], boxes=[[1, 2, 3, 4], [5, 6, 7, 8]], word_labels=[3, 4],
                         padding="max_length", max_length=n + 2)
        assert enc["labels"] == [-1, 3] + [4] * (n - 3) + [-1] * 3
        assert enc["bbox"][0] == [9, 9, 9, 9] and enc["bbox"][-1] == [0, 0, 0, 0]


# ---- deliberate differences ----------------------------------------------------------------


def test_question_tokens_get_no_label(ref, fast, slow):
    """transformers labels question tokens with document labels (a bug); ours gives -100."""
    words, boxes, labels = ["Date", ":", "today"], [[1, 1, 2, 2]] * 3, [1, 2, 3]
    expected = ref("what day", words, boxes=boxes, word_labels=labels)
    assert expected["labels"][1:3] == [1, 2]  # the bug: "what" and "day" took the labels of words 0 and 1
    for tokenizer in (fast, slow):
        got = tokenizer("what day", words, boxes=boxes, word_labels=labels)
        assert got["labels"] == [-100, -100, -100, -100, 1, 2, 3, -100]
        assert {k: v for k, v in got.items() if k != "labels"} == {k: v for k, v in expected.items() if k != "labels"}
    with pytest.raises(IndexError):
        ref("a much longer question than the page", ["x"], boxes=[[0, 0, 1, 1]], word_labels=[1])


def test_max_length_smaller_than_special_tokens(ref, fast, slow):
    """transformers returns 5 tokens for max_length=1; ours refuses."""
    assert len(ref(["a", "b", "c"], boxes=[[0, 0, 0, 0]] * 3, truncation=True, max_length=1)["input_ids"]) == 5
    for tokenizer in (fast, slow):
        with pytest.raises(ValueError, match="max_length=1"):
            tokenizer(["a", "b", "c"], boxes=[[0, 0, 0, 0]] * 3, truncation=True, max_length=1)


# ---- the rest of the tokenizer API -----------------------------------------------------------


def test_vocab_file_is_honoured(bert_vocab_file, tmp_path):
    """transformers 5.x's LayoutLMv2TokenizerFast(vocab_file=...) ignores the file; ours must not."""
    small = tmp_path / "vocab.txt"
    small.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s"]) + "\n")
    for cls in (LayoutLMv2TokenizerFast, LayoutLMv2Tokenizer):
        tokenizer = cls(vocab_file=str(small))
        assert tokenizer.vocab_size == len(tokenizer) == 8
        assert tokenizer(["Hello", "worlds", "x"], boxes=[[0, 0, 0, 0]] * 3)["input_ids"] == [2, 5, 6, 7, 1, 3]
        big = cls(vocab_file=str(bert_vocab_file))
        assert big.vocab_size == 30522 and big.model_max_length == 512
        assert big.convert_tokens_to_ids(["the", "##s", "[UNK]", "qqqqqq"]) == [1996, 2015, 100, 100]
        assert big.convert_ids_to_tokens([101, 1996, 102]) == ["[CLS]", "the", "[SEP]"]
        assert (big.pad_token_id, big.unk_token_id, big.cls_token_id, big.sep_token_id, big.mask_token_id) == (
            0, 100, 101, 102, 103)


def test_decode_tokenize_encode(ref, fast, slow):
    words = ["Hello", "world", ",", "don't", "naïve", "[UNK]", "中文", "x"]
    boxes = [[0, 0, 1, 1]] * len(words)
    ids = ref(words, boxes=boxes)["input_ids"]
    for tokenizer in (fast, slow):
        assert tokenizer.encode(words, boxes=boxes) == ref.encode(words, boxes=boxes) == ids
        for kwargs in ({}, {"skip_special_tokens": True}, {"clean_up_tokenization_spaces": True}):
            assert tokenizer.decode(ids, **kwargs) == ref.decode(ids, **kwargs)
        assert tokenizer.batch_decode([ids, ids[:3]], skip_special_tokens=True) == ref.batch_decode(
            [ids, ids[:3]], skip_special_tokens=True)
        for text in ("Hello world naïve", "UNAFFABLE (really)!", "", "  a\tb\n", "x" * 150):
            assert tokenizer.tokenize(text) == ref.tokenize(text)
        plus = tokenizer.encode_plus(words, boxes=boxes)
        assert dict(plus) == dict(ref.encode_plus(words, boxes=boxes))
        batch = tokenizer.batch_encode_plus([words, words[:2]], boxes=[boxes, boxes[:2]], padding=True)
        assert dict(batch) == dict(ref([words, words[:2]], boxes=[boxes, boxes[:2]], padding=True))
    import torch

    assert fast.decode(torch.tensor(ids)) == slow.decode(np.array(ids)) == ref.decode(ids)


def test_batch_encoding_api(fast):
    enc = fast([["a", "b"], ["c"]], boxes=[[[0, 0, 1, 1]] * 2, [[0, 0, 1, 1]]], padding=True, return_tensors="pt")
    assert enc.input_ids is enc["input_ids"] and enc.input_ids.shape == (2, 4)
    assert enc.word_ids(1) == [None, 0, None, None] and enc.sequence_ids(0) == [None, 0, 0, None]
    assert enc.tokens(0) == ["[CLS]", "a", "b", "[SEP]"] and enc[0].ids == [101, 1037, 1038, 102]
    assert enc.to("cpu") is enc and enc["bbox"].dtype.is_floating_point is False
    with pytest.raises(AttributeError):
        enc.nothing


def test_save_and_load_both_ways(ref, fast, slow, tmp_path):
    from transformers import LayoutLMv2TokenizerFast as Reference

    words, boxes = ["Héllo", "WORLD", "naïve"], [[1, 2, 3, 4]] * 3
    for tokenizer in (fast, slow):
        folder = tmp_path / type(tokenizer).__name__
        files = tokenizer.save_pretrained(folder)
        assert {Path(f).name for f in files} >= {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}
        config = json.loads((folder / "tokenizer_config.json").read_text())
        assert config["do_lower_case"] is True and config["sep_token_box"] == [1000, 1000, 1000, 1000]
        for loader in (LayoutLMv2TokenizerFast, LayoutLMv2Tokenizer, Reference):
            loaded = loader.from_pretrained(str(folder))
            assert dict(loaded(words, boxes=boxes)) == dict(ref(words, boxes=boxes)), (type(tokenizer), loader)
    ref.save_pretrained(tmp_path / "reference")  # writes tokenizer.json only, no vocab.txt
    for loader in (LayoutLMv2TokenizerFast, LayoutLMv2Tokenizer):
        loaded = loader.from_pretrained(tmp_path / "reference", pad_token_label=-7)
        assert loaded.pad_token_label == -7 and loaded.vocab_size == 30522
        assert dict(loaded(words, boxes=boxes)) == dict(ref(words, boxes=boxes))
    with pytest.raises(FileNotFoundError, match="neither a local folder nor a hub id"):
        LayoutLMv2TokenizerFast.from_pretrained(tmp_path / "does-not-exist")


# ---- input errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [LayoutLMv2TokenizerFast, LayoutLMv2Tokenizer])
def test_clear_errors(cls, bert_vocab_file):
    tokenizer = cls(vocab_file=str(bert_vocab_file))
    box = [0, 0, 10, 10]
    cases = [
        (dict(text=["a", "b"], boxes=[box]), "2 words but 1 boxes"),
        (dict(text=["a"], boxes=None), "bounding boxes"),
        (dict(text=["a", "b"], boxes=[box, [1, 2, 3]]), r"box 1 must be 4 numbers .*\[1, 2, 3\]"),
        (dict(text=["a", "b"], boxes=[box, [0, 0, 1001, 5]]), r"box 1 = \[0, 0, 1001, 5\] is outside 0..1000"),
        (dict(text=["a"], boxes=[[-1, 0, 5, 5]]), r"box 0 = \[-1, 0, 5, 5\] is outside"),
        (dict(text=["a"], boxes=[[0.5, 0, 5, 5]]), "integers"),
        (dict(text=["a"], boxes=[["x", 0, 5, 5]]), "numbers"),
        (dict(text=["a", "b"], boxes=[box, box], word_labels=[1]), "2 words but 1 labels"),
        (dict(text=["a"], boxes=[box], word_labels=["B"]), "word label 0"),
        (dict(text=[["a"], ["b", "c"]], boxes=[[box], [box]]), "example 1 has 2 words but 1 boxes"),
        (dict(text=[["a"], ["b"]], boxes=[[box]]), "equal amount of examples"),
        (dict(text="just a string", boxes=[box]), "List\\[str\\]"),
        (dict(text=["a", 3], boxes=[box, box]), "word 1 must be a str"),
        (dict(text=["q1", "q2"], text_pair=[["a"]], boxes=[[box]]), "batch length"),
        (dict(text=["a"], boxes=[box], padding="sideways"), "padding must be"),
        (dict(text=["a"], boxes=[box], truncation="middle"), "truncation must be"),
        (dict(text=["a"], boxes=[box], return_tensors="tf"), "return_tensors"),
        (dict(text=["a"], boxes=[box], padding_side="up"), "padding_side"),
        (dict(text=["a"], boxes=[box], stride=-1), "stride"),
        (dict(text=["a", "b"], boxes=[box, box], truncation="only_second", max_length=3), "(pair|Second sequence)"),
        (dict(text="q " * 20, text_pair=["a"], boxes=[box], truncation="only_second", max_length=8), "truncate"),
        (dict(text=["a"] * 20, boxes=[box] * 20, truncation=True, max_length=8, stride=7), "stride=7"),
        (dict(text=["a"], boxes=[box], unknown_option=1), "unknown keyword"),
        (dict(text=["a"], boxes=[box], padding=True, truncation=True, max_length=10, pad_to_multiple_of=4),
         "multiple"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            tokenizer(**kwargs)
    with pytest.raises(ValueError, match="vocab_file"):
        cls(vocab_file="/nonexistent/vocab.txt")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        cls(vocab_file=str(bert_vocab_file), cls_token="<s>")


# ---- the pure-Python normaliser agrees with the Rust one on every code point -----------------


def _compare_code_points(slow, code_points):
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                            lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    bad = []
    for code in code_points:
        if 0xD800 <= code <= 0xDFFF:
            continue
        text = "a" + chr(code) + "b"
        expected = pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
        got = [(piece, None) for piece, _ in slow._pieces(text, 0)]
        if [p for p, _ in expected] != [p for p, _ in got]:
            bad.append(hex(code))
    assert not bad, f"{len(bad)} code points differ, e.g. {bad[:10]}"


def test_unicode_tables_sample(slow):
    from layoutlmv2.preprocessing.tokenization import _KEEP_STARTS, _RUST_MAP

    sample = set(range(0, 0x3000)) | set(range(0x3000, 0x110000, 97)) | set(_RUST_MAP) | set(_KEEP_STARTS)
    _compare_code_points(slow, sorted(sample))
    assert unicodedata.unidata_version  # the table is tied to this Python's Unicode version


@pytest.mark.slow
def test_unicode_tables_every_code_point(slow):
    _compare_code_points(slow, range(0x110000))


def test_funsd_labels_are_bio(funsd_dir):
    docs = funsd_documents(funsd_dir)
    used = {label for doc in docs for label in doc["labels"]}
    assert used == set(range(len(FUNSD_LABELS)))
