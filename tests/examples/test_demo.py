"""`make demo` end to end: seeded original checkpoint -> conversion -> loading -> OCR -> model."""

import os
import subprocess
from pathlib import Path
import sys

import pytest

from conftest import REPO_ROOT


@pytest.mark.slow
@pytest.mark.ocr
def test_demo_runs_every_step_and_removes_its_checkpoints(tmp_path):
    """As `make demo` runs it: the 1.5 GB of checkpoints go to a temporary folder, removed at the end
    (a demo that left them filled the disk after a few runs)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve().parents[2] / "examples" / "demo.py")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    for step in ("[1/4]", "[2/4]", "[3/4]", "[4/4]"):
        assert step in done.stdout
    assert "logits (" in done.stdout
    assert f"converted to our format: {tmp_path}" in done.stdout  # the checkpoints were written there
    left = list(tmp_path.glob("layoutlmv2-demo-*"))  # (torch may leave its own compile cache there)
    assert left == [], f"the demo left its checkpoints behind: {left}"
