"""Shared test fixtures: where the golden files and the third-party data live.

`../shared` (beside the repository) holds real document data that we may not copy into the
project. A user's machine does not have it, so tests that need it skip with a reason; under
`CI=true` a missing `../shared` is an error, because CI always has it.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the suite may reach a hub

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SHARED = Path(os.environ.get("LAYOUTLMV2_SHARED", REPO_ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"


def shared_data_path(*parts: str) -> Path:
    """Path under ../shared/data, or skip (fail under CI=true) when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = f"{path} not found: the third-party document data sets live in ../shared/data"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: CI must have it)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def funsd_dir() -> Path:
    return shared_data_path("funsd")


@pytest.fixture(scope="session")
def xfund_dir() -> Path:
    return shared_data_path("xfund")


@pytest.fixture(scope="session")
def sroie_dir() -> Path:
    return shared_data_path("sroie")


@pytest.fixture(scope="session")
def rvl_cdip_kaggle_dir() -> Path:
    """165 real RVL-CDIP pages (email, resume, scientific publication) with train.json / dev.json."""
    return shared_data_path("rvl_cdip", "kaggle_3class_subset")


@pytest.fixture(scope="session")
def docvqa_smallval_dir() -> Path:
    """3 real DocVQA validation pages and their 12 questions (val_v1.0.json, no OCR files)."""
    return shared_data_path("docvqa", "smallval")


@pytest.fixture(scope="session")
def ocr_cache_dir(tmp_path_factory) -> Path:
    """One OCR cache for the session: real pages are OCRed once per test run, never into ~/.cache."""
    return tmp_path_factory.mktemp("ocr_cache")


@pytest.fixture(scope="session")
def bert_vocab_file() -> Path:
    return shared_data_path("tokenizers", "bert-base-uncased", "vocab.txt")


@pytest.fixture(scope="session")
def sentencepiece_model(xfund_dir, funsd_dir, tmp_path_factory) -> Path:
    """A 2,000-piece SentencePiece Unigram model trained here on XFUND-de, FUNSD and multilingual
    strings (`sentencepiece_models`), in a LayoutXLM tokenizer folder's name."""
    pytest.importorskip("sentencepiece")
    from sentencepiece_models import train_unigram, training_lines

    path = tmp_path_factory.mktemp("sentencepiece") / "sentencepiece.bpe.model"
    return train_unigram(training_lines(xfund_dir, funsd_dir), 2000, path)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module (`pytestmark = pytest.mark.usefixtures("one_thread")`).

    The training and prediction tests run many tiny forwards; on a busy 2-core machine two
    threads made them 2-3x slower.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_addoption(parser):
    parser.addoption("--exhaustive", action="store_true",
                     help="also run the tests marked exhaustive (e.g. OCR parity on all 274 pages, ~14 min)")


# What the largest test writes at once (a full-size checkpoint in two formats, 1.7 GB) plus the folders
# shared by a module (1.1 GB), with room to spare.
NEEDED_FREE_GB = 4


def pytest_sessionstart(session):
    """Stop at once, saying why, when the temporary folder's disk is nearly full.

    A full disk otherwise shows up as a hundred unrelated setup errors deep inside pytest.
    """
    folder = Path(session.config.option.basetemp or tempfile.gettempdir())
    while not folder.exists():
        folder = folder.parent
    free_gb = shutil.disk_usage(folder).free / 1e9
    if free_gb < NEEDED_FREE_GB:
        raise pytest.UsageError(f"only {free_gb:.1f} GB free on the disk of {folder}; the suite needs "
                                f"{NEEDED_FREE_GB} GB for its temporary checkpoints (free some, or set TMPDIR)")


def pytest_collection_modifyitems(config, items):
    """Tests marked `exhaustive` are deselected (not skipped) unless --exhaustive is given."""
    if config.getoption("--exhaustive"):
        return
    kept = [item for item in items if item.get_closest_marker("exhaustive") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_runtest_setup(item):
    """Tests marked `cuda` skip, saying so, on a machine without a CUDA GPU."""
    if item.get_closest_marker("cuda") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
