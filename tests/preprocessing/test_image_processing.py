"""Image processor: pixel parity with transformers, every input kind, clear errors.

The reference is transformers' Pillow-backed ``LayoutLMv2ImageProcessorPil`` (exact) and its
torchvision-backed ``LayoutLMv2ImageProcessor`` (within one intensity level: torchvision's
bilinear kernel rounds differently). transformers takes pages as they are (a grey FUNSD page
gives one channel, RGBA gives four), so it is fed the page after ``convert_to_rgb``; ours does
that conversion itself.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from preprocessing_data import funsd_documents, sroie_documents  # noqa: E402

from layoutlmv2 import LayoutLMv2FeatureExtractor, LayoutLMv2ImageProcessor  # noqa: E402

OURS = LayoutLMv2ImageProcessor(apply_ocr=False)


@pytest.fixture(scope="module")
def pil_reference():
    transformers = pytest.importorskip("transformers")
    return transformers.LayoutLMv2ImageProcessorPil(apply_ocr=False)


def reference_rgb(image):
    from transformers.image_transforms import convert_to_rgb

    return convert_to_rgb(image, return_numpy=True)


def pixels(output):
    return np.asarray(output["pixel_values"])


@pytest.mark.data
def test_every_funsd_and_sroie_page_matches_the_pillow_reference(pil_reference, funsd_dir, sroie_dir):
    paths = [d["image"] for d in funsd_documents(funsd_dir)] + [d["image"] for d in sroie_documents(sroie_dir)]
    assert len(paths) == 274
    for start in range(0, len(paths), 16):
        images = [Image.open(p) for p in paths[start:start + 16]]
        ours = OURS(images, return_tensors="np")["pixel_values"]
        expected = pil_reference([im.convert("RGB") for im in images], return_tensors="np")["pixel_values"]
        assert ours.dtype == np.uint8 and ours.shape == (len(images), 3, 224, 224)
        assert np.array_equal(ours, expected), paths[start]


@pytest.mark.data
def test_torchvision_reference_within_one_level(funsd_dir):
    transformers = pytest.importorskip("transformers")
    reference = transformers.LayoutLMv2ImageProcessor(apply_ocr=False)
    for doc in funsd_documents(funsd_dir)[::50]:
        image = Image.open(doc["image"])
        expected = reference(image.convert("RGB"), return_tensors="pt")["pixel_values"].numpy().astype(int)
        assert np.abs(pixels(OURS(image, return_tensors="np")).astype(int) - expected).max() <= 1


def test_bgr_channels_first(pil_reference):
    rgb = np.zeros((40, 30, 3), np.uint8)
    rgb[..., 0] = 200  # red
    out = OURS(Image.fromarray(rgb), return_tensors="np")["pixel_values"][0]
    assert out.shape == (3, 224, 224)
    assert (out[2] == 200).all() and (out[0] == 0).all()  # red is the last channel


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV", "I",
                                  "I;16", "F"])
def test_every_pil_mode_as_transformers_after_rgb_conversion(pil_reference, mode):
    rng = np.random.RandomState(0)
    base = Image.fromarray(rng.randint(0, 256, (37, 23, 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.randint(0, 65535, (37, 23), dtype=np.uint16))
        assert image.mode == "I;16"
    elif mode == "F":
        image = Image.fromarray((rng.rand(37, 23) * 300).astype(np.float32))
    elif mode in ("LA", "RGBA", "PA"):
        rgba = np.concatenate([np.asarray(base), rng.randint(0, 256, (37, 23, 1), dtype=np.uint8)], axis=-1)
        image = Image.fromarray(rgba, "RGBA").convert(mode)
    else:
        image = base.convert(mode)
    expected = pil_reference(reference_rgb(image), return_tensors="np")["pixel_values"]
    assert np.array_equal(pixels(OURS(image, return_tensors="np")), expected)


def test_arrays_and_tensors(pil_reference):
    torch = pytest.importorskip("torch")
    rng = np.random.RandomState(1)
    hwc = rng.randint(0, 256, (50, 40, 3), dtype=np.uint8)
    expected = pil_reference(hwc, return_tensors="np")["pixel_values"]
    floats = hwc.astype(np.float32) / 255  # floats in 0..1 are scaled by 255 (then truncated) as transformers
    for image in (hwc, hwc.transpose(2, 0, 1), torch.from_numpy(hwc), torch.from_numpy(hwc.transpose(2, 0, 1).copy()),
                  hwc.astype(np.float64), hwc.astype(np.int32)):
        assert np.array_equal(pixels(OURS(image, return_tensors="np")), expected)
    reference_floats = pil_reference(floats, return_tensors="np")["pixel_values"]  # it returns floats here
    assert np.array_equal(pixels(OURS(floats, return_tensors="np")), (reference_floats * 255).round().astype(np.uint8))
    grey = hwc[..., 0]
    assert np.array_equal(pixels(OURS(grey, return_tensors="np")),
                          pil_reference(np.repeat(grey[..., None], 3, -1), return_tensors="np")["pixel_values"])
    assert np.array_equal(pixels(OURS(grey[None], return_tensors="np")), pixels(OURS(grey, return_tensors="np")))
    batch = np.stack([hwc, hwc[::-1]])
    assert pixels(OURS(batch, return_tensors="np")).shape == (2, 3, 224, 224)
    assert pixels(OURS(torch.from_numpy(batch), return_tensors="np")).shape == (2, 3, 224, 224)


def test_output_types_and_options():
    torch = pytest.importorskip("torch")
    image = Image.new("RGB", (100, 80), (10, 20, 30))
    out = OURS(image)
    assert isinstance(out["pixel_values"], list) and out["pixel_values"][0].dtype == np.uint8
    assert out.pixel_values[0].shape == (3, 224, 224) and set(out) == {"pixel_values"}
    pt = OURS([image, image], return_tensors="pt")["pixel_values"]
    assert isinstance(pt, torch.Tensor) and pt.dtype == torch.uint8 and pt.shape == (2, 3, 224, 224)
    assert tuple(pt[0, :, 0, 0].tolist()) == (30, 20, 10)
    assert OURS(image, size=64, return_tensors="np")["pixel_values"].shape == (1, 3, 64, 64)
    assert OURS(image, size={"height": 32, "width": 48}, return_tensors="np")["pixel_values"].shape == (1, 3, 32, 48)
    assert OURS(image, do_resize=False, return_tensors="np")["pixel_values"].shape == (1, 3, 80, 100)
    nearest = LayoutLMv2ImageProcessor(apply_ocr=False, resample=Image.NEAREST, size=10)
    assert nearest(image, return_tensors="np")["pixel_values"].shape == (1, 3, 10, 10)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((10, 10, 2), np.uint8), "colour channels"),
        (np.zeros((2, 10, 10, 10, 3), np.uint8), "2 or 3 dimensions"),
        (np.zeros(10, np.uint8), "2 or 3 dimensions"),
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        ("page.png", "unsupported image str"),
        (None, "unsupported image NoneType"),
        (np.full((5, 5, 3), 300, np.int32), "0..255"),
        (np.full((5, 5, 3), 1.5, np.float32), "0..1"),
        (np.full((5, 5, 3), np.nan, np.float32), "NaN"),
        (np.array([["a"]]), "dtype"),
        ([], "empty list"),
    ],
)
def test_unreadable_input(image, message):
    with pytest.raises(ValueError, match=message):
        OURS(image)


def test_bad_options():
    image = Image.new("RGB", (10, 10))
    for kwargs, message in (({"size": {"shortest_edge": 3}}, "size"), ({"size": 0}, "size"),
                            ({"resample": 42}, "resample"), ({"return_tensors": "tf"}, "return_tensors"),
                            ({"colour": True}, "unknown")):
        with pytest.raises(ValueError, match=message):
            OURS(image, **kwargs)
    with pytest.raises(ValueError, match="different sizes"):
        OURS([image, Image.new("RGB", (20, 10))], do_resize=False, return_tensors="np")


def test_save_load_and_feature_extractor_alias(tmp_path):
    processor = LayoutLMv2ImageProcessor(size=100, apply_ocr=False, ocr_lang="fra", tesseract_config="--psm 6")
    processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert config["size"] == {"height": 100, "width": 100} and config["apply_ocr"] is False
    loaded = LayoutLMv2FeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, LayoutLMv2ImageProcessor) and loaded.to_dict() == processor.to_dict()
    transformers = pytest.importorskip("transformers")
    theirs = transformers.LayoutLMv2ImageProcessorPil.from_pretrained(str(tmp_path))
    assert theirs.size["height"] == 100 and theirs.apply_ocr is False and theirs.tesseract_config == "--psm 6"
    theirs.save_pretrained(str(tmp_path / "theirs"))
    assert LayoutLMv2ImageProcessor.from_pretrained(tmp_path / "theirs").to_dict() == processor.to_dict()
