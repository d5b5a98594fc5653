"""``layoutlmv2 evaluate``: score a fine-tuned model folder on one split of a data set."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from .. import registry
from ..configuration import LayoutLMv2Config
from ..deployment.worker_pool import check_workers
from ..registry import load_dataset
from ..tasks.definitions import make_task, task_from_config
from ..errors import LayoutLMv2Error
from .key_values import check_entity_model, set_predicted_entities
from .loading import load_inference_model, load_processor, resolve_placement


def evaluate_model(model_dir: Union[str, Path], dataset: str, data_dir: Union[str, Path], split: str = "test",
                   max_length: int = 512, stride: int = 128, batch_size: int = 8, limit: Optional[int] = None,
                   bf16: bool = False, workers: int = 1, onnx: Optional[Union[str, Path]] = None,
                   device: str = "auto", precision: str = "auto", compile: bool = False,
                   entities_from: Optional[Union[str, Path]] = None, lang: Optional[str] = None,
                   ocr_cache: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """Score a fine-tuned model folder on one split; returns the metrics and the document count.

    ``lang``: the language of a multilingual data set (XFUND: de, es, fr, it, ja, pt, zh).

    `onnx`: run this exported file of the folder's model in ONNX Runtime instead of PyTorch
    (the folder still gives the config and the processor). `device`/`precision`
    (`deployment.devices`; ``bf16=True`` is precision "bf16"), `compile`: ``torch.compile`` the model.
    `entities_from` (relation extraction): a token-classification folder whose predicted entities replace
    the annotated ones, scored end to end (`key_values.end_to_end_relation_scores`).
    `ocr_cache`: the folder of cached Tesseract words for data sets of page images only (RVL-CDIP, DocVQA
    without OCR files). Question answering also returns ``answers``: per question its id, the question,
    the predicted answer and the reference answers.
    """
    check_workers(workers)  # before minutes of encoding
    placement, dtype = resolve_placement(device, precision, bf16, workers, onnx)

    config = LayoutLMv2Config.from_pretrained(model_dir)
    task = task_from_config(config, dataset)
    make_task(task.name, dataset)  # checks that the data set belongs to the model's task
    processor = load_processor(model_dir)
    model = load_inference_model(task, model_dir, processor, onnx, device=placement, compile=compile)
    documents = load_dataset(dataset, data_dir, split, lang, ocr_cache=ocr_cache, limit=limit)
    if entities_from is not None:
        return _end_to_end_relations(task, model, processor, documents, entities_from, dataset, split, max_length,
                                     stride, batch_size, placement, dtype, precision)
    encoded = task.encode(documents, processor.tokenizer, processor.image_processor, max_length, stride)
    outputs = task.window_outputs(model, encoded, batch_size, autocast=dtype, workers=workers)
    predictions = task.decode(documents, encoded, outputs)
    scores = task.evaluate(documents, predictions)
    if task.name == "question-answering":
        scores["answers"] = [{"id": document.id, "question": document.question, "answer": prediction.get("answer"),
                              "score": prediction.get("score"), "references": document.answers}
                             for document, prediction in zip(documents, predictions)]
    if encoded.stats:  # relation extraction: entities and links no window holds whole
        scores["windows"] = encoded.stats
    return {"dataset": dataset, "split": split, "documents": len(documents), "main_metric": registry.task_spec(task.name).main_metric,
            **scores}


def _end_to_end_relations(task, model, processor, documents, entities_from, dataset, split, max_length, stride,
                          batch_size, placement, dtype, precision) -> dict[str, Any]:
    """Relation scores with the entities of a token-classification model (on the annotated words), and
    that model's entity F1 on the same pages for reference."""
    import copy

    from .key_values import end_to_end_relation_scores
    from .predictor import Predictor

    if task.name != "relation-extraction":
        raise LayoutLMv2Error(f"--entities-from is for relation-extraction models, not {task.name}")
    entity_task = task_from_config(LayoutLMv2Config.from_pretrained(entities_from))
    check_entity_model(entities_from, entity_task.name, entity_task.labels or [])
    entity_model = Predictor(entities_from, max_length=max_length, stride=stride, batch_size=batch_size,
                             device=str(placement), precision=precision)
    names = [(document.id, 1) for document in documents]
    records = entity_model._predict_documents(documents, names, None)
    predicted = []
    for document, record in zip(documents, records):
        copied = copy.copy(document)
        copied.extra = dict(document.extra)
        set_predicted_entities(copied, record["entities"])
        predicted.append(copied)
    encoded = task.encode(predicted, processor.tokenizer, processor.image_processor, max_length, stride)
    outputs = task.window_outputs(model, encoded, batch_size, autocast=dtype)
    scores = end_to_end_relation_scores(documents, predicted, task.decode(predicted, encoded, outputs))
    entity_scores = entity_model.task.evaluate(documents, records)
    return {"dataset": dataset, "split": split, "documents": len(documents), "main_metric": "relation_f1",
            "entities": "predicted", "entities_from": str(entities_from), **scores,
            "entity_model": entity_scores}
