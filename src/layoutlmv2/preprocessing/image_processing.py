"""LayoutLMv2 image processor: page -> 224x224 BGR uint8 pixels (+ Tesseract words and boxes).

The pixels are exactly those of transformers' Pillow-backed ``LayoutLMv2ImageProcessorPil`` given
the page converted to RGB: Pillow bilinear resize, RGB -> BGR (the visual backbone was trained
with detectron2's BGR order), channels first, values 0..255 unchanged. Unlike transformers, pages
of any Pillow mode (grey FUNSD scans, RGBA, palette, 16-bit, float) are converted to RGB first.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from PIL import Image

from ..hub import pop_hub_kwargs, resolve_folder
from .encoding import BatchOutput
from .ocr import apply_tesseract_batch

logger = logging.getLogger(__name__)

__all__ = ["BatchFeature", "LayoutLMv2ImageProcessor", "LayoutLMv2FeatureExtractor", "to_rgb_image"]

CONFIG_FILE = "preprocessor_config.json"
PROCESSOR_CONFIG_FILE = "processor_config.json"


class BatchFeature(BatchOutput):
    """The image processor's output: a dict with attribute access and ``.to(device)``."""


# --------------------------------------------------------------------------------------------
# any image -> PIL RGB


def _composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _pil_to_rgb(image: Image.Image) -> Image.Image:
    """Pillow's RGB conversion; transparency is composited onto white paper (transformers' rule)."""
    if image.mode == "RGB":
        return image
    try:
        if "A" in image.getbands() or image.info.get("transparency") is not None:
            return _composite_on_white(image)
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        raise ValueError(f"cannot convert a PIL image of mode {image.mode!r} to RGB: {error}") from None


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    """Integral values in 0..255 are kept; floats in 0..1 are scaled by 255 (as transformers)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "biuf":
        raise ValueError(f"image arrays must hold numbers, got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"the image is empty (shape {array.shape})")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError("the image holds NaN or infinite values")
    if np.allclose(array, array.astype(np.int64)):
        if array.min() < 0 or array.max() > 255:
            raise ValueError(
                f"image values must be in 0..255 (or floats in 0..1), got [{array.min()}, {array.max()}]"
            )
        return array.astype(np.uint8)
    if array.min() >= 0 and array.max() <= 1:
        return (array.astype(np.float64) * 255).astype(np.float32).astype(np.uint8)
    raise ValueError(
        f"float images must be in 0..1 (or hold whole numbers in 0..255), got [{array.min()}, {array.max()}]"
    )


def _array_to_rgb(array: np.ndarray) -> Image.Image:
    if array.ndim == 3:
        if array.shape[0] in (1, 3):
            array = np.moveaxis(array, 0, -1)
        elif array.shape[-1] in (1, 3, 4):
            pass
        elif array.shape[0] == 4:
            array = np.moveaxis(array, 0, -1)
        else:
            raise ValueError(
                f"cannot find the colour channels of an image of shape {tuple(array.shape)}: "
                "expected 1, 3 or 4 channels first (C, H, W) or last (H, W, C)"
            )
        if array.shape[-1] == 1:
            array = array[..., 0]
    elif array.ndim != 2:
        raise ValueError(f"an image must have 2 or 3 dimensions, got shape {tuple(array.shape)}")
    if min(array.shape[:2]) == 0:
        raise ValueError(f"the image is empty (shape {tuple(array.shape)})")
    pixels = np.ascontiguousarray(_array_to_uint8(array))
    if pixels.ndim == 2:
        return Image.fromarray(pixels, mode="L").convert("RGB")
    if pixels.shape[-1] == 4:
        return _composite_on_white(Image.fromarray(pixels, mode="RGBA"))
    return Image.fromarray(pixels, mode="RGB")


def to_rgb_image(image: Any) -> Image.Image:
    """A PIL image, numpy array (HWC or CHW) or torch tensor as a PIL RGB image."""
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image)
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch tensor
        image = image.detach().cpu().numpy()
    if isinstance(image, np.ndarray):
        return _array_to_rgb(image)
    raise ValueError(
        f"unsupported image {type(image).__name__}: {image!r}"[:200]
        + " (give a PIL image, a numpy array or a torch tensor)"
    )


def _as_image_list(images: Any) -> list:
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("got an empty list of images")
        return list(images)
    if hasattr(images, "detach") and hasattr(images, "ndim") and images.ndim == 4:
        return list(images)
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return list(images)
    return [images]


def _check_size(size: Any) -> dict:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = {"height": int(size), "width": int(size)}
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        size = {"height": size[0], "width": size[1]}
    if not isinstance(size, dict) or set(size) != {"height", "width"}:
        raise ValueError(f"size must be an int or a dict with 'height' and 'width', got {size!r}")
    for key in ("height", "width"):
        value = size[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"size[{key!r}] must be a positive int, got {value!r}")
    return {"height": int(size["height"]), "width": int(size["width"])}


def _check_resample(resample: Any) -> int:
    value = getattr(resample, "value", resample)
    valid = {int(r) for r in Image.Resampling}
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) not in valid:
        raise ValueError(f"resample must be a PIL resampling filter (e.g. PIL.Image.BILINEAR = 2), got {resample!r}")
    return int(value)


# --------------------------------------------------------------------------------------------


class LayoutLMv2ImageProcessor:
    """Resize document pages for LayoutLMv2 and, with ``apply_ocr``, read their words with Tesseract.

    Returns ``pixel_values`` (uint8, 3x224x224, BGR) and, with OCR on, ``words`` and ``boxes``
    (one list per page, boxes normalised to 0..1000). OCR runs on the full-resolution page, one
    Tesseract process per page, ``num_workers`` pages at a time (default: all cores).
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        do_resize: bool = True,
        size: Union[int, dict, None] = None,
        resample: Any = Image.Resampling.BILINEAR,
        apply_ocr: bool = True,
        ocr_lang: Optional[str] = None,
        tesseract_config: Optional[str] = "",
        num_workers: Optional[int] = None,
        **kwargs: Any,
    ):
        for name in ("image_processor_type", "feature_extractor_type", "processor_class", "rescale_factor",
                     "do_rescale", "do_normalize", "image_mean", "image_std", "data_format",
                     "input_data_format", "default_to_square", "crop_size", "do_center_crop",
                     "do_convert_rgb", "device", "disable_grouping"):
            kwargs.pop(name, None)
        if kwargs:
            logger.debug("ignoring unknown image processor options %s", sorted(kwargs))
        self.do_resize = bool(do_resize)
        self.size = _check_size(size if size is not None else {"height": 224, "width": 224})
        self.resample = _check_resample(resample)
        self.apply_ocr = bool(apply_ocr)
        self.ocr_lang = ocr_lang
        self.tesseract_config = tesseract_config if tesseract_config is not None else ""
        self.num_workers = num_workers

    def __call__(self, images: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, **kwargs)

    def preprocess(
        self,
        images: Any,
        do_resize: Optional[bool] = None,
        size: Union[int, dict, None] = None,
        resample: Any = None,
        apply_ocr: Optional[bool] = None,
        ocr_lang: Optional[str] = None,
        tesseract_config: Optional[str] = None,
        return_tensors: Optional[str] = None,
        num_workers: Optional[int] = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Process one page or a list of pages (arguments override the constructor's)."""
        for name in ("data_format", "input_data_format", "device"):
            kwargs.pop(name, None)
        if kwargs:
            raise ValueError(f"unknown keyword arguments {sorted(kwargs)}")
        do_resize = self.do_resize if do_resize is None else do_resize
        size = self.size if size is None else _check_size(size)
        resample = self.resample if resample is None else _check_resample(resample)
        apply_ocr = self.apply_ocr if apply_ocr is None else apply_ocr
        ocr_lang = self.ocr_lang if ocr_lang is None else ocr_lang
        tesseract_config = self.tesseract_config if tesseract_config is None else tesseract_config
        num_workers = self.num_workers if num_workers is None else num_workers
        tensor_type = getattr(return_tensors, "value", return_tensors)
        if tensor_type not in (None, "pt", "np"):
            raise ValueError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")

        pages = [to_rgb_image(image) for image in _as_image_list(images)]
        data = BatchFeature()
        pixel_values = []
        for page in pages:
            if do_resize:
                page = page.resize((size["width"], size["height"]), resample=resample)
            pixels = np.asarray(page, dtype=np.uint8).transpose(2, 0, 1)[::-1]  # CHW, RGB -> BGR
            pixel_values.append(np.ascontiguousarray(pixels))
        if tensor_type is not None:
            if len({p.shape for p in pixel_values}) > 1:
                raise ValueError("pages of different sizes cannot be stacked into one tensor: keep do_resize=True")
            stacked = np.stack(pixel_values)
            if tensor_type == "pt":
                import torch

                stacked = torch.from_numpy(stacked)
            data["pixel_values"] = stacked
        else:
            data["pixel_values"] = pixel_values
        if apply_ocr:
            words, boxes = apply_tesseract_batch(pages, ocr_lang, tesseract_config, num_workers)
            data["words"] = words
            data["boxes"] = boxes
        return data

    # ---- configuration ---------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "do_resize": self.do_resize,
            "size": dict(self.size),
            "resample": self.resample,
            "apply_ocr": self.apply_ocr,
            "ocr_lang": self.ocr_lang,
            "tesseract_config": self.tesseract_config,
            "image_processor_type": "LayoutLMv2ImageProcessor",
        }

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory: Union[str, os.PathLike], **kwargs: Any) -> list:
        """Write preprocessor_config.json (readable by transformers too)."""
        folder = Path(save_directory)
        if folder.is_file():
            raise ValueError(f"save_directory {str(folder)!r} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / CONFIG_FILE
        path.write_text(self.to_json_string(), encoding="utf-8")
        return [str(path)]

    @classmethod
    def from_dict(cls, config: dict, **kwargs: Any) -> "LayoutLMv2ImageProcessor":
        return cls(**{**config, **kwargs})

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike], **kwargs: Any):
        """Load from a folder's preprocessor_config.json (or processor_config.json's image_processor)."""
        folder = resolve_folder(pretrained_model_name_or_path, (CONFIG_FILE, PROCESSOR_CONFIG_FILE),
                                **pop_hub_kwargs(kwargs))
        if (folder / CONFIG_FILE).is_file():
            config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        elif (folder / PROCESSOR_CONFIG_FILE).is_file():
            config = json.loads((folder / PROCESSOR_CONFIG_FILE).read_text(encoding="utf-8")).get("image_processor", {})
        else:
            raise ValueError(f"{str(folder)!r} has no {CONFIG_FILE} or {PROCESSOR_CONFIG_FILE}")
        return cls.from_dict(config, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()})"


class LayoutLMv2FeatureExtractor(LayoutLMv2ImageProcessor):
    """Old name of :class:`LayoutLMv2ImageProcessor` (kept for code written for transformers 4.x)."""
