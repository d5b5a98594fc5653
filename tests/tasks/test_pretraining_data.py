"""Pre-training data on real FUNSD training pages (their labels unused): the OCR cache, and the
MVLM / TIA / TIM batches checked pixel by pixel against the pages they came from."""

import os
import shutil

import numpy as np
import pytest
import torch

from layoutlmv2.tasks import pretraining as pt
from layoutlmv2.tasks.windows import IGNORE_INDEX
from layoutlmv2.training.recipe import build_processor

from small_models import minilm_dir

pytestmark = [pytest.mark.data, pytest.mark.ocr, pytest.mark.usefixtures("one_thread")]

PAGES = ["0000971160.png", "0000989556.png", "0000990274.png"]


@pytest.fixture(scope="module")
def page_folder(funsd_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    for name in PAGES:
        shutil.copy(funsd_dir / "training_data" / "images" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def cache(page_folder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    documents, counts = pt.load_pages(pt.page_files(page_folder), folder)
    return folder, documents, counts


@pytest.fixture(scope="module")
def encoded(cache):
    processor = build_processor(minilm_dir(), image_size=224)
    _, documents, _ = cache
    return pt.encode_pages(documents, processor.tokenizer, processor.image_processor, max_length=128, stride=32), \
        processor.tokenizer


def _collator(tokenizer, **rates):
    return pt.PretrainingCollator(pt.MaskingSettings(mask_token_id=tokenizer.mask_token_id,
                                                     vocab_size=len(tokenizer), **rates))


def _batch(data, tokenizer, seed, **rates):
    return _collator(tokenizer, **rates)(data.windows, data.pages, torch.Generator().manual_seed(seed))


def _rects(batch, i, tokens):
    height, width = batch["image"].shape[-2:]
    return [pt.pixel_rect(batch["bbox"][i, t].tolist(), height, width) for t in tokens]


def _outside(shape, rects):
    keep = np.ones(shape, dtype=bool)
    for y0, y1, x0, x1 in rects:
        keep[y0:y1, x0:x1] = False
    return keep


def test_ocr_runs_once_and_the_cache_is_reused(cache, page_folder, monkeypatch):
    folder, documents, counts = cache
    assert counts == {"ocr": 3, "cached": 0, "pages": 3, "empty_pages": 0}
    assert len(list(folder.glob("*.json"))) == 3
    assert all(len(d.words) > 20 and len(d.extra["line_ids"]) == len(d.words) for d in documents)
    assert all(max(d.extra["line_ids"]) >= 10 for d in documents)  # Tesseract's lines, not one per page

    def no_ocr(*args, **kwargs):
        raise AssertionError("OCR ran although the cache holds the page")

    monkeypatch.setattr(pt, "_ocr_lines", no_ocr)
    again, counts = pt.load_pages(pt.page_files(page_folder), folder)
    assert counts["cached"] == 3 and counts["ocr"] == 0
    assert [d.words for d in again] == [d.words for d in documents]
    assert [d.extra["line_ids"] for d in again] == [d.extra["line_ids"] for d in documents]


def test_a_changed_file_is_ocred_again(cache, page_folder, tmp_path, monkeypatch):
    folder, _, _ = cache
    copy = tmp_path / "copy"
    shutil.copytree(page_folder, copy)
    cache_copy = tmp_path / "cache"
    shutil.copytree(folder, cache_copy)
    monkeypatch.setattr(pt, "_ocr_lines", lambda image, engine, lang: (["word"], [[0, 0, 10, 10]], [0]))
    _, counts = pt.load_pages(pt.page_files(copy), cache_copy)
    assert counts["ocr"] == 3  # another path: another key
    os.utime(copy / PAGES[0], ns=(0, 12345))  # another modification time: another key
    _, counts = pt.load_pages(pt.page_files(copy), cache_copy)
    assert counts == {"ocr": 1, "cached": 2, "pages": 3, "empty_pages": 0}


def test_masked_tokens_are_covered_and_every_other_pixel_is_the_page(encoded):
    data, tokenizer = encoded
    batch = _batch(data, tokenizer, seed=3, tim_replace_probability=0.0, tim_drop_probability=0.0)
    assert len(data.windows) >= 6  # long pages: several windows each
    checked = 0
    for i, window in enumerate(data.windows):
        image, page = batch["image"][i].numpy(), data.pages[window.doc_index]
        masked = (batch["mvlm_labels"][i] != IGNORE_INDEX).nonzero().flatten().tolist()
        lines = (batch["tia_labels"][i] == 1).nonzero().flatten().tolist()
        assert masked
        for y0, y1, x0, x1 in _rects(batch, i, masked + lines):
            assert (image[:, y0:y1, x0:x1] == 0).all()
            checked += 1
        keep = _outside(image.shape[1:], _rects(batch, i, masked + lines))
        # lines may have MVLM tokens with label -100: cover all tokens of the covered lines too
        line_ids = torch.tensor(window.targets["line_ids"])
        covered_lines = {int(line_ids[t]) for t in lines}
        others = [t for t, l in enumerate(window.targets["line_ids"]) if l in covered_lines]
        keep &= _outside(image.shape[1:], _rects(batch, i, others))
        np.testing.assert_array_equal(image[:, keep], page[:, keep])
        assert not np.array_equal(image, page)
    assert checked > 50


def test_tia_labels_are_the_covered_lines(encoded):
    data, tokenizer = encoded
    counts = {0: 0, 1: 0}
    for seed in range(3):
        batch = _batch(data, tokenizer, seed=seed, tim_replace_probability=0.0, tim_drop_probability=0.0)
        for i, window in enumerate(data.windows):
            image = batch["image"][i].numpy()
            labels, mvlm = batch["tia_labels"][i], batch["mvlm_labels"][i]
            lines = window.targets["line_ids"]
            by_line = {}
            for t, line in enumerate(lines):
                if line >= 0 and mvlm[t] == IGNORE_INDEX:
                    by_line.setdefault(line, []).append(t)
            for line, tokens in by_line.items():
                values = {int(labels[t]) for t in tokens} - {IGNORE_INDEX}
                assert len(values) <= 1  # whole lines
                covered = all((image[:, y0:y1, x0:x1] == 0).all() for y0, y1, x0, x1 in _rects(batch, i, tokens))
                if values == {0}:
                    assert not covered, (i, line)
                    # a "not covered" token is never under any covering
                    for t in tokens:
                        if labels[t] == 0:
                            (y0, y1, x0, x1), = _rects(batch, i, [t])
                            assert not (image[:, y0:y1, x0:x1] == 0).all(), (i, t)
                elif values == {1}:
                    assert covered and all(labels[t] == 1 for t in tokens), (i, line)
                    counts[1] += 1
                counts[0] += values == {0}
            assert (labels[mvlm != IGNORE_INDEX] == IGNORE_INDEX).all()  # MVLM tokens are out of TIA
            specials = torch.tensor([l < 0 for l in lines] + [True] * (labels.shape[0] - len(lines)))
            assert (labels[specials] == IGNORE_INDEX).all()
    assert counts[0] > 100 and counts[1] > 20, counts


def test_tim_negatives_pair_the_text_with_another_page_or_a_blank_one(encoded):
    data, tokenizer = encoded
    seen = {"other": 0, "blank": 0, "own": 0}
    for seed in range(6):
        batch = _batch(data, tokenizer, seed=seed, tim_replace_probability=0.5, tim_drop_probability=0.2)
        for i, window in enumerate(data.windows):
            source, label = int(batch["image_source"][i]), int(batch["tim_labels"][i])
            image = batch["image"][i].numpy()
            cover = ((batch["mvlm_labels"][i] != IGNORE_INDEX)).nonzero().flatten().tolist()
            keep = _outside(image.shape[1:], _rects(batch, i, cover))
            if source == window.doc_index:
                assert label == 1
                seen["own"] += 1
                continue
            assert label == 0
            assert (batch["tia_labels"][i] == IGNORE_INDEX).all()  # TIA targets of negatives are ignored
            # covering drawn on negatives too; compare away from every token box
            all_tokens = [t for t, l in enumerate(window.targets["line_ids"]) if l >= 0]
            keep &= _outside(image.shape[1:], _rects(batch, i, all_tokens))
            if source == -1:
                assert (image[:, keep] == 255).all()
                seen["blank"] += 1
            else:
                assert source != window.doc_index
                np.testing.assert_array_equal(image[:, keep], data.pages[source][:, keep])
                assert not np.array_equal(image[:, keep], data.pages[window.doc_index][:, keep])
                seen["other"] += 1
    assert min(seen.values()) > 0, seen


def test_rates_hold_over_many_samples(encoded):
    """Each share within 5 standard errors (sqrt(p (1 - p) / n)) of its rate: a correct collator
    fails such a bound with probability below 1e-6 per check, and the seeds are fixed."""
    data, tokenizer = encoded
    collator = _collator(tokenizer)
    originals = [torch.tensor(w.input_ids) for w in data.windows]
    counts = dict(text=0, selected=0, masked=0, kept=0, samples=0, negatives=0, blank=0, lines=0, lines_covered=0)
    for seed in range(60):
        batch = collator(data.windows, data.pages, torch.Generator().manual_seed(seed))
        for i, window in enumerate(data.windows):
            n = len(window.input_ids)
            ids, before = batch["input_ids"][i, :n], originals[i]
            text = torch.tensor(window.targets["line_ids"]) >= 0
            selected = batch["mvlm_labels"][i, :n] != IGNORE_INDEX
            assert (batch["mvlm_labels"][i, :n][selected] == before[selected]).all()
            assert (ids[~selected] == before[~selected]).all()
            counts["text"] += int(text.sum())
            counts["selected"] += int(selected.sum())
            counts["masked"] += int((ids[selected] == tokenizer.mask_token_id).sum())
            counts["kept"] += int((ids[selected] == before[selected]).sum())
            counts["samples"] += 1
            counts["negatives"] += int(batch["tim_labels"][i] == 0)
            counts["blank"] += int(batch["image_source"][i] == -1)
            if int(batch["tim_labels"][i]) == 1:
                lines = {}
                for t, line in enumerate(window.targets["line_ids"]):
                    label = int(batch["tia_labels"][i, t])
                    if line >= 0 and label != IGNORE_INDEX:
                        lines[line] = label
                counts["lines"] += len(lines)
                counts["lines_covered"] += sum(lines.values())

    def within(hits, total, rate):
        error = (rate * (1 - rate) / total) ** 0.5
        assert abs(hits / total - rate) <= 5 * error, (hits, total, rate)

    within(counts["selected"], counts["text"], 0.15)
    within(counts["masked"], counts["selected"], 0.8)
    within(counts["kept"], counts["selected"], 0.1 + 0.1 / len(tokenizer))  # a random token may be the same
    within(counts["negatives"], counts["samples"], 0.2)
    within(counts["blank"], counts["samples"], 0.05)
    # a line whose tokens are all ignored (MVLM) drops out, which nudges the share only slightly
    within(counts["lines_covered"], counts["lines"], 0.15)
    assert counts["text"] > 20000


def test_same_seed_same_batch_other_seed_other_masks(encoded):
    data, tokenizer = encoded
    a, b, c = (_batch(data, tokenizer, seed=s) for s in (7, 7, 8))
    for key in ("input_ids", "image", "mvlm_labels", "tia_labels", "tim_labels"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["mvlm_labels"], c["mvlm_labels"])


def test_lines_from_boxes_and_bad_rates():
    boxes = [[0, 10, 50, 30], [60, 12, 90, 28], [0, 40, 30, 60], [40, 41, 70, 59], [10, 42, 20, 58]]
    assert pt.lines_from_boxes(boxes) == [0, 0, 1, 1, 2]
    with pytest.raises(ValueError, match="mvlm_probability"):
        pt.MaskingSettings(mask_token_id=103, vocab_size=10, mvlm_probability=1.5)
    with pytest.raises(ValueError, match="tim_replace_probability"):
        pt.MaskingSettings(mask_token_id=103, vocab_size=10, tim_replace_probability=0.9, tim_drop_probability=0.2)
