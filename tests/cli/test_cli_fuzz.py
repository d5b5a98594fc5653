"""Fuzzing `layoutlmv2 predict` (hypothesis) over malformed pages, PDFs, words files and model folders.

Every run must end with exit status 0 or 1, each problem as one ``layoutlmv2 predict: error:`` line
naming the file (no traceback, no "internal error"), and the good page's result on disk.

The runs are derandomised (the same examples in every CI run); set ``LAYOUTLMV2_FUZZ_EXAMPLES`` to
explore more (``LAYOUTLMV2_FUZZ_EXAMPLES=500 pytest tests/cli/test_cli_fuzz.py``), with
``LAYOUTLMV2_FUZZ_RANDOM=1`` for fresh random examples.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from layoutlmv2 import LayoutLMv2ForTokenClassification
from layoutlmv2.data import FUNSD_LABELS

from cli_helpers import error_lines, predict
from small_models import save_tiny

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.ocr]

EXAMPLES = int(os.environ.get("LAYOUTLMV2_FUZZ_EXAMPLES", "0"))
RANDOM = os.environ.get("LAYOUTLMV2_FUZZ_RANDOM") == "1"


def fuzz_settings(default_examples: int):
    return settings(max_examples=EXAMPLES or default_examples, deadline=None, derandomize=not RANDOM,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny(tmp_path_factory.mktemp("model"), LayoutLMv2ForTokenClassification, "token-classification",
                     FUNSD_LABELS)


@pytest.fixture(scope="module")
def good_page(funsd_dir, tmp_path_factory) -> Path:
    """The top of a real FUNSD page (Tesseract reads it in a fraction of a second)."""
    path = tmp_path_factory.mktemp("good") / "good.png"
    Image.open(funsd_dir / "testing_data" / "images" / "82092117.png").crop((0, 0, 754, 150)).save(path)
    return path


def encoded(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def samples(good_page) -> dict[str, bytes]:
    """A valid file of each kind the command reads, the seeds of the mutations."""
    page = Image.open(good_page).convert("RGB")
    two = [page, page.rotate(180)]
    return {
        ".png": encoded(page, "PNG"), ".jpg": encoded(page, "JPEG"), ".gif": encoded(page, "GIF"),
        ".bmp": encoded(page, "BMP"), ".webp": encoded(page, "WEBP"),
        ".tif": encoded(two[0], "TIFF", save_all=True, append_images=two[1:]),
        ".pdf": encoded(two[0], "PDF", save_all=True, append_images=two[1:], resolution=100),
    }


@st.composite
def mutated_file(draw, samples: dict[str, bytes]):
    """(suffix, bytes): a valid sample cut short, with bytes overwritten or inserted, or pure noise."""
    suffix = draw(st.sampled_from(sorted(samples)))
    data = bytearray(samples[suffix])
    how = draw(st.sampled_from(["truncate", "overwrite", "insert", "noise", "empty", "other suffix"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif how == "overwrite":
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            chunk = draw(st.binary(min_size=1, max_size=16))
            data[at: at + len(chunk)] = chunk
    elif how == "insert":
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=64))
    elif how == "noise":
        data = bytearray(draw(st.binary(min_size=1, max_size=4096)))
    elif how == "empty":
        data = bytearray()
    else:  # a valid file of another kind under this suffix
        data = bytearray(samples[draw(st.sampled_from(sorted(samples)))])
    return suffix, bytes(data)


def check_run(run, bad: Path, out: Path, good_stem: str = "good") -> None:
    assert run.code in (0, 1), run.err
    lines = error_lines(run.err)
    if run.code == 1:
        assert lines and all(str(bad) in line for line in lines), run.err
    assert (out / f"{good_stem}-p1.json").is_file(), run.err


def test_malformed_pages_and_pdfs(model, good_page, samples, tmp_path):
    counter = iter(range(10**6))

    @fuzz_settings(40)
    @given(case=mutated_file(samples))
    def run_one(case):
        suffix, data = case
        folder = tmp_path / f"case{next(counter)}"
        folder.mkdir()
        bad = folder / f"bad{suffix}"
        bad.write_bytes(data)
        shutil.copy(good_page, folder / "good.png")
        out = folder / "out"
        run = predict(model, [bad, folder / "good.png"], "--output", str(out))
        check_run(run, bad, out)
        if run.code == 0:  # the mutation left a readable file: its pages were written too
            assert list(out.glob("bad-p*.json")), run.err
        shutil.rmtree(folder)

    run_one()


JSON_LEAF = st.none() | st.booleans() | st.integers(-10**30, 10**30) | st.floats(allow_nan=True) | st.text(max_size=8)
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=5)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
COORDINATE = st.integers(-2000, 3000) | st.floats(-1e6, 1e6) | st.floats(allow_nan=True) | st.text(max_size=3) \
    | st.none() | st.integers(10**20, 10**400)


@st.composite
def words_file(draw) -> bytes:
    """Bytes of a words file: near-valid structures with bad parts, any JSON, or not JSON at all."""
    kind = draw(st.sampled_from(["near-valid", "pages", "any json", "not json"]))
    if kind == "not json":
        return draw(st.binary(max_size=200))
    if kind == "any json":
        return json.dumps(draw(JSON_VALUE)).encode()
    words = draw(st.lists(st.text(max_size=10), max_size=6) | st.lists(st.text(max_size=10) | st.integers() | st.none(),
                                                                      max_size=6))
    box = st.lists(COORDINATE, min_size=4, max_size=4) | st.lists(COORDINATE, max_size=5) | JSON_LEAF
    boxes = draw(st.lists(box, min_size=max(0, len(words) - 1), max_size=len(words) + 1))
    page = {"words": words, "boxes": boxes}
    if draw(st.booleans()):
        page["box_units"] = draw(st.sampled_from(["pixels", "0-1000", "inches", 3]))
    return json.dumps({"pages": [page]} if kind == "pages" else page).encode()


def test_malformed_words_files(model, good_page, tmp_path):
    counter = iter(range(10**6))

    @fuzz_settings(60)
    @given(content=words_file())
    def run_one(content):
        folder = tmp_path / f"case{next(counter)}"
        folder.mkdir()
        words = folder / "words.json"
        words.write_bytes(content)
        out = folder / "out"
        run = predict(model, [good_page], "--output", str(out), ocr_words=words)
        assert run.code in (0, 1), run.err
        lines = error_lines(run.err)
        if run.code == 1:
            assert len(lines) == 1 and str(words) in lines[0], run.err
        else:
            assert (out / "good-p1.json").is_file()
        shutil.rmtree(folder)

    run_one()


FOLDER_FILES = ["config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                "preprocessor_config.json", "processor_config.json", "special_tokens_map.json"]
CONFIG_FIELDS = ["num_labels", "hidden_size", "num_hidden_layers", "num_attention_heads", "id2label", "label2id",
                 "max_position_embeddings", "vocab_size", "finetuning_task", "detectron2_config_args", "image_feature_pool_shape",
                 "coordinate_size", "layer_norm_eps", "architectures", "model_type"]
SMALL_VALUE = st.none() | st.booleans() | st.integers(-3, 300) | st.floats(-10, 10) | st.text(max_size=6) \
    | st.lists(st.integers(-2, 10), max_size=4) | st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=3)


@st.composite
def folder_change(draw):
    """One change to a model folder: a file truncated, deleted or replaced by noise; a config field changed."""
    how = draw(st.sampled_from(["truncate", "delete", "noise", "config field", "config key removed"]))
    if how in ("config field", "config key removed"):
        return how, draw(st.sampled_from(CONFIG_FIELDS)), draw(SMALL_VALUE)
    return how, draw(st.sampled_from(FOLDER_FILES)), draw(st.floats(0, 0.999))


def changed_folder(source: Path, target: Path, change) -> Path:
    """A copy of ``source`` (hard links for the files left alone) with ``change`` made."""
    how, name, value = change
    target.mkdir()
    for file in source.iterdir():
        if how in ("config field", "config key removed") and file.name == "config.json":
            config = json.loads(file.read_text())
            if how == "config field":
                config[name] = value
            else:
                config.pop(name, None)
            (target / "config.json").write_text(json.dumps(config))
        elif file.name == name and how == "truncate":
            data = file.read_bytes()
            (target / name).write_bytes(data[: int(len(data) * value)])
        elif file.name == name and how == "noise":
            (target / name).write_bytes(os.urandom(64) + b"\xff\xfe{")
        elif not (file.name == name and how == "delete"):
            os.link(file, target / file.name)
    return target


def test_malformed_model_folders(model, good_page, tmp_path):
    counter = iter(range(10**6))

    @fuzz_settings(25)
    @given(change=folder_change())
    def run_one(change):
        case = tmp_path / f"case{next(counter)}"
        case.mkdir()
        folder = changed_folder(model, case / "model", change)
        out = case / "out"
        run = predict(folder, [good_page], "--output", str(out))
        assert run.code in (0, 1), (change, run.err)
        lines = error_lines(run.err)
        if run.code == 1:
            assert len(lines) == 1 and str(folder) in lines[0], (change, run.err)
        else:
            assert (out / "good-p1.json").is_file()
        shutil.rmtree(case)

    run_one()
