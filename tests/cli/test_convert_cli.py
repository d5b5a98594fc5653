"""`layoutlmv2-convert`: round trips on the small original schemas, every head type, and failures.

The question-answering round trip and the failure exit codes run the CLI as a user does (a
subprocess of `python -m layoutlmv2.convert_cli`); the other head types call `main()` in-process
(the same code, without paying for a new interpreter each time).
"""

import json
import os
import subprocess
import sys

import pytest
import torch

from layoutlmv2.checkpoints.io import read_checkpoint
from layoutlmv2.cli.convert import main

from conftest import REPO_ROOT
from seeded_folders import legacy_tensors, seeded_original, write_original_folder

SCHEMAS = {
    "LayoutLMv2Model": "small_r50_32x4d_model",
    "LayoutLMv2ForSequenceClassification": "small_r50_32x4d_sequence_classification",
    "LayoutLMv2ForTokenClassification": "small_r50_32x4d_token_classification",
    "LayoutLMv2ForQuestionAnswering": "small_r50_32x4d_question_answering",
}
SIDE_FILES = {"vocab.txt": "[PAD]\n[UNK]\n", "tokenizer_config.json": "{}", "preprocessor_config.json": "{}"}


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "layoutlmv2.cli.convert", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def original_folder(tmp_path, schema_name, legacy_keys=True):
    folder = write_original_folder(schema_name, tmp_path / "in", legacy_keys=legacy_keys)
    for name, text in SIDE_FILES.items():
        (folder / name).write_text(text)
    return folder


def weights(folder):
    return read_checkpoint(folder)[0]


def assert_same_tensors(a, b):
    assert sorted(a) == sorted(b)
    different = [k for k in a if a[k].dtype != b[k].dtype or not torch.equal(a[k], b[k])]
    assert different == []


def assert_original_round_trip(schema_name, back, legacy_keys=True):
    """Every schema tensor bit-identical; legacy keys present with canonical values, or absent."""
    expected = seeded_original(schema_name)
    if legacy_keys:
        expected.update(legacy_tensors(schema_name))
    assert_same_tensors(back, expected)


def config_of(folder):
    return json.loads((folder / "config.json").read_text())


def test_help_works():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--to", "--format", "--dtype", "--no-legacy-keys", "--check", "--max-shard-size"):
        assert option in result.stdout


def test_question_answering_round_trips_as_a_subprocess(tmp_path):
    schema_name = SCHEMAS["LayoutLMv2ForQuestionAnswering"]
    source = original_folder(tmp_path, schema_name)
    ours, back, again = tmp_path / "ours", tmp_path / "back", tmp_path / "again"

    result = run_cli(source, ours)
    assert result.returncode == 0, result.stderr
    assert "as LayoutLMv2ForQuestionAnswering" in result.stdout
    assert "tensors: 328" in result.stdout and "parameters: 28,508,290" in result.stdout
    assert "dropped 53 keys" in result.stdout and "num_batches_tracked" in result.stdout
    assert sorted(p.name for p in ours.iterdir()) == sorted(["config.json", "model.safetensors", *SIDE_FILES])
    assert all(k.startswith(("layoutlmv2.", "qa_outputs.")) and ".backbone." not in k for k in weights(ours))

    result = run_cli(ours, back, "--to", "original")
    assert result.returncode == 0, result.stderr
    assert (back / "pytorch_model.bin").is_file()
    assert_original_round_trip(schema_name, weights(back))  # original -> ours -> original

    result = run_cli(back, again)
    assert result.returncode == 0, result.stderr
    assert_same_tensors(weights(again), weights(ours))  # ours -> original -> ours
    assert config_of(source) == config_of(ours) == config_of(back) == config_of(again)
    assert (again / "vocab.txt").read_text() == SIDE_FILES["vocab.txt"]


@pytest.mark.parametrize("class_name", [
    "LayoutLMv2Model",
    pytest.param("LayoutLMv2ForSequenceClassification", marks=pytest.mark.slow),  # ~5 s each: the QA
    pytest.param("LayoutLMv2ForTokenClassification", marks=pytest.mark.slow),     # and base ones stay fast
])
def test_round_trips_of_the_other_heads(tmp_path, capsys, class_name):
    schema_name = SCHEMAS[class_name]
    source = original_folder(tmp_path, schema_name)
    ours, back, again = tmp_path / "ours", tmp_path / "back", tmp_path / "again"
    assert main([str(source), str(ours)]) == 0
    assert f"as {class_name}" in capsys.readouterr().out
    assert main([str(ours), str(back), "--to", "original", "--format", "safetensors"]) == 0
    assert sorted(p.name for p in back.iterdir()) == sorted(["config.json", "model.safetensors", *SIDE_FILES])
    assert_original_round_trip(schema_name, weights(back))
    assert main([str(back), str(again)]) == 0
    assert_same_tensors(weights(again), weights(ours))
    assert config_of(source) == config_of(back) == config_of(again)


def test_no_legacy_keys_and_sharded_output(tmp_path, capsys):
    schema_name = SCHEMAS["LayoutLMv2Model"]
    source = original_folder(tmp_path, schema_name, legacy_keys=False)
    ours, back = tmp_path / "ours", tmp_path / "back"
    assert main([str(source), str(ours), "--max-shard-size", "50MB"]) == 0
    assert (ours / "model.safetensors.index.json").is_file() and (ours / "model-00003-of-00003.safetensors").is_file()
    assert "dropped" not in capsys.readouterr().out
    assert main([str(ours), str(back), "--to", "original", "--no-legacy-keys"]) == 0
    assert_original_round_trip(schema_name, weights(back), legacy_keys=False)


def test_dtype_and_check(tmp_path, capsys):
    source = original_folder(tmp_path, SCHEMAS["LayoutLMv2ForTokenClassification"])
    out = tmp_path / "bf16"
    assert main([str(source), str(out), "--dtype", "bf16", "--check"]) == 0
    printed = capsys.readouterr().out
    converted = weights(out)
    seeded = seeded_original(SCHEMAS["LayoutLMv2ForTokenClassification"])
    assert {v.dtype for v in converted.values()} == {torch.bfloat16}
    assert torch.equal(converted["layoutlmv2.visual.trunk.conv1.weight"],
                       seeded["layoutlmv2.visual.backbone.bottom_up.stem.conv1.weight"].to(torch.bfloat16))
    line = next(l for l in printed.splitlines() if "check: max |IN - OUT|" in l)
    worst = float(line.split("=")[1].split()[0])
    assert 0 < worst < 0.05  # bf16 rounding of the weights: small but not zero


# --------------------------------------------------------------------------- failures
def test_missing_input_fails_with_one_line_and_no_traceback(tmp_path):
    result = run_cli(tmp_path / "absent", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.startswith("layoutlmv2-convert: error:") and "absent" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unknown_keys_fail_with_one_line_naming_them(tmp_path):
    source = original_folder(tmp_path, SCHEMAS["LayoutLMv2Model"], legacy_keys=False)
    state = torch.load(source / "pytorch_model.bin", weights_only=True)
    state["encoder.mystery.weight"] = torch.zeros(3)
    torch.save(state, source / "pytorch_model.bin")
    result = run_cli(source, tmp_path / "out")
    assert result.returncode == 1
    assert "unexpected 1 key (encoder.mystery.weight)" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "model.safetensors").exists()


def _fails(capsys, *argv):
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    return err


def test_other_failures_are_one_line(tmp_path, capsys):
    source = original_folder(tmp_path, SCHEMAS["LayoutLMv2ForTokenClassification"], legacy_keys=False)
    out = tmp_path / "out"
    assert main([str(source), str(out)]) == 0
    capsys.readouterr()
    assert "already holds model.safetensors; pass --overwrite" in _fails(capsys, source, out)
    assert main([str(source), str(out), "--overwrite"]) == 0
    assert "OUT must differ from IN" in _fails(capsys, source, source)

    state = torch.load(source / "pytorch_model.bin", weights_only=True)
    state["layoutlmv2.encoder.layer.0.output.dense.weight"] = torch.zeros(64, 7)
    torch.save(state, source / "pytorch_model.bin")
    assert "encoder.layer.0.output.dense.weight is [64, 7] in the checkpoint" in _fails(capsys, source, tmp_path / "o2")

    state["layoutlmv2.encoder.layer.0.output.dense.weight"] = torch.zeros(64, 128)
    state["classifier.weight"] = torch.zeros(7, 100)
    torch.save(state, source / "pytorch_model.bin")
    assert "classifier.weight has 100 input features" in _fails(capsys, source, tmp_path / "o3")

    (source / "pytorch_model.bin").write_bytes(b"not a checkpoint")
    assert "pytorch_model.bin is truncated or not a PyTorch checkpoint" in _fails(capsys, source, tmp_path / "o4")
