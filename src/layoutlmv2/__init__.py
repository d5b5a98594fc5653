"""LayoutLMv2 (text + 2-D layout + image) in plain PyTorch, without detectron2.

The public names match Hugging Face transformers. They are imported lazily so that
``import layoutlmv2`` stays cheap (the tokenizers do not need torch, the model does).
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "LayoutLMv2Config": "configuration",
    "LayoutLMv2PreTrainedModel": "modeling.model",
    "LayoutLMv2Model": "modeling.model",
    "LayoutLMv2ForSequenceClassification": "modeling.heads",
    "LayoutLMv2ForTokenClassification": "modeling.heads",
    "LayoutLMv2ForQuestionAnswering": "modeling.heads",
    "LayoutLMv2ForRelationExtraction": "modeling.relation_extraction",
    "LayoutLMv2ForPreTraining": "modeling.pretraining",
    "synchronize_batch_norm": "modeling.batch_norm",
    "LayoutLMv2ImageProcessor": "preprocessing.image_processing",
    "LayoutLMv2FeatureExtractor": "preprocessing.image_processing",
    "LayoutLMv2Tokenizer": "preprocessing.tokenization",
    "LayoutLMv2TokenizerFast": "preprocessing.tokenization_fast",
    "LayoutLMv2Processor": "preprocessing.processing",
    "LayoutXLMTokenizer": "preprocessing.tokenization_layoutxlm",
    "LayoutXLMTokenizerFast": "preprocessing.tokenization_layoutxlm_fast",
    "LayoutXLMProcessor": "preprocessing.processing",
    "LayoutLMv2Error": "errors",
    "pipeline": "inference.pipeline",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'layoutlmv2' has no attribute {name!r}")


def __dir__() -> list:
    return __all__
