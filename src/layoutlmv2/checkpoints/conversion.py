"""The key table between the original (detectron2) checkpoint naming and ours. Pure functions.

Only the visual backbone is named differently; every text-side key is the same in both.

    original (detectron2)                                  ours (timm trunk + FPN)
    visual.backbone.bottom_up.stem.conv1.weight            visual.trunk.conv1.weight
    visual.backbone.bottom_up.stem.conv1.norm.*            visual.trunk.bn1.*
    visual.backbone.bottom_up.res{s}.{b}.conv{k}.weight    visual.trunk.layer{s-1}.{b}.conv{k}.weight
    visual.backbone.bottom_up.res{s}.{b}.conv{k}.norm.*    visual.trunk.layer{s-1}.{b}.bn{k}.*
    visual.backbone.bottom_up.res{s}.0.shortcut.weight     visual.trunk.layer{s-1}.0.downsample.0.weight
    visual.backbone.bottom_up.res{s}.0.shortcut.norm.*     visual.trunk.layer{s-1}.0.downsample.1.*
    visual.backbone.fpn_lateral{l}.*                       visual.fpn.lateral.{l-2}.*
    visual.backbone.fpn_output{l}.*                        visual.fpn.output.{l-2}.*

Task checkpoints carry the same keys under `layoutlmv2.`. Published checkpoints also carry
legacy keys that neither side needs (see `LEGACY_SUFFIXES`); they are dropped on the way in and
written back with their canonical values on the way out.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import torch

_RULES_TO_OURS: List[Tuple[re.Pattern, str]] = [
    (re.compile(r"visual\.backbone\.bottom_up\.stem\.conv1\.weight$"), "visual.trunk.conv1.weight"),
    (re.compile(r"visual\.backbone\.bottom_up\.stem\.conv1\.norm\.(\w+)$"), r"visual.trunk.bn1.\1"),
    (re.compile(r"visual\.backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.weight$"), "STAGE.{b}.conv{k}.weight"),
    (re.compile(r"visual\.backbone\.bottom_up\.res(\d)\.(\d+)\.conv(\d)\.norm\.(\w+)$"), "STAGE.{b}.bn{k}.{p}"),
    (re.compile(r"visual\.backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.weight$"), "STAGE.{b}.downsample.0.weight"),
    (re.compile(r"visual\.backbone\.bottom_up\.res(\d)\.(\d+)\.shortcut\.norm\.(\w+)$"), "STAGE.{b}.downsample.1.{p}"),
    (re.compile(r"visual\.backbone\.fpn_(lateral|output)(\d)\.(\w+)$"), "FPN"),
]

_RULES_TO_ORIGINAL: List[Tuple[re.Pattern, Callable[[re.Match], str]]] = [
    (re.compile(r"visual\.trunk\.conv1\.weight$"), lambda m: "visual.backbone.bottom_up.stem.conv1.weight"),
    (re.compile(r"visual\.trunk\.bn1\.(\w+)$"), lambda m: f"visual.backbone.bottom_up.stem.conv1.norm.{m[1]}"),
    (re.compile(r"visual\.trunk\.layer(\d)\.(\d+)\.conv(\d)\.weight$"),
     lambda m: f"visual.backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.weight"),
    (re.compile(r"visual\.trunk\.layer(\d)\.(\d+)\.bn(\d)\.(\w+)$"),
     lambda m: f"visual.backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.conv{m[3]}.norm.{m[4]}"),
    (re.compile(r"visual\.trunk\.layer(\d)\.(\d+)\.downsample\.0\.weight$"),
     lambda m: f"visual.backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.shortcut.weight"),
    (re.compile(r"visual\.trunk\.layer(\d)\.(\d+)\.downsample\.1\.(\w+)$"),
     lambda m: f"visual.backbone.bottom_up.res{int(m[1]) + 1}.{m[2]}.shortcut.norm.{m[3]}"),
    (re.compile(r"visual\.fpn\.(lateral|output)\.(\d)\.(\w+)$"),
     lambda m: f"visual.backbone.fpn_{m[1]}{int(m[2]) + 2}.{m[3]}"),
]

# Keys of published checkpoints that no current model holds (reference README, "legacy keys").
LEGACY_SUFFIXES = ("num_batches_tracked", "visual.pixel_mean", "visual.pixel_std", "embeddings.position_ids")


def _split_prefix(key: str) -> Tuple[str, str]:
    """'layoutlmv2.visual.x' -> ('layoutlmv2.', 'visual.x'); head keys keep an empty prefix."""
    if key.startswith("layoutlmv2."):
        return "layoutlmv2.", key[len("layoutlmv2."):]
    return "", key


def original_key_to_ours(key: str) -> str:
    """Rename one original key (text-side keys come back unchanged)."""
    prefix, name = _split_prefix(key)
    for pattern, target in _RULES_TO_OURS:
        match = pattern.match(name)
        if not match:
            continue
        if target == "FPN":
            kind, level, param = match.groups()
            return f"{prefix}visual.fpn.{kind}.{int(level) - 2}.{param}"
        if target.startswith("STAGE"):
            stage, block, *rest = match.groups()
            fields = {"b": block}
            if "{k}" in target:
                fields["k"] = rest.pop(0)
            if "{p}" in target:
                fields["p"] = rest.pop(0)
            return prefix + target.replace("STAGE", f"visual.trunk.layer{int(stage) - 1}").format(**fields)
        return prefix + match.expand(target)
    return key


def our_key_to_original(key: str) -> str:
    prefix, name = _split_prefix(key)
    for pattern, build in _RULES_TO_ORIGINAL:
        match = pattern.match(name)
        if match:
            return prefix + build(match)
    return key


def is_legacy_key(key: str) -> bool:
    return key.endswith(LEGACY_SUFFIXES)


def uses_original_naming(keys: Iterable[str]) -> bool:
    """True for detectron2 naming (`visual.backbone.bottom_up...`), False for ours (`visual.trunk...`).

    Decided from the keys themselves; a state dict with neither (no visual weights) counts as ours.
    """
    keys = list(keys)
    original = any(".backbone.bottom_up." in k or ".backbone.fpn_" in k for k in keys)
    ours = any(k.startswith(("visual.trunk.", "layoutlmv2.visual.trunk.", "visual.fpn.", "layoutlmv2.visual.fpn."))
               for k in keys)
    if original and ours:
        raise ValueError("the checkpoint mixes original (visual.backbone.*) and converted (visual.trunk.*) key names")
    return original


def check_legacy_value(key: str, value: torch.Tensor, pixel_mean, pixel_std) -> Optional[str]:
    """Why a legacy key's value is wrong, or None if it holds what the config implies."""
    if key.endswith("visual.pixel_mean") or key.endswith("visual.pixel_std"):
        expected = torch.tensor(pixel_mean if key.endswith("mean") else pixel_std, dtype=torch.float32)
        if value.numel() != 3 or not torch.allclose(value.float().flatten(), expected, atol=1e-4):
            return (f"{key} = {value.flatten().tolist()} differs from the config's {expected.tolist()} "
                    "(detectron2_config_args MODEL.PIXEL_MEAN / MODEL.PIXEL_STD)")
    return None


def original_to_ours(state_dict: Dict[str, torch.Tensor], pixel_mean=None, pixel_std=None
                     ) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Rename an original state dict; returns (ours, {dropped legacy key: reason}).

    `pixel_mean`/`pixel_std` (from the config) are checked against legacy pixel buffers when given.
    """
    converted: Dict[str, torch.Tensor] = {}
    dropped: Dict[str, str] = {}
    for key, value in state_dict.items():
        if is_legacy_key(key):
            if pixel_mean is not None:
                problem = check_legacy_value(key, value, pixel_mean, pixel_std)
                if problem:
                    raise ValueError(problem)
            dropped[key] = legacy_reason(key)
            continue
        new_key = original_key_to_ours(key)
        if new_key in converted:
            raise ValueError(f"two checkpoint keys map to {new_key!r} (the second is {key!r})")
        converted[new_key] = value
    return converted, dropped


def ours_to_original(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    return {our_key_to_original(k): v for k, v in state_dict.items()}


def legacy_reason(key: str) -> str:
    if key.endswith("num_batches_tracked"):
        return "batch-norm step counter from SyncBatchNorm pre-training; frozen batch norm has none"
    if key.endswith(("pixel_mean", "pixel_std")):
        return "pixel normalisation is taken from the config (checked equal)"
    return "position ids are recomputed (0..L-1)"


def legacy_entries(original_keys: Iterable[str], pixel_mean, pixel_std, max_positions: int,
                   prefix: str = "") -> Dict[str, torch.Tensor]:
    """Canonical values of the legacy keys a published checkpoint carries, for writing one back.

    One zero int64 counter per backbone norm, the config's pixel mean/std (3, 1, 1), and
    position ids arange(max_positions) of shape (1, max_positions).
    """
    out: Dict[str, torch.Tensor] = {}
    for key in original_keys:
        if key.endswith(".norm.running_var") and ".backbone.bottom_up." in key:
            out[key[: -len("running_var")] + "num_batches_tracked"] = torch.tensor(0, dtype=torch.int64)
    out[f"{prefix}visual.pixel_mean"] = torch.tensor(pixel_mean, dtype=torch.float32).view(3, 1, 1)
    out[f"{prefix}visual.pixel_std"] = torch.tensor(pixel_std, dtype=torch.float32).view(3, 1, 1)
    out[f"{prefix}embeddings.position_ids"] = torch.arange(max_positions, dtype=torch.int64).unsqueeze(0)
    return out
