"""`deployment.devices` (device and precision choice), the batch runner on a device, ONNX providers.

CUDA and MPS are simulated on CPU machines by monkeypatching `torch.cuda.is_available` and
`torch.backends.mps.is_available`; the tests marked `cuda` run the real thing on a GPU.
"""

from __future__ import annotations

import pytest
import torch

from layoutlmv2.deployment import devices
from layoutlmv2.deployment.devices import (
    autocast,
    grad_scaler,
    module_device,
    move_batch,
    outputs_to_cpu,
    resolve_device,
    resolve_precision,
)
from layoutlmv2.deployment.worker_pool import run_batches
from layoutlmv2.modeling.outputs import TokenClassifierOutput


def _simulate(monkeypatch, cuda: int = 0, mps: bool = False, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


# ----------------------------------------------------------------------------- resolve_device


@pytest.mark.parametrize("cuda, mps, expected", [(0, False, "cpu"), (0, True, "mps"), (1, True, "cuda:0"),
                                                 (2, False, "cuda:0")])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    _simulate(monkeypatch, cuda=cuda, mps=mps)
    assert str(resolve_device("auto")) == expected
    assert str(resolve_device(None)) == expected


def test_explicit_devices(monkeypatch):
    _simulate(monkeypatch, cuda=2, mps=True)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    assert resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert resolve_device("mps") == torch.device("mps")


def test_cuda_without_cuda_is_one_value_error_naming_both(monkeypatch):
    _simulate(monkeypatch, cuda=0)
    for asked in ("cuda", "cuda:0"):
        with pytest.raises(ValueError) as error:
            resolve_device(asked)
        message = str(error.value)
        assert f"'{asked}'" in message and "CUDA is not available" in message and "available: cpu" in message
        assert "\n" not in message


def test_a_gpu_number_past_the_last_gpu_is_refused(monkeypatch):
    _simulate(monkeypatch, cuda=1)
    with pytest.raises(ValueError, match=r"'cuda:3'.*has 1 GPU;.*cuda:0\.\.cuda:0"):
        resolve_device("cuda:3")


def test_mps_missing_and_unknown_names(monkeypatch):
    _simulate(monkeypatch, cuda=0, mps=False)
    with pytest.raises(ValueError, match="'mps'.*not available"):
        resolve_device("mps")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="cuda:N"):
        resolve_device("cuda:x")


# ----------------------------------------------------------------------------- resolve_precision


def test_precision_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision(None, cpu) == (None, False)
    assert resolve_precision("auto", cpu) == (None, False)
    assert resolve_precision("fp32", cpu) == (None, False)
    assert resolve_precision("bf16", cpu) == (torch.bfloat16, False)
    with pytest.raises(ValueError, match="fp16 is refused on the CPU.*bf16"):
        resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("int4", cpu)


def test_precision_on_cuda(monkeypatch):
    _simulate(monkeypatch, cuda=1, bf16=True)
    cuda = torch.device("cuda", 0)
    assert resolve_precision("auto", cuda) == (torch.bfloat16, False)
    assert resolve_precision("fp16", cuda) == (torch.float16, True)  # fp16 trains with a GradScaler
    assert resolve_precision("fp32", "cuda") == (None, False)
    _simulate(monkeypatch, cuda=1, bf16=False)  # pre-Ampere: auto is fp16
    assert resolve_precision(None, cuda) == (torch.float16, True)
    with pytest.raises(ValueError, match="does not support bfloat16"):
        resolve_precision("bf16", cuda)


def test_precision_on_mps_defaults_to_fp32():
    assert resolve_precision("auto", torch.device("mps")) == (None, False)


def test_autocast_helper_and_scaler():
    with autocast("cpu", torch.bfloat16):
        assert torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast("cpu", None):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert grad_scaler("cpu", False) is None


# ----------------------------------------------------------------------------- moving batches and outputs


def test_cpu_batches_stay_and_outputs_come_back_as_float32():
    batch = {"input_ids": torch.ones(1, 3, dtype=torch.long), "note": "kept"}
    assert move_batch(batch, torch.device("cpu"))["input_ids"] is batch["input_ids"]
    output = outputs_to_cpu(TokenClassifierOutput(logits=torch.ones(1, 2, dtype=torch.bfloat16)))
    assert isinstance(output, TokenClassifierOutput) and output.logits.dtype == torch.float32
    plain = outputs_to_cpu({"logits": torch.ones(2, dtype=torch.float16), "ids": torch.ones(2, dtype=torch.long)})
    assert plain["logits"].dtype == torch.float32 and plain["ids"].dtype == torch.long


def test_module_device():
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(object()) == torch.device("cpu")  # an OnnxModel: CPU tensors in and out


def test_run_batches_with_a_dtype_gives_float32_outputs():
    model = torch.nn.Linear(4, 3)

    def forward(x, return_dict=True):
        return {"logits": model(x)}

    forward.parameters = model.parameters
    forward.buffers = model.buffers
    batches = [{"x": torch.randn(2, 4)}]
    (_, plain), = run_batches(forward, batches)
    (_, mixed), = run_batches(forward, batches, autocast=torch.bfloat16)
    assert mixed["logits"].dtype == torch.float32
    torch.testing.assert_close(mixed["logits"], plain["logits"], rtol=0.05, atol=0.05)
    with pytest.raises(ValueError, match="bf16 autocast runs in this process only"):
        list(run_batches(forward, batches * 2, workers=2, autocast=True))


def test_backbone_stays_float32_under_fp16_autocast(monkeypatch):
    """`VisualBackbone.forward` turns fp16 autocast off (checked by pretending CPU autocast is fp16)."""
    from layoutlmv2.modeling import visual_backbone

    seen = {}
    monkeypatch.setattr(visual_backbone, "_fp16_autocast", lambda device_type: True)

    class Probe(visual_backbone.VisualBackbone):
        def __init__(self):
            torch.nn.Module.__init__(self)

        def _forward(self, images):
            seen["dtype"], seen["autocast"] = images.dtype, torch.is_autocast_enabled("cpu")
            return images

    with torch.autocast("cpu", dtype=torch.bfloat16):
        Probe()(torch.zeros(1, 3, 4, 4, dtype=torch.bfloat16))
    assert seen == {"dtype": torch.float32, "autocast": False}


# ----------------------------------------------------------------------------- ONNX providers


def test_onnx_providers_default_cpu_and_cuda_names_onnxruntime_gpu(monkeypatch):
    onnxruntime = pytest.importorskip("onnxruntime")
    from layoutlmv2.deployment.onnx_model import check_providers

    assert check_providers(None) == ("CPUExecutionProvider",)
    assert check_providers(["CPUExecutionProvider"]) == ("CPUExecutionProvider",)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        check_providers(["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ValueError, match="NoSuchExecutionProvider not available"):
        check_providers(["NoSuchExecutionProvider"])
    with pytest.raises(ValueError, match="at least one"):
        check_providers([])


def test_onnx_model_checks_providers_before_opening(monkeypatch, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    from layoutlmv2.deployment.onnx_model import OnnxModel

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not opened")
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        OnnxModel(path, providers=["CUDAExecutionProvider"])


# ----------------------------------------------------------------------------- on a GPU


@pytest.mark.cuda
def test_run_batches_on_cuda_moves_inputs_and_returns_cpu_float32():
    model = torch.nn.Linear(4, 3).cuda()

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x, return_dict=True):
            return {"logits": self.inner(x)}

    (_, out), = run_batches(Wrapped(), [{"x": torch.randn(2, 4)}], autocast=torch.float16)
    assert out["logits"].device.type == "cpu" and out["logits"].dtype == torch.float32


@pytest.mark.cuda
def test_auto_is_cuda_with_a_gpu():
    assert resolve_device("auto").type == "cuda"
    dtype, needs_scaler = resolve_precision("auto", resolve_device("cuda"))
    assert dtype in (torch.bfloat16, torch.float16) and needs_scaler == (dtype is torch.float16)
    assert devices.available_devices().startswith("cpu, cuda")
