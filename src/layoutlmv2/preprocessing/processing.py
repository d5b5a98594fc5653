"""LayoutLMv2 and LayoutXLM processors: image processor (resize + optional OCR) and tokenizer in one call.

It covers the five uses documented by transformers: a page with OCR; a page with your own words
and boxes; token classification with ``word_labels``; visual question answering with OCR words;
question answering with your own words. The output is the model's input: ``input_ids``, ``bbox``,
``token_type_ids``, ``attention_mask``, optional ``labels``, and ``image`` (one per overflow window).

``LayoutLMv2Processor.from_pretrained`` reads whichever tokenizer the folder holds (`tokenizer_class_for`):
LayoutLMv2's WordPiece (vocab.txt) or LayoutXLM's SentencePiece (sentencepiece.bpe.model, or a
Unigram tokenizer.json), so one call loads either model's folder. ``LayoutXLMProcessor`` is the
same processor, by transformers' name, and insists on a LayoutXLM tokenizer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import LayoutLMv2Error
from ..hub import HUB_ARGUMENTS, resolve_folder
from .image_processing import LayoutLMv2ImageProcessor
from .encoding import BatchEncoding
from .encoding_options import EncodingOptions, takes_encoding_options
from .tokenization_base import LayoutLMv2TokenizerBase
from .tokenization_layoutxlm_base import SENTENCEPIECE_FILE, LayoutXLMTokenizerBase
from .tokenizer_files import CONFIG_FILE, SPECIAL_TOKENS_FILE, TOKENIZER_FILE, VOCAB_FILE, read_tokenizer_config

__all__ = ["LayoutLMv2Processor", "LayoutXLMProcessor", "tokenizer_class_for"]

PROCESSOR_CONFIG_FILE = "processor_config.json"
MODEL_CONFIG_FILE = "config.json"
TOKENIZER_FILES = (VOCAB_FILE, SENTENCEPIECE_FILE, TOKENIZER_FILE, CONFIG_FILE, SPECIAL_TOKENS_FILE)


def _is_layoutxlm_folder(folder: Path) -> bool:
    """Whether a tokenizer folder holds LayoutXLM's vocabulary: its ``tokenizer_class`` names an
    XLM tokenizer (LayoutXLMTokenizer, XLMRobertaTokenizer, fast or not), or, without one, the
    files say so (a sentencepiece.bpe.model and no vocab.txt, or a Unigram tokenizer.json)."""
    name = str(read_tokenizer_config(folder).get("tokenizer_class") or "")
    if name:
        return "XLM" in name
    if (folder / VOCAB_FILE).is_file():
        return False
    if (folder / SENTENCEPIECE_FILE).is_file():
        return True
    if (folder / TOKENIZER_FILE).is_file():
        try:
            model = json.loads((folder / TOKENIZER_FILE).read_text(encoding="utf-8")).get("model", {})
        except (OSError, ValueError) as error:
            raise LayoutLMv2Error(f"cannot read {folder / TOKENIZER_FILE}: {error}") from None
        return model.get("type") == "Unigram"
    return False


def tokenizer_class_for(folder: Union[str, os.PathLike], use_fast: bool = True) -> type:
    """The tokenizer class that reads this folder (LayoutLMv2's or LayoutXLM's, fast or slow)."""
    if _is_layoutxlm_folder(Path(folder)):
        if use_fast:
            from .tokenization_layoutxlm_fast import LayoutXLMTokenizerFast as tokenizer_class
        else:
            from .tokenization_layoutxlm import LayoutXLMTokenizer as tokenizer_class
    elif use_fast:
        from .tokenization_fast import LayoutLMv2TokenizerFast as tokenizer_class
    else:
        from .tokenization import LayoutLMv2Tokenizer as tokenizer_class
    return tokenizer_class


def check_vocabulary_fits(tokenizer: LayoutLMv2TokenizerBase, folder: Path) -> None:
    """A LayoutLMv2Error naming both sizes when the tokenizer has ids the model beside it cannot embed."""
    path = folder / MODEL_CONFIG_FILE
    if not path.is_file():
        return
    try:
        vocab_size = json.loads(path.read_text(encoding="utf-8")).get("vocab_size")
    except (OSError, ValueError):
        return  # the model's own loading reports a broken config.json
    if isinstance(vocab_size, int) and len(tokenizer) > vocab_size:
        raise LayoutLMv2Error(
            f"{folder}: the tokenizer has {len(tokenizer)} tokens but the model's config.json has vocab_size "
            f"{vocab_size}: ids from {vocab_size} on have no embedding (is the tokenizer of another model?)"
        )
# where the processor's defaults differ from the tokenizer's (as in transformers)
_PROCESSOR_DEFAULTS = {"truncation": False}


class LayoutLMv2Processor:
    """Combine a :class:`LayoutLMv2ImageProcessor` and a LayoutLMv2 or LayoutXLM tokenizer (fast or slow)."""

    attributes = ["image_processor", "tokenizer"]
    tokenizer_base = LayoutLMv2TokenizerBase  # the tokenizers this processor takes

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
        if not isinstance(tokenizer, self.tokenizer_base):
            kind = "LayoutXLM" if self.tokenizer_base is LayoutXLMTokenizerBase else "LayoutLMv2 or LayoutXLM"
            raise ValueError(f"tokenizer must be a {kind} tokenizer, got {type(tokenizer).__name__}")
        self.image_processor = image_processor
        self.tokenizer = tokenizer

    @property
    def feature_extractor(self) -> LayoutLMv2ImageProcessor:
        return self.image_processor

    @property
    def model_input_names(self) -> list:
        if "token_type_ids" not in self.tokenizer.model_input_names:  # LayoutXLM
            return ["input_ids", "bbox", "attention_mask", "image"]
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
        processor_class = "LayoutXLMProcessor" if isinstance(self.tokenizer, LayoutXLMTokenizerBase) \
            else "LayoutLMv2Processor"
        path.write_text(json.dumps({"processor_class": processor_class,
                                    "image_processor": self.image_processor.to_dict()},
                                   indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return files + [str(path)]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike], use_fast: bool = True,
                        **kwargs: Any) -> "LayoutLMv2Processor":
        """Load the image processor and the tokenizer (fast unless ``use_fast=False``) from a folder.

        The tokenizer is the one the folder holds (`tokenizer_class_for`); when the folder also holds
        the model's config.json, a tokenizer with more ids than its ``vocab_size`` is refused here.
        """
        image_keys = {"do_resize", "size", "resample", "apply_ocr", "ocr_lang", "tesseract_config", "num_workers"}
        image_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in image_keys}
        hub_kwargs = {k: kwargs[k] for k in HUB_ARGUMENTS if k in kwargs}  # both read the same repo
        image_kwargs.update(hub_kwargs)
        image_processor = LayoutLMv2ImageProcessor.from_pretrained(pretrained_model_name_or_path, **image_kwargs)
        folder = resolve_folder(pretrained_model_name_or_path, (*TOKENIZER_FILES, MODEL_CONFIG_FILE), **hub_kwargs)
        tokenizer_class = cls._tokenizer_class(folder, use_fast)
        tokenizer = tokenizer_class.from_pretrained(pretrained_model_name_or_path, **kwargs)
        check_vocabulary_fits(tokenizer, folder)
        return cls(image_processor=image_processor, tokenizer=tokenizer)

    @classmethod
    def _tokenizer_class(cls, folder: Path, use_fast: bool) -> type:
        return tokenizer_class_for(folder, use_fast)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_processor={self.image_processor!r}, tokenizer={self.tokenizer!r})"


class LayoutXLMProcessor(LayoutLMv2Processor):
    """transformers' ``LayoutXLMProcessor``: the image processor and a LayoutXLM tokenizer (fast or slow).

    >>> processor = LayoutXLMProcessor.from_pretrained("path/to/layoutxlm", apply_ocr=False)  # doctest: +SKIP
    >>> encoding = processor(page, ["Name:", "Müller"], boxes=[[80, 90, 150, 105], [160, 90, 240, 105]],
    ...                      return_tensors="pt")  # doctest: +SKIP
    >>> sorted(encoding)  # no token_type_ids: every LayoutXLM token is of type 0  # doctest: +SKIP
    ['attention_mask', 'bbox', 'image', 'input_ids']
    """

    tokenizer_base = LayoutXLMTokenizerBase

    @classmethod
    def _tokenizer_class(cls, folder: Path, use_fast: bool) -> type:
        if use_fast:
            from .tokenization_layoutxlm_fast import LayoutXLMTokenizerFast

            return LayoutXLMTokenizerFast
        from .tokenization_layoutxlm import LayoutXLMTokenizer

        return LayoutXLMTokenizer
