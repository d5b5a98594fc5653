"""int8 / bfloat16 inference helpers: they change the computation, keep the caller's model, and stay close."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layoutlmv2.deployment.torch_quantization import bf16_autocast, default_int8_backend, quantize_dynamic_int8, visual_in_bfloat16

from small_models import random_inputs, seeded_model


@pytest.fixture(scope="module")
def model():
    return seeded_model("LayoutLMv2ForTokenClassification")


@pytest.fixture(scope="module")
def inputs():
    return random_inputs(batch=2, length=24, size=(96, 96))


@pytest.fixture(scope="module")
def reference(model, inputs):
    with torch.inference_mode():
        return model(**inputs).logits


def close(logits, reference, min_cosine):
    logits = logits.float()
    cosine = F.cosine_similarity(logits.flatten(), reference.flatten(), dim=0)
    assert cosine > min_cosine, f"cosine {cosine:.5f}"
    return float((logits - reference).abs().max())


def linear_types(module):
    return {type(m).__module__ + "." + type(m).__name__ for m in module.layoutlmv2.encoder.modules()
            if "Linear" in type(m).__name__}


def test_int8_fbgemm_quantizes_a_copy(model, inputs, reference):
    quantized = quantize_dynamic_int8(model, backend="fbgemm")
    assert linear_types(model) == {"torch.nn.modules.linear.Linear"}  # the caller's model is untouched
    assert all("quantized" in name for name in linear_types(quantized))
    assert isinstance(quantized.layoutlmv2.visual_proj, nn.Linear)  # only the encoder is quantised
    with torch.inference_mode():
        logits = quantized(**inputs).logits
    drift = close(logits, reference, 0.99)
    assert 0 < drift < 0.5  # int8 really ran, and stayed near fp32


def test_int8_fbgemm_weights_are_quantised_per_output_channel(model):
    quantized = quantize_dynamic_int8(model, backend="fbgemm")
    weight = quantized.layoutlmv2.encoder.layer[0].intermediate.dense.weight()
    assert weight.qscheme() == torch.per_channel_affine
    assert weight.q_per_channel_scales().shape == (model.config.intermediate_size,)


@pytest.mark.parametrize("backend", ["fbgemm", "torchao"])
def test_int8_can_keep_the_feed_forward_output_in_fp32(model, inputs, reference, backend):
    """Only `layer.N.output.dense` stays fp32; the attention output projection of the same name does not."""
    if backend == "torchao":
        pytest.importorskip("torchao")
    quantized = quantize_dynamic_int8(model, backend=backend, keep_ffn_output_fp32=True)
    for layer in quantized.layoutlmv2.encoder.layer:
        kept = layer.output.dense
        assert type(kept) is nn.Linear and type(kept.weight) is nn.Parameter and kept.weight.dtype == torch.float32
        for module in (layer.attention.output.dense, layer.intermediate.dense):
            assert type(module) is not nn.Linear or type(module.weight) is not nn.Parameter, backend
    with torch.inference_mode():
        logits = quantized(**inputs).logits
    drift = close(logits, reference, 0.99)
    assert 0 < drift < 0.5


def test_int8_torchao(model, inputs, reference):
    pytest.importorskip("torchao")
    quantized = quantize_dynamic_int8(model, backend="torchao")
    assert linear_types(model) == {"torch.nn.modules.linear.Linear"}
    with torch.inference_mode():
        logits = quantized(**inputs).logits
    drift = close(logits, reference, 0.99)
    assert 0 < drift < 0.5


def test_int8_rejects_unknown_backend_and_models_without_encoder(model):
    with pytest.raises(ValueError, match="backend 'int4' is not one of"):
        quantize_dynamic_int8(model, backend="int4")
    with pytest.raises(ValueError, match="LayoutLMv2Encoder"):
        quantize_dynamic_int8(nn.Linear(2, 2))


@pytest.mark.parametrize("capability, expected", [("AVX2", "fbgemm"), ("AVX512", "torchao"), ("DEFAULT", "fbgemm")])
def test_auto_backend_follows_the_cpu(monkeypatch, capability, expected):
    """torchao's int8 kernels are slow without AVX-512 (0.15x fp32 measured on AVX2)."""
    pytest.importorskip("torchao")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    assert default_int8_backend() == expected


def test_bf16_autocast(model, inputs, reference):
    with torch.inference_mode(), bf16_autocast():
        logits = model(**inputs).logits
    assert logits.dtype == torch.bfloat16
    drift = close(logits, reference, 0.999)
    assert 0 < drift < 0.1
    with torch.inference_mode(), bf16_autocast(enabled=False):
        assert model(**inputs).logits.dtype == torch.float32


def test_visual_in_bfloat16(model, inputs, reference):
    converted = visual_in_bfloat16(model)
    assert model.layoutlmv2.visual.fpn.output[0].weight.dtype == torch.float32
    assert converted.layoutlmv2.visual.fpn.output[0].weight.dtype == torch.bfloat16
    assert converted.layoutlmv2.visual_proj.weight.dtype == torch.float32
    assert converted.state_dict().keys() == model.state_dict().keys()
    with torch.inference_mode():
        logits = converted(**inputs).logits
    assert logits.dtype == torch.float32
    drift = close(logits, reference, 0.9999)
    assert 0 < drift < 0.05
