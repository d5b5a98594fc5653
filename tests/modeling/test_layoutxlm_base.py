"""The layoutxlm-base schema (seeded weights: 250,002 ids, 514 positions) + our processor on a German page.

Full size (ResNeXt-101 + 12 x 768, 1.5 GB of weights written to the temporary folder): ``slow``.
The tokenizer is the SentencePiece model the tests train (2,002 ids, all below 250,002).
"""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from seeded_folders import write_original_folder

from layoutlmv2 import (LayoutLMv2ForTokenClassification, LayoutLMv2ImageProcessor, LayoutLMv2Model,
                        LayoutLMv2Processor, LayoutXLMProcessor, LayoutXLMTokenizerFast)
from layoutlmv2.data import load_xfund

pytestmark = [pytest.mark.slow, pytest.mark.data]


def test_german_page_to_outputs(sentencepiece_model, xfund_dir, tmp_path):
    folder = write_original_folder("layoutxlm_base_model", tmp_path / "layoutxlm-base", cached=False)
    LayoutXLMProcessor(LayoutLMv2ImageProcessor(apply_ocr=False),
                       LayoutXLMTokenizerFast(vocab_file=str(sentencepiece_model))).save_pretrained(folder)
    processor = LayoutLMv2Processor.from_pretrained(folder)  # picks the LayoutXLM tokenizer from the files
    assert type(processor.tokenizer) is LayoutXLMTokenizerFast
    model = LayoutLMv2Model.from_pretrained(folder).eval()
    assert model.config.max_position_embeddings == 514 and model.config.vocab_size == 250002

    document = load_xfund(xfund_dir, "test", "de")[0]
    page = Image.new("RGB", document.page_size, "white")  # XFUND's page images are not in ../shared
    encoding = processor(page, document.words, boxes=document.boxes, truncation=True, max_length=514,
                         return_tensors="pt")
    assert "token_type_ids" not in encoding and encoding["input_ids"].shape == (1, 514)
    assert encoding["input_ids"][0, 0] == 0 and encoding["input_ids"][0, -1] == 2  # <s> ... </s>
    with torch.no_grad():
        out = model(**encoding)
    assert out.last_hidden_state.shape == (1, 514 + 49, 768)
    assert torch.isfinite(out.last_hidden_state).all()

    del model
    head = LayoutLMv2ForTokenClassification.from_pretrained(folder, num_labels=7).eval()
    with torch.no_grad():
        logits = head(**encoding).logits
    assert logits.shape == (1, 514, 7) and torch.isfinite(logits).all()
