"""`make demo` end to end: seeded original checkpoint -> conversion -> loading -> OCR -> model."""

import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


@pytest.mark.slow
@pytest.mark.ocr
def test_demo_runs_every_step(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "layoutlmv2.demo", "--work-dir", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]"):
        assert step in done.stdout
    assert "logits (" in done.stdout
    assert (tmp_path / "converted" / "model.safetensors").is_file()
    assert (tmp_path / "original" / "pytorch_model.bin").is_file()
