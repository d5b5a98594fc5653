"""LayoutLMv2ForPreTraining: tied MVLM decoder, the three losses, gradients into the visual stream,
and loading its folder into the task heads (one message) and back."""

import logging

import pytest
import torch

from layoutlmv2 import LayoutLMv2ForPreTraining, LayoutLMv2ForTokenClassification, LayoutLMv2Model

from small_models import random_inputs, small_config

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB = 1000


def _model(seed=0, **weights):
    torch.manual_seed(seed)
    return LayoutLMv2ForPreTraining(small_config(vocab_size=VOCAB, hidden_dropout_prob=0.0,
                                                 attention_probs_dropout_prob=0.0), loss_weights=weights or None)


def _batch(seed=0):
    inputs = random_inputs(batch=4, length=16, size=(64, 64), seed=seed, padded=False)
    generator = torch.Generator().manual_seed(seed)
    inputs["input_ids"] = torch.randint(1000, (4, 16), generator=generator).clamp(min=1)
    inputs["input_ids"] %= VOCAB
    mvlm = torch.full((4, 16), -100)
    mvlm[:, 3] = inputs["input_ids"][:, 3]
    mvlm[:, 7] = inputs["input_ids"][:, 7]
    inputs["input_ids"][:, [3, 7]] = 103 % VOCAB  # "[MASK]"
    tia = torch.randint(2, (4, 16), generator=generator)
    tia[:, [0, 3, 7]] = -100
    tim = torch.tensor([1, 0, 1, 0])
    return inputs, dict(mvlm_labels=mvlm, tia_labels=tia, tim_labels=tim)


def _tied(model):
    return model.cls.predictions.decoder.weight is model.layoutlmv2.embeddings.word_embeddings.weight


def test_outputs_shapes_and_weighted_sum():
    model = _model(mvlm=0.5, tia=2.0, tim=3.0).eval()
    inputs, labels = _batch()
    out = model(**inputs, **labels)
    assert out.mvlm_logits.shape == (4, 16, VOCAB)
    assert out.tia_logits.shape == (4, 16, 2) and out.tim_logits.shape == (4, 2)
    expected = 0.5 * out.mvlm_loss + 2.0 * out.tia_loss + 3.0 * out.tim_loss
    torch.testing.assert_close(out.loss, expected)
    # MVLM is plain cross-entropy at the labelled positions only
    picked = out.mvlm_logits[:, [3, 7]].reshape(-1, VOCAB)
    target = labels["mvlm_labels"][:, [3, 7]].reshape(-1)
    torch.testing.assert_close(out.mvlm_loss, torch.nn.functional.cross_entropy(picked, target))
    none = model(**inputs)
    assert none.loss is None and none.mvlm_loss is None


def test_all_ignored_labels_give_zero_loss_not_nan():
    model = _model().eval()
    inputs, labels = _batch()
    out = model(**inputs, tia_labels=torch.full((4, 16), -100), tim_labels=torch.full((4,), -100))
    assert out.tia_loss.item() == 0.0 and out.tim_loss.item() == 0.0 and out.loss.item() == 0.0
    assert out.loss.requires_grad  # still a graph: backward() on an all-ignored batch works


def test_bad_labels_and_weights_are_value_errors():
    model = _model().eval()
    inputs, _ = _batch()
    with pytest.raises(ValueError, match="tim_labels must have shape"):
        model(**inputs, tim_labels=torch.zeros(4, 16, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown objective"):
        _model(mlm=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        _model(tia=-1.0)


def test_mvlm_decoder_is_tied_and_stays_tied_after_training_save_and_load(tmp_path):
    model = _model().train()
    assert _tied(model)
    inputs, labels = _batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(**inputs, **labels).loss.backward()
    optimizer.step()
    assert _tied(model)
    model.save_pretrained(tmp_path / "pt")
    loaded = LayoutLMv2ForPreTraining.from_pretrained(tmp_path / "pt")
    assert _tied(loaded)
    torch.testing.assert_close(loaded.cls.predictions.decoder.weight, model.layoutlmv2.embeddings.word_embeddings.weight,
                               rtol=0, atol=0)
    model.eval()
    torch.testing.assert_close(loaded(**inputs).mvlm_logits, model(**inputs).mvlm_logits, rtol=0, atol=0)
    # a step on the loaded model still moves both "copies" together (one Parameter)
    loaded.train()
    optimizer = torch.optim.SGD(loaded.parameters(), lr=1.0)
    loaded(**inputs, **labels).loss.backward()
    optimizer.step()
    assert _tied(loaded)


def test_every_loss_falls_on_a_fixed_batch():
    model = _model(seed=1).train()
    inputs, labels = _batch(seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = None
    for _ in range(25):
        optimizer.zero_grad()
        out = model(**inputs, **labels)
        if first is None:
            first = {k: out[k].item() for k in ("mvlm_loss", "tia_loss", "tim_loss")}
        out.loss.backward()
        optimizer.step()
    last = {k: out[k].item() for k in first}
    for name in first:
        assert last[name] < 0.5 * first[name], (name, first[name], last[name])


@pytest.mark.parametrize("objective", ["tia_labels", "tim_labels"])
def test_gradients_reach_the_visual_backbone_through_tia_and_tim(objective):
    model = _model().train()
    inputs, labels = _batch()
    model(**inputs, **{objective: labels[objective]}).loss.backward()
    trunk = model.layoutlmv2.visual.trunk
    for stage in (trunk.layer2, trunk.layer4):  # the stem and res2 are frozen (detectron2's FREEZE_AT=2)
        grads = [p.grad for p in stage.parameters()]
        assert all(g is not None for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0
    assert model.layoutlmv2.visual_proj.weight.grad.abs().sum() > 0
    assert model.cls.predictions.bias.grad is None  # MVLM got no labels


def _warnings(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_pretraining_folder_loads_into_a_task_head_with_one_message(tmp_path, caplog):
    model = _model()
    model.save_pretrained(tmp_path / "pt")
    caplog.set_level(logging.INFO)
    token = LayoutLMv2ForTokenClassification.from_pretrained(tmp_path / "pt", num_labels=5)
    messages = _warnings(caplog)
    assert len(messages) == 1, [r.getMessage() for r in messages]
    text = messages[0].getMessage()
    assert "pre-training checkpoint" in text and "cls.predictions" in text and "classifier" in text
    base = model.layoutlmv2.state_dict()
    for key, value in token.layoutlmv2.state_dict().items():
        torch.testing.assert_close(value, base[key], rtol=0, atol=0)
    assert token.classifier.weight.shape == (5, 64)
    bare = LayoutLMv2Model.from_pretrained(tmp_path / "pt")
    torch.testing.assert_close(bare.embeddings.word_embeddings.weight, base["embeddings.word_embeddings.weight"])


def test_task_folder_loads_into_the_pretraining_model(tmp_path, caplog):
    torch.manual_seed(0)
    token = LayoutLMv2ForTokenClassification(small_config(vocab_size=VOCAB, num_labels=3))
    token.save_pretrained(tmp_path / "tok")
    caplog.set_level(logging.INFO)
    model = LayoutLMv2ForPreTraining.from_pretrained(tmp_path / "tok")
    messages = _warnings(caplog)
    assert len(messages) == 1 and "task checkpoint" in messages[0].getMessage()
    assert _tied(model)
    torch.testing.assert_close(model.cls.predictions.decoder.weight, token.layoutlmv2.embeddings.word_embeddings.weight)
