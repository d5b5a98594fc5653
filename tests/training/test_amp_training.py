"""The training loop's device and precision plumbing, on the CPU: bf16 autocast, the GradScaler path
(fp16's, driven here by a CPU scaler), its state in checkpoints, ``compile``, and the ``bf16`` alias."""

from __future__ import annotations

import math

import pytest
import torch

from layoutlmv2 import LayoutLMv2ForTokenClassification
from layoutlmv2.data import FUNSD_LABELS, load_funsd
from layoutlmv2.tasks.definitions import make_task
from layoutlmv2.training import loop
from layoutlmv2.training.loop import STATE_FILE, Trainer, TrainingArguments
from layoutlmv2.training.recipe import apply_visual_mode, build_processor

from small_models import minilm_dir, small_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def encoded(funsd_dir):
    processor = build_processor(minilm_dir(), image_size=32)
    task = make_task("token-classification", "funsd")
    data = task.encode(load_funsd(funsd_dir, "train")[:2], processor.tokenizer, processor.image_processor, 64, 0)
    data.windows = data.windows[:2]
    return data


def tiny_model():
    torch.manual_seed(0)
    config = small_config(num_labels=7, id2label=dict(enumerate(FUNSD_LABELS)), hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0)
    model = LayoutLMv2ForTokenClassification(config)
    apply_visual_mode(model, "zero")
    return model


def _trainer(encoded, output, **overrides):
    values = dict(output_dir=str(output), epochs=2, batch_size=1, lr=1e-3, logging_steps=1, save_steps=2,
                  progress=False, eval_each_epoch=False, device="cpu")
    values.update(overrides)
    return Trainer(tiny_model(), make_task("token-classification", "funsd"), TrainingArguments(**values), encoded)


def test_bf16_is_precision_bf16_and_conflicts_are_refused():
    assert TrainingArguments(output_dir="x", bf16=True).precision == "bf16"
    assert TrainingArguments(output_dir="x").precision == "auto"
    with pytest.raises(ValueError, match="bf16=True is precision='bf16'"):
        TrainingArguments(output_dir="x", bf16=True, precision="fp16")


def test_fp16_on_cpu_is_refused_by_the_trainer(encoded, tmp_path):
    with pytest.raises(ValueError, match="fp16 is refused on the CPU"):
        _trainer(encoded, tmp_path, precision="fp16")


def test_bf16_training_on_cpu_has_finite_losses(encoded, tmp_path):
    trainer = _trainer(encoded, tmp_path, precision="bf16", epochs=1)
    assert trainer.amp_dtype is torch.bfloat16 and trainer.scaler is None
    trainer.train()
    losses = [r["loss"] for r in trainer.history if "loss" in r]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)


def test_grad_scaler_path_steps_and_its_state_is_checkpointed_and_resumed(encoded, tmp_path):
    """The fp16 path (scale, unscale before clipping, step, update), with a CPU GradScaler."""
    trainer = _trainer(encoded, tmp_path, precision="bf16", max_steps=2)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8, growth_interval=1)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    assert trainer.global_step == 2
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())  # it stepped
    assert trainer.scaler.get_scale() == 2.0 ** 10  # two updates without overflow, growth_interval=1
    state = torch.load(tmp_path / "checkpoint-2" / STATE_FILE, weights_only=False)
    assert state["scaler"]["scale"] == 2.0 ** 10

    resumed = _trainer(encoded, tmp_path, precision="bf16", max_steps=2)
    resumed.scaler = torch.amp.GradScaler("cpu")
    assert resumed.resume()
    assert resumed.scaler.get_scale() == 2.0 ** 10


def test_compile_wraps_the_forward_but_the_plain_module_is_saved(encoded, tmp_path, monkeypatch):
    compiled = []

    def fake_compile(model, **kwargs):
        compiled.append(model)
        return model

    monkeypatch.setattr(loop.torch, "compile", fake_compile)
    trainer = _trainer(encoded, tmp_path, compile=True, max_steps=1)
    assert compiled == [trainer.model] and trainer.runner is trainer.model
    trainer.train()
    assert (tmp_path / "best" / "config.json").is_file()
