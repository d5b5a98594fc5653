"""`layoutlmv2-convert IN OUT`: published (detectron2-named) checkpoints <-> our format.

    layoutlmv2-convert microsoft/layoutlmv2-base-uncased ./layoutlmv2-base       # original -> ours
    layoutlmv2-convert ./layoutlmv2-base ./back --to original --format safetensors
    layoutlmv2-convert IN OUT --dtype bf16 --check

Works on state dicts, not models: keys are renamed with the table in `conversion.py`, checked
against the keys and shapes of the model class they belong to (built on the meta device, no
memory), cast if asked, and written. config.json is copied as it is, together with the
tokenizer and preprocessor files. Any failure exits with status 1 and a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch

from .. import registry
from ..checkpoints.conversion import legacy_entries, ours_to_original, uses_original_naming
from ..checkpoints.io import (
    WEIGHT_FILES,
    describe_keys,
    match_state_dict,
    read_checkpoint,
    resolve_dtype,
    write_state_dict,
)
from ..configuration import CONFIG_NAME, LayoutLMv2Config
from ..hub import resolve_file
from ..modeling.example_inputs import example_inputs

# Files a model folder carries besides config and weights; copied along when present.
SIDE_FILES = (
    "vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "sentencepiece.bpe.model", "preprocessor_config.json",
)
PROGRESS_MIN_BYTES = 100 * 2**20  # a progress bar only for checkpoints above 100 MiB


class ConversionError(Exception):
    """A reason to stop, printed as one line."""


def model_class_for(shapes: Mapping[str, Sequence[int]], config: LayoutLMv2Config):
    """The model class a state dict belongs to, told from its head keys ({key: shape}, either naming)."""
    if "qa_outputs.weight" in shapes:
        return registry.TASKS["question-answering"].model_class
    if "extractor.entity_emb.weight" in shapes:  # layoutlmft's relation decoder
        return registry.TASKS["relation-extraction"].model_class
    if "classifier.weight" in shapes:
        width = int(shapes["classifier.weight"][-1])
        if width == 3 * config.hidden_size:
            return registry.TASKS["sequence-classification"].model_class
        if width == config.hidden_size:
            return registry.TASKS["token-classification"].model_class
        raise ConversionError(
            f"classifier.weight has {width} input features: neither hidden_size ({config.hidden_size}, token "
            f"classification) nor 3 * hidden_size (sequence classification); does config.json fit?")
    if any(k.startswith("layoutlmv2.") for k in shapes):
        raise ConversionError("the checkpoint has layoutlmv2.* keys but no known task head (classifier.*, qa_outputs.*, extractor.*)")
    return registry.TASKS["base"].model_class


def _read_config(source: str, hub_kwargs: dict) -> dict:
    path = Path(source)
    config_file = path.parent / CONFIG_NAME if path.is_file() else resolve_file(source, CONFIG_NAME, **hub_kwargs)
    try:
        return json.loads(Path(config_file).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ConversionError(f"{config_file} is not valid JSON: {err}") from err


def _expected_shapes(cls, config: LayoutLMv2Config) -> Dict[str, tuple]:
    with torch.device("meta"):
        model = cls(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _cast(state: Dict[str, torch.Tensor], dtype: Optional[torch.dtype], show_progress: bool) -> Dict[str, torch.Tensor]:
    from tqdm.auto import tqdm

    out = {}
    for key, value in tqdm(state.items(), total=len(state), desc="converting", unit="tensor",
                           disable=None if show_progress else True, leave=False):
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        out[key] = value.contiguous()
    return out


@dataclass
class _Converted:
    """What a conversion read and wrote, for its summary."""

    weights_path: Any  # as read_checkpoint names it
    was_original: bool
    model_name: str
    weights: Dict[str, torch.Tensor]  # in our naming, cast
    written: Dict[str, torch.Tensor]  # what went to disk (+ legacy keys)
    legacy: int
    dtype: Optional[torch.dtype]
    files: List[Path]
    copied: List[str]
    dropped: Dict[str, str]


def convert(args: argparse.Namespace) -> List[str]:
    """Do the conversion; returns the summary lines."""
    source, target = str(args.input), Path(args.output)
    hub_kwargs = dict(revision=args.revision, cache_dir=args.cache_dir, local_files_only=args.local_files_only)
    _check_output(source, target, args.overwrite)
    raw_config = _read_config(source, hub_kwargs)
    config = LayoutLMv2Config.from_dict(raw_config)
    settings = config.backbone_settings()
    state, weights_path = read_checkpoint(source, **hub_kwargs)
    was_original = uses_original_naming(state)
    dtype = resolve_dtype(args.dtype, state) if args.dtype else None
    cls, ours, info = _to_our_naming(state, config, settings, weights_path)
    del state
    total_bytes = sum(v.numel() * v.element_size() for v in ours.values())
    ours = _cast(ours, dtype, show_progress=total_bytes >= PROGRESS_MIN_BYTES)
    out_state, legacy, safe = _output_state(ours, args, cls, config, settings)
    files = write_state_dict(out_state, target, max_shard_size=args.max_shard_size, safe_serialization=safe)
    (target / CONFIG_NAME).write_text(json.dumps(raw_config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    copied = _copy_side_files(source, target, hub_kwargs)
    converted = _Converted(weights_path, was_original, cls.__name__, ours, out_state, legacy, dtype, files,
                           copied, dict(info.dropped_keys))
    lines = _summary_lines(converted, target, args.to)
    if args.check:
        lines.append(check_outputs(source, target, cls, hub_kwargs))
    return lines


def _check_output(source: str, target: Path, overwrite: bool) -> None:
    if Path(source).exists() and Path(source).resolve() == target.resolve():
        raise ConversionError("OUT must differ from IN")
    if target.is_file():
        raise ConversionError(f"{target} is a file; OUT must be a folder")
    present = [n for n in WEIGHT_FILES if (target / n).exists()]
    if present and not overwrite:
        raise ConversionError(f"{target} already holds {', '.join(present)}; pass --overwrite to replace")


def _to_our_naming(state: Dict[str, torch.Tensor], config: LayoutLMv2Config, settings: Any,
                   weights_path: Any) -> tuple:
    """(model class, state dict in our naming, match info): keys renamed, checked against the class's shapes."""
    cls = model_class_for({k: v.shape for k, v in state.items()}, config)
    ours, info = match_state_dict(state, _expected_shapes(cls, config), pixel_mean=settings.pixel_mean,
                                  pixel_std=settings.pixel_std, source=str(weights_path), model_name=cls.__name__)
    return cls, ours, info


def _output_state(ours: Dict[str, torch.Tensor], args: argparse.Namespace, cls: Any,
                  config: LayoutLMv2Config, settings: Any) -> tuple:
    """(state dict to write, number of legacy keys in it, safetensors?) for ``--to`` and ``--format``."""
    if args.to != "original":
        return ours, 0, True
    out_state = ours_to_original(ours)
    legacy = {}
    if not args.no_legacy_keys:
        prefix = "layoutlmv2." if cls.__name__ != "LayoutLMv2Model" else ""
        legacy = legacy_entries(list(out_state), settings.pixel_mean, settings.pixel_std,
                                config.max_position_embeddings, prefix=prefix)
        out_state.update(legacy)
    return out_state, len(legacy), args.format == "safetensors"


def _summary_lines(c: _Converted, target: Path, to: str) -> List[str]:
    params = sum(v.numel() for v in c.weights.values() if v.is_floating_point())
    dtype = c.dtype or next((v.dtype for v in c.weights.values() if v.is_floating_point()), "-")
    lines = [
        f"converted {c.weights_path} ({'original' if c.was_original else 'our'} naming) -> {target} "
        f"({'original' if to == 'original' else 'our'} naming) as {c.model_name}",
        f"  tensors: {len(c.written)} ({len(c.weights)} weights + {c.legacy} legacy keys), parameters: {params:,}, "
        f"dtype: {str(dtype)[6:]}",
        f"  written: {', '.join(f.name for f in c.files)} + {CONFIG_NAME} "
        f"({sum(f.stat().st_size for f in c.files):,} bytes)",
    ]
    if c.copied:
        lines.append(f"  copied: {', '.join(c.copied)}")
    reasons: Dict[str, List[str]] = {}
    for key, why in c.dropped.items():
        reasons.setdefault(why, []).append(key)
    for why, keys in reasons.items():
        lines.append(f"  dropped {describe_keys(sorted(keys), limit=2)}: {why}")
    if c.legacy:
        lines.append(f"  legacy keys written with canonical values: {c.legacy} "
                     "(zero counters, config pixel mean/std, arange position ids; --no-legacy-keys omits them)")
    return lines


def _copy_side_files(source: str, target: Path, hub_kwargs: dict) -> List[str]:
    copied = []
    folder = Path(source).parent if Path(source).is_file() else None
    for name in SIDE_FILES:
        if folder is not None:
            found = folder / name if (folder / name).is_file() else None
        else:
            found = resolve_file(source, name, required=False, **hub_kwargs)
        if found is not None:
            shutil.copyfile(found, target / name)
            copied.append(name)
    return copied


def check_outputs(source: str, target: Path, cls, hub_kwargs: dict) -> str:
    """Load IN and OUT (float32) and compare their outputs on one fixed input."""
    before = cls.from_pretrained(source, torch_dtype=torch.float32, **hub_kwargs)
    after = cls.from_pretrained(target, torch_dtype=torch.float32)
    inputs = example_inputs(before.config, batch_size=1, seq_length=16, padded_tokens=0)
    with torch.no_grad():
        a, b = before(**inputs), after(**inputs)
    diffs = {k: float((a[k] - b[k]).abs().max()) for k in a.keys() if isinstance(a[k], torch.Tensor)}
    worst = max(diffs.values())
    return "  check: max |IN - OUT| = " + f"{worst:.3g} (" + ", ".join(f"{k} {v:.3g}" for k, v in diffs.items()) + ")"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layoutlmv2-convert",
        description="Convert LayoutLMv2 / LayoutXLM checkpoints between the published (detectron2) key names "
                    "and this library's format (config.json + model.safetensors).",
    )
    parser.add_argument("input", metavar="IN", help="checkpoint folder, weights file or hub id")
    parser.add_argument("output", metavar="OUT", help="folder to write")
    parser.add_argument("--to", choices=("ours", "original"), default="ours",
                        help="naming of the output (default: ours)")
    parser.add_argument("--format", choices=("bin", "safetensors"), default="bin",
                        help="file format of an original-naming output (default: pytorch_model.bin); "
                             "our format is always safetensors")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default=None,
                        help="cast floating-point weights (default: keep)")
    parser.add_argument("--no-legacy-keys", action="store_true",
                        help="with --to original: leave out num_batches_tracked, pixel_mean/std and position_ids")
    parser.add_argument("--max-shard-size", default="5GB", help="shard above this size (default: 5GB)")
    parser.add_argument("--check", action="store_true",
                        help="load IN and OUT and print the max abs difference of their outputs on a fixed input")
    parser.add_argument("--overwrite", action="store_true", help="replace weights already in OUT")
    parser.add_argument("--revision", default=None, help="hub revision of IN")
    parser.add_argument("--cache-dir", default=None, help="huggingface_hub cache folder")
    parser.add_argument("--local-files-only", action="store_true", help="never download")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        lines = convert(args)
    except (ConversionError, ValueError, OSError, RuntimeError) as err:
        if args.debug:
            raise
        reason = " ".join(str(err).split()) or type(err).__name__
        print(f"layoutlmv2-convert: error: {reason}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
