"""Shared test fixtures: where the golden files and the third-party data live.

`../shared` (beside the repository) holds real document data that we may not copy into the
project. A user's machine does not have it, so tests that need it skip with a reason; under
`CI=true` a missing `../shared` is an error, because CI always has it.
"""

import os
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
def sroie_dir() -> Path:
    return shared_data_path("sroie")


@pytest.fixture(scope="session")
def bert_vocab_file() -> Path:
    return shared_data_path("tokenizers", "bert-base-uncased", "vocab.txt")


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


def pytest_collection_modifyitems(config, items):
    """Tests marked `exhaustive` are deselected (not skipped) unless --exhaustive is given."""
    if config.getoption("--exhaustive"):
        return
    kept = [item for item in items if item.get_closest_marker("exhaustive") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
