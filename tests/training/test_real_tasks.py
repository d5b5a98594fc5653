"""The model card's tasks on real pages with a tiny config: mechanics, not accuracy."""

from __future__ import annotations

import json

import pytest

from layoutlmv2.training.recipe import finetune

from small_models import minilm_dir

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.data, pytest.mark.ocr]


def test_rvl_cdip_tiny_finetune_on_real_pages(rvl_cdip_kaggle_dir, ocr_cache_dir, tmp_path):
    summary = finetune(
        "sequence-classification", "rvl-cdip", rvl_cdip_kaggle_dir, tmp_path / "run", init_text_from=minilm_dir(),
        num_layers=1, max_length=64, stride=0, image_size=32, visual_mode="zero", limit=4, ocr_cache=ocr_cache_dir,
        epochs=1, batch_size=2, lr=1e-4, progress=False, eval_split="dev",
    )
    assert summary["train_documents"] == 4 and summary["test_documents"] == 4
    assert 0.0 <= summary["test"]["accuracy"] <= 1.0
    config = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert config["id2label"]["6"] == "scientific publication" and len(config["id2label"]) == 16
