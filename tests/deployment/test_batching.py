"""Length-aware batching: the outputs on real tokens equal a plain padded run, in the input order."""

import pytest
import torch

from layoutlmv2.deployment.batching import collate, length_batches, predict, real_lengths, trim_padding

from small_models import random_inputs, seeded_model

LENGTHS = [9, 20, 5, 14, 20]


def documents(lengths=LENGTHS, image_size=64):
    """One encoding per document, each padded to 24 tokens as a processor would pad it."""
    docs = []
    for seed, n in enumerate(lengths):
        full = random_inputs(batch=1, length=24, size=(image_size, image_size), seed=seed, padded=False)
        full["attention_mask"][:, n:] = 0
        full["input_ids"][:, n:] = 0
        full["bbox"][:, n:] = 0
        full["token_type_ids"][:, n:] = 0
        docs.append(full)
    return docs


def test_real_lengths_and_trim():
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]])
    assert real_lengths(mask).tolist() == [3, 2]
    inputs = {"input_ids": torch.arange(12).view(2, 6), "attention_mask": mask,
              "bbox": torch.zeros(2, 6, 4, dtype=torch.long), "image": torch.zeros(2, 3, 32, 32)}
    trimmed = trim_padding(inputs)
    assert trimmed["input_ids"].tolist() == [[0, 1, 2], [6, 7, 8]]
    assert trimmed["bbox"].shape == (2, 3, 4) and trimmed["image"].shape == (2, 3, 32, 32)
    assert trim_padding(inputs, pad_to_multiple_of=4)["attention_mask"].shape == (2, 4)
    assert inputs["input_ids"].shape == (2, 6)  # the caller's dict is not changed


def test_length_batches_sorted_and_complete():
    batches = length_batches([3, 50, 7, 50, 1, 20, 8], batch_size=3)
    assert batches == [[1, 3, 5], [6, 2, 0], [4]]
    with pytest.raises(ValueError, match="batch_size"):
        length_batches([1], batch_size=0)


def test_collate_pads_each_input_with_its_value():
    docs = documents([3, 5])
    docs[0]["labels"] = torch.full((1, 24), 1)
    docs[1]["labels"] = torch.full((1, 24), 2)
    batch = collate(docs)
    assert batch["input_ids"].shape == (2, 5) and batch["image"].shape == (2, 3, 64, 64)
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"][0].tolist() == [1, 1, 1, -100, -100]
    assert batch["bbox"][0, 3:].abs().sum() == 0


def test_collate_accepts_unbatched_tensors_and_rejects_batches():
    doc = {k: v[0] for k, v in documents([4])[0].items()}  # (L,), (L, 4), (3, H, W)
    assert collate([doc])["bbox"].shape == (1, 4, 4)
    with pytest.raises(ValueError, match="one document"):
        collate([random_inputs(batch=2, length=6)])


@pytest.mark.parametrize("class_name", [
    "LayoutLMv2ForTokenClassification", "LayoutLMv2ForSequenceClassification", "LayoutLMv2Model",
    pytest.param("LayoutLMv2ForQuestionAnswering", marks=pytest.mark.slow),  # one more seeded model to build
])
@pytest.mark.parametrize("workers", [1, 2])
def test_predict_matches_one_padded_document_at_a_time(class_name, workers):
    """Reference: each document alone, padded to 24, eager attention (the transformers recipe).

    With 2 workers the batches run in forked processes and must give the same answers.
    """
    model = seeded_model(class_name)
    docs = documents()
    results = predict(model, docs, batch_size=2, workers=workers)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        for doc, n, result in zip(docs, LENGTHS, results):
            expected = model(**doc)
            for name, value in result.items():
                reference = expected[name][0]
                if name == "last_hidden_state":
                    reference = torch.cat([reference[:n], reference[24:]])  # text tokens + 49 visual tokens
                elif reference.dim() >= 1 and reference.shape[0] == 24:
                    reference = reference[:n]
                assert value.shape == reference.shape, name
                torch.testing.assert_close(value, reference, atol=2e-5, rtol=0)


def test_predict_reports_progress_and_needs_a_mask():
    model = seeded_model("LayoutLMv2ForTokenClassification")
    done = []
    predict(model, documents([4, 6, 8]), batch_size=2, progress=done.append)
    assert sorted(done) == [1, 2]
    doc = documents([4])[0]
    del doc["attention_mask"]
    with pytest.raises(ValueError, match="attention_mask"):
        predict(model, [doc])


def test_predict_in_spawned_workers(monkeypatch):
    """macOS and Windows spawn: the model travels to the workers through shared memory."""
    import layoutlmv2.deployment.worker_pool as worker_pool

    monkeypatch.setattr(worker_pool, "_start_method", lambda model: "spawn")
    model = seeded_model("LayoutLMv2ForTokenClassification")
    docs = documents()
    done = []
    results = predict(model, docs, batch_size=2, workers=2, progress=done.append)
    assert sorted(done) == [1, 2, 2]
    model.set_attn_implementation("eager")
    with torch.no_grad():
        for doc, n, result in zip(docs, LENGTHS, results):
            torch.testing.assert_close(result["logits"], model(**doc).logits[0, :n], atol=2e-5, rtol=0)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_predict_rejects_a_bad_worker_count(workers):
    model = seeded_model("LayoutLMv2ForTokenClassification")
    with pytest.raises(ValueError, match=f"workers must be a positive int, got {workers!r}"):
        predict(model, documents([4]), workers=workers)
