"""A tokenizer's files: what ``save_pretrained`` writes and ``from_pretrained`` reads.

The folder layout is transformers' (vocab.txt, tokenizer_config.json, special_tokens_map.json,
and tokenizer.json for the fast tokenizer), so folders move both ways between the two libraries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

from ..hub import pop_hub_kwargs, resolve_folder
from .vocabulary import SPECIAL_TOKEN_NAMES

VOCAB_FILE = "vocab.txt"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"


def _token_content(token: Any) -> Any:
    """A special token as saved: a plain string, or transformers' AddedToken dict."""
    return token["content"] if isinstance(token, dict) else token


def read_tokenizer_config(folder: Path) -> dict:
    """The tokenizer's arguments saved in ``folder``, special tokens as plain strings."""
    config: dict = {}
    if (folder / CONFIG_FILE).is_file():
        config.update(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")))
    if (folder / SPECIAL_TOKENS_FILE).is_file():
        for name, token in json.loads((folder / SPECIAL_TOKENS_FILE).read_text(encoding="utf-8")).items():
            if name in SPECIAL_TOKEN_NAMES:
                config.setdefault(name, _token_content(token))
    for name in SPECIAL_TOKEN_NAMES:
        if name in config:
            config[name] = _token_content(config[name])
    return config


class TokenizerFiles:
    """``save_pretrained``/``from_pretrained`` for the tokenizer base.

    ``_config()`` says what goes into tokenizer_config.json, ``_save_vocabulary`` writes the
    vocabulary (vocab.txt here; LayoutXLM's sentencepiece.bpe.model), ``_save_extra`` lets the fast
    tokenizer add its tokenizer.json; ``vocabulary_files`` and ``_vocabulary_source`` are the
    files ``from_pretrained`` looks for.
    """

    vocabulary_files = (VOCAB_FILE, TOKENIZER_FILE)

    @classmethod
    def _vocabulary_source(cls, folder: Path) -> dict:
        if (folder / VOCAB_FILE).is_file():
            return {"vocab_file": str(folder / VOCAB_FILE)}
        if (folder / TOKENIZER_FILE).is_file():
            return {"tokenizer_file": str(folder / TOKENIZER_FILE)}
        raise ValueError(f"{str(folder)!r} has neither {VOCAB_FILE} nor {TOKENIZER_FILE}")

    def _config(self) -> dict:
        return {
            "tokenizer_class": "LayoutLMv2Tokenizer",
            "do_lower_case": self.do_lower_case,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "strip_accents": self.strip_accents,
            **self.special_tokens_map,
            "cls_token_box": list(self.cls_token_box),
            "sep_token_box": list(self.sep_token_box),
            "pad_token_box": list(self.pad_token_box),
            "pad_token_label": self.pad_token_label,
            "only_label_first_subword": self.only_label_first_subword,
            "model_max_length": self.model_max_length,
            "padding_side": self.padding_side,
            "truncation_side": self.truncation_side,
            "clean_up_tokenization_spaces": self.clean_up_tokenization_spaces,
        }

    def save_pretrained(self, save_directory: Union[str, os.PathLike], **kwargs: Any) -> tuple:
        """Write vocab.txt, tokenizer_config.json and special_tokens_map.json (fast: + tokenizer.json)."""
        folder = Path(save_directory)
        if folder.is_file():
            raise ValueError(f"save_directory {str(folder)!r} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        vocabulary = self._save_vocabulary(folder)
        config_path = folder / CONFIG_FILE
        config_path.write_text(json.dumps(self._config(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        special_path = folder / SPECIAL_TOKENS_FILE
        special_path.write_text(json.dumps(self.special_tokens_map, indent=2) + "\n", encoding="utf-8")
        return (str(config_path), str(special_path)) + vocabulary + self._save_extra(folder)

    def _save_vocabulary(self, folder: Path) -> tuple:
        vocab_path = folder / VOCAB_FILE
        with open(vocab_path, "w", encoding="utf-8") as handle:
            for token, _ in sorted(self.vocab.items(), key=lambda item: item[1]):
                handle.write(token + "\n")
        return (str(vocab_path),)

    def _save_extra(self, folder: Path) -> tuple:
        return ()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Union[str, os.PathLike], **kwargs: Any):
        """Load from a folder holding vocab.txt and/or tokenizer.json (+ tokenizer_config.json)."""
        folder = resolve_folder(pretrained_model_name_or_path,
                                (*cls.vocabulary_files, CONFIG_FILE, SPECIAL_TOKENS_FILE), **pop_hub_kwargs(kwargs))
        saved = read_tokenizer_config(folder)
        if any((folder / name).is_file() for name in cls.vocabulary_files):
            saved.pop("vocab", None)  # transformers 5 copies {token: id} here; the vocabulary files decide
        config = {**saved, **kwargs}
        if not any(config.get(name) for name in ("vocab_file", "tokenizer_file", "vocab")):
            config.update(cls._vocabulary_source(folder))
        tokenizer = cls(**config)
        tokenizer.name_or_path = str(pretrained_model_name_or_path)
        return tokenizer
