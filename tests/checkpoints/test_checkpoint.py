"""from_pretrained / save_pretrained against checkpoints written from the ORIGINAL schemas.

The folders are built from the golden schemas' key names and shapes (the real published
naming) with the seeded recipe, never from our own model's keys. Small (ResNeXt-50, hidden 64)
schemas for the default loop; base, large and LayoutXLM are marked slow.
"""

import json
import logging
import os
import shutil
import time

import numpy as np
import pytest
import torch

import layoutlmv2
from layoutlmv2 import LayoutLMv2Config
from layoutlmv2.checkpoints.io import read_checkpoint, resolve_dtype
from layoutlmv2.checkpoints.conversion import our_key_to_original, ours_to_original
from layoutlmv2.checkpoints.seeded_weights import seeded_array

from golden import load_case, schema, tolerance
from seeded_folders import seeded_original, write_original_folder

SMALL = {
    "LayoutLMv2Model": ("small_r50_32x4d_model", "small_r50_32x4d_b2_s16"),
    "LayoutLMv2ForSequenceClassification": ("small_r50_32x4d_sequence_classification",
                                            "small_r50_32x4d_sequence_classification_b2_s16"),
    "LayoutLMv2ForTokenClassification": ("small_r50_32x4d_token_classification",
                                         "small_r50_32x4d_token_classification_b2_s16"),
    "LayoutLMv2ForQuestionAnswering": ("small_r50_32x4d_question_answering",
                                       "small_r50_32x4d_question_answering_b2_s16"),
}


@pytest.fixture(scope="module")
def small_folders(tmp_path_factory):
    """One original-format folder (with legacy keys) per small schema."""
    root = tmp_path_factory.mktemp("original")
    return {cls: write_original_folder(name, root / name) for cls, (name, _) in SMALL.items()}


def assert_equals_seeded(model, schema_name):
    """Every tensor of the model, renamed to the original naming, is the seeded value bit for bit."""
    state = ours_to_original(model.state_dict())
    expected = seeded_original(schema_name)
    assert sorted(state) == sorted(expected)
    different = [k for k in expected if not torch.equal(state[k], expected[k])]
    assert different == []


def assert_golden(model, case_name):
    inputs, golden, _ = load_case(case_name)
    with torch.no_grad():
        out = model(**inputs)
    checked = 0
    for name, expected in golden.items():
        if name in out.keys():
            diff = float(np.abs(out[name].double().numpy() - expected).max())
            assert diff <= tolerance(case_name, name), f"{case_name} {name}: {diff:.3g}"
            checked += 1
    assert checked >= 2


# --------------------------------------------------------------------------- published folders
@pytest.mark.parametrize("class_name", list(SMALL))
def test_original_folder_with_legacy_keys_loads_exactly_and_gives_golden_outputs(small_folders, class_name):
    schema_name, case_name = SMALL[class_name]
    cls = getattr(layoutlmv2, class_name)
    model, info = cls.from_pretrained(small_folders[class_name], output_loading_info=True)
    assert info["original_naming"]
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["mismatched_keys"] == []
    assert info["newly_initialized_keys"] == []
    assert set(info["dropped_keys"]) == set(schema(schema_name)["legacy_keys"])  # exactly the legacy keys
    assert not model.training and model.dtype == torch.float32
    assert_equals_seeded(model, schema_name)
    assert_golden(model, case_name)


def test_original_safetensors_and_sharded_bin_index_load(small_folders, tmp_path):
    seeded = seeded_original("small_r50_32x4d_model")
    folder = write_original_folder("small_r50_32x4d_model", tmp_path / "st", legacy_keys=False,
                                   weights_name="model.safetensors")
    assert_equals_seeded(layoutlmv2.LayoutLMv2Model.from_pretrained(folder), "small_r50_32x4d_model")

    # a transformers-style sharded pickle checkpoint: pytorch_model-0000k-of-00003.bin + index
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    shutil.copy(folder / "config.json", sharded)
    keys = sorted(seeded)
    weight_map = {}
    for i, part in enumerate(np.array_split(np.arange(len(keys)), 3)):
        name = f"pytorch_model-{i + 1:05d}-of-00003.bin"
        torch.save({keys[j]: seeded[keys[j]] for j in part}, sharded / name)
        weight_map.update({keys[j]: name for j in part})
    (sharded / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    assert_equals_seeded(layoutlmv2.LayoutLMv2Model.from_pretrained(sharded), "small_r50_32x4d_model")

    # the index and the shards disagree: one error naming the shard and the key
    weight_map.pop(keys[0])
    (sharded / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    with pytest.raises(ValueError, match=rf"pytorch_model-00001-of-00003.bin.*{keys[0]}"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(sharded)


def test_architectures_in_config_does_not_choose_the_class(small_folders):
    config = json.loads((small_folders["LayoutLMv2ForQuestionAnswering"] / "config.json").read_text())
    assert config["architectures"] == ["LayoutLMv2ForQuestionAnswering"]
    model = layoutlmv2.LayoutLMv2ForTokenClassification.from_pretrained(
        small_folders["LayoutLMv2ForTokenClassification"])
    assert type(model).__name__ == "LayoutLMv2ForTokenClassification"


# --------------------------------------------------------------------------- head <-> base
def test_head_checkpoint_into_base_model_drops_the_head_with_one_message(small_folders, caplog):
    with caplog.at_level(logging.DEBUG, logger="layoutlmv2.checkpoints.io"):
        model, info = layoutlmv2.LayoutLMv2Model.from_pretrained(
            small_folders["LayoutLMv2ForSequenceClassification"], output_loading_info=True)
    head_messages = [r for r in caplog.records if "classifier" in r.getMessage()]
    assert len(head_messages) == 1 and "classifier.weight" in head_messages[0].getMessage()
    assert head_messages[0].levelno == logging.INFO
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    expected = seeded_original("small_r50_32x4d_sequence_classification")
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected["layoutlmv2." + our_key_to_original(key)]), key


def test_base_checkpoint_into_token_classification_initialises_only_the_head(small_folders, caplog):
    with caplog.at_level(logging.WARNING, logger="layoutlmv2.checkpoints.io"):
        model, info = layoutlmv2.LayoutLMv2ForTokenClassification.from_pretrained(
            small_folders["LayoutLMv2Model"], num_labels=5, output_loading_info=True)
    assert info["newly_initialized_keys"] == ["classifier.weight", "classifier.bias"]
    assert info["missing_keys"] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "classifier.weight" in warnings[0] and "newly initialised" in warnings[0]
    assert model.classifier.weight.shape == (5, 64) and model.config.num_labels == 5
    assert float(model.classifier.weight.detach().std()) == pytest.approx(0.02, rel=0.3)  # transformers' init, not garbage
    assert torch.count_nonzero(model.classifier.bias) == 0
    expected = seeded_original("small_r50_32x4d_model")
    for key, value in model.layoutlmv2.state_dict().items():
        assert torch.equal(value, expected[our_key_to_original(key)]), key


def test_base_checkpoint_into_question_answering_reports_the_visual_segment_embedding(small_folders, caplog):
    with caplog.at_level(logging.WARNING, logger="layoutlmv2.checkpoints.io"):
        model, info = layoutlmv2.LayoutLMv2ForQuestionAnswering.from_pretrained(
            small_folders["LayoutLMv2Model"], output_loading_info=True)
    assert sorted(info["newly_initialized_keys"]) == [
        "layoutlmv2.visual_segment_embedding", "qa_outputs.bias", "qa_outputs.weight"]
    assert "layoutlmv2.visual_segment_embedding" in caplog.text
    assert torch.isfinite(model.layoutlmv2.visual_segment_embedding).all()
    assert 0 < float(model.layoutlmv2.visual_segment_embedding.detach().abs().max()) < 0.2


def test_one_tasks_checkpoint_into_another_tasks_head_keeps_the_base_with_one_message(small_folders, caplog):
    """Entity labelling -> QA (a two-stage recipe): the base model loads, the other head is dropped."""
    with caplog.at_level(logging.WARNING, logger="layoutlmv2.checkpoints.io"):
        model, info = layoutlmv2.LayoutLMv2ForQuestionAnswering.from_pretrained(
            small_folders["LayoutLMv2ForTokenClassification"], output_loading_info=True)
    assert sorted(info["newly_initialized_keys"]) == [
        "layoutlmv2.visual_segment_embedding", "qa_outputs.bias", "qa_outputs.weight"]
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "task checkpoint" in warnings[0] and "classifier.weight" in warnings[0]
    expected = seeded_original("small_r50_32x4d_token_classification")
    for key, value in model.layoutlmv2.state_dict().items():
        if key != "visual_segment_embedding":
            assert torch.equal(value, expected["layoutlmv2." + our_key_to_original(key)]), key


def test_a_head_checkpoint_missing_its_own_head_is_still_refused(small_folders, tmp_path):
    folder = _copy_with(small_folders["LayoutLMv2ForQuestionAnswering"], tmp_path,
                        lambda s: s.pop("qa_outputs.weight"))
    with pytest.raises(ValueError, match=r"missing 1 key \(qa_outputs.weight\)"):
        layoutlmv2.LayoutLMv2ForQuestionAnswering.from_pretrained(folder)


# --------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("max_shard_size", ["5GB", "50MB"])
def test_save_pretrained_round_trips_bit_exactly(small_folders, tmp_path, max_shard_size):
    model = layoutlmv2.LayoutLMv2ForQuestionAnswering.from_pretrained(small_folders["LayoutLMv2ForQuestionAnswering"])
    model.save_pretrained(tmp_path, max_shard_size=max_shard_size)
    files = sorted(p.name for p in tmp_path.iterdir())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["LayoutLMv2ForQuestionAnswering"]
    assert LayoutLMv2Config.from_dict(config) == model.config
    if max_shard_size == "5GB":
        assert files == ["config.json", "model.safetensors"]
    else:  # 114 MB in 50 MB shards
        assert files == ["config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                         "model-00003-of-00003.safetensors", "model.safetensors.index.json"]
        index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
        state = model.state_dict()
        assert index["metadata"]["total_size"] == sum(v.numel() * v.element_size() for v in state.values())
        assert set(index["weight_map"]) == set(state)
        for name in set(index["weight_map"].values()):
            assert (tmp_path / name).stat().st_size <= 50 * 10**6 + 10**5
    reloaded, info = layoutlmv2.LayoutLMv2ForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["original_naming"] and info["dropped_keys"] == {}
    before, after = model.state_dict(), reloaded.state_dict()
    assert sorted(before) == sorted(after)
    assert [k for k in before if not torch.equal(before[k], after[k])] == []
    # safetensors weights are memory-mapped: saving over the folder they come from must be safe
    reloaded.save_pretrained(tmp_path, max_shard_size=max_shard_size)
    again = layoutlmv2.LayoutLMv2ForQuestionAnswering.from_pretrained(tmp_path).state_dict()
    assert [k for k in before if not torch.equal(before[k], again[k])] == []


def test_save_makes_non_contiguous_and_shared_tensors_savable(tmp_path):
    from layoutlmv2.checkpoints.io import write_state_dict

    base = torch.arange(12, dtype=torch.float32).view(3, 4)
    state = {"a": base, "b": base, "c": base.t()}  # b shares a's storage; c is a non-contiguous view
    write_state_dict(state, tmp_path)
    back, _ = read_checkpoint(tmp_path)
    assert set(back) == {"a", "b", "c"} and torch.equal(back["c"], base.t()) and torch.equal(back["b"], base)


def test_save_pretrained_pickle_format_and_overwrite_removes_stale_shards(small_folders, tmp_path):
    model = layoutlmv2.LayoutLMv2Model.from_pretrained(small_folders["LayoutLMv2Model"])
    model.save_pretrained(tmp_path, max_shard_size="50MB")
    model.save_pretrained(tmp_path)  # one file now: the three shards and the index must go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    model.save_pretrained(tmp_path / "bin", safe_serialization=False)
    assert (tmp_path / "bin" / "pytorch_model.bin").is_file()
    assert_equals_seeded(layoutlmv2.LayoutLMv2Model.from_pretrained(tmp_path / "bin"), "small_r50_32x4d_model")


@pytest.mark.parametrize("dtype, expected", [(torch.bfloat16, torch.bfloat16), ("float16", torch.float16),
                                             ("bf16", torch.bfloat16), (None, torch.float32)])
def test_torch_dtype(small_folders, dtype, expected):
    model = layoutlmv2.LayoutLMv2Model.from_pretrained(small_folders["LayoutLMv2Model"], torch_dtype=dtype,
                                                       device="cpu")
    assert {p.dtype for p in model.parameters()} == {expected}
    seeded = seeded_original("small_r50_32x4d_model")["embeddings.word_embeddings.weight"]
    assert torch.equal(model.embeddings.word_embeddings.weight, seeded.to(expected))


def test_torch_dtype_auto_keeps_the_checkpoint_dtype(small_folders, tmp_path):
    layoutlmv2.LayoutLMv2Model.from_pretrained(small_folders["LayoutLMv2Model"], torch_dtype="bfloat16").save_pretrained(tmp_path)
    assert layoutlmv2.LayoutLMv2Model.from_pretrained(tmp_path, torch_dtype="auto").dtype == torch.bfloat16
    assert layoutlmv2.LayoutLMv2Model.from_pretrained(tmp_path).dtype == torch.float32
    with pytest.raises(ValueError, match="float64x"):
        resolve_dtype("float64x", {})
    with pytest.raises(ValueError, match="floating-point"):
        resolve_dtype(torch.int64, {})


def test_dtype_is_the_new_name_of_torch_dtype(small_folders):
    folder = small_folders["LayoutLMv2Model"]
    assert {p.dtype for p in layoutlmv2.LayoutLMv2Model.from_pretrained(folder, dtype=torch.bfloat16).parameters()} \
        == {torch.bfloat16}
    assert layoutlmv2.LayoutLMv2Model.from_pretrained(folder, dtype="float16").dtype == torch.float16
    with pytest.raises(ValueError, match="dtype=torch.bfloat16 and torch_dtype=torch.float16 disagree"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(folder, dtype=torch.bfloat16, torch_dtype=torch.float16)


def test_unknown_keyword_arguments_are_refused_by_name(small_folders):
    folder = small_folders["LayoutLMv2ForTokenClassification"]
    with pytest.raises(ValueError, match="unknown keyword argument\\(s\\) foo, low_cpu_mem: not loading options"):
        layoutlmv2.LayoutLMv2ForTokenClassification.from_pretrained(folder, foo=1, low_cpu_mem=True)
    # config fields still override config.json (and aliases of them)
    model = layoutlmv2.LayoutLMv2ForTokenClassification.from_pretrained(folder, hidden_dropout_prob=0.3)
    assert model.config.hidden_dropout_prob == 0.3


def test_ignore_mismatched_sizes_starts_a_new_head(small_folders, caplog):
    folder = small_folders["LayoutLMv2ForTokenClassification"]  # a 7-label head
    with pytest.raises(ValueError, match=r"classifier\.weight is \[7, 64\] in the checkpoint but \[3, 64\].*"
                                         r"ignore_mismatched_sizes=True"):
        layoutlmv2.LayoutLMv2ForTokenClassification.from_pretrained(folder, num_labels=3)
    with caplog.at_level(logging.WARNING):
        model, info = layoutlmv2.LayoutLMv2ForTokenClassification.from_pretrained(
            folder, num_labels=3, ignore_mismatched_sizes=True, output_loading_info=True)
    assert model.classifier.weight.shape == (3, 64) and torch.isfinite(model.classifier.weight).all()
    assert {"classifier.weight", "classifier.bias"} <= set(info["newly_initialized_keys"])
    assert any("ignore_mismatched_sizes=True" in m and "classifier.weight [7, 64] -> [3, 64]" in m
               for m in caplog.messages)
    seeded = seeded_original("small_r50_32x4d_token_classification")["layoutlmv2.embeddings.word_embeddings.weight"]
    assert torch.equal(model.layoutlmv2.embeddings.word_embeddings.weight, seeded)  # the rest still loads


# --------------------------------------------------------------------------- errors
def _copy_with(folder, tmp_path, change):
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    change(state)
    out = tmp_path / "changed"
    out.mkdir()
    shutil.copy(folder / "config.json", out)
    torch.save(state, out / "pytorch_model.bin")
    return out


def test_missing_key_is_one_error_naming_it_and_strict_false_initialises_it(small_folders, tmp_path):
    key = "encoder.layer.1.output.dense.weight"
    folder = _copy_with(small_folders["LayoutLMv2Model"], tmp_path, lambda s: s.pop(key))
    with pytest.raises(ValueError, match=rf"missing 1 key \({key}\).*strict=False"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(folder)
    model, info = layoutlmv2.LayoutLMv2Model.from_pretrained(folder, strict=False, output_loading_info=True)
    assert info["missing_keys"] == [key]
    weight = model.encoder.layer[1].output.dense.weight
    assert torch.isfinite(weight).all() and float(weight.detach().std()) == pytest.approx(0.02, rel=0.3)


def test_unexpected_keys_are_one_error_with_first_few_and_count(small_folders, tmp_path):
    def add(state):
        for i in range(7):
            state[f"encoder.extra.{i}.weight"] = torch.zeros(2)
    folder = _copy_with(small_folders["LayoutLMv2Model"], tmp_path, add)
    with pytest.raises(ValueError, match=r"unexpected 7 keys \(encoder.extra.0.weight, .*, \.\.\. 2 more\)"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(folder)
    model, info = layoutlmv2.LayoutLMv2Model.from_pretrained(folder, strict=False, output_loading_info=True)
    assert len(info["unexpected_keys"]) == 7


def test_wrong_shape_is_one_error_naming_key_and_both_shapes(small_folders, tmp_path):
    key = "visual.backbone.fpn_lateral3.weight"  # the message names it after renaming
    folder = _copy_with(small_folders["LayoutLMv2Model"], tmp_path, lambda s: s.update({key: torch.zeros(256, 512, 1, 2)}))
    with pytest.raises(ValueError, match=r"visual\.fpn\.lateral\.1\.weight is \[256, 512, 1, 2\] in the checkpoint "
                                         r"but \[256, 512, 1, 1\] in the model"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(folder)


def test_wrong_legacy_pixel_mean_is_refused(small_folders, tmp_path):
    folder = _copy_with(small_folders["LayoutLMv2Model"], tmp_path,
                        lambda s: s.update({"visual.pixel_mean": torch.zeros(3, 1, 1)}))
    with pytest.raises(ValueError, match="visual.pixel_mean"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(folder)


@pytest.mark.parametrize("weights_name", ["pytorch_model.bin", "model.safetensors"])
def test_truncated_file_is_one_error_naming_it(small_folders, tmp_path, weights_name):
    folder = write_original_folder("small_r50_32x4d_model", tmp_path / "t", legacy_keys=False, weights_name=weights_name)
    data = (folder / weights_name).read_bytes()
    (folder / weights_name).write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{weights_name} is truncated"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(folder)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_pickle_that_runs_code_is_refused_and_never_runs(small_folders, tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "evil"
    folder.mkdir()
    shutil.copy(small_folders["LayoutLMv2Model"] / "config.json", folder)
    torch.save({"embeddings.word_embeddings.weight": torch.zeros(2), "payload": _RunsCode(marker)},
               folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"refused to load .*pytorch_model.bin.*run code"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(folder)
    assert not marker.exists()
    # the payload is real: an unrestricted unpickler would have run it
    with open(folder / "pytorch_model.bin", "rb") as handle:
        import zipfile
        with zipfile.ZipFile(handle) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            raw = archive.read(name)
    assert b"system" in raw  # the GLOBAL to os.system is in the pickle


def test_no_weights_and_no_folder_are_clear_errors(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(schema("small_r50_32x4d_model")["config"]))
    with pytest.raises(FileNotFoundError, match="no weights found.*model.safetensors.*pytorch_model.bin"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="absent is neither a local folder"):
        layoutlmv2.LayoutLMv2Model.from_pretrained(tmp_path / "absent")


# --------------------------------------------------------------------------- hub cache, offline
def test_hub_id_resolves_offline_from_a_local_cache(small_folders, tmp_path, monkeypatch):
    """The layout huggingface_hub uses: models--org--name/{refs/main, snapshots/<sha>/...}."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub_constants
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--microsoft--layoutlmv2-base-uncased"
    snapshot = repo / "snapshots" / sha
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    for name in ("config.json", "pytorch_model.bin"):
        shutil.copy(small_folders["LayoutLMv2Model"] / name, snapshot / name)

    config = LayoutLMv2Config.from_pretrained("microsoft/layoutlmv2-base-uncased", cache_dir=tmp_path)
    assert config.hidden_size == 64
    model = layoutlmv2.LayoutLMv2Model.from_pretrained("microsoft/layoutlmv2-base-uncased", cache_dir=tmp_path)
    assert_equals_seeded(model, "small_r50_32x4d_model")
    by_sha = layoutlmv2.LayoutLMv2Model.from_pretrained("microsoft/layoutlmv2-base-uncased", cache_dir=tmp_path,
                                                        revision=sha)
    assert torch.equal(by_sha.pooler.dense.weight, model.pooler.dense.weight)
    with pytest.raises(FileNotFoundError, match="microsoft/layoutxlm-base"):
        layoutlmv2.LayoutLMv2Model.from_pretrained("microsoft/layoutxlm-base", cache_dir=tmp_path)


# --------------------------------------------------------------------------- full size (slow)
def _full_size_mapping_check(tmp_path, schema_name, golden_case=None):
    """Write the seeded original folder (with legacy keys), load it, check every tensor, free memory."""
    folder = write_original_folder(schema_name, tmp_path / schema_name, cached=False)
    start = time.perf_counter()
    model, info = layoutlmv2.LayoutLMv2Model.from_pretrained(folder, output_loading_info=True)
    seconds = time.perf_counter() - start
    assert info["missing_keys"] == [] and info["unexpected_keys"] == [] and info["newly_initialized_keys"] == []
    assert set(info["dropped_keys"]) == set(schema(schema_name)["legacy_keys"])
    state = ours_to_original(model.state_dict())
    keys = schema(schema_name)["keys"]
    assert sorted(state) == sorted(keys)
    for key, spec in keys.items():  # regenerate one tensor at a time: no second copy of the model
        assert torch.equal(state[key], torch.from_numpy(seeded_array(key, spec["shape"]))), key
    if golden_case:
        assert_golden(model, golden_case)
    return seconds


@pytest.mark.slow
def test_base_checkpoint_from_bin_gives_golden_outputs(tmp_path):
    seconds = _full_size_mapping_check(tmp_path, "base_model", "base_b2_s16")
    print(f"base from pytorch_model.bin: {seconds:.1f} s")


@pytest.mark.slow
def test_large_checkpoint_maps_every_key(tmp_path):
    _full_size_mapping_check(tmp_path, "large_model")


@pytest.mark.slow
def test_layoutxlm_base_checkpoint_maps_every_key(tmp_path):
    _full_size_mapping_check(tmp_path, "layoutxlm_base_model")
