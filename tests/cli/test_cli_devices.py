"""``--device``, ``--precision`` and ``--compile`` of `layoutlmv2 train/evaluate/predict` on a CPU machine.

(The GPU runs are in ``benchmarks/gpu_check.py`` and the tests marked ``cuda``.)
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from layoutlmv2.cli.main import _precision, build_parser, main

from small_models import minilm_dir

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["--init-text-from", str(minilm_dir()), "--num-layers", "1", "--epochs", "1", "--batch-size", "2",
        "--image-size", "32", "--visual-mode", "zero", "--no-progress"]


def _one_line_error(err: str, command: str, *named: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"layoutlmv2 {command}: error: "), lines[0]
    for text in named:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def _train_argv(output, *extra):
    return ["train", "--task", "token-classification", "--dataset", "funsd", "--data-dir", "unused",
            "--output", str(output), *TINY, *extra]


COMMANDS = {
    "train": lambda tmp: _train_argv(tmp / "run"),
    "evaluate": lambda tmp: ["evaluate", "--model", str(tmp / "missing"), "--dataset", "funsd", "--data-dir", "x"],
    "predict": lambda tmp: ["predict", "--model", str(tmp / "missing"), str(tmp / "page.png")],
}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error of a machine without CUDA")
@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_device_cuda_without_a_gpu_is_exit_1_in_one_line(command, device, tmp_path, capsys):
    assert main([*COMMANDS[command](tmp_path), "--device", device]) == 1
    _one_line_error(capsys.readouterr().err, command, f"'{device}'", "CUDA is not available", "available: cpu")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_fp16_on_the_cpu_is_refused(command, tmp_path, capsys):
    assert main([*COMMANDS[command](tmp_path), "--device", "cpu", "--precision", "fp16"]) == 1
    _one_line_error(capsys.readouterr().err, command, "fp16 is refused on the CPU", "bf16")


def test_bf16_flag_is_an_alias_of_precision_bf16(tmp_path, capsys):
    parser = build_parser()
    for command in ("train", "evaluate"):
        argv = COMMANDS[command](tmp_path)
        assert _precision(parser.parse_args([*argv, "--bf16"])) == "bf16"
        assert _precision(parser.parse_args(argv)) == "auto"
        assert _precision(parser.parse_args([*argv, "--precision", "fp32"])) == "fp32"
    assert main([*_train_argv(tmp_path / "run"), "--bf16", "--precision", "fp16"]) == 1
    _one_line_error(capsys.readouterr().err, "train", "--bf16", "--precision fp16")


def test_every_command_has_the_device_flags(capsys):
    for command in ("train", "evaluate", "predict"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert all(flag in text for flag in ("--device", "--precision", "--compile")), command
    with pytest.raises(SystemExit) as exit_:
        main(_train_argv("o", "--precision", "fp8"))
    assert exit_.value.code == 2


def test_tiny_training_on_cpu_in_bf16_has_a_finite_loss(funsd_dir, tmp_path, capsys):
    output = tmp_path / "run"
    argv = _train_argv(output, "--device", "cpu", "--precision", "bf16", "--limit", "2", "--eval-split", "none")
    argv[argv.index("--data-dir") + 1] = str(funsd_dir)
    assert main(argv) == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    assert summary["device"] == "cpu" and summary["precision"] == "bf16"
    losses = [json.loads(line)["loss"] for line in (output / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert losses and all(math.isfinite(loss) for loss in losses)
    assert json.loads((output / "training_args.json").read_text())["precision"] == "bf16"
