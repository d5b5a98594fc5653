"""LayoutLMv2 processor: image processor (resize + optional OCR) and tokenizer in one call.

It covers the five uses documented by transformers: a page with OCR; a page with your own words
and boxes; token classification with ``word_labels``; visual question answering with OCR words;
question answering with your own words. The output is the model's input: ``input_ids``, ``bbox``,
``token_type_ids``, ``attention_mask``, optional ``labels``, and ``image`` (one per overflow window).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..hub import HUB_ARGUMENTS
from .image_processing import LayoutLMv2ImageProcessor
from .encoding import BatchEncoding
from .encoding_options import EncodingOptions, takes_encoding_options
from .tokenization_base import LayoutLMv2TokenizerBase

__all__ = ["LayoutLMv2Processor"]

PROCESSOR_CONFIG_FILE = "processor_config.json"
# where the processor's defaults differ from the tokenizer's (as in transformers)
_PROCESSOR_DEFAULTS = {"truncation": False}


class LayoutLMv2Processor:
    """Combine a :class:`LayoutLMv2ImageProcessor` and a LayoutLMv2 tokenizer (fast or slow)."""

    attributes = ["image_processor", "tokenizer"]

    def __init__(self, image_processor: Optional[LayoutLMv2ImageProcessor] = None,
                 tokenizer: Optional[LayoutLMv2TokenizerBase] = None, **kwargs: Any):
        feature_extractor = kwargs.pop("feature_extractor", None)
        if kwargs:
            raise ValueError(f"unknown keyword arguments {sorted(kwargs)}")
        image_processor = image_processor if image_processor is not None else feature_extractor
        if image_processor is None:
            raise ValueError("You need to specify an `image_processor`.")
        if tokenizer is None:
            raise ValueError("You need to specify a `tokenizer`.")
        if not isinstance(tokenizer, LayoutLMv2TokenizerBase):
            raise ValueError(f"tokenizer must be a LayoutLMv2 tokenizer, got {type(tokenizer).__name__}")
        self.image_processor = image_processor
        self.tokenizer = tokenizer

    @property
    def feature_extractor(self) -> LayoutLMv2ImageProcessor:
        return self.image_processor

    @property
    def model_input_names(self) -> list:
        return ["input_ids", "bbox", "token_type_ids", "attention_mask", "image"]

    @takes_encoding_options(**_PROCESSOR_DEFAULTS)
    def __call__(self, images: Any, text: Any = None, text_pair: Any = None, boxes: Any = None,
                 word_labels: Any = None, **options: Any) -> BatchEncoding:
        """Process page image(s) and words into model inputs (see the module docstring).

        The keyword options are the tokenizer's (`EncodingOptions`), except that ``truncation``
        defaults to False here, as in transformers: a ``max_length`` alone does not truncate.
        """
        checked = EncodingOptions.from_kwargs(options, **_PROCESSOR_DEFAULTS)
        self._check_arguments(text, boxes, word_labels, checked)
        features = self.image_processor(images, return_tensors=checked.return_tensors)
        if text is not None and self.image_processor.apply_ocr and text_pair is None:
            if isinstance(text, str):
                text = [text]  # the image processor always returns a batch
            text_pair = features["words"]
        encoded = self.tokenizer(
            text=text if text is not None else features["words"],
            text_pair=text_pair,
            boxes=boxes if boxes is not None else features["boxes"],
            word_labels=word_labels,
            **checked.as_kwargs(),
        )
        images_out = features.pop("pixel_values")
        if checked.return_overflowing_tokens:
            images_out = self.get_overflowing_images(images_out, encoded["overflow_to_sample_mapping"])
        encoded["image"] = images_out
        return encoded

    def _check_arguments(self, text: Any, boxes: Any, word_labels: Any, options: EncodingOptions) -> None:
        """The processor's own ValueErrors, raised before any OCR runs."""
        apply_ocr = self.image_processor.apply_ocr
        if apply_ocr and boxes is not None:
            raise ValueError(
                "You cannot provide bounding boxes if you initialized the image processor with apply_ocr set to True."
            )
        if apply_ocr and word_labels is not None:
            raise ValueError(
                "You cannot provide word labels if you initialized the image processor with apply_ocr set to True."
            )
        if options.return_overflowing_tokens and not options.return_offsets_mapping:
            raise ValueError("You cannot return overflowing tokens without returning the offsets mapping.")
        if not apply_ocr and text is None:
            raise ValueError("with apply_ocr=False, give the words as text= (and their boxes as boxes=)")

    @staticmethod
    def get_overflowing_images(images: Any, overflow_to_sample_mapping: Any) -> Any:
        """The page image of every overflow window (a stacked tensor/array when given one)."""
        mapping = overflow_to_sample_mapping
        if hasattr(mapping, "tolist"):
            mapping = mapping.tolist()
        if hasattr(images, "index_select"):  # torch tensor
            import torch

            return images.index_select(0, torch.as_tensor(mapping, dtype=torch.long))
        if isinstance(images, np.ndarray):
            return images[np.asarray(mapping, dtype=np.int64)]
        return [images[i] for i in mapping]

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    def batch_decode(self, *args: Any, **kwargs: Any) -> list:
        return self.tokenizer.batch_decode(*args, **kwargs)

    def save_pretrained(self, save_directory: Union[str, os.PathLike], **kwargs: Any) -> list:
        """Write preprocessor_config.json, processor_config.json and the tokenizer files."""
        folder = Path(save_directory)
        files = list(self.image_processor.save_pretrained(folder))
        files += list(self.tokenizer.save_pretrained(folder))
        path = folder / PROCESSOR_CONFIG_FILE
        path.write_text(json.dumps({"processor_class": "LayoutLMv2Processor",
                                    "image_processor": self.image_processor.to_dict()},
                                   indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return files + [str(path)]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike], use_fast: bool = True,
                        **kwargs: Any) -> "LayoutLMv2Processor":
        """Load the image processor and the tokenizer (fast unless ``use_fast=False``) from a folder."""
        if use_fast:
            from .tokenization_fast import LayoutLMv2TokenizerFast as tokenizer_class
        else:
            from .tokenization import LayoutLMv2Tokenizer as tokenizer_class
        image_keys = {"do_resize", "size", "resample", "apply_ocr", "ocr_lang", "tesseract_config", "num_workers"}
        image_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in image_keys}
        image_kwargs.update({k: kwargs[k] for k in HUB_ARGUMENTS if k in kwargs})  # both read the same repo
        image_processor = LayoutLMv2ImageProcessor.from_pretrained(pretrained_model_name_or_path, **image_kwargs)
        tokenizer = tokenizer_class.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return cls(image_processor=image_processor, tokenizer=tokenizer)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_processor={self.image_processor!r}, tokenizer={self.tokenizer!r})"
