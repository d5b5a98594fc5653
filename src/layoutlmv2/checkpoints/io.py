"""Reading and writing checkpoints: published (detectron2-named) folders and our own.

Loading reads `config.json` plus one of `model.safetensors`, `model.safetensors.index.json`,
`pytorch_model.bin` or `pytorch_model.bin.index.json` from a folder or a hub id, without ever
running pickled code (`torch.load(weights_only=True)` or safetensors). The key naming (original
or ours) is told from the keys themselves, legacy keys are dropped, and a task checkpoint loads
into the bare model (and the other way round) as in transformers. Everything that does not fit
is ONE `ValueError` naming the keys or the file.

Saving writes `config.json` + `model.safetensors` (sharded above `max_shard_size`) in our naming.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union

import torch
from torch import nn

from ..configuration import ATTRIBUTE_ALIASES as CONFIG_ALIASES, CONFIG_NAME, LayoutLMv2Config
from .conversion import original_to_ours, uses_original_naming
from ..hub import resolve_file

logger = logging.getLogger(__name__)

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "pytorch_model.bin"
WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
# Looked for in this order (safetensors first, as transformers does).
WEIGHT_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)
BASE_PREFIX = "layoutlmv2."
PRETRAINING_PREFIX = "cls."  # the pre-training heads (LayoutLMv2ForPreTraining), as BERT names them

_DTYPE_NAMES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}

PathOrId = Union[str, os.PathLike]
LOADING_OPTIONS = ("config", "strict", "dtype", "torch_dtype", "device", "revision", "cache_dir", "local_files_only",
                   "token", "output_loading_info", "ignore_mismatched_sizes")


# --------------------------------------------------------------------------- messages
def describe_keys(keys: Sequence[str], limit: int = 5) -> str:
    """'3 keys (a, b, c)' or '40 keys (a, b, c, d, e, ... 35 more)': short enough for one line."""
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    more = f", ... {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{len(keys)} key{'s' if len(keys) != 1 else ''} ({shown}{more})"


# --------------------------------------------------------------------------- reading files
def read_weights_file(path: Union[str, os.PathLike]) -> Dict[str, torch.Tensor]:
    """All tensors of one `.safetensors` or `.bin` file, on the CPU, without running pickled code.

    A pickle that asks for anything but tensors is refused; a truncated or foreign file is one
    ValueError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise ValueError(f"{path} is truncated or not a safetensors file ({err})") from err
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = str(err).strip().splitlines()
        reason = next((line.strip() for line in detail if "GLOBAL" in line), None)
        if reason is None:  # not a disallowed import: the bytes are simply not a pickle of tensors
            raise ValueError(f"{path} is truncated or not a PyTorch checkpoint ({_last_line(detail)})") from err
        raise ValueError(
            f"refused to load {path}: its pickle asks to run code or build objects other than tensors "
            f"({reason}); only plain state dicts load (weights_only=True). Convert it to safetensors "
            "with a tool you trust."
        ) from err
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(f"{path} is truncated or not a PyTorch checkpoint ({str(err).splitlines()[0].split('. ')[0]})") from err
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # a training checkpoint that wraps the weights
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    return dict(state)


def _last_line(lines: Sequence[str]) -> str:
    useful = [line.strip() for line in lines if line.strip() and "weights_only" not in line]
    return useful[-1] if useful else "unreadable"


def find_weights(path_or_id: PathOrId, **hub_kwargs) -> Path:
    """The weights file (or shard index) of a folder or hub id, safetensors preferred."""
    path = Path(path_or_id)
    if path.is_file():
        return path
    for name in WEIGHT_FILES:
        found = resolve_file(path_or_id, name, required=False, **hub_kwargs)
        if found is not None:
            return found
    raise FileNotFoundError(f"no weights found for {str(path_or_id)!r}: looked for {', '.join(WEIGHT_FILES)}")


def read_checkpoint(path_or_id: PathOrId, **hub_kwargs) -> Tuple[Dict[str, torch.Tensor], Path]:
    """(state dict, file it came from) of a folder, hub id, weights file or shard index.

    Shards are read one by one; the index's `weight_map` must list exactly the shards' keys.
    """
    weights = find_weights(path_or_id, **hub_kwargs)
    if not weights.name.endswith(".index.json"):
        return read_weights_file(weights), weights
    try:
        weight_map: Dict[str, str] = json.loads(weights.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{weights} is not a valid shard index (JSON with a 'weight_map'): {err}") from err
    state: Dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        local = weights.parent / shard
        if Path(path_or_id).is_dir() or Path(path_or_id).is_file() or local.is_file():
            shard_path = local
        else:
            shard_path = resolve_file(path_or_id, shard, **hub_kwargs)
        tensors = read_weights_file(shard_path)
        listed = {k for k, v in weight_map.items() if v == shard}
        if set(tensors) != listed:
            odd = sorted(set(tensors) ^ listed)
            raise ValueError(f"{shard_path} does not hold the keys {weights.name} lists for it: {describe_keys(odd)} differ")
        state.update(tensors)
    return state, weights


# --------------------------------------------------------------------------- matching keys
@dataclass
class LoadingInfo:
    """What happened to the keys; `from_pretrained(..., output_loading_info=True)` returns it."""

    missing_keys: List[str] = field(default_factory=list)
    unexpected_keys: List[str] = field(default_factory=list)
    mismatched_keys: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    newly_initialized_keys: List[str] = field(default_factory=list)
    dropped_keys: Dict[str, str] = field(default_factory=dict)
    original_naming: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def match_state_dict(
    checkpoint: Dict[str, torch.Tensor],
    expected: Mapping[str, Sequence[int]],
    *,
    pixel_mean: Sequence[float],
    pixel_std: Sequence[float],
    source: str,
    model_name: str,
    strict: bool = True,
    added_by_class: Iterable[str] = (),
    ignore_mismatched_sizes: bool = False,
) -> Tuple[Dict[str, torch.Tensor], LoadingInfo]:
    """Rename a checkpoint to our keys and fit it to a model's keys ({key: shape}).

    A task checkpoint fed to the bare model loses its `layoutlmv2.` prefix and head keys; a bare
    checkpoint fed to a task model gains the prefix and leaves the head (plus `added_by_class`,
    e.g. the QA head's visual segment embedding) newly initialised. With `strict`, any other
    missing, unexpected or wrongly shaped key raises one ValueError naming them all;
    `ignore_mismatched_sizes` newly initialises the wrongly shaped ones instead (a head with
    another number of labels), as transformers does.
    """
    info = LoadingInfo(original_naming=uses_original_naming(checkpoint))
    state, info.dropped_keys = original_to_ours(checkpoint, pixel_mean, pixel_std)
    if info.dropped_keys:
        logger.debug("%s: dropped legacy %s", source, describe_keys(sorted(info.dropped_keys)))
    state, by_design, announced = _fit_prefix(state, expected, info, source, model_name)
    by_design.update(added_by_class)

    missing = [k for k in expected if k not in state]
    info.newly_initialized_keys = [k for k in missing if k in by_design]
    info.missing_keys = [k for k in missing if k not in by_design]
    info.unexpected_keys = [k for k in state if k not in expected]
    info.mismatched_keys = [
        (k, tuple(v.shape), tuple(expected[k])) for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k])
    ]
    if ignore_mismatched_sizes and info.mismatched_keys:
        logger.warning("%s: %d tensor(s) of %s have another shape in the model and are newly initialised "
                       "(ignore_mismatched_sizes=True): %s", model_name, len(info.mismatched_keys), source,
                       "; ".join(f"{k} {list(a)} -> {list(b)}" for k, a, b in info.mismatched_keys[:3]))
        info.newly_initialized_keys += [k for k, _, _ in info.mismatched_keys]
    _report(info, source, model_name, strict, ignore_mismatched_sizes, announced)
    bad_shapes = {k for k, _, _ in info.mismatched_keys}
    usable = {k: v for k, v in state.items() if k in expected and k not in bad_shapes}
    return usable, info


def _fit_prefix(state: Dict[str, torch.Tensor], expected: Mapping[str, Sequence[int]], info: LoadingInfo,
                source: str, model_name: str) -> Tuple[Dict[str, torch.Tensor], set, bool]:
    """Add or drop the `layoutlmv2.` prefix between a task and a bare checkpoint, and swap the heads
    between a pre-training and a task checkpoint; returns the state, the keys the model may lack by
    design (a fresh task head), and whether the fresh keys were already announced."""
    model_has_prefix = any(k.startswith(BASE_PREFIX) for k in expected)
    checkpoint_has_prefix = any(k.startswith(BASE_PREFIX) for k in state)
    by_design: set = set()
    model_pretrains = any(k.startswith(PRETRAINING_PREFIX) for k in expected)
    checkpoint_pretrains = any(k.startswith(PRETRAINING_PREFIX) for k in state)
    model_head = {k for k in expected if not k.startswith(BASE_PREFIX)}
    checkpoint_head = {k for k in state if not k.startswith(BASE_PREFIX)}
    other_head = bool(model_head and checkpoint_head) and not model_head & checkpoint_head
    if model_has_prefix and checkpoint_has_prefix and (model_pretrains != checkpoint_pretrains or other_head):
        # pre-training checkpoint -> task head, task checkpoint -> pre-training model, or one task's
        # checkpoint -> another task's head (entity labelling -> QA): the base model loads, the other
        # class's heads are dropped and this class's start fresh (one message)
        dropped = sorted(checkpoint_head)
        state = {k: v for k, v in state.items() if k.startswith(BASE_PREFIX)}
        by_design.update(model_head)
        kind = "pre-training" if checkpoint_pretrains else "task"
        if dropped:
            logger.warning("%s: loading a %s checkpoint into %s: its %s head weights (%s) are dropped; "
                           "%s of %s start fresh", source, kind, model_name, kind, describe_keys(dropped),
                           describe_keys(sorted(by_design)), model_name)
        else:  # a base checkpoint saved with the prefix: nothing to drop
            logger.warning("%s: %s newly initialised, not in %s; train them before use", model_name,
                           describe_keys(sorted(by_design)), source)
        info.dropped_keys.update({k: f"{kind} head weights, not part of {model_name}" for k in dropped})
        return state, by_design, True
    if checkpoint_has_prefix and not model_has_prefix:  # task checkpoint -> bare model
        head_keys = sorted(checkpoint_head)
        state = {k[len(BASE_PREFIX):]: v for k, v in state.items() if k.startswith(BASE_PREFIX)}
        if head_keys:
            logger.info("%s: %s of the task head not used by %s", source, describe_keys(head_keys), model_name)
            info.dropped_keys.update({k: "task head weights, not part of the bare model" for k in head_keys})
    elif model_has_prefix and not checkpoint_has_prefix:  # bare checkpoint -> task model
        state = {BASE_PREFIX + k: v for k, v in state.items()}
        by_design.update(model_head)
    return state, by_design, False


def _report(info: LoadingInfo, source: str, model_name: str, strict: bool,
            ignore_mismatched_sizes: bool = False, announced: bool = False) -> None:
    """One ValueError naming every missing, unexpected and wrongly shaped key (`strict`), else warnings."""
    problems = []
    if info.mismatched_keys and not ignore_mismatched_sizes:
        shown = "; ".join(f"{k} is {list(a)} in the checkpoint but {list(b)} in the model"
                          for k, a, b in info.mismatched_keys[:3])
        more = f"; ... ({len(info.mismatched_keys) - 3} more)" if len(info.mismatched_keys) > 3 else ""
        problems.append(f"{len(info.mismatched_keys)} tensor(s) have the wrong shape ({shown}{more})")
    if info.missing_keys:
        problems.append(f"missing {describe_keys(info.missing_keys)}")
    if info.unexpected_keys:
        problems.append(f"unexpected {describe_keys(info.unexpected_keys)}")
    if problems and strict:
        hint = (" (or ignore_mismatched_sizes=True to start the wrongly shaped ones afresh)"
                if info.mismatched_keys and not ignore_mismatched_sizes else "")
        raise ValueError(
            f"{source} does not fit {model_name}: " + "; ".join(problems)
            + f". Does config.json belong to these weights? Pass strict=False to load what fits{hint}."
        )
    if problems:
        logger.warning("%s loaded into %s with strict=False: %s", source, model_name, "; ".join(problems))
    if info.newly_initialized_keys and not announced:
        logger.warning("%s: %s newly initialised, not in %s; train them before use",
                       model_name, describe_keys(info.newly_initialized_keys), source)


# --------------------------------------------------------------------------- building models fast
@contextlib.contextmanager
def skip_weight_init() -> Iterator[None]:
    """Make `torch.nn.init.*_` no-ops while a model whose weights will be loaded is built.

    Random initialisation of the 200M-parameter base model takes ~10 s and is overwritten at
    once; keys that the checkpoint does not provide are initialised afterwards, module by module.
    Process-wide while active, like transformers' `no_init_weights`.
    """
    names = [n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_") and callable(getattr(nn.init, n))]
    saved = {n: getattr(nn.init, n) for n in names}

    def keep(tensor, *args, **kwargs):
        return tensor

    try:
        for name in names:
            setattr(nn.init, name, keep)
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _initialise_keys(model: nn.Module, keys: Iterable[str]) -> None:
    """Really initialise the modules that own `keys` (the rest of the model is loaded)."""
    owners = {key.rpartition(".")[0] for key in keys}
    for owner_name in sorted(owners):
        owner = model.get_submodule(owner_name) if owner_name else model
        if hasattr(owner, "reset_parameters"):
            owner.reset_parameters()
        model._init_weights(owner)


def resolve_dtype(torch_dtype, state_dict: Mapping[str, torch.Tensor]) -> Optional[torch.dtype]:
    """torch dtype, a name ("bfloat16", "fp16", ...), "auto" (the checkpoint's float dtype) or None."""
    if torch_dtype is None or isinstance(torch_dtype, torch.dtype):
        dtype = torch_dtype
    elif torch_dtype == "auto":
        dtype = next((v.dtype for v in state_dict.values() if v.is_floating_point()), None)
    elif isinstance(torch_dtype, str) and torch_dtype.removeprefix("torch.") in _DTYPE_NAMES:
        dtype = _DTYPE_NAMES[torch_dtype.removeprefix("torch.")]
    else:
        raise ValueError(f"torch_dtype={torch_dtype!r} is not a torch dtype, 'auto' or one of {sorted(_DTYPE_NAMES)}")
    if dtype is not None and not dtype.is_floating_point:
        raise ValueError(f"torch_dtype={dtype} is not a floating-point dtype")
    return dtype


def _resolve_config(path_or_id: PathOrId, config: Optional[LayoutLMv2Config], hub_kwargs: dict,
                    overrides: dict) -> LayoutLMv2Config:
    if config is not None and not isinstance(config, LayoutLMv2Config):
        raise ValueError(f"config must be a LayoutLMv2Config, got {type(config).__name__}")
    base = config if config is not None else LayoutLMv2Config.from_pretrained(path_or_id, **hub_kwargs)
    unknown = sorted(k for k in overrides if not hasattr(base, k) and k not in CONFIG_ALIASES)
    if unknown:
        raise ValueError(f"from_pretrained got unknown keyword argument(s) {', '.join(unknown)}: not loading "
                         f"options ({', '.join(LOADING_OPTIONS)}) nor LayoutLMv2Config fields")
    if config is None:
        return LayoutLMv2Config.from_pretrained(path_or_id, **hub_kwargs, **overrides) if overrides else base
    if overrides:
        config = config.copy()
        for key, value in overrides.items():
            setattr(config, key, value)
        config.validate()
    return config


# --------------------------------------------------------------------------- public API
def load_pretrained(
    cls: Type[nn.Module],
    path_or_id: PathOrId,
    config: Optional[LayoutLMv2Config] = None,
    strict: bool = True,
    torch_dtype: Union[None, str, torch.dtype] = None,
    device: Union[None, str, torch.device] = None,
    revision: Optional[str] = None,
    cache_dir: Optional[Union[str, os.PathLike]] = None,
    local_files_only: bool = False,
    token: Optional[str] = None,
    output_loading_info: bool = False,
    dtype: Union[None, str, torch.dtype] = None,
    ignore_mismatched_sizes: bool = False,
    **config_overrides,
):
    """Build `cls` from a checkpoint folder, weights file or hub id; returns the model in eval mode.

    `config` replaces the folder's config.json; other keyword arguments must be config fields and
    override them (e.g. `num_labels=7`); anything else is an error naming it. `dtype` (or its older
    name `torch_dtype`) casts the model (default float32; "auto" keeps the checkpoint's dtype).
    `ignore_mismatched_sizes` starts wrongly shaped tensors afresh instead of failing. With
    `output_loading_info=True` returns (model, LoadingInfo.as_dict()).
    """
    hub_kwargs = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
    if dtype is not None and torch_dtype is not None and dtype != torch_dtype:
        raise ValueError(f"dtype={dtype!r} and torch_dtype={torch_dtype!r} disagree; give one (dtype is the new name)")
    config = _resolve_config(path_or_id, config, hub_kwargs, config_overrides)
    checkpoint, weights_path = read_checkpoint(path_or_id, **hub_kwargs)
    dtype = resolve_dtype(dtype if dtype is not None else torch_dtype, checkpoint)

    with skip_weight_init():
        model = cls(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    added_by_class = []
    if getattr(model.config, "has_visual_segment_embedding", False) and not config.has_visual_segment_embedding:
        added_by_class.append(BASE_PREFIX + "visual_segment_embedding")  # the QA head forces it on
    settings = config.backbone_settings()
    state, info = match_state_dict(
        checkpoint, expected, pixel_mean=settings.pixel_mean, pixel_std=settings.pixel_std,
        source=str(weights_path), model_name=cls.__name__, strict=strict, added_by_class=added_by_class,
        ignore_mismatched_sizes=ignore_mismatched_sizes,
    )
    del checkpoint
    not_loaded = [k for k in expected if k not in state]
    if not_loaded:
        _initialise_keys(model, not_loaded)
    # Cast before assigning so each tensor is stored once, in the model's own dtype.
    own = model.state_dict()
    for key, value in state.items():
        target = dtype if (dtype is not None and value.is_floating_point()) else own[key].dtype
        state[key] = value.to(target)
    model.load_state_dict(state, strict=False, assign=True)
    del state
    if hasattr(model, "tie_weights"):
        model.tie_weights()  # assign=True gave tied keys (the MVLM decoder) their own tensors: share again
    if dtype is not None:
        model.to(dtype=dtype)
    if device is not None:
        model.to(device)
    model.eval()
    return (model, info.as_dict()) if output_loading_info else model


def _unshare(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Contiguous tensors with no storage shared between keys (safetensors refuses both)."""
    seen = set()
    out = {}
    for key, value in state.items():
        value = value.detach()
        storage = (value.device, value.untyped_storage().data_ptr()) if value.numel() else None
        if storage in seen or not value.is_contiguous():
            value = value.clone(memory_format=torch.contiguous_format)
        elif storage is not None:
            seen.add(storage)
        out[key] = value.contiguous()
    return out


def _usual_permissions(path: Path) -> None:
    """Files get the permissions the umask gives (safetensors creates them owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_state_dict(state: Dict[str, torch.Tensor], save_directory: Union[str, os.PathLike],
                     max_shard_size: Union[int, str] = "5GB", safe_serialization: bool = True) -> List[Path]:
    """Write weights as `model.safetensors` or `pytorch_model.bin`, sharded above `max_shard_size`.

    Shards are `model-00001-of-0000N.safetensors` with `model.safetensors.index.json`
    (`metadata.total_size`, `weight_map`), as transformers writes them. Stale files of an earlier
    save with the same pattern are removed first. Returns the files written.
    """
    from huggingface_hub import split_torch_state_dict_into_shards

    directory = Path(save_directory)
    directory.mkdir(parents=True, exist_ok=True)
    pattern = "model{suffix}.safetensors" if safe_serialization else "pytorch_model{suffix}.bin"
    before, _, after = pattern.partition("{suffix}")
    stale = re.compile(re.escape(before) + r"(-\d{5}-of-\d{5})?" + re.escape(after) + r"(\.index\.json)?")
    for old in directory.iterdir():
        if stale.fullmatch(old.name):
            old.unlink()

    state = _unshare(state)
    split = split_torch_state_dict_into_shards(state, filename_pattern=pattern, max_shard_size=max_shard_size)
    written = []
    for filename, keys in split.filename_to_tensors.items():
        shard = {k: state[k] for k in keys}
        target = directory / filename
        if safe_serialization:
            from safetensors.torch import save_file

            save_file(shard, str(target), metadata={"format": "pt"})
        else:
            torch.save(shard, target)
        _usual_permissions(target)
        written.append(target)
    if split.is_sharded:
        index = {"metadata": dict(split.metadata), "weight_map": dict(sorted(split.tensor_to_filename.items()))}
        index_path = directory / (pattern.format(suffix="") + ".index.json")
        index_path.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        written.append(index_path)
    return written


def save_pretrained(model: nn.Module, save_directory: Union[str, os.PathLike],
                    max_shard_size: Union[int, str] = "5GB", safe_serialization: bool = True) -> None:
    """Write `config.json` and the weights in our naming (`model.safetensors` by default).

    `max_shard_size` is bytes or a string such as "5GB" (10**9) or "500MiB" (2**20), as in
    transformers. `safe_serialization=False` writes `pytorch_model.bin` instead.
    """
    directory = Path(save_directory)
    if directory.is_file():
        raise ValueError(f"save_directory {directory} is a file, not a folder")
    directory.mkdir(parents=True, exist_ok=True)
    config = model.config.copy()
    config.architectures = [type(model).__name__]
    config.save_pretrained(directory)
    files = write_state_dict(model.state_dict(), directory, max_shard_size, safe_serialization)
    logger.info("saved %s to %s (%d weight file(s))", type(model).__name__, directory, len(files))


__all__ = [
    "CONFIG_NAME", "WEIGHT_FILES", "LoadingInfo", "describe_keys", "find_weights", "load_pretrained",
    "match_state_dict", "read_checkpoint", "read_weights_file", "resolve_dtype", "save_pretrained",
    "skip_weight_init", "write_state_dict",
]
