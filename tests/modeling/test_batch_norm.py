"""Frozen batch norm, its conversion to SyncBatchNorm, and the per-node process groups.

The real multi-process run is in test_distributed.py; here the group arithmetic is checked
with torch.distributed's calls replaced by recorders.
"""

import copy

import pytest
import torch
from torch import nn

from layoutlmv2.modeling import batch_norm
from layoutlmv2.modeling.batch_norm import FrozenBatchNorm2d, convert_frozen_to_sync, node_process_group, synchronize_batch_norm

from small_models import shared_model


def _random_frozen(channels: int = 6, seed: int = 0) -> FrozenBatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    frozen = FrozenBatchNorm2d(channels)
    frozen.weight.copy_(1 + 0.3 * torch.randn(channels, generator=g))
    frozen.bias.copy_(0.2 * torch.randn(channels, generator=g))
    frozen.running_mean.copy_(torch.randn(channels, generator=g))
    frozen.running_var.copy_(0.5 + torch.rand(channels, generator=g))
    return frozen


def test_frozen_batch_norm_equals_batch_norm_in_eval_mode():
    frozen = _random_frozen()
    reference = nn.BatchNorm2d(6, eps=1e-5).eval()
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(reference, name).copy_(getattr(frozen, name))
    x = torch.randn(3, 6, 5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(frozen(x), reference(x), atol=1e-6, rtol=0)
    # by hand: (x - mean) / sqrt(var + eps) * weight + bias
    by_hand = (x - frozen.running_mean.view(1, -1, 1, 1)) / torch.sqrt(frozen.running_var.view(1, -1, 1, 1) + 1e-5)
    by_hand = by_hand * frozen.weight.view(1, -1, 1, 1) + frozen.bias.view(1, -1, 1, 1)
    assert torch.allclose(frozen(x), by_hand, atol=1e-5, rtol=0)
    # training mode changes nothing, and nothing is a parameter
    frozen.train()
    assert torch.equal(frozen(x), frozen.eval()(x))
    assert list(frozen.parameters()) == []
    assert set(frozen.state_dict()) == {"weight", "bias", "running_mean", "running_var"}


def test_conversion_keeps_weights_and_statistics_exactly():
    model = nn.Sequential(nn.Conv2d(3, 6, 1), _random_frozen(6, 0), nn.Sequential(_random_frozen(6, 1)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 4, 4)
    expected = model(x)
    converted = convert_frozen_to_sync(model)
    assert converted is model
    assert isinstance(model[1], nn.SyncBatchNorm) and isinstance(model[2][0], nn.SyncBatchNorm)
    after = model.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert set(after) - set(before) == {"1.num_batches_tracked", "2.0.num_batches_tracked"}
    assert model[1].weight.requires_grad and model[1].eps == 1e-5
    assert model[1].training  # the Sequential was in training mode
    assert torch.equal(model.eval()(x), expected)  # eval-mode SyncBatchNorm runs on CPU too


def test_conversion_keeps_eval_mode():
    """A converted eval-mode model must not have training-mode batch norms inside (they would
    update statistics, and on CPU refuse to run)."""
    model = nn.Sequential(_random_frozen(), nn.Sequential(_random_frozen())).eval()
    x = torch.randn(2, 6, 3, 3)
    expected = model(x)
    convert_frozen_to_sync(model)
    assert not any(m.training for m in model.modules())
    assert torch.equal(model(x), expected)


def test_conversion_of_the_whole_visual_trunk():
    model = shared_model("LayoutLMv2Model")
    trunk = model.visual.trunk
    frozen = [n for n, m in trunk.named_modules() if isinstance(m, FrozenBatchNorm2d)]
    converted = convert_frozen_to_sync(copy.deepcopy(trunk))
    synced = [n for n, m in converted.named_modules() if isinstance(m, nn.SyncBatchNorm)]
    assert synced == frozen and len(frozen) == 53  # stem + 16 blocks x 3 + 4 shortcuts
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in converted.modules())
    for key, value in trunk.state_dict().items():
        assert torch.equal(converted.state_dict()[key], value), key


def test_synchronize_outside_torch_distributed_is_a_clear_error():
    model = nn.Sequential(_random_frozen())
    with pytest.raises(RuntimeError, match="init_process_group"):
        synchronize_batch_norm(model)
    with pytest.raises(RuntimeError, match="torch.distributed"):
        shared_model("LayoutLMv2Model").synchronize_batch_norm()
    assert isinstance(model[0], FrozenBatchNorm2d)  # nothing was converted


class FakeDistributed:
    """Records new_group calls; stands in for an initialised job of `world_size` processes."""

    def __init__(self, world_size: int, rank: int) -> None:
        self.world_size, self.rank, self.groups = world_size, rank, []

    def new_group(self, ranks):
        self.groups.append(list(ranks))
        return tuple(ranks)

    def install(self, monkeypatch):
        monkeypatch.setattr(torch.distributed, "new_group", self.new_group)
        monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
        monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a, **k: self.world_size)
        monkeypatch.setattr(torch.distributed, "get_rank", lambda *a, **k: self.rank)
        return self


def test_groups_are_per_node_from_local_world_size(monkeypatch):
    fake = FakeDistributed(world_size=8, rank=5).install(monkeypatch)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert batch_norm.processes_per_node() == 4
    model = nn.Sequential(_random_frozen(), _random_frozen())
    synchronize_batch_norm(model)
    # every rank creates every group (collective), and keeps its own node's
    assert fake.groups == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert model[0].process_group == model[1].process_group == (4, 5, 6, 7)
    # an explicit per_node wins over the environment
    fake.groups.clear()
    assert node_process_group(8, 5, 2) == (4, 5)
    assert fake.groups == [[0, 1], [2, 3], [4, 5], [6, 7]]


@pytest.mark.parametrize("world_size, per_node", [(6, 4), (3, 2), (4, 0)])
def test_a_node_size_that_does_not_divide_the_world_is_a_clear_error(monkeypatch, world_size, per_node):
    FakeDistributed(world_size=world_size, rank=0).install(monkeypatch)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(per_node))
    with pytest.raises(ValueError, match=f"world_size={world_size} into nodes of {per_node}"):
        synchronize_batch_norm(nn.Sequential(_random_frozen()))


def test_cpu_machine_without_local_world_size_is_a_clear_error(monkeypatch):
    """The reference divides by torch.cuda.device_count(), zero here: ZeroDivisionError."""
    FakeDistributed(world_size=2, rank=0).install(monkeypatch)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(ValueError, match="LOCAL_WORLD_SIZE"):
        synchronize_batch_norm(nn.Sequential(_random_frozen()))
