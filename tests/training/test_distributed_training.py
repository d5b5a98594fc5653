"""`layoutlmv2 train` under torchrun: two CPU processes (gloo) train as one process with twice the batch.

Rank r takes windows r, r+2, ... of each epoch's shared order, so with one window per rank and
step the two ranks see exactly the pairs one process sees with batch 2; the sequence head's loss
is a mean over the batch, and DDP averages the two ranks' gradients, so the trained weights must
equal the single process's (dropout off, visual stream zeroed: nothing random differs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from layoutlmv2 import LayoutLMv2ForSequenceClassification
from layoutlmv2.data import FORMS_VS_RECEIPTS_LABELS
from layoutlmv2.training.distributed import shard

from conftest import REPO_ROOT
from small_models import save_tiny, small_config


def test_shards_are_disjoint_cover_the_order_and_have_equal_sizes():
    order = [7, 3, 9, 1, 4, 8, 2]
    shards = [shard(order, rank, 3) for rank in range(3)]
    assert [len(s) for s in shards] == [3, 3, 3]
    assert sorted(sum(shards, [])) == sorted(order + order[:2])  # padded by wrapping around: 7 and 3 again
    assert shards[0] == [7, 1, 2] and shards[1] == [3, 4, 7] and shards[2] == [9, 8, 3]
    assert shard(order, 0, 1) == order


def test_only_rank_zero_removes_partial_saves(tmp_path):
    """Rank 1 finished first and deleted rank 0's half-written checkpoint-2.tmp (a CI failure)."""
    from types import SimpleNamespace

    from layoutlmv2.training.distributed import DistributedContext
    from layoutlmv2.training.loop import Trainer

    (tmp_path / "checkpoint-2.tmp").mkdir()
    (tmp_path / "checkpoint-1").mkdir()
    Trainer._remove_partial_saves(SimpleNamespace(dist=DistributedContext(1, 2, 1), output=tmp_path))
    assert (tmp_path / "checkpoint-2.tmp").is_dir()
    Trainer._remove_partial_saves(SimpleNamespace(dist=DistributedContext(0, 2, 0), output=tmp_path))
    assert not (tmp_path / "checkpoint-2.tmp").exists() and (tmp_path / "checkpoint-1").is_dir()


def test_sync_batch_norm_outside_torchrun_is_refused(tmp_path):
    from layoutlmv2.tasks.definitions import make_task
    from layoutlmv2.tasks.windows import Encoded, Window
    from layoutlmv2.training.loop import Trainer, TrainingArguments

    model = LayoutLMv2ForSequenceClassification(small_config(num_labels=2))
    window = Window(0, [101, 102], [[0, 0, 0, 0]] * 2, [0, 0], [1, 1], [None, None], {"label": 0})
    with pytest.raises(ValueError, match="sync_batch_norm needs a distributed run"):
        Trainer(model, make_task("sequence-classification", labels=["a", "b"]),
                TrainingArguments(str(tmp_path), sync_batch_norm=True), Encoded([window], [None]))


def _train_flags(model: Path, data: Path, output: Path, batch_size: int) -> list[str]:
    return ["--threads", "1", "train", "--task", "sequence-classification", "--dataset", "forms-vs-receipts",
            "--data-dir", str(data), "--model", str(model), "--output", str(output), "--limit", "2",
            "--eval-split", "none", "--epochs", "2", "--batch-size", str(batch_size), "--lr", "1e-3",
            "--warmup-ratio", "0", "--no-progress"]


@pytest.mark.slow
@pytest.mark.data
def test_two_ranks_with_batch_one_equal_one_process_with_batch_two(funsd_dir, sroie_dir, tmp_path):
    data = tmp_path / "data"  # forms-vs-receipts reads <data-dir>/funsd and <data-dir>/sroie
    data.mkdir()
    (data / "funsd").symlink_to(funsd_dir, target_is_directory=True)
    (data / "sroie").symlink_to(sroie_dir, target_is_directory=True)
    model = save_tiny(tmp_path / "start", LayoutLMv2ForSequenceClassification, "sequence-classification",
                      FORMS_VS_RECEIPTS_LABELS, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    env.pop("WORLD_SIZE", None)

    single = subprocess.run([sys.executable, "-m", "layoutlmv2.cli", *_train_flags(model, data, tmp_path / "one", 2)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-4000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "layoutlmv2.cli", *_train_flags(model, data, tmp_path / "two", 1)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stdout[-2000:] + ddp.stderr[-6000:]

    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert one["world_size"] == 1 and two["world_size"] == 2
    assert two["global_step"] == one["global_step"] >= 2 and one["train_windows"] % 2 == 0
    losses = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in losses if "loss" in r] == sorted({r["step"] for r in losses if "loss" in r})  # once each

    start = load_file(str(model / "model.safetensors"))
    trained_one = load_file(str(tmp_path / "one" / "best" / "model.safetensors"))
    trained_two = load_file(str(tmp_path / "two" / "best" / "model.safetensors"))
    assert trained_one.keys() == trained_two.keys()
    moved = max((trained_one[k] - start[k]).abs().max().item() for k in start if k in trained_one)
    assert moved > 1e-3  # the runs trained
    worst = max((trained_one[k].float() - trained_two[k].float()).abs().max().item() for k in trained_one)
    assert worst < 1e-5, worst
    assert not list((tmp_path / "two").glob("*.tmp"))
