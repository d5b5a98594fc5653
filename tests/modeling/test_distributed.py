"""A real two-process DistributedDataParallel run (gloo, CPU) on FUNSD pages.

`python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed_worker.py`
as a user would launch it. Checked here:
- DDP trains without `find_unused_parameters` (it would fail on the second step otherwise) and
  every trainable parameter gets a gradient;
- after the steps both ranks hold identical parameters, equal (1e-5) to one process that
  averages the gradients of the same two half-batches itself;
- `synchronize_batch_norm()` under gloo with LOCAL_WORLD_SIZE=2 turns every frozen batch norm
  into a SyncBatchNorm in the process group of the node ([0, 1]), with unchanged eval outputs.
SyncBatchNorm *training* needs GPUs (PyTorch refuses CPU tensors in its training forward; the
CPU ranks' refusal is checked): the training check is a separate two-rank test (gloo, both ranks
on one GPU, against batch norm over the whole batch written out) that skips without CUDA.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

import distributed_worker as worker
from conftest import REPO_ROOT

pytestmark = [pytest.mark.data, pytest.mark.slow]  # ~45 s of CPU time: two processes plus the reference


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, funsd_dir, bert_vocab_file):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT / "tests")]),
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO_ROOT / "tests" / "distributed_worker.py"), "--funsd", str(funsd_dir),
               "--vocab", str(bert_vocab_file), "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"torch.distributed.run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def reports(run_dir):
    return [json.loads((run_dir / f"rank{rank}.json").read_text()) for rank in (0, 1)]


def test_ddp_steps_equal_single_process_gradient_averaging(run_dir, reports, funsd_dir, bert_vocab_file):
    states = [torch.load(run_dir / f"rank{rank}.pt") for rank in (0, 1)]
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), f"ranks differ in {key}"
    assert [r["unused"] for r in reports] == [[], []]
    assert [r["local_world_size"] for r in reports] == ["2", "2"]

    # one process, both halves, gradients averaged by hand
    batch = worker.encode(worker.load_pages(funsd_dir), bert_vocab_file)
    halves = [worker.half(batch, rank) for rank in (0, 1)]
    assert all((h["labels"] != -100).sum() > 10 for h in halves)  # real labelled words on both ranks
    model = worker.build_model()
    optimizer = worker.make_optimizer(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    losses = []
    for _ in range(worker.STEPS):
        summed = [torch.zeros_like(p) for p in trainable]
        step_losses = []
        for part in halves:
            model.zero_grad(set_to_none=True)
            loss = model(**part).loss
            loss.backward()
            step_losses.append(loss.item())
            for total, p in zip(summed, trainable):
                total += p.grad
        for total, p in zip(summed, trainable):
            p.grad = total / 2
        optimizer.step()
        losses.append(step_losses)

    for rank in (0, 1):
        assert reports[rank]["losses"] == pytest.approx([step[rank] for step in losses], abs=1e-5)
    assert losses[-1] != losses[0]  # the steps did train
    expected = model.state_dict()
    worst = max(float((states[0][k].double() - expected[k].double()).abs().max()) for k in expected)
    assert worst <= 1e-5, f"DDP vs averaged single process: max abs difference {worst:.3g}"
    initial = worker.build_model().state_dict()
    moved = max(float((expected[k] - initial[k]).abs().max()) for k in expected)
    assert moved > 1e-3


def test_batch_norm_becomes_sync_batch_norm_in_the_node_group(reports):
    for report in reports:
        assert len(report["frozen"]) == 53 and report["synced"] == sorted(report["frozen"])
        assert report["remaining_frozen"] == 0
        assert report["groups"] == [[0, 1]]  # one node of two processes
        assert report["per_rank_groups"] == [[report["rank"]]]  # per_node=1: a group per process
        assert report["eval_max_diff"] == 0.0  # statistics carried over exactly


def test_cpu_ranks_cannot_train_sync_batch_norm(reports):
    """What the gloo CPU ranks got from a SyncBatchNorm training forward: PyTorch's refusal of CPU tensors.

    The reason `synchronize_batch_norm`'s docstring gives, and why the training check below needs CUDA.
    """
    for report in reports:
        assert report["sync_training"].startswith("ValueError: ") and "GPU" in report["sync_training"], report


SYNC_TRAINING_WORKER = """
import os, sys
import torch
from layoutlmv2.modeling.batch_norm import FrozenBatchNorm2d, synchronize_batch_norm

torch.distributed.init_process_group("gloo")  # gloo all-gathers CUDA tensors too: two ranks share one GPU
rank = torch.distributed.get_rank()
device = torch.device(os.environ.get("SYNC_BN_DEVICE", "cuda:0"))
torch.manual_seed(0)
frozen = FrozenBatchNorm2d(3)
frozen.weight.uniform_(0.5, 1.5); frozen.bias.normal_(); frozen.running_mean.normal_(); frozen.running_var.uniform_(0.5, 2)
model = synchronize_batch_norm(torch.nn.Sequential(frozen).to(device))  # LOCAL_WORLD_SIZE=2: one group [0, 1]
assert isinstance(model[0], torch.nn.SyncBatchNorm), model
batch = torch.randn(4, 3, 5, 6, generator=torch.Generator().manual_seed(1)) * 3 + 1
mine = batch[2 * rank:2 * rank + 2].to(device).requires_grad_()
out = model.train()(mine)
(out * torch.arange(out.numel(), device=device).reshape(out.shape)).sum().backward()
torch.save({"out": out.detach().cpu(), "grad": mine.grad.cpu(), "weight_grad": model[0].weight.grad.cpu(),
            "running_mean": model[0].running_mean.cpu(), "running_var": model[0].running_var.cpu(),
            "batch": batch, "frozen": {k: v.cpu() for k, v in frozen.state_dict().items()}},
           os.path.join(sys.argv[1], f"rank{rank}.pt"))
torch.distributed.destroy_process_group()
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (PyTorch's SyncBatchNorm trains only on GPUs)")
def test_sync_batch_norm_training_uses_the_statistics_of_both_ranks(tmp_path):
    """Two ranks, half a batch each: outputs, input gradients and running statistics equal batch norm
    over the whole batch, written out here (biased variance to normalise, unbiased for the running
    variance, momentum 0.1)."""
    script = tmp_path / "sync_bn_worker.py"
    script.write_text(SYNC_TRAINING_WORKER)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    batch, frozen = ranks[0]["batch"].double(), {k: v.double() for k, v in ranks[0]["frozen"].items()}

    whole, weight = batch.clone().requires_grad_(), frozen["weight"].clone().requires_grad_()
    mean = whole.mean(dim=(0, 2, 3), keepdim=True)
    variance = ((whole - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    expected = (whole - mean) / torch.sqrt(variance + 1e-5) * weight.view(1, 3, 1, 1) + frozen["bias"].view(1, 3, 1, 1)
    (expected * torch.arange(expected.numel() // 2).reshape(2, 3, 5, 6).double().repeat(2, 1, 1, 1)).sum().backward()
    count = batch.numel() // 3
    running_mean = 0.9 * frozen["running_mean"] + 0.1 * mean.flatten()
    running_var = 0.9 * frozen["running_var"] + 0.1 * variance.flatten().detach() * count / (count - 1)

    got = torch.cat([r["out"] for r in ranks]).double()
    assert (got - expected.detach()).abs().max() <= 1e-5
    assert (torch.cat([r["grad"] for r in ranks]).double() - whole.grad).abs().max() <= 1e-4
    for r in ranks:  # both ranks hold the same, whole-batch running statistics
        assert (r["running_mean"].double() - running_mean.detach()).abs().max() <= 1e-5
        assert (r["running_var"].double() - running_var).abs().max() <= 1e-5
    # each rank's weight gradient is its half's share (DDP then averages them): they add up to the whole's
    assert (sum(r["weight_grad"].double() for r in ranks) - weight.grad).abs().max() <= 1e-3
