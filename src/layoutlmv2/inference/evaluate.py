"""``layoutlmv2 evaluate``: score a fine-tuned model folder on one split of a data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from .. import registry
from ..configuration import LayoutLMv2Config
from ..deployment.worker_pool import check_workers
from ..registry import load_dataset
from ..tasks.definitions import make_task, task_from_config
from .loading import load_inference_model, load_processor, resolve_placement


def evaluate_model(model_dir: Union[str, Path], dataset: str, data_dir: Union[str, Path], split: str = "test",
                   max_length: int = 512, stride: int = 128, batch_size: int = 8, limit: Optional[int] = None,
                   bf16: bool = False, workers: int = 1, onnx: Optional[Union[str, Path]] = None,
                   device: str = "auto", precision: str = "auto", compile: bool = False,
                   lang: Optional[str] = None) -> dict[str, Any]:
    """Score a fine-tuned model folder on one split; returns the metrics and the document count.

    ``lang``: the language of a multilingual data set (XFUND: de, es, fr, it, ja, pt, zh).

    `onnx`: run this exported file of the folder's model in ONNX Runtime instead of PyTorch
    (the folder still gives the config and the processor). `device`/`precision`
    (`deployment.devices`; ``bf16=True`` is precision "bf16"), `compile`: ``torch.compile`` the model.
    """
    check_workers(workers)  # before minutes of encoding
    placement, dtype = resolve_placement(device, precision, bf16, workers, onnx)

    config = LayoutLMv2Config.from_pretrained(model_dir)
    task = task_from_config(config, dataset)
    make_task(task.name, dataset)  # checks that the data set belongs to the model's task
    processor = load_processor(model_dir)
    model = load_inference_model(task, model_dir, processor, onnx, device=placement, compile=compile)
    documents = load_dataset(dataset, data_dir, split, lang)[:limit]
    encoded = task.encode(documents, processor.tokenizer, processor.image_processor, max_length, stride)
    outputs = task.window_outputs(model, encoded, batch_size, autocast=dtype, workers=workers)
    scores = task.evaluate(documents, task.decode(documents, encoded, outputs))
    if encoded.stats:  # relation extraction: entities and links no window holds whole
        scores["windows"] = encoded.stats
    return {"dataset": dataset, "split": split, "documents": len(documents), "main_metric": registry.task_spec(task.name).main_metric,
            **scores}
