"""LayoutLMv2Model behaviour beyond the golden cases: outputs, defaults, equivalent inputs,
attention implementations, gradient checkpointing, torch.compile, and input validation.

All on the small seeded model (hidden 64, 2 layers, ResNeXt-50 32x4d) with 64x64 images.
"""

import math

import pytest
import torch

from small_models import random_inputs, shared_model

LENGTH = 12
VISUAL = 49


@pytest.fixture(scope="module")
def model():
    return shared_model("LayoutLMv2Model")


@pytest.fixture(scope="module")
def inputs():
    return random_inputs(batch=2, length=LENGTH, size=(64, 64))


@pytest.fixture(scope="module")
def reference(model, inputs):
    """Default-path (sdpa) outputs of the module's inputs."""
    with torch.no_grad():
        return model(**inputs)


def run(model, **inputs):
    with torch.no_grad():
        return model(**inputs)


# ----------------------------------------------------------------------------------- outputs
def test_attribute_key_and_index_access(reference):
    out = reference
    assert out.last_hidden_state.shape == (2, LENGTH + VISUAL, 64) and out.pooler_output.shape == (2, 64)
    assert out["last_hidden_state"] is out.last_hidden_state is out[0]
    assert out["pooler_output"] is out.pooler_output is out[1]
    assert out.keys() == ["last_hidden_state", "pooler_output"] and len(out) == 2
    assert "hidden_states" not in out and out.hidden_states is None
    with pytest.raises(KeyError):
        out["attentions"]
    with pytest.raises(IndexError):
        out[2]
    assert all(a is b for a, b in zip(out.to_tuple(), (out.last_hidden_state, out.pooler_output)))


def test_return_dict_false_gives_transformers_tuples(model, inputs, reference, monkeypatch):
    plain = run(model, **inputs, return_dict=False)
    assert isinstance(plain, tuple) and len(plain) == 2
    assert torch.equal(plain[0], reference.last_hidden_state) and torch.equal(plain[1], reference.pooler_output)
    full = run(model, **inputs, return_dict=False, output_hidden_states=True, output_attentions=True)
    assert [type(x) for x in full] == [torch.Tensor, torch.Tensor, tuple, tuple]
    assert len(full[2]) == 3 and len(full[3]) == 2  # (last, pooler, hidden states, attentions)
    monkeypatch.setattr(model.config, "return_dict", False)  # the config's default is honoured
    assert isinstance(run(model, **inputs), tuple)


def test_head_tuples_put_the_loss_first(inputs):
    token = shared_model("LayoutLMv2ForTokenClassification")
    labels = torch.zeros(2, LENGTH, dtype=torch.long)
    loss, logits = run(token, **inputs, labels=labels, return_dict=False)
    assert loss.dim() == 0 and logits.shape == (2, LENGTH, 7)
    (logits_only,) = run(token, **inputs, return_dict=False)
    assert torch.equal(logits_only, logits)
    logits2, hidden = run(token, **inputs, return_dict=False, output_hidden_states=True)
    assert torch.equal(logits2, logits) and len(hidden) == 3

    qa = shared_model("LayoutLMv2ForQuestionAnswering")
    positions = torch.tensor([1, 2])
    loss, start, end = run(qa, **inputs, start_positions=positions, end_positions=positions, return_dict=False)
    assert loss.dim() == 0 and start.shape == end.shape == (2, LENGTH)
    start2, end2 = run(qa, **inputs, return_dict=False)
    assert torch.equal(start2, start) and torch.equal(end2, end)

    seq = shared_model("LayoutLMv2ForSequenceClassification")
    loss, logits = run(seq, **inputs, labels=torch.tensor([0, 5]), return_dict=False)
    assert loss.dim() == 0 and logits.shape == (2, 16)


def test_hidden_states_and_attentions(model, inputs, reference):
    out = run(model, **inputs, output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert all(h.shape == (2, LENGTH + VISUAL, 64) for h in out.hidden_states)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert len(out.attentions) == model.config.num_hidden_layers
    for probs in out.attentions:
        assert probs.shape == (2, 4, LENGTH + VISUAL, LENGTH + VISUAL)
        assert torch.allclose(probs.sum(-1), torch.ones(()), atol=1e-5, rtol=0)
        # the three padded keys of the first sample get no attention
        assert probs[0, :, :, LENGTH - 3:LENGTH].abs().max() == 0
        assert probs[1, :, :, LENGTH - 3:LENGTH].min() > 0
    # output_attentions runs the eager path; it must agree with the default (sdpa) result
    assert (out.last_hidden_state - reference.last_hidden_state).abs().max() <= 1e-4
    # hidden_states[0] is the encoder input: text embeddings then visual embeddings, as written out here
    text, visual = embeddings_by_hand(model, inputs)
    assert (out.hidden_states[0][:, :LENGTH].double() - text).abs().max() <= 1e-5
    assert (out.hidden_states[0][:, LENGTH:].double() - visual).abs().max() <= 1e-5


def _layer_norm(x, norm):
    """LayerNorm spelled out: biased variance over the last dimension, then the affine terms."""
    mean = x.mean(-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + norm.eps) * norm.weight.detach().double() + norm.bias.detach().double()


def embeddings_by_hand(model, inputs):
    """The encoder input from the weight tables (float64), as the LayoutLMv2 paper and transformers define it.

    Text token: word + position (0..L-1) + [x0, y0, x1, y1, h, w] layout rows concatenated + token type,
    then LayerNorm. Visual token k of the 7x7 grid: projected pooled feature + position k + the layout
    rows of its grid cell (boundaries 1000 * i // 7) + the visual segment vector, then visual LayerNorm.
    """
    tables = {name: module.weight.detach().double() for name, module in model.embeddings.named_children()
              if isinstance(module, torch.nn.Embedding)}

    def layout(bbox):
        x0, y0, x1, y1 = bbox.unbind(-1)
        x, y = tables["x_position_embeddings"], tables["y_position_embeddings"]
        h, w = tables["h_position_embeddings"], tables["w_position_embeddings"]
        return torch.cat([x[x0], y[y0], x[x1], y[y1], h[y1 - y0], w[x1 - x0]], dim=-1)

    ids, bbox, types = inputs["input_ids"], inputs["bbox"], inputs["token_type_ids"]
    text = (tables["word_embeddings"][ids] + tables["position_embeddings"][:ids.shape[1]] + layout(bbox)
            + tables["token_type_embeddings"][types])
    text = _layer_norm(text, model.embeddings.LayerNorm)

    edges = [1000 * i // 7 for i in range(8)]
    cells = torch.tensor([[edges[c], edges[r], edges[c + 1], edges[r + 1]] for r in range(7) for c in range(7)])
    with torch.no_grad():
        pooled = model.visual(inputs["image"]).double()  # (B, 49, C): the trunk has its own golden tests
    projected = pooled @ model.visual_proj.weight.detach().double().T + model.visual_proj.bias.detach().double()
    visual = projected + tables["position_embeddings"][:VISUAL] + layout(cells)
    if model.visual_segment_embedding is not None:
        visual = visual + model.visual_segment_embedding.detach().double()
    return text, _layer_norm(visual, model.visual_LayerNorm)


def test_inputs_embeds_equals_input_ids(model, inputs, reference):
    embeds = model.get_input_embeddings()(inputs["input_ids"]).detach()
    given = {k: v for k, v in inputs.items() if k != "input_ids"}
    out = run(model, **given, inputs_embeds=embeds)
    assert torch.equal(out.last_hidden_state, reference.last_hidden_state)


def test_defaults_equal_their_explicit_values(model, inputs, reference):
    explicit = run(model, **inputs, position_ids=torch.arange(LENGTH).expand(2, LENGTH))
    assert torch.equal(explicit.last_hidden_state, reference.last_hidden_state)

    no_bbox = {k: v for k, v in inputs.items() if k != "bbox"}
    zeros = run(model, **no_bbox, bbox=torch.zeros(2, LENGTH, 4, dtype=torch.long))
    assert torch.equal(run(model, **no_bbox).last_hidden_state, zeros.last_hidden_state)
    assert not torch.allclose(zeros.last_hidden_state, reference.last_hidden_state)  # boxes matter

    bare = dict(input_ids=inputs["input_ids"], bbox=inputs["bbox"], image=inputs["image"])
    spelled_out = run(model, **bare, attention_mask=torch.ones(2, LENGTH, dtype=torch.long),
                      token_type_ids=torch.zeros(2, LENGTH, dtype=torch.long))
    assert torch.equal(run(model, **bare).last_hidden_state, spelled_out.last_hidden_state)


def test_uint8_image_equals_float_image(model, inputs, reference):
    as_bytes = run(model, **{**inputs, "image": inputs["image"].to(torch.uint8)})
    assert torch.equal(as_bytes.last_hidden_state, reference.last_hidden_state)


# ------------------------------------------------------------------------- implementations
def test_sdpa_and_eager_attention_agree(model, record_property):
    """Measured on this config: ~1.2e-6 at lengths 12 to 512 (float32 reassociation in the fused kernel)."""
    diffs = []
    for length, seed in ((LENGTH, 0), (64, 1)):
        batch = random_inputs(batch=2, length=length, seed=seed)
        try:
            model.set_attn_implementation("eager")
            eager = run(model, **batch).last_hidden_state
        finally:
            model.set_attn_implementation("sdpa")
        sdpa = run(model, **batch).last_hidden_state
        diffs.append(float((sdpa - eager).abs().max()))
    record_property("sdpa_vs_eager_max_abs_diff", max(diffs))
    assert max(diffs) <= 1e-4, f"sdpa vs eager max abs difference {max(diffs):.3g}"
    with pytest.raises(ValueError, match="'flash'"):
        model.set_attn_implementation("flash")


def _token_loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)  # same dropout masks in both runs
    loss = model(**batch).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_gradient_checkpointing_gives_the_same_loss_and_gradients():
    model = shared_model("LayoutLMv2ForTokenClassification")
    batch = random_inputs(batch=2, length=LENGTH, seed=5)
    batch["labels"] = torch.arange(2 * LENGTH).view(2, LENGTH) % 7
    try:
        model.train()
        loss, grads = _token_loss_and_grads(model, batch)
        model.gradient_checkpointing_enable()
        loss_ckpt, grads_ckpt = _token_loss_and_grads(model, batch)
    finally:
        model.gradient_checkpointing_disable()
        model.zero_grad(set_to_none=True)
        model.eval()
    assert torch.allclose(loss, loss_ckpt, atol=1e-6, rtol=0)
    assert grads.keys() == grads_ckpt.keys() and len(grads) > 50
    worst = max(float((grads[n] - grads_ckpt[n]).abs().max()) for n in grads)
    assert worst <= 1e-6, worst


@pytest.mark.slow
def test_torch_compile_matches_eager(model, inputs, reference):
    compiled = torch.compile(model)
    out = run(compiled, **inputs)
    assert (out.last_hidden_state - reference.last_hidden_state).abs().max() <= 1e-5
    assert (out.pooler_output - reference.pooler_output).abs().max() <= 1e-5
    other = random_inputs(batch=2, length=LENGTH, seed=9)  # same shapes, new values: no stale graph
    assert (run(compiled, **other).last_hidden_state - run(model, **other).last_hidden_state).abs().max() <= 1e-5


# ------------------------------------------------------------------------------ image sizes
@pytest.mark.parametrize("height, width", [(32, 32), (100, 75), (47, 130)])
def test_any_image_size_from_32_pixels_runs(model, height, width):
    batch = random_inputs(batch=1, length=5, size=(height, width), padded=False)
    out = run(model, **batch)
    assert out.last_hidden_state.shape == (1, 5 + VISUAL, 64) and torch.isfinite(out.last_hidden_state).all()


def test_uneven_pooling_bins_average_their_cells(model):
    """A 100x75 image gives a 25x19 p2 map: 7x7 bins of unequal, overlapping sizes.

    Bin i spans rows floor(i * H / 7) .. ceil((i + 1) * H / 7), as adaptive average pooling
    (and so the reference) defines it; checked here cell by cell.
    """
    image = random_inputs(batch=1, size=(100, 75))["image"]
    visual = model.visual
    with torch.no_grad():
        p2 = visual.pyramid(image)[0][0]  # (C, 25, 19)
        tokens = visual(image)[0]  # (49, C)
    height, width = p2.shape[-2:]
    assert (height, width) == (25, 19)
    for i in range(7):
        for j in range(7):
            rows = slice(math.floor(i * height / 7), math.ceil((i + 1) * height / 7))
            cols = slice(math.floor(j * width / 7), math.ceil((j + 1) * width / 7))
            expected = p2[:, rows, cols].mean(dim=(1, 2))
            assert torch.allclose(tokens[i * 7 + j], expected, atol=1e-5, rtol=0), (i, j)


# ------------------------------------------------------------------------------ bad inputs
def _with(inputs, **changes):
    batch = {k: v.clone() for k, v in inputs.items()}
    batch.update(changes)
    return batch


def _box(inputs, value, index=(1, 4)):
    bbox = inputs["bbox"].clone()
    bbox[index] = torch.tensor(value)
    return bbox


BAD_INPUTS = {
    "bbox above 1000": (lambda i: _with(i, bbox=_box(i, [10, 20, 1001, 30])), ["1001", "0..1000", "[1, 4]"]),
    "bbox negative": (lambda i: _with(i, bbox=_box(i, [-1, 20, 30, 40])), ["-1", "0..1000"]),
    "x1 < x0": (lambda i: _with(i, bbox=_box(i, [500, 20, 400, 30])), ["x1 >= x0", "[500, 20, 400, 30]"]),
    "y1 < y0": (lambda i: _with(i, bbox=_box(i, [10, 700, 30, 600])), ["y1 >= y0", "[10, 700, 30, 600]"]),
    "bbox shape": (lambda i: _with(i, bbox=i["bbox"][..., :3]), ["(2, 12, 3)", "bbox"]),
    "bbox float": (lambda i: _with(i, bbox=i["bbox"].float()), ["torch.float32"]),
    "image channels": (lambda i: _with(i, image=i["image"][:, :1]), ["(2, 1, 64, 64)"]),
    "image 3-d": (lambda i: _with(i, image=i["image"][0]), ["(3, 64, 64)"]),
    "image too small": (lambda i: _with(i, image=i["image"][:, :, :31]), ["31x64", "32"]),
    "image batch": (lambda i: _with(i, image=i["image"][:1]), ["image batch size 1", "text batch size 2"]),
    "input_ids >= vocab": (lambda i: _with(i, input_ids=_ids(i["input_ids"], 30522)), ["30522", "vocab_size"]),
    "input_ids negative": (lambda i: _with(i, input_ids=_ids(i["input_ids"], -7)), ["-7", "vocab_size"]),
    "token_type_ids >= 2": (lambda i: _with(i, token_type_ids=_ids(i["token_type_ids"], 2)),
                            ["token_type_ids value 2", "type_vocab_size"]),
    "attention_mask shape": (lambda i: _with(i, attention_mask=i["attention_mask"][:, :5]), ["(2, 5)"]),
    "head_mask": (lambda i: _with(i, head_mask=torch.ones(4)), ["head_mask"]),
}


def _ids(ids, value):
    ids = ids.clone()
    ids[0, 2] = value
    return ids


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_inputs_raise_value_errors_naming_the_value(model, inputs, case):
    make, fragments = BAD_INPUTS[case]
    with pytest.raises(ValueError) as err:
        run(model, **make(inputs))
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))


def test_sequence_longer_than_positions_is_refused(model):
    batch = random_inputs(batch=1, length=513, padded=False)
    with pytest.raises(ValueError, match="sequence length 513.*max_position_embeddings=512"):
        run(model, **batch)
    positions = torch.arange(12).unsqueeze(0).clone()
    positions[0, 3] = 512
    with pytest.raises(ValueError, match="position_ids value 512"):
        run(model, **random_inputs(batch=1, length=12), position_ids=positions)


def test_exactly_one_of_input_ids_and_inputs_embeds(model, inputs):
    embeds = torch.zeros(2, LENGTH, 64)
    with pytest.raises(ValueError, match="input_ids and inputs_embeds"):
        run(model, **inputs, inputs_embeds=embeds)
    without = {k: v for k, v in inputs.items() if k != "input_ids"}
    with pytest.raises(ValueError, match="input_ids and inputs_embeds"):
        run(model, **without)


def test_missing_image_is_refused(model, inputs):
    with pytest.raises(ValueError, match="image is required"):
        run(model, **{k: v for k, v in inputs.items() if k != "image"})
