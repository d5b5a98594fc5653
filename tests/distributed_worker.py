"""One process of the two-process DistributedDataParallel test, launched the way users launch:

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/distributed_worker.py \\
        --funsd DIR --vocab VOCAB --out DIR

Each rank trains the small token-classification model for a few steps on its half of a batch
of real FUNSD pages (gloo, CPU, no `find_unused_parameters`), saves its final weights, then
converts the frozen batch norms to SyncBatchNorm grouped per node and reports what it got.
`test_distributed.py` checks the results against one process that averages the two halves'
gradients itself; it imports the data and model helpers below for that.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from PIL import Image

STEPS = 3
PAGES = 4
MAX_LENGTH = 64
LEARNING_RATE = 0.05
FUNSD_LABELS = ["other", "header", "question", "answer"]


def load_pages(funsd_dir: Path, count: int = PAGES) -> List[dict]:
    """The first `count` FUNSD training pages: words, 0..1000 boxes, entity labels, 224x224 BGR image."""
    root = Path(funsd_dir) / "training_data"
    pages = []
    for annotation in sorted((root / "annotations").glob("*.json"))[:count]:
        image = Image.open(root / "images" / f"{annotation.stem}.png").convert("RGB")
        width, height = image.size
        words, boxes, labels = [], [], []
        for entity in json.loads(annotation.read_text())["form"]:
            for word in entity["words"]:
                if not word["text"].strip():
                    continue
                x0, y0, x1, y1 = word["box"]
                boxes.append([min(1000, max(0, int(1000 * v / size)))
                              for v, size in ((x0, width), (y0, height), (x1, width), (y1, height))])
                words.append(word["text"])
                labels.append(FUNSD_LABELS.index(entity["label"]))
        pixels = np.asarray(image.resize((224, 224), Image.BILINEAR))[:, :, ::-1]  # RGB -> BGR
        pages.append(dict(words=words, boxes=boxes, labels=labels,
                          image=torch.from_numpy(pixels.copy()).permute(2, 0, 1).float()))  # (3, 224, 224)
    return pages


def encode(pages: List[dict], vocab_file: Path) -> Dict[str, torch.Tensor]:
    from layoutlmv2 import LayoutLMv2TokenizerFast

    tokenizer = LayoutLMv2TokenizerFast(vocab_file=str(vocab_file))
    batch = tokenizer([p["words"] for p in pages], boxes=[p["boxes"] for p in pages],
                      word_labels=[p["labels"] for p in pages], padding="max_length", truncation=True,
                      max_length=MAX_LENGTH, return_tensors="pt")
    batch = dict(batch)
    batch["image"] = torch.stack([p["image"] for p in pages])
    return batch


def half(batch: Dict[str, torch.Tensor], rank: int, world_size: int = 2) -> Dict[str, torch.Tensor]:
    size = len(batch["input_ids"]) // world_size
    return {k: v[rank * size:(rank + 1) * size] for k, v in batch.items()}


def build_model(seed: int = 0):
    """The small token-classification model, dropout off, the same weights for the same seed."""
    from layoutlmv2 import LayoutLMv2Config, LayoutLMv2ForTokenClassification
    from layoutlmv2.configuration import backbone_preset

    config = LayoutLMv2Config(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, coordinate_size=12,
        shape_size=8, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=len(FUNSD_LABELS),
        detectron2_config_args=backbone_preset("resnext50_32x4d"),
    )
    torch.manual_seed(seed)
    return LayoutLMv2ForTokenClassification(config).train()


def make_optimizer(model) -> torch.optim.Optimizer:
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LEARNING_RATE, momentum=0.9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--funsd", type=Path, required=True)
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    torch.distributed.init_process_group("gloo")
    rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    torch.set_num_threads(1)
    batch = half(encode(load_pages(args.funsd), args.vocab), rank, world_size)
    report = {"rank": rank, "world_size": world_size, "local_world_size": os.environ.get("LOCAL_WORLD_SIZE")}

    # ------------------------------------------------------------- DDP training steps
    model = build_model()
    ddp = torch.nn.parallel.DistributedDataParallel(model)  # no find_unused_parameters
    optimizer = make_optimizer(model)
    losses, unused = [], []
    for _ in range(STEPS):
        optimizer.zero_grad(set_to_none=True)
        loss = ddp(**batch).loss
        loss.backward()
        unused += [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        optimizer.step()
        losses.append(loss.item())
    report.update(losses=losses, unused=sorted(set(unused)))
    torch.save(model.state_dict(), args.out / f"rank{rank}.pt")

    # ------------------------------------------------- frozen batch norm -> SyncBatchNorm
    frozen_model = copy.deepcopy(model).eval()
    from layoutlmv2.modeling.batch_norm import FrozenBatchNorm2d

    frozen = [n for n, m in frozen_model.named_modules() if isinstance(m, FrozenBatchNorm2d)]
    with torch.no_grad():
        expected = frozen_model(**batch).logits
    synced_model = copy.deepcopy(frozen_model).synchronize_batch_norm()  # per node from LOCAL_WORLD_SIZE
    synced = {n: m for n, m in synced_model.named_modules() if isinstance(m, torch.nn.SyncBatchNorm)}
    groups = {tuple(torch.distributed.get_process_group_ranks(m.process_group)) for m in synced.values()}
    with torch.no_grad():
        converted = synced_model(**batch).logits
    per_rank = copy.deepcopy(frozen_model).synchronize_batch_norm(per_node=1)
    per_rank_groups = {tuple(torch.distributed.get_process_group_ranks(m.process_group))
                       for m in per_rank.modules() if isinstance(m, torch.nn.SyncBatchNorm)}
    try:  # SyncBatchNorm's training forward needs GPUs; record what CPU gives
        synced_model.train()(**batch)
        sync_training = "ran"
    except ValueError as err:
        sync_training = f"ValueError: {err}"
    report.update(
        frozen=frozen, synced=sorted(synced), groups=[list(g) for g in groups],
        per_rank_groups=[list(g) for g in per_rank_groups],
        eval_max_diff=float((converted - expected).abs().max()), sync_training=sync_training,
        remaining_frozen=sum(isinstance(m, FrozenBatchNorm2d) for m in synced_model.modules()),
    )
    (args.out / f"rank{rank}.json").write_text(json.dumps(report, indent=2))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
