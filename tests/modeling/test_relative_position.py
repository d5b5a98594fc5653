"""Relative-position biases: the bucket function, and gradients that the reference never computes.

transformers looks the bias tables up under `torch.no_grad()`, so `rel_pos_bias`,
`rel_pos_x_bias` and `rel_pos_y_bias` never train there. Ours do. Their gradients are checked
against an independent formulation, the original LayoutLMv2 code's one-hot matmul
(`one_hot(bucket, bins).float() @ weight.t()`, with transformers' bucket function), and against
central finite differences, all in float64.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from transformers.models.layoutlmv2.modeling_layoutlmv2 import relative_position_bucket as reference_bucket

from layoutlmv2.modeling.relative_position import RelativePositionBias, relative_position_bucket

from small_models import random_inputs, seeded_model

TABLES = ["rel_pos_bias", "rel_pos_x_bias", "rel_pos_y_bias"]


@st.composite
def bucket_settings(draw):
    """(num_buckets, max_distance) the formula is defined for: max_distance above the exact region."""
    num_buckets = 2 * draw(st.integers(2, 128))
    max_exact = num_buckets // 4
    max_distance = draw(st.integers(max_exact + 1, 4 * max_exact + 2000))
    return num_buckets, max_distance


SETTINGS = st.one_of(st.sampled_from([(32, 128), (64, 256)]), bucket_settings())  # LayoutLMv2's 1-D, 2-D


@settings(max_examples=150, deadline=None)
@given(SETTINGS, st.lists(st.integers(-5000, 5000), min_size=1, max_size=64))
def test_buckets_equal_transformers(setting, distances):
    num_buckets, max_distance = setting
    relative = torch.tensor(distances)
    ours = relative_position_bucket(relative, num_buckets, max_distance)
    theirs = reference_bucket(relative, num_buckets=num_buckets, max_distance=max_distance)
    assert torch.equal(ours, theirs)


@settings(max_examples=150, deadline=None)
@given(SETTINGS, st.integers(0, 5000), st.integers(0, 5000))
def test_bucket_properties(setting, a, b):
    num_buckets, max_distance = setting
    half, max_exact = num_buckets // 2, num_buckets // 4
    small, large = sorted((a, b))
    bucket = lambda n: int(relative_position_bucket(torch.tensor([n]), num_buckets, max_distance))  # noqa: E731
    for n in (small, large, -small, -large):
        assert 0 <= bucket(n) < num_buckets
        # sign halves: keys after the query (n > 0) use the upper half, the query itself bucket 0
        assert (bucket(n) >= half) == (n > 0)
        # exact region: one bucket per distance
        if abs(n) < max_exact:
            assert bucket(n) == abs(n) + (half if n > 0 else 0)
        # cap: every distance from max_distance on shares the last bucket of its half
        if abs(n) >= max_distance:
            assert bucket(n) == half - 1 + (half if n > 0 else 0)
    # monotone in the distance on both sides; the two halves mirror each other
    assert bucket(small) <= bucket(large)
    assert bucket(-small) <= bucket(-large)
    if large > 0:
        assert bucket(large) - bucket(-large) == half


def test_bias_orientation_by_hand():
    """bias[b, h, i, j] = weight[h, bucket(c[j] - c[i])]: key minus query."""
    table = RelativePositionBias(num_buckets=32, max_distance=128, num_heads=2)
    with torch.no_grad():
        table.weight.copy_(torch.arange(64, dtype=torch.float32).view(2, 32))
    bias = table(torch.tensor([[0, 5]]))  # (1, 2, 2, 2)
    # distance +5 -> upper half, exact: bucket 16 + 5; distance -5 -> bucket 5; distance 0 -> bucket 0
    assert bias[0, :, 0, 1].tolist() == [21.0, 53.0]
    assert bias[0, :, 1, 0].tolist() == [5.0, 37.0]
    assert bias[0, :, 0, 0].tolist() == [0.0, 32.0]


def one_hot_forward(self, coordinate):
    """The original LayoutLMv2 code: a bias-free Linear applied to one-hot buckets."""
    relative = coordinate.unsqueeze(-2) - coordinate.unsqueeze(-1)
    bucket = reference_bucket(relative, num_buckets=self.num_buckets, max_distance=self.max_distance)
    one_hot = F.one_hot(bucket, num_classes=self.num_buckets).to(self.weight.dtype)  # (B, L, L, bins)
    return (one_hot @ self.weight.t()).permute(0, 3, 1, 2)  # (B, heads, L, L)


@settings(max_examples=100, deadline=None)
@given(SETTINGS, st.integers(1, 3), st.integers(1, 40), st.integers(0, 2 ** 31 - 1))
def test_bias_table_lookup_equals_the_one_hot_formulation(setting, batch, length, seed):
    """The forward gathers from a table of distances up to 2 * max_distance; coordinates here
    span 0..5000, so most pairs lie beyond it and must still get the last bucket's bias."""
    num_buckets, max_distance = setting
    table = RelativePositionBias(num_buckets, max_distance, num_heads=3)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        table.weight.normal_(generator=g)
    coordinate = torch.randint(0, 5001, (batch, length), generator=g)
    ours = table(coordinate)
    assert ours.shape == (batch, 3, length, length)
    assert torch.equal(ours, one_hot_forward(table, coordinate))


@pytest.fixture(scope="module")
def double_encoder():
    """The seeded encoder in float64 on text + visual-length inputs (the visual stream plays no part)."""
    model = seeded_model("LayoutLMv2Model")
    encoder = model.encoder.double()
    inputs = random_inputs(batch=2, length=10 + 49)
    g = torch.Generator().manual_seed(1)
    hidden = torch.randn(2, 59, 64, generator=g, dtype=torch.float64)
    padding_mask = (inputs["attention_mask"] == 0)[:, None, None, :]  # (B, 1, 1, L), True on padding
    positions = torch.cat([torch.arange(10), torch.arange(49)]).expand(2, 59)
    projection = torch.randn(2, 59, 64, generator=g, dtype=torch.float64)
    return encoder, (hidden, padding_mask, inputs["bbox"], positions), projection


def _loss(encoder, args, projection):
    return (encoder(*args)[0] * projection).sum()


def _bias_gradients(encoder, args, projection):
    encoder.zero_grad(set_to_none=True)
    _loss(encoder, args, projection).backward()
    return {name: getattr(encoder, name).weight.grad.clone() for name in TABLES}


def test_bias_gradients_equal_the_one_hot_formulation(double_encoder, monkeypatch):
    encoder, args, projection = double_encoder
    ours = _bias_gradients(encoder, args, projection)
    with torch.no_grad():
        bias_ours = encoder.attention_bias(args[3], args[2])
    monkeypatch.setattr(RelativePositionBias, "forward", one_hot_forward)
    reference = _bias_gradients(encoder, args, projection)
    with torch.no_grad():
        bias_reference = encoder.attention_bias(args[3], args[2])
    assert torch.equal(bias_ours, bias_reference)
    for name in TABLES:
        assert ours[name].abs().max() > 1e-3, f"{name} gets no gradient"
        assert (ours[name] - reference[name]).abs().max() <= 1e-6, name


def test_bias_gradients_equal_finite_differences(double_encoder):
    encoder, args, projection = double_encoder
    grads = _bias_gradients(encoder, args, projection)
    eps = 1e-6
    for name in TABLES:
        weight = getattr(encoder, name).weight
        # the two entries with the largest gradient, and one bucket that never occurs (gradient 0)
        picks = grads[name].abs().flatten().topk(2).indices.tolist()
        picks.append(int((grads[name].flatten() == 0).nonzero()[0]))
        for flat in picks:
            index = divmod(flat, weight.shape[1])
            with torch.no_grad():
                original = weight[index].item()
                weight[index] = original + eps
                plus = _loss(encoder, args, projection).item()
                weight[index] = original - eps
                minus = _loss(encoder, args, projection).item()
                weight[index] = original
            numeric = (plus - minus) / (2 * eps)
            assert abs(numeric - grads[name][index].item()) <= 1e-6, (name, index, numeric)
