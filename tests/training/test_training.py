"""Fine-tuning pieces: BERT -> LayoutLMv2 text init, windows and labels, the loop (overfit, resume)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from layoutlmv2 import LayoutLMv2ForTokenClassification, LayoutLMv2TokenizerFast
from layoutlmv2.data import FUNSD_LABELS, load_funsd, load_funsd_qa
from layoutlmv2.tasks.metrics import word_tags_from_windows
from layoutlmv2.tasks.windows import collate, encode_documents, token_labels
from layoutlmv2.training.loop import Trainer, TrainingArguments, parameter_groups, warmup_linear
from layoutlmv2.training.recipe import apply_visual_mode, build_processor
from layoutlmv2.tasks.definitions import group_entities, make_task
from layoutlmv2.training.text_init import (
    bert_to_layoutlmv2,
    config_from_bert,
    load_text_weights,
    read_bert_state_dict,
    sinusoidal_table,
)

from small_models import minilm_dir, small_config


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def processor():
    return build_processor(minilm_dir(), image_size=32)


@pytest.fixture(scope="module")
def funsd_train(funsd_dir):
    return load_funsd(funsd_dir, "train")


# ----------------------------------------------------------------------------- text init


def _cross_entropy_by_hand(logits, targets, smoothing, ignore_index=-100):
    """Mean over kept rows of (1 - eps) * -log p[target] + eps * mean_k -log p[k], in float64."""
    logits, targets = logits.double().reshape(-1, logits.shape[-1]), targets.reshape(-1)
    keep = targets != ignore_index
    logits, targets = logits[keep], targets[keep]
    log_probs = logits - logits.exp().sum(-1, keepdim=True).log()
    nll = -log_probs[torch.arange(len(targets)), targets]
    uniform = -log_probs.mean(-1)
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_task_losses_equal_cross_entropy_written_out(smoothing):
    """Each task's loss (ignore_index -100, label smoothing) against the formula spelled out above."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(0)
    token = make_task("token-classification", dataset="funsd", label_smoothing=smoothing)
    logits = torch.randn(2, 6, len(FUNSD_LABELS), generator=g)
    labels = torch.randint(0, len(FUNSD_LABELS), (2, 6), generator=g)
    labels[0, 4:] = labels[1, 0] = -100  # padding and continuation sub-words
    got = token.loss(SimpleNamespace(logits=logits), {"labels": labels})
    torch.testing.assert_close(got.double(), _cross_entropy_by_hand(logits, labels, smoothing), rtol=1e-6, atol=1e-6)
    changed = labels.clone()
    changed[0, 4:] = 0  # ignored positions must not count ...
    assert not torch.isclose(token.loss(SimpleNamespace(logits=logits), {"labels": changed}), got)
    logits_changed = logits.clone()
    logits_changed[0, 4:] += 100.0  # ... whatever their logits
    torch.testing.assert_close(token.loss(SimpleNamespace(logits=logits_changed), {"labels": labels}), got)

    sequence = make_task("sequence-classification", labels=["a", "b", "c"], label_smoothing=smoothing)
    logits, labels = torch.randn(4, 3, generator=g), torch.tensor([0, 2, 1, 2])
    got = sequence.loss(SimpleNamespace(logits=logits), {"labels": labels})
    torch.testing.assert_close(got.double(), _cross_entropy_by_hand(logits, labels, smoothing), rtol=1e-6, atol=1e-6)

    qa = make_task("question-answering", label_smoothing=smoothing)
    start, end = torch.randn(3, 10, generator=g), torch.randn(3, 10, generator=g)
    starts, ends = torch.tensor([1, 4, 0]), torch.tensor([2, 9, 0])
    got = qa.loss(SimpleNamespace(start_logits=start, end_logits=end), {"start_positions": starts, "end_positions": ends})
    expected = (_cross_entropy_by_hand(start, starts, smoothing) + _cross_entropy_by_hand(end, ends, smoothing)) / 2
    torch.testing.assert_close(got.double(), expected, rtol=1e-6, atol=1e-6)


def test_label_smoothing_outside_zero_one_is_refused():
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="label_smoothing must be in"):
            make_task("token-classification", dataset="funsd", label_smoothing=bad)


def test_mapped_bert_layer_matches_transformers_bert_layer():
    """A transformers BertLayer with a non-zero key bias == our layer with the mapped (fused) weights."""
    transformers = pytest.importorskip("transformers")
    from layoutlmv2.modeling.encoder import LayoutLMv2Layer

    config = transformers.BertConfig(hidden_size=48, num_attention_heads=4, intermediate_size=96,
                                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(1)
    bert_layer = transformers.models.bert.modeling_bert.BertLayer(config).eval()
    with torch.no_grad():
        for parameter in bert_layer.parameters():
            parameter.normal_(0, 0.2)  # key bias included: it must not matter
    bert_state = {f"encoder.layer.0.{k}": v for k, v in bert_layer.state_dict().items()}
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        bert_state[f"embeddings.{name}.weight"] = torch.zeros(1)
    bert_state["embeddings.LayerNorm.weight"] = bert_state["embeddings.LayerNorm.bias"] = torch.zeros(1)
    mapped = bert_to_layoutlmv2(bert_state, num_layers=1)
    ours = LayoutLMv2Layer(small_config(hidden_size=48, num_attention_heads=4, intermediate_size=96, coordinate_size=8, shape_size=8,
                                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).eval()
    ours.load_state_dict({k[len("encoder.layer.0."):]: v for k, v in mapped.items() if k.startswith("encoder.")})
    hidden = torch.randn(2, 9, 48)
    padding = torch.zeros(2, 1, 1, 9, dtype=torch.bool)
    with torch.no_grad():
        expected = bert_layer(hidden)[0] if isinstance(bert_layer(hidden), tuple) else bert_layer(hidden)
        actual, _ = ours(hidden, padding, None, "eager")
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_config_from_minilm():
    config = config_from_bert(minilm_dir(), num_labels=7)
    assert (config.hidden_size, config.num_attention_heads, config.num_hidden_layers) == (384, 12, 6)
    assert (config.intermediate_size, config.vocab_size, config.max_position_embeddings) == (1536, 30522, 512)
    assert (config.coordinate_size, config.shape_size, config.type_vocab_size) == (64, 64, 2)
    assert config.fast_qkv and config.layer_norm_eps == 1e-12
    backbone = config.backbone_settings()
    assert (backbone.stage_blocks, backbone.groups, backbone.width_per_group) == ((3, 4, 6, 3), 32, 4)


def test_load_text_weights_copies_every_minilm_tensor():
    folder = minilm_dir()
    config = config_from_bert(folder, num_labels=3, num_hidden_layers=2)
    model = LayoutLMv2ForTokenClassification(config)
    names = load_text_weights(model, folder)
    bert = read_bert_state_dict(folder)
    state = model.state_dict()
    torch.testing.assert_close(state["layoutlmv2.embeddings.word_embeddings.weight"], bert["embeddings.word_embeddings.weight"])
    q, k, v = (bert[f"encoder.layer.1.attention.self.{n}.weight"] for n in ("query", "key", "value"))
    torch.testing.assert_close(state["layoutlmv2.encoder.layer.1.attention.self.qkv_linear.weight"], torch.cat([q, k, v]))
    torch.testing.assert_close(state["layoutlmv2.encoder.layer.1.attention.self.v_bias"].flatten(),
                               bert["encoder.layer.1.attention.self.value.bias"])
    assert "layoutlmv2.encoder.layer.1.output.LayerNorm.weight" in names
    assert not any("x_position" in n or "visual" in n or "classifier" in n for n in names)
    # sinusoidal layout: neighbouring coordinates are closer than distant ones, scale = word-embedding std
    table = state["layoutlmv2.embeddings.x_position_embeddings.weight"]
    assert torch.dist(table[500], table[501]) < torch.dist(table[500], table[700])
    assert table.std().item() == pytest.approx(bert["embeddings.word_embeddings.weight"].std().item(), rel=0.05)


def test_layout_scale_shrinks_the_sinusoidal_tables(tmp_path):
    folder = minilm_dir()
    config = config_from_bert(folder, num_labels=3, num_hidden_layers=1)
    word_std = read_bert_state_dict(folder)["embeddings.word_embeddings.weight"].std().item()
    for scale in (0.3, 0.0):
        model = LayoutLMv2ForTokenClassification(config)
        load_text_weights(model, folder, layout_scale=scale)
        table = model.state_dict()["layoutlmv2.embeddings.y_position_embeddings.weight"]
        assert table.std().item() == pytest.approx(scale * word_std, rel=0.05, abs=1e-9)
    with pytest.raises(ValueError, match="layout_scale must be a finite number >= 0, got -1"):
        load_text_weights(LayoutLMv2ForTokenClassification(config), folder, layout_scale=-1)


def test_sinusoidal_table_and_errors(tmp_path):
    table = sinusoidal_table(1024, 64)
    assert table.shape == (1024, 64)
    torch.testing.assert_close(table[:, 0::2] ** 2 + table[:, 1::2] ** 2, torch.ones(1024, 32))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_table(10, 7)
    with pytest.raises(FileNotFoundError, match="config.json"):
        config_from_bert(tmp_path)


# ----------------------------------------------------------------------------- windows and labels


def test_labels_survive_token_windows_and_merge_back_exactly(funsd_train, processor):
    """Gold word tags -> token labels -> merge helper == gold tags, on pages cut into many windows."""
    tokenizer = processor.tokenizer
    label2id = {label: i for i, label in enumerate(FUNSD_LABELS)}
    longest = max(funsd_train, key=lambda d: len(d.words))
    documents = [longest] + funsd_train[:3]
    for max_length, stride in [(512, 128), (64, 16), (32, 0)]:
        encoded = encode_documents(documents, tokenizer, None, max_length, stride, word_label2id=label2id,
                                   load_images=False)
        for index, document in enumerate(documents):
            windows = [w for w in encoded.windows if w.doc_index == index]
            if max_length == 64 and index == 0:  # the longest page
                assert len(windows) > 5
            predictions = [[label if label >= 0 else 0 for label in w.targets["labels"]] for w in windows]
            tags = word_tags_from_windows(predictions, [w.word_ids for w in windows], len(document.words),
                                          id2label=FUNSD_LABELS)
            assert tags == document.word_labels, (max_length, stride, document.id)


def test_window_labels_follow_the_tokenizers_first_piece_rule(processor):
    """A Hangul syllable is split into jamo, all at offset 0: only the first piece is labelled,
    in the training windows as in the tokenizer (which matches transformers' slow tokenizer)."""
    words, labels = ["\ud55c", "forms"], ["B-HEADER", "I-HEADER"]
    boxes = [[0, 0, 10, 10], [20, 0, 40, 10]]
    encoding = processor.tokenizer(words, boxes=boxes, word_labels=[1, 2], return_offsets_mapping=True)
    assert len(encoding.word_ids()) > 4  # [CLS], several pieces of word 0, word 1, [SEP]
    ours = token_labels(encoding.word_ids(), encoding["offset_mapping"], labels, {"B-HEADER": 1, "I-HEADER": 2})
    assert ours == encoding["labels"]
    assert [label for label in ours if label != -100] == [1, 2]


def test_question_answering_spans_point_at_the_answer_words(funsd_dir, processor):
    documents = load_funsd_qa(funsd_dir, "test")[:12]
    encoded = encode_documents(documents, processor.tokenizer, None, 96, 32, with_question=True, load_images=False)
    found = 0
    for window in encoded.windows:
        start, end = window.targets["start_positions"], window.targets["end_positions"]
        if start == 0:
            continue
        found += 1
        first, last = documents[window.doc_index].answer_span
        assert window.word_ids[start] == first and window.word_ids[end] == last
        assert window.word_ids[end + 1] != last  # the whole last word is inside
    assert found >= len(documents) - 2  # nearly every answer lies whole in some window


def test_collate_pads_and_keeps_targets(funsd_train, processor):
    task = make_task("token-classification", "funsd")
    encoded = task.encode(funsd_train[:2], processor.tokenizer, processor.image_processor, 128, 32)
    batch = collate(encoded.windows[:3], encoded.pages)
    length = batch["input_ids"].shape[1]
    assert length % 8 == 0 and batch["bbox"].shape == (3, length, 4)
    assert batch["image"].shape == (3, 3, 32, 32) and batch["image"].dtype == torch.uint8
    assert batch["labels"].shape == (3, length)
    assert ((batch["attention_mask"] == 0) <= (batch["labels"] == -100)).all()  # padding never labelled


def test_group_entities_joins_b_and_i_of_one_type():
    words = ["Name:", "John", "Smith", "Date", "x"]
    tags = ["B-QUESTION", "B-ANSWER", "I-ANSWER", "I-QUESTION", "O"]
    entities = group_entities(words, tags, [0.9, 0.8, 0.6, 0.5, 0.99])
    assert [(e["type"], e["text"]) for e in entities] == [("QUESTION", "Name:"), ("ANSWER", "John Smith"),
                                                          ("QUESTION", "Date")]
    assert entities[1]["score"] == pytest.approx(0.7)


# ----------------------------------------------------------------------------- the loop


def tiny_model(num_labels: int = 7, seed: int = 0):
    torch.manual_seed(seed)
    config = small_config(num_labels=num_labels, id2label=dict(enumerate(FUNSD_LABELS)), hidden_dropout_prob=0.0,
                          attention_probs_dropout_prob=0.0)
    model = LayoutLMv2ForTokenClassification(config)
    apply_visual_mode(model, "zero")
    return model


def test_warmup_then_linear_decay():
    factor = warmup_linear(total_steps=10, warmup_steps=2)
    assert [round(factor(s), 3) for s in range(11)] == [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]


def test_parameter_groups_give_relative_biases_their_own_learning_rate():
    model = tiny_model()
    names = {id(p): n for n, p in model.named_parameters()}
    pretrained = [n for n in names.values() if ".encoder.layer." in n]
    groups = parameter_groups(model, pretrained, lr=1e-4, new_lr_scale=3.0, weight_decay=0.01, bias_lr_scale=20.0)
    by_name = {g["name"]: g for g in groups}
    biases = {names[id(p)] for p in by_name["new-relative-bias"]["params"]}
    assert biases == {n for n in names.values() if ".rel_pos" in n and n not in pretrained}
    assert len(biases) == 3  # 1-D, x and y tables
    assert by_name["new-relative-bias"]["lr"] == pytest.approx(1e-4 * 3.0 * 20.0)
    assert by_name["new-relative-bias"]["weight_decay"] == 0.0
    assert by_name["pretrained"]["lr"] == pytest.approx(1e-4)
    assert by_name["new"]["lr"] == pytest.approx(3e-4)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(trainable)  # every trainable parameter exactly once
    with pytest.raises(ValueError, match="bias_lr_scale"):
        TrainingArguments(output_dir="x", bias_lr_scale=0)


def test_tiny_model_overfits_a_fixed_batch(funsd_train, processor):
    task = make_task("token-classification", "funsd")
    encoded = task.encode(funsd_train[:2], processor.tokenizer, processor.image_processor, 64, 0)
    batch = collate(encoded.windows[:2], encoded.pages)
    model = tiny_model()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for _ in range(100):
        loss = task.loss(model(**task.model_inputs(batch)), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


def _trainer(encoded, output, **overrides):
    task = make_task("token-classification", "funsd")
    values = dict(output_dir=str(output), epochs=2, batch_size=1, lr=1e-3, save_steps=2, logging_steps=1,
                  progress=False, eval_each_epoch=False)
    values.update(overrides)
    return Trainer(tiny_model(), task, TrainingArguments(**values), encoded)


def test_resume_after_ctrl_c_continues_at_the_same_step_and_state(funsd_train, processor, tmp_path):
    task = make_task("token-classification", "funsd")
    encoded = task.encode(funsd_train[:3], processor.tokenizer, processor.image_processor, 64, 0)
    encoded.windows = encoded.windows[:3]  # 3 batches per epoch, 6 steps in all

    straight = _trainer(encoded, tmp_path / "straight")
    straight.train()

    interrupted = _trainer(encoded, tmp_path / "resumed")
    calls = {"n": 0}
    original_loss = interrupted.task.loss

    def loss_then_ctrl_c(outputs, batch):
        calls["n"] += 1
        if calls["n"] == 6:  # during step 6, after checkpoint-4 was written at step 4 (save_steps=2)
            raise KeyboardInterrupt
        return original_loss(outputs, batch)

    interrupted.task.loss = loss_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        interrupted.train()
    folder = tmp_path / "resumed"
    assert [p.name for p in folder.glob("checkpoint-*")] == ["checkpoint-4"]
    assert not list(folder.glob("*.tmp"))

    resumed = _trainer(encoded, folder)
    resumed.train(resume=True)
    assert resumed.global_step == straight.global_step == 6
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0, msg=key)
    a, b = straight.optimizer.state_dict(), resumed.optimizer.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for index, state in a["state"].items():
        for name, tensor in state.items():
            torch.testing.assert_close(b["state"][index][name], tensor, rtol=0, atol=0)
    steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 7))  # no step logged twice, none lost


def test_training_with_evaluation_keeps_best_model_and_writes_logs(funsd_train, processor, tmp_path):
    task = make_task("token-classification", "funsd")
    train = task.encode(funsd_train[:2], processor.tokenizer, processor.image_processor, 64, 0)
    evaluation_docs = funsd_train[2:4]
    evaluation = task.encode(evaluation_docs, processor.tokenizer, processor.image_processor, 64, 16)
    args = TrainingArguments(output_dir=str(tmp_path), epochs=2, batch_size=2, lr=1e-3, progress=False,
                             logging_steps=1)
    trainer = Trainer(tiny_model(), task, args, train, evaluation, evaluation_docs,
                      save_extra=lambda folder: processor.save_pretrained(folder))
    summary = trainer.train()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "entity_f1" in r]
    assert [r["epoch"] for r in evals] == [1, 2]
    assert summary["best_entity_f1"] == max(r["entity_f1"] for r in evals)
    assert (tmp_path / "best" / "config.json").is_file() and (tmp_path / "best" / "vocab.txt").is_file()
    assert (tmp_path / "curves.png").stat().st_size > 1000
    reloaded = LayoutLMv2ForTokenClassification.from_pretrained(tmp_path / "best")
    assert reloaded.config.id2label[3] == "B-QUESTION"
    assert not math.isnan(records[0]["loss"])


def test_dataloader_workers_train_exactly_as_in_line_collation(funsd_train, processor, tmp_path):
    """Batches collated by two worker processes are the same batches, in the same order."""
    task = make_task("token-classification", "funsd")
    encoded = task.encode(funsd_train[:3], processor.tokenizer, processor.image_processor, 64, 0)
    encoded.windows = encoded.windows[:4]
    in_line = _trainer(encoded, tmp_path / "in_line", batch_size=2, save_steps=0)
    in_line.train()
    workers = _trainer(encoded, tmp_path / "workers", batch_size=2, save_steps=0, dataloader_workers=2)
    workers.train()
    assert workers.global_step == in_line.global_step == 4
    start = tiny_model().state_dict()
    assert any(not torch.equal(start[k], v) for k, v in in_line.model.state_dict().items())
    for key, value in in_line.model.state_dict().items():
        torch.testing.assert_close(workers.model.state_dict()[key], value, rtol=0, atol=0, msg=key)
    with pytest.raises(ValueError, match="dataloader_workers"):
        TrainingArguments(str(tmp_path), dataloader_workers=-1)
