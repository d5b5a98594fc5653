"""The three task heads: what trains, what is frozen, the losses, and one backbone pass.

Frozen on purpose (requires_grad False), because nothing a head computes depends on them or
because the reference keeps them fixed:
- the trunk stem and res2 (detectron2's FREEZE_AT=2, as in the published training);
- the FPN output convs of p3..p5 (LayoutLMv2 reads only p2; the weights stay for lossless checkpoints);
- the base model's pooler in the heads (no head reads `pooler_output`).
Everything else must receive a non-zero gradient from the head's loss, so DistributedDataParallel
works without `find_unused_parameters`.
"""

import pytest
import torch
import torch.nn.functional as F

from small_models import random_inputs, shared_model, small_config
import layoutlmv2

HEADS = ["LayoutLMv2ForSequenceClassification", "LayoutLMv2ForTokenClassification",
         "LayoutLMv2ForQuestionAnswering"]
FROZEN_PREFIXES = ["visual.trunk.conv1.", "visual.trunk.layer1.", "visual.fpn.output.1.", "visual.fpn.output.2.",
                   "visual.fpn.output.3."]
LENGTH = 12


def labelled_inputs(class_name: str, batch: int = 2) -> dict:
    inputs = random_inputs(batch=batch, length=LENGTH)
    if class_name == "LayoutLMv2ForSequenceClassification":
        inputs["labels"] = torch.tensor([3, 11])
    elif class_name == "LayoutLMv2ForTokenClassification":
        labels = torch.arange(batch * LENGTH).view(batch, LENGTH) % 7
        labels[0, -3:] = -100  # padding
        labels[:, 0] = -100  # [CLS]
        inputs["labels"] = labels
    else:
        inputs["start_positions"] = torch.tensor([2, 5])
        inputs["end_positions"] = torch.tensor([4, 8])
    return inputs


def expected_frozen(model) -> set:
    prefix = "" if type(model).__name__ == "LayoutLMv2Model" else "layoutlmv2."
    frozen = [prefix + p for p in FROZEN_PREFIXES]
    if prefix:
        frozen.append("layoutlmv2.pooler.")
    return {name for name, _ in model.named_parameters() if any(name.startswith(f) for f in frozen)}


@pytest.fixture
def training():
    """A shared model in train mode with no gradients; back in eval mode afterwards."""
    models = []

    def get(class_name):
        model = shared_model(class_name)
        model.zero_grad(set_to_none=True)
        models.append(model)
        return model.train()

    yield get
    for model in models:
        model.zero_grad(set_to_none=True)
        model.eval()


@pytest.mark.parametrize("class_name", HEADS)
def test_every_trainable_parameter_gets_a_gradient(class_name, training):
    model = training(class_name)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == expected_frozen(model)
    assert any(".layer1." in name for name in frozen) and "layoutlmv2.pooler.dense.weight" in frozen

    out = model(**labelled_inputs(class_name))
    out.loss.backward()
    # what DistributedDataParallel without find_unused_parameters requires
    unused = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == []
    zero = [n for n, p in model.named_parameters() if p.requires_grad and not p.grad.abs().sum() > 0]
    assert zero == []
    assert all(p.grad is None for n, p in model.named_parameters() if n in frozen)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == model.num_parameters(trainable_only=True) < model.num_parameters()


def test_base_model_trains_its_pooler_too(training):
    model = training("LayoutLMv2Model")
    assert {n for n, p in model.named_parameters() if not p.requires_grad} == expected_frozen(model)
    out = model(**random_inputs())
    (out.last_hidden_state.square().mean() + out.pooler_output.sum()).backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
    assert model.pooler.dense.weight.grad.abs().sum() > 0


def _cross_entropy_by_hand(logits: torch.Tensor, labels: torch.Tensor, ignore: int = -100) -> torch.Tensor:
    keep = labels != ignore
    log_probs = logits[keep].log_softmax(-1)
    return -log_probs.gather(1, labels[keep].unsqueeze(1)).mean()


def test_token_classification_loss_by_hand():
    model = shared_model("LayoutLMv2ForTokenClassification")
    inputs = labelled_inputs("LayoutLMv2ForTokenClassification")
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape == (2, LENGTH, 7)  # text positions only
    expected = _cross_entropy_by_hand(out.logits.reshape(-1, 7), inputs["labels"].reshape(-1))
    assert torch.allclose(out.loss, expected, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"\(2, 12\).*\(2, 61\)"):
        model(**{**inputs, "labels": torch.zeros(2, LENGTH + 49, dtype=torch.long)})


def test_question_answering_loss_by_hand_with_clamping():
    model = shared_model("LayoutLMv2ForQuestionAnswering")
    inputs = random_inputs(length=LENGTH)
    # start beyond the text (clamped to L, then ignored), end negative (clamped to 0, kept)
    start, end = torch.tensor([3, LENGTH + 5]), torch.tensor([-2, 4])
    with torch.no_grad():
        out = model(**inputs, start_positions=start, end_positions=end)
    assert out.start_logits.shape == out.end_logits.shape == (2, LENGTH)
    start_loss = -out.start_logits[0].log_softmax(-1)[3]  # the second sample is ignored
    end_loss = -(out.end_logits[0].log_softmax(-1)[0] + out.end_logits[1].log_softmax(-1)[4]) / 2
    assert torch.allclose(out.loss, (start_loss + end_loss) / 2, atol=1e-6, rtol=0)
    with torch.no_grad():
        assert model(**inputs, start_positions=start).loss is None  # both positions are needed


def test_sequence_classification_single_label_loss_by_hand():
    model = shared_model("LayoutLMv2ForSequenceClassification")
    inputs = labelled_inputs("LayoutLMv2ForSequenceClassification")
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape == (2, 16)
    assert torch.allclose(out.loss, _cross_entropy_by_hand(out.logits, inputs["labels"]), atol=1e-6, rtol=0)


def test_sequence_classification_regression_loss_by_hand():
    torch.manual_seed(0)
    model = layoutlmv2.LayoutLMv2ForSequenceClassification(small_config(num_labels=1)).eval()
    labels = torch.tensor([0.25, -1.5])
    with torch.no_grad():
        out = model(**random_inputs(), labels=labels)
    assert out.logits.shape == (2, 1)
    assert torch.allclose(out.loss, ((out.logits[:, 0] - labels) ** 2).mean(), atol=1e-6, rtol=0)


def test_sequence_classification_multi_label_loss_by_hand(monkeypatch):
    model = shared_model("LayoutLMv2ForSequenceClassification")
    labels = (torch.arange(32).view(2, 16) % 3 == 0).float()
    with torch.no_grad():
        out = model(**random_inputs(), labels=labels)
    p = out.logits.sigmoid()
    expected = -(labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    assert torch.allclose(out.loss, expected, atol=1e-5, rtol=0)
    # problem_type in the config wins over the label dtype
    monkeypatch.setattr(model.config, "problem_type", "regression")
    with torch.no_grad():
        out = model(**random_inputs(), labels=labels)
    assert torch.allclose(out.loss, ((out.logits - labels) ** 2).mean(), atol=1e-6, rtol=0)


def test_sequence_classification_runs_the_visual_backbone_once():
    model = shared_model("LayoutLMv2ForSequenceClassification")
    calls = {"visual": 0, "trunk_layer1": 0}
    hooks = [
        model.layoutlmv2.visual.register_forward_hook(lambda *_: calls.__setitem__("visual", calls["visual"] + 1)),
        model.layoutlmv2.visual.trunk.layer1.register_forward_hook(
            lambda *_: calls.__setitem__("trunk_layer1", calls["trunk_layer1"] + 1)),
    ]
    try:
        with torch.no_grad():
            model(**labelled_inputs("LayoutLMv2ForSequenceClassification"))
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == {"visual": 1, "trunk_layer1": 1}
