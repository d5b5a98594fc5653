"""Pre-training data: unlabelled pages OCR'd once into a cache, and the MVLM / TIA / TIM batches.

Pages. `load_pages` reads a folder of page images and PDFs (`preprocessing.pages`), OCRs every
page once and writes ``<cache>/<file stem>-<key>.json`` (words, 0..1000 boxes, a text-line id
per word, the page size). The key hashes the file's path, size and modification time with the
OCR engine and language, so a second epoch, a resumed run or a second run on the same folder
reads the cache instead of running OCR again; a changed file is OCR'd again. Tesseract gives the
lines (block, paragraph, line); other engines' words are grouped into lines by `lines_from_boxes`.

Batches. `PretrainingCollator` turns token windows into one batch of the three objectives of
Xu et al. (2021), section 2.2, drawing everything from the generator it is given (the trainer
seeds it from the seed, epoch and batch, so a resumed run sees the same masks):

* MVLM: each text token is selected with probability ``mvlm_probability`` (15%, BERT's and the
  paper's rate; a Bernoulli draw per token, as BERT's collators do, so a window's count varies);
  a selected token becomes [MASK] (80%), a random token (10%) or stays (10%). ``mvlm_labels``
  holds the original id there, -100 elsewhere. The selected tokens' boxes are covered in the
  image, so the visual stream cannot read the masked words back.
* TIA: each text line of the window is covered with probability ``tia_line_probability``
  (15%: the paper covers "some" lines without a rate; 15% matches the MVLM rate, so about as
  many tokens are covered as masked and the two classes are 15/85). All boxes of its tokens are
  covered; ``tia_labels`` is 1 for those tokens, 0 for the other text tokens, -100 for the
  MVLM-selected ones (their regions are covered for MVLM: no signal), for tokens outside the
  chosen lines whose box the MVLM covering hides all the same (the other sub-tokens of a selected
  token's word share its box), for special tokens and padding, and for every token of a TIM
  negative.
* TIM: with probability ``tim_replace_probability`` (15%) the image is another page of the same
  set (never the window's own), with ``tim_drop_probability`` (5%) a blank white page;
  ``tim_labels`` is 0 for those, 1 for the rest. The paper gives no rates; 20% negatives keeps
  most samples useful for TIA, whose targets the negatives lose. The covering is drawn on the
  negatives' images too, so covered rectangles are no hint that text and image match.

Covering fills a token's box, scaled from 0..1000 to the pixel grid of the image tensor (left and
top rounded down, right and bottom up, at least one pixel), with ``cover_value`` (0: black, in
every channel).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..boxes import normalize_box
from ..data.document import Document
from ..modeling.pretraining import LayoutLMv2ForPreTraining
from ..preprocessing.ocr_engines import ocr_engine
from ..preprocessing.pages import IMAGE_SUFFIXES, iter_pages, page_count
from .definitions import Task
from .windows import IGNORE_INDEX, Encoded, Window, collate, encode_documents

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
LABEL_KEYS = ("mvlm_labels", "tia_labels", "tim_labels")
MAX_KEPT_SIDE = 1024  # PDF and multi-frame pages are kept in memory at most this large (the model sees 224)


# --------------------------------------------------------------------------- pages and the OCR cache
def page_files(folder: Union[str, Path]) -> list[Path]:
    """Page images and PDFs under ``folder`` (subfolders included), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--pages {folder} is not a folder")
    suffixes = IMAGE_SUFFIXES | {".pdf"}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def lines_from_boxes(boxes: Sequence[Sequence[float]]) -> list[int]:
    """Line ids for words in reading order without line information: a word starts a new line when
    its vertical centre is outside the previous word's top..bottom or it starts left of it."""
    lines: list[int] = []
    for i, box in enumerate(boxes):
        if i == 0:
            lines.append(0)
            continue
        previous = boxes[i - 1]
        centre = (box[1] + box[3]) / 2
        same = previous[1] <= centre <= previous[3] and box[0] >= previous[0]
        lines.append(lines[-1] if same else lines[-1] + 1)
    return lines


def _ocr_lines(image, engine: str, lang: Optional[str]) -> tuple[list[str], list[list[int]], list[int]]:
    """(words, 0..1000 boxes, line ids) of one page."""
    width, height = image.size
    if engine == "tesseract":
        from ..preprocessing.ocr import tesseract_pixel_lines

        words, boxes, lines = tesseract_pixel_lines(image, lang)
        return words, [normalize_box(b, width, height) for b in boxes], lines
    words, boxes = ocr_engine(engine, lang)(image)
    kept = [(str(w), b) for w, b in zip(words, boxes) if str(w).strip()]
    boxes = [normalize_box(b, width, height, clamp=True) for _, b in kept]
    return [w for w, _ in kept], boxes, lines_from_boxes(boxes)


def _cache_file(path: Path, cache_dir: Path, engine: str, lang: Optional[str]) -> Path:
    stat = path.stat()
    key = f"{CACHE_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{engine}|{lang}"
    return cache_dir / f"{path.stem}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def _write_json(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def load_pages(files: Sequence[Union[str, Path]], cache_dir: Union[str, Path], engine: str = "tesseract",
               lang: Optional[str] = None, progress: bool = False) -> tuple[list[Document], dict[str, int]]:
    """One `Document` per page (every page of a PDF), words from the cache or from OCR (then cached).

    Returns the documents and counts: ``ocr`` (files OCR'd now), ``cached`` (files read from the
    cache), ``pages``. A page without words is kept out (nothing to mask), with a log line.
    """
    from tqdm.auto import tqdm

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    documents: list[Document] = []
    counts = {"ocr": 0, "cached": 0, "pages": 0, "empty_pages": 0}
    for file in tqdm([Path(f) for f in files], desc="ocr", disable=not progress):
        cached = _cache_file(file, cache_dir, engine, lang)
        record = json.loads(cached.read_text(encoding="utf-8")) if cached.is_file() else None
        single_image = file.suffix.lower() in IMAGE_SUFFIXES and page_count(file) == 1
        if record is None:
            record = {"file": str(file), "ocr": engine, "lang": lang, "pages": []}
        images = None if single_image and record["pages"] else list(iter_pages(file))
        if not record["pages"]:
            for image in images:
                words, boxes, lines = _ocr_lines(image, engine, lang)
                record["pages"].append({"words": words, "boxes": boxes, "line_ids": lines, "size": list(image.size)})
            _write_json(cached, record)
            counts["ocr"] += 1
        else:
            counts["cached"] += 1
        for index, page in enumerate(record["pages"]):
            if not page["words"]:
                counts["empty_pages"] += 1
                logger.info("%s page %d: no words, left out of pre-training", file, index + 1)
                continue
            extra: dict[str, Any] = {"line_ids": page["line_ids"], "source": [str(file), index]}
            if not single_image:
                image = images[index].copy()
                image.thumbnail((MAX_KEPT_SIDE, MAX_KEPT_SIDE))
                extra["image"] = image
            documents.append(Document(id=f"{file.stem}-p{index + 1}", words=page["words"], boxes=page["boxes"],
                                      image_path=file if single_image else None, page_size=tuple(page["size"]),
                                      extra=extra))
            counts["pages"] += 1
    return documents, counts


def encode_pages(documents: Sequence[Document], tokenizer, image_processor, max_length: int = 512,
                 stride: int = 128) -> Encoded:
    """Token windows of the pages (overlapping, as for fine-tuning), each token's line id in
    ``window.targets["line_ids"]`` (-1 for special tokens)."""
    encoded = encode_documents(documents, tokenizer, image_processor, max_length, stride)
    for window in encoded.windows:
        lines = documents[window.doc_index].extra["line_ids"]
        window.targets = {"line_ids": [lines[w] if w is not None else -1 for w in window.word_ids]}
    return encoded


# --------------------------------------------------------------------------- masking and covering
@dataclass(frozen=True)
class MaskingSettings:
    """The rates of the module docstring, and the token ids they need."""

    mask_token_id: int
    vocab_size: int
    mvlm_probability: float = 0.15
    mask_share: float = 0.8  # of the selected tokens: [MASK]
    random_share: float = 0.1  # random token (the rest stay as they are)
    tia_line_probability: float = 0.15
    tim_replace_probability: float = 0.15
    tim_drop_probability: float = 0.05
    cover_value: int = 0

    def __post_init__(self) -> None:
        for name in ("mvlm_probability", "mask_share", "random_share", "tia_line_probability",
                     "tim_replace_probability", "tim_drop_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in 0..1, got {value}")
        if self.mask_share + self.random_share > 1:
            raise ValueError(f"mask_share + random_share must be <= 1, got {self.mask_share} + {self.random_share}")
        if self.tim_replace_probability + self.tim_drop_probability > 1:
            raise ValueError("tim_replace_probability + tim_drop_probability must be <= 1")
        if not 0 <= self.cover_value <= 255:
            raise ValueError(f"cover_value must be a pixel value 0..255, got {self.cover_value}")


def pixel_rect(box: Sequence[int], height: int, width: int) -> tuple[int, int, int, int]:
    """A 0..1000 box -> (y0, y1, x0, x1) rows and columns of an image of ``height`` x ``width``
    (outward rounding, at least one pixel)."""
    x0 = min(int(math.floor(box[0] * width / 1000)), width - 1)
    y0 = min(int(math.floor(box[1] * height / 1000)), height - 1)
    x1 = min(max(int(math.ceil(box[2] * width / 1000)), x0 + 1), width)
    y1 = min(max(int(math.ceil(box[3] * height / 1000)), y0 + 1), height)
    return y0, y1, x0, x1


class PretrainingCollator:
    """Windows -> a batch with masked ``input_ids``, covered ``image`` and the three label tensors.

    Also ``image_source`` (B,): the page index of the image each sample got (-1: blank), for
    checks; the model does not take it (`PretrainingTask.model_inputs` leaves it out).
    """

    def __init__(self, settings: MaskingSettings) -> None:
        self.settings = settings

    def __call__(self, windows: Sequence[Window], pages: Sequence[np.ndarray],
                 generator: torch.Generator) -> dict[str, torch.Tensor]:
        s = self.settings
        batch = collate(windows, pages)
        ids = batch["input_ids"]
        size, length = ids.shape
        line_ids = torch.full((size, length), -1, dtype=torch.long)
        for i, window in enumerate(windows):
            line_ids[i, : len(window.input_ids)] = torch.tensor(window.targets["line_ids"])
        text = line_ids >= 0  # (B, L): word tokens (not [CLS]/[SEP]/padding)
        own = torch.tensor([w.doc_index for w in windows])

        # TIM: which page's image each sample gets
        draw = torch.rand(size, generator=generator)
        others = torch.randint(max(len(pages) - 1, 1), (size,), generator=generator)
        other = others + (others >= own).long()  # any page but the sample's own
        replaced = (draw < s.tim_replace_probability) & (len(pages) > 1)
        dropped = (draw >= s.tim_replace_probability) & (draw < s.tim_replace_probability + s.tim_drop_probability)
        source = torch.where(replaced, other, own)
        source[dropped] = -1
        tim_labels = (source == own).long()

        # MVLM: select, then [MASK] / random / keep
        selected = text & (torch.rand(size, length, generator=generator) < s.mvlm_probability)
        mvlm_labels = torch.where(selected, ids, torch.full_like(ids, IGNORE_INDEX))
        how = torch.rand(size, length, generator=generator)
        random_ids = torch.randint(s.vocab_size, (size, length), generator=generator)
        to_mask = selected & (how < s.mask_share)
        to_random = selected & (how >= s.mask_share) & (how < s.mask_share + s.random_share)
        ids = torch.where(to_mask, torch.full_like(ids, s.mask_token_id), ids)
        ids = torch.where(to_random, random_ids, ids)

        # TIA: whole lines covered
        lines = int(line_ids.max()) + 1 if bool(text.any()) else 1
        line_covered = torch.rand(size, lines, generator=generator) < s.tia_line_probability  # (B, lines)
        covered = text & line_covered.gather(1, line_ids.clamp(min=0))  # (B, L)
        tia_labels = torch.where(text, covered.long(), torch.full_like(ids, IGNORE_INDEX))
        tia_labels[selected] = IGNORE_INDEX
        tia_labels[tim_labels == 0] = IGNORE_INDEX

        if "image" in batch:
            batch["image"], hidden = self._images(batch["image"], pages, source, own, batch["bbox"], covered,
                                                  selected, text)
            # a token outside the chosen lines whose box the MVLM covering hides anyway (another
            # sub-token of its word was selected, or boxes overlap) would be a wrong "not covered"
            tia_labels[hidden & ~covered] = IGNORE_INDEX
        batch.update(input_ids=ids, mvlm_labels=mvlm_labels, tia_labels=tia_labels, tim_labels=tim_labels,
                     image_source=source)
        return batch

    def _images(self, images: torch.Tensor, pages: Sequence[np.ndarray], source: torch.Tensor, own: torch.Tensor,
                bbox: torch.Tensor, covered: torch.Tensor, selected: torch.Tensor,
                text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's image (its own page, another page or a blank one) with the boxes of the
        covered lines and the MVLM-selected tokens filled, and (B, L) whether a text token's box
        lies entirely under the MVLM covering."""
        images = images.clone()
        height, width = images.shape[-2:]
        hidden = torch.zeros_like(text)
        for i in range(images.shape[0]):
            if int(source[i]) == -1:
                images[i] = 255
            elif int(source[i]) != int(own[i]):
                images[i] = torch.from_numpy(pages[int(source[i])])
            under_mvlm = torch.zeros(height, width, dtype=torch.bool)
            for t in (covered[i] | selected[i]).nonzero().flatten().tolist():
                y0, y1, x0, x1 = pixel_rect(bbox[i, t].tolist(), height, width)
                images[i, :, y0:y1, x0:x1] = self.settings.cover_value
                if selected[i, t]:
                    under_mvlm[y0:y1, x0:x1] = True
            for t in (text[i] & ~selected[i]).nonzero().flatten().tolist():
                y0, y1, x0, x1 = pixel_rect(bbox[i, t].tolist(), height, width)
                hidden[i, t] = bool(under_mvlm[y0:y1, x0:x1].all())
        return images, hidden


# --------------------------------------------------------------------------- the task and its scores
class PretrainingTask(Task):
    """What the `Trainer` needs of a task, for pre-training: the model class, inputs, loss, metric."""

    name = "pretraining"
    main_metric = "mvlm_accuracy"  # selects <output>/best

    @property
    def model_class(self):
        return LayoutLMv2ForPreTraining

    def model_inputs(self, batch):
        return {k: v for k, v in batch.items() if k != "image_source"}

    def loss(self, outputs, batch):
        return outputs.loss.float()


def batch_seed(seed: int, epoch: int, index: int) -> int:
    """The generator seed of one batch: the same batch of the same epoch always gets the same masks."""
    return (seed * 1_000_003 + epoch * 10_007 + index) % (2**63)


@torch.no_grad()
def pretraining_scores(model, encoded: Encoded, collator: PretrainingCollator, batch_size: int = 8,
                       seed: int = 0, device: Optional[torch.device] = None, autocast=None,
                       rounds: int = 1) -> dict[str, float]:
    """MVLM, TIA and TIM accuracy and loss over ``encoded`` (eval mode, masks drawn from ``seed``),
    with each objective's majority baseline: the accuracy of always answering the most frequent
    target of these very samples (the best a constant guess can do; MVLM's also ``1 / vocab``).
    ``rounds`` > 1 scores every window that many times, each round with other masks (more targets
    from few pages, TIM's above all: one per window and round)."""
    from ..deployment.devices import autocast as autocast_context, move_batch

    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    hits = {k: 0 for k in ("mvlm", "tia", "tim")}
    totals = dict(hits)
    losses = {k: 0.0 for k in hits}
    targets: dict[str, list[torch.Tensor]] = {k: [] for k in hits}
    try:
        starts = range(0, len(encoded.windows), batch_size)
        for round_, (index, start) in ((r, item) for r in range(rounds) for item in enumerate(starts)):
            windows = encoded.windows[start: start + batch_size]
            generator = torch.Generator().manual_seed(batch_seed(seed, round_, index))
            batch = collator(windows, encoded.pages, generator)
            batch = move_batch({k: v for k, v in batch.items() if k != "image_source"}, device)
            with autocast_context(device, autocast):
                out = model(**batch)
            for name in hits:
                logits, labels = out[f"{name}_logits"].float(), batch[f"{name}_labels"]
                keep = labels != IGNORE_INDEX
                if not bool(keep.any()):
                    continue
                picked, wanted = logits[keep], labels[keep]  # (N, classes), (N,)
                hits[name] += int((picked.argmax(-1) == wanted).sum())
                totals[name] += int(keep.sum())
                losses[name] += float(F.cross_entropy(picked, wanted, reduction="sum"))
                targets[name].append(wanted.cpu())
    finally:
        model.train(was_training)
    scores: dict[str, float] = {}
    for name in hits:
        count = totals[name]
        scores[f"{name}_accuracy"] = hits[name] / count if count else float("nan")
        scores[f"{name}_loss"] = losses[name] / count if count else float("nan")
        scores[f"{name}_targets"] = count
        if count:
            values = torch.cat(targets[name])
            scores[f"{name}_majority"] = float(values.bincount().max()) / count
    scores["mvlm_uniform_chance"] = 1.0 / collator.settings.vocab_size
    return scores
