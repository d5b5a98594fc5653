"""Ids back to text, as the ``tokenizers`` WordPiece decoder and transformers' clean-up do it.

Both tokenizers decode through here (the fast one lets Rust join the pieces), so ``decode``
gives the same string whichever tokenizer made the ids.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .vocabulary import as_id_list

# transformers' ``clean_up_tokenization_spaces``: punctuation and English contractions glued back
_CLEAN_UP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
             (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))
# the WordPiece decoder's own clean-up: the same, plus " do not" -> " don't" before " 's"
_WORDPIECE_CLEAN_UP = _CLEAN_UP[:7] + ((" do not", " don't"),) + _CLEAN_UP[7:]


def _replace_all(text: str, table: Sequence[tuple]) -> str:
    for old, new in table:
        text = text.replace(old, new)
    return text


def wordpiece_decode(tokens: Sequence[str]) -> str:
    """Join WordPiece tokens as the ``tokenizers`` WordPiece decoder does (cleanup on)."""
    pieces = []
    for i, token in enumerate(tokens):
        if i:
            token = token[2:] if token.startswith("##") else " " + token
        pieces.append(_replace_all(token, _WORDPIECE_CLEAN_UP))
    return "".join(pieces)


def clean_up_tokenization(text: str) -> str:
    """transformers' ``clean_up_tokenization_spaces``: glue punctuation and English contractions."""
    return _replace_all(text, _CLEAN_UP)


class Decoding:
    """``decode``/``batch_decode`` for the tokenizer base; subclasses may override ``_decode``."""

    clean_up_tokenization_spaces: bool

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: Optional[bool] = None,
        **kwargs: Any,
    ) -> str:
        """Ids back to text: '##' pieces glued, ' ,' ' .' ' ?' ' !' cleaned as transformers does."""
        text = self._decode([int(i) for i in as_id_list(token_ids)], skip_special_tokens)
        if clean_up_tokenization_spaces is None:
            clean_up_tokenization_spaces = self.clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean_up_tokenization_spaces else text

    def batch_decode(self, sequences: Any, **kwargs: Any) -> list:
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(sequence, **kwargs) for sequence in sequences]

    def _decode(self, ids: list, skip_special_tokens: bool) -> str:
        special = set(self.all_special_ids) if skip_special_tokens else ()
        tokens = [self.ids_to_tokens[i] for i in ids if i in self.ids_to_tokens and i not in special]
        return wordpiece_decode(tokens)
