"""The public surface: `layoutlmv2.__all__`, the names it promises, the console scripts and the CLI commands.

Pinned by hand: adding or removing a public name, or a console script, must change this file too.
"""

import argparse
import importlib
import tomllib

import pytest

import layoutlmv2
from conftest import REPO_ROOT

PUBLIC_NAMES = [  # sorted(_EXPORTS) + ["__version__"], as layoutlmv2/__init__.py builds it
    "LayoutLMv2Config",
    "LayoutLMv2Error",
    "LayoutLMv2FeatureExtractor",
    "LayoutLMv2ForPreTraining",
    "LayoutLMv2ForQuestionAnswering",
    "LayoutLMv2ForRelationExtraction",
    "LayoutLMv2ForSequenceClassification",
    "LayoutLMv2ForTokenClassification",
    "LayoutLMv2ImageProcessor",
    "LayoutLMv2Model",
    "LayoutLMv2PreTrainedModel",
    "LayoutLMv2Processor",
    "LayoutLMv2Tokenizer",
    "LayoutLMv2TokenizerFast",
    "LayoutXLMProcessor",
    "LayoutXLMTokenizer",
    "LayoutXLMTokenizerFast",
    "pipeline",
    "synchronize_batch_norm",
    "__version__",
]

CONSOLE_SCRIPTS = {
    "layoutlmv2": "layoutlmv2.cli.main:main",
    "layoutlmv2-convert": "layoutlmv2.cli.convert:main",
    "layoutlmv2-export": "layoutlmv2.cli.export:main",
}


def test_all_is_pinned():
    assert layoutlmv2.__all__ == PUBLIC_NAMES
    assert sorted(dir(layoutlmv2)) == sorted(PUBLIC_NAMES)


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_every_public_name_resolves(name):
    value = getattr(layoutlmv2, name)
    assert value is not None
    if name == "__version__":
        assert isinstance(value, str) and value.count(".") >= 2
    elif name in ("synchronize_batch_norm", "pipeline"):
        assert callable(value) and value.__name__ == name
    else:
        assert isinstance(value, type) and value.__name__ == name


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'LayoutLMv3Model'"):
        layoutlmv2.LayoutLMv3Model  # noqa: B018


def test_feature_extractor_is_the_image_processor_under_its_old_name():
    from layoutlmv2.preprocessing.image_processing import LayoutLMv2ImageProcessor

    old, new = layoutlmv2.LayoutLMv2FeatureExtractor, layoutlmv2.LayoutLMv2ImageProcessor
    assert new is LayoutLMv2ImageProcessor
    assert issubclass(old, new)
    # an alias: the subclass adds no behaviour of its own, only the old name (and its docstring)
    assert set(vars(old)) <= {"__module__", "__qualname__", "__doc__", "__firstlineno__", "__static_attributes__"}
    assert old().to_dict() == new().to_dict()


def test_console_scripts_point_at_importable_callables():
    with open(REPO_ROOT / "pyproject.toml", "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    assert scripts == CONSOLE_SCRIPTS
    for target in scripts.values():
        module_name, _, attribute = target.partition(":")
        function = getattr(importlib.import_module(module_name), attribute)
        assert callable(function), target


def test_main_parser_has_train_evaluate_predict(capsys):
    from layoutlmv2.cli.main import build_parser

    parser = build_parser()
    commands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    assert len(commands) == 1 and sorted(commands[0].choices) == ["evaluate", "predict", "pretrain", "train"]
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert usage.startswith("usage: layoutlmv2") and all(c in usage for c in ("train", "evaluate", "predict"))
    with pytest.raises(SystemExit):  # a subcommand is required
        parser.parse_args([])
