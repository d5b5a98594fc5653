"""The relation-extraction head: scores and loss against an explicit loop over pairs, gradients,
layoutlmft checkpoint names, pages without candidates, and bad input."""

import json

import pytest
import torch
import torch.nn.functional as F

from golden import schema
from small_models import random_inputs, small_config
from layoutlmv2 import LayoutLMv2Config, LayoutLMv2ForRelationExtraction
from layoutlmv2.checkpoints.conversion import original_to_ours
from layoutlmv2.checkpoints.seeded_weights import seeded_state_dict

LENGTH = 12
HIDDEN = 64  # small_config

# Two documents: 0 has two questions, two answers and a header; 1 has one question and one answer.
ENTITIES = [
    {"start": [1, 3, 5, 7, 9], "end": [3, 5, 7, 9, 10], "label": [1, 2, 1, 2, 0]},
    {"start": [2, 4], "end": [4, 6], "label": [2, 1]},
]
RELATIONS = [{"head": [0, 2], "tail": [1, 3]}, {"head": [1], "tail": [0]}]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return LayoutLMv2ForRelationExtraction(small_config(hidden_dropout_prob=0.0)).eval()


def explicit_pair_logit(extractor, hidden, entities, i, j):
    """layoutlmft's formula written out for one (head i, tail j) pair, weight by weight."""
    def represent(k):
        return torch.cat([hidden[entities["start"][k]], extractor.entity_emb.weight[entities["label"][k]]])

    def project(ffnn, x):
        first, second = ffnn[0], ffnn[3]
        return torch.relu(second.weight @ torch.relu(first.weight @ x + first.bias) + second.bias)

    h, t = project(extractor.ffnn_head, represent(i)), project(extractor.ffnn_tail, represent(j))
    bilinear = extractor.rel_classifier.bilinear.weight  # (2, d, d)
    linear = extractor.rel_classifier.linear
    return torch.stack([h @ bilinear[k] @ t for k in range(2)]) + linear.weight @ torch.cat([h, t]) + linear.bias


def test_scores_and_loss_equal_an_explicit_loop_over_pairs(model):
    inputs = random_inputs(batch=2, length=LENGTH)
    with torch.no_grad():
        out = model(**inputs, entities=ENTITIES, relations=RELATIONS)
        hidden = model.layoutlmv2(**inputs).last_hidden_state[:, :LENGTH]
    page_losses = []
    for b, (entities, relations) in enumerate(zip(ENTITIES, RELATIONS)):
        labels = entities["label"]
        pairs = [(i, j) for i in range(len(labels)) for j in range(len(labels)) if labels[i] == 1 and labels[j] == 2]
        gold = set(zip(relations["head"], relations["tail"]))
        found = dict(zip(zip(out.candidates[b]["head"], out.candidates[b]["tail"]), out.pair_logits[b]))
        assert set(found) == set(pairs)
        nll = []
        for i, j in pairs:
            with torch.no_grad():
                expected = explicit_pair_logit(model.extractor, hidden[b], entities, i, j)
            torch.testing.assert_close(found[(i, j)], expected, atol=1e-5, rtol=1e-5)
            nll.append(-torch.log_softmax(expected, -1)[int((i, j) in gold)])
        page_losses.append(torch.stack(nll).mean())
        predicted = {(r["head_id"], r["tail_id"]) for r in out.pred_relations[b]}
        assert predicted == {pair for pair, logit in found.items() if logit[1] > logit[0]}
    torch.testing.assert_close(out.loss, torch.stack(page_losses).mean(), atol=1e-5, rtol=1e-5)
    assert out.entities == ENTITIES and out.relations == RELATIONS


def test_predicted_relations_have_layoutlmft_fields(model):
    inputs = random_inputs(batch=2, length=LENGTH)
    with torch.no_grad():
        logits = model(**inputs, entities=ENTITIES).pair_logits
    # force every candidate of document 0 to "linked" through the decoder's own decoding
    linked = torch.tensor([[0.0, 1.0]]).expand(4, 2)
    heads, tails = [0, 0, 2, 2], [1, 3, 1, 3]
    relations = model.extractor.predicted_relations(linked, heads, tails, ENTITIES[0])
    assert relations[0] == {"head_id": 0, "head": (1, 3), "head_type": 1, "tail_id": 1, "tail": (3, 5),
                            "tail_type": 2, "type": 1, "score": pytest.approx(torch.tensor([0.0, 1.0]).softmax(0)[1].item())}
    assert logits[0].shape == (4, 2) and logits[1].shape == (1, 2)


def test_gradients_reach_every_decoder_parameter():
    torch.manual_seed(1)
    model = LayoutLMv2ForRelationExtraction(small_config()).train()
    model(**random_inputs(batch=2, length=LENGTH), entities=ENTITIES, relations=RELATIONS).loss.backward()
    for name, parameter in model.extractor.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    emb = model.extractor.entity_emb.weight.grad
    assert emb[0].abs().sum() == 0  # headers are never in a (question, answer) candidate
    assert emb[1].abs().sum() > 0 and emb[2].abs().sum() > 0
    assert model.layoutlmv2.encoder.layer[-1].output.dense.weight.grad.abs().sum() > 0


def layoutlmft_head_keys(hidden):
    """layoutlmft's REDecoder (modules/decoders/re.py) parameters, names and shapes as it builds them."""
    return {
        "extractor.entity_emb.weight": (3, hidden),
        "extractor.ffnn_head.0.weight": (hidden, 2 * hidden),
        "extractor.ffnn_head.0.bias": (hidden,),
        "extractor.ffnn_head.3.weight": (hidden // 2, hidden),
        "extractor.ffnn_head.3.bias": (hidden // 2,),
        "extractor.ffnn_tail.0.weight": (hidden, 2 * hidden),
        "extractor.ffnn_tail.0.bias": (hidden,),
        "extractor.ffnn_tail.3.weight": (hidden // 2, hidden),
        "extractor.ffnn_tail.3.bias": (hidden // 2,),
        "extractor.rel_classifier.bilinear.weight": (2, hidden // 2, hidden // 2),
        "extractor.rel_classifier.linear.weight": (2, hidden),
        "extractor.rel_classifier.linear.bias": (2,),
    }


def layoutlmft_state_dict():
    """A layoutlmft RE checkpoint: the reference's `layoutlmv2.*` keys (detectron2 naming, legacy keys
    included, from the golden token-classification schema without its classifier) plus the decoder."""
    sch = schema("small_r50_32x4d_token_classification")
    shapes = {k: tuple(v["shape"]) for k, v in sch["keys"].items() if k.startswith("layoutlmv2.")}
    shapes.update(layoutlmft_head_keys(HIDDEN))
    state = seeded_state_dict(shapes.items())
    for key, spec in sch["legacy_keys"].items():
        value = spec.get("value")
        state[key] = (torch.tensor(value, dtype=getattr(torch, spec["dtype"])) if value is not None
                      else torch.zeros(spec["shape"], dtype=getattr(torch, spec["dtype"])))
    return state, sch["config"]


def test_a_layoutlmft_checkpoint_loads_without_renaming(tmp_path):
    state, config = layoutlmft_state_dict()
    assert any(".backbone.bottom_up." in k for k in state)  # the original naming
    ours, _ = original_to_ours(state)
    model = LayoutLMv2ForRelationExtraction(LayoutLMv2Config.from_dict(config))
    result = model.load_state_dict(ours, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []

    folder = tmp_path / "layoutlmft-re"
    folder.mkdir()
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["LayoutLMv2ForRelationExtraction"]}))
    loaded, info = LayoutLMv2ForRelationExtraction.from_pretrained(folder, output_loading_info=True)
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["newly_initialized_keys"] == []
    assert info["original_naming"]
    torch.testing.assert_close(loaded.extractor.rel_classifier.bilinear.weight,
                               state["extractor.rel_classifier.bilinear.weight"])


@pytest.mark.parametrize("labels", [[1, 1, 0], [2, 2], [0, 0], []], ids=["no-answer", "no-question", "headers", "none"])
def test_a_page_without_question_or_answer_gives_no_pairs(model, labels):
    entities = [{"start": list(range(1, 1 + len(labels))), "end": list(range(2, 2 + len(labels))), "label": labels},
                ENTITIES[1]]
    relations = [{"head": [], "tail": []}, RELATIONS[1]]
    out = model(**random_inputs(batch=2, length=LENGTH), entities=entities, relations=relations)
    assert out.pred_relations[0] == [] and out.candidates[0] == {"head": [], "tail": []}
    assert out.pair_logits[0].shape == (0, 2)
    assert torch.isfinite(out.loss)


def test_a_batch_without_any_candidate_has_a_zero_loss_that_backpropagates():
    torch.manual_seed(2)
    model = LayoutLMv2ForRelationExtraction(small_config())
    entities = [{"start": [1], "end": [2], "label": [1]}]
    out = model(**random_inputs(batch=1, length=LENGTH), entities=entities, relations=[{"head": [], "tail": []}])
    assert out.loss.item() == 0.0
    out.loss.backward()
    assert out.pred_relations == [[]]


@pytest.mark.parametrize("entities, relations, message", [
    ([ENTITIES[0], {"start": [2, 10], "end": [4, 13], "label": [2, 1]}], RELATIONS,
     r"document 1: entity 1 spans tokens \[10, 13\), outside the 12 tokens"),
    ([ENTITIES[0], {"start": [-1, 4], "end": [4, 6], "label": [2, 1]}], RELATIONS,
     r"document 1: entity 0 spans tokens \[-1, 4\)"),
    ([ENTITIES[0], {"start": [2, 4], "end": [4, 6], "label": [2, 3]}], RELATIONS,
     r"document 1: entity 1 has label 3, not one of .*HEADER.*QUESTION.*ANSWER"),
    (ENTITIES, [RELATIONS[0], {"head": [1], "tail": [5]}],
     r"document 1: relation 0 tail names entity 5, but the document has 2 entities"),
    (ENTITIES, [{"head": [7, 0], "tail": [1, 1]}, RELATIONS[1]],
     r"document 0: relation 0 head names entity 7, but the document has 5 entities"),
    ([ENTITIES[0], {"start": [2], "end": [4, 6], "label": [2, 1]}], RELATIONS,
     r"document 1: entity start, end and label have 1, 2 and 2 items"),
    ([ENTITIES[0]], RELATIONS, r"entities has 1 documents but the batch has 2"),
    ([ENTITIES[0], {"start": [2, "x"], "end": [4, 6], "label": [2, 1]}], RELATIONS,
     r"document 1: entity start must hold integers, got 'x'"),
], ids=["span-end", "span-start", "label", "missing-tail", "missing-head", "lengths", "batch", "not-int"])
def test_bad_input_is_one_error_naming_the_document_and_value(model, entities, relations, message):
    with pytest.raises(ValueError, match=message):
        model(**random_inputs(batch=2, length=LENGTH), entities=entities, relations=relations)


def test_without_entities_only_the_hidden_states_come_back(model):
    inputs = random_inputs(batch=2, length=LENGTH)
    with torch.no_grad():
        out = model(**inputs)
    assert out.keys() == ["last_hidden_state"]
    with pytest.raises(ValueError, match="relations were given without entities"):
        model(**inputs, relations=RELATIONS)


def test_tensors_are_accepted_as_index_lists(model):
    inputs = random_inputs(batch=2, length=LENGTH)
    as_tensors = [{k: torch.tensor(v) for k, v in e.items()} for e in ENTITIES]
    with torch.no_grad():
        a = model(**inputs, entities=ENTITIES, relations=RELATIONS)
        b = model(**inputs, entities=as_tensors, relations=[{k: torch.tensor(v) for k, v in r.items()} for r in RELATIONS])
    torch.testing.assert_close(a.loss, b.loss)


def test_the_projections_start_from_he_initialisation_also_when_loaded_without_them(tmp_path):
    torch.manual_seed(3)
    model = LayoutLMv2ForRelationExtraction(small_config(hidden_size=256, coordinate_size=48, shape_size=32))
    first = model.extractor.ffnn_head[0].weight  # fan_in 2 * 256
    assert first.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.05)
    assert model.extractor.ffnn_tail[3].bias.abs().sum() == 0
    assert model.layoutlmv2.encoder.layer[0].output.dense.weight.std().item() == pytest.approx(0.02, rel=0.05)
    # a base checkpoint loaded into the head: the decoder is newly initialised the same way
    model.layoutlmv2.save_pretrained(tmp_path / "base")
    loaded = LayoutLMv2ForRelationExtraction.from_pretrained(tmp_path / "base")
    assert loaded.extractor.ffnn_tail[0].weight.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.05)


def explicit_geometry_logit(geometry, head_box, tail_box):
    """The box features of `pair_features` written out for one pair (tenths of the page), then the MLP."""
    q, a = [v / 100 for v in head_box], [v / 100 for v in tail_box]
    centre = lambda b: ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)  # noqa: E731
    (qx, qy), (ax, ay) = centre(q), centre(a)
    features = [a[i] - q[i] for i in range(4)] + [ax - qx, ay - qy, a[0] - q[2], a[1] - q[3]] + q + a
    first, second = geometry.mlp[0], geometry.mlp[2]
    x = torch.tensor(features)
    return second.weight @ torch.relu(first.weight @ x + first.bias) + second.bias


def test_pair_geometry_adds_a_score_of_the_two_boxes():
    torch.manual_seed(4)
    model = LayoutLMv2ForRelationExtraction(small_config(hidden_dropout_prob=0.0, relation_pair_geometry=True)).eval()
    plain = LayoutLMv2ForRelationExtraction(small_config(hidden_dropout_prob=0.0)).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if ".pair_geometry." not in k})
    assert not hasattr(plain.extractor, "pair_geometry")
    inputs = random_inputs(batch=2, length=LENGTH)
    with torch.no_grad():
        out = model(**inputs, entities=ENTITIES)
        base = plain(**inputs, entities=ENTITIES)
    bbox = inputs["bbox"].tolist()
    for b, entities in enumerate(ENTITIES):
        def box(k):
            span = bbox[b][entities["start"][k]:entities["end"][k]]
            return [min(t[0] for t in span), min(t[1] for t in span), max(t[2] for t in span), max(t[3] for t in span)]

        for row, (i, j) in enumerate(zip(out.candidates[b]["head"], out.candidates[b]["tail"])):
            with torch.no_grad():
                expected = base.pair_logits[b][row] + explicit_geometry_logit(model.extractor.pair_geometry, box(i), box(j))
            torch.testing.assert_close(out.pair_logits[b][row], expected, atol=1e-5, rtol=1e-5)


def test_pair_geometry_learns_saves_and_loads(tmp_path):
    torch.manual_seed(5)
    model = LayoutLMv2ForRelationExtraction(small_config(relation_pair_geometry=True)).train()
    model(**random_inputs(batch=2, length=LENGTH), entities=ENTITIES, relations=RELATIONS).loss.backward()
    for name, parameter in model.extractor.pair_geometry.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    model.save_pretrained(tmp_path / "re")
    loaded, info = LayoutLMv2ForRelationExtraction.from_pretrained(tmp_path / "re", output_loading_info=True)
    assert loaded.config.relation_pair_geometry is True and info["newly_initialized_keys"] == []
    torch.testing.assert_close(loaded.extractor.pair_geometry.mlp[0].weight, model.extractor.pair_geometry.mlp[0].weight)
    # a layoutlmft checkpoint (no geometry) into a model with it: refused by name, unless strict=False
    state, config = layoutlmft_state_dict()
    folder = tmp_path / "layoutlmft-re"
    folder.mkdir()
    torch.save(state, folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["LayoutLMv2ForRelationExtraction"]}))
    with pytest.raises(ValueError, match=r"missing 4 keys \(extractor\.pair_geometry\.mlp\.0\.weight"):
        LayoutLMv2ForRelationExtraction.from_pretrained(folder, relation_pair_geometry=True)
    _, info = LayoutLMv2ForRelationExtraction.from_pretrained(folder, relation_pair_geometry=True, strict=False,
                                                              output_loading_info=True)
    assert sorted(info["missing_keys"]) == sorted(
        f"extractor.pair_geometry.mlp.{i}.{p}" for i in (0, 2) for p in ("weight", "bias"))
