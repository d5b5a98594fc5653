"""``layoutlmv2-export``: a model folder to ONNX, checked against PyTorch, optionally with an int8 copy.

    layoutlmv2-export --model runs/funsd/best --output model.onnx [--int8 model-int8.onnx \\
        --calibration-images page1.png page2.png --smoothing]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from torch import nn

from .. import registry
from ..configuration import LayoutLMv2Config
from ..deployment.onnx_export import to_onnx, verify_onnx
from ..deployment.onnx_io import DEFAULT_OPSET


def processor_image_size(model_dir: str, default: int = 224) -> int:
    """The square image side of a model folder's preprocessor_config.json (`default` without one)."""
    config = Path(model_dir) / "preprocessor_config.json"
    if not config.is_file():
        return default
    from ..preprocessing.image_processing import LayoutLMv2ImageProcessor

    size = LayoutLMv2ImageProcessor.from_pretrained(model_dir).size
    if size["height"] != size["width"]:
        raise ValueError(f"{config} resizes pages to {size['height']} x {size['width']}; "
                         "export takes square images (pass --image-size)")
    return size["height"]


def calibration_encodings(files: Sequence[str], model_dir: str, image_size: int) -> list:
    """Page image files -> model inputs as the folder's processor makes them, words read by OCR.

    Calibration needs real text as well as real pixels (the feed-forward activations depend on
    it), and a deployed model meets OCR'd words, so the pages go through Tesseract whatever the
    folder's processor is set to.
    """
    from PIL import Image

    from ..preprocessing.processing import LayoutLMv2Processor

    try:
        processor = LayoutLMv2Processor.from_pretrained(model_dir, apply_ocr=True,
                                                        size={"height": image_size, "width": image_size})
    except (OSError, ValueError) as error:
        raise ValueError(f"calibration encodes pages with the processor saved in {model_dir} "
                         f"(preprocessor_config.json and the tokenizer's vocab.txt): {error}") from error
    pages = []
    for file in files:
        try:
            with Image.open(file) as image:
                page = image.convert("RGB")
        except OSError as error:
            raise ValueError(f"cannot read calibration image {file}: {error}") from error
        pages.append(dict(processor(page, truncation=True, max_length=512, return_tensors="pt")))
    return pages


def _load(model_dir: str, task: Optional[str]) -> nn.Module:
    if task is None:
        architectures = getattr(LayoutLMv2Config.from_pretrained(model_dir), "architectures", None) or ["LayoutLMv2Model"]
        spec = registry.task_for_class(architectures[0])
        if spec is None:
            raise ValueError(f"config.architectures names {architectures[0]!r}; pass --task ({', '.join(registry.TASKS)})")
    else:
        spec = registry.task_spec(task)
    return spec.model_class.from_pretrained(model_dir)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="layoutlmv2-export",
        description="Export a LayoutLMv2 model folder to ONNX (dynamic batch and sequence length).")
    parser.add_argument("--model", required=True, help="model folder (config.json + weights) or hub id")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--task", choices=sorted(registry.TASKS), default=None,
                        help="model class; default: the first of config.architectures")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--image-size", type=int, default=None,
                        help="image side in pixels the graph takes; default: the model folder's "
                             "preprocessor_config.json, else 224")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the comparison with PyTorch in ONNX Runtime")
    parser.add_argument("--int8", metavar="FILE", default=None,
                        help="also write an int8 copy (encoder MatMuls quantised dynamically) to FILE")
    parser.add_argument("--keep-ffn-output-fp32", action="store_true",
                        help="with --int8: leave each layer's feed-forward output projection in fp32")
    parser.add_argument("--per-channel", action="store_true",
                        help="with --int8: one weight scale per output column instead of per tensor")
    parser.add_argument("--calibration-images", nargs="+", metavar="IMAGE", default=None,
                        help="with --int8: page images (a handful), read with OCR and the folder's processor, "
                             "on which to calibrate static int8 convolutions of the visual backbone (and "
                             "--smoothing); without them the convolutions stay fp32")
    parser.add_argument("--smoothing", type=float, nargs="?", const=0.5, default=None, metavar="ALPHA",
                        help="with --int8 and --calibration-images: SmoothQuant the feed-forward output "
                             "projections (migration strength ALPHA, default 0.5) and run them in int8")
    args = parser.parse_args(argv)
    if args.smoothing is not None and not (args.int8 and args.calibration_images):
        parser.error("--smoothing needs --int8 and --calibration-images (it measures activations on those pages)")
    model = _load(args.model, args.task)
    image_size = args.image_size or processor_image_size(args.model)
    path = to_onnx(model, args.output, opset=args.opset, image_size=image_size)
    print(f"wrote {path} ({type(model).__name__}, opset {args.opset}, {image_size} x {image_size} images)")
    if not args.no_check:
        diff = verify_onnx(model, path, image_size=image_size)
        print(f"ONNX Runtime vs PyTorch: max abs difference {diff:.3g}")
    if args.int8:
        from ..deployment.onnx_quantization import quantize_onnx_int8

        pages = None
        if args.calibration_images:
            pages = calibration_encodings(args.calibration_images, args.model, image_size)
        int8 = quantize_onnx_int8(path, args.int8, keep_ffn_output_fp32=args.keep_ffn_output_fp32,
                                  per_channel=args.per_channel, calibration_inputs=pages, smoothing=args.smoothing)
        extras = (", smoothed FFN outputs" if args.smoothing else "") + (", int8 convolutions" if pages else "")
        print(f"wrote {int8} (int8 MatMuls{extras})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
