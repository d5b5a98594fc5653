"""The LayoutXLM vocabulary: a SentencePiece Unigram model with fairseq's ids.

XLM-RoBERTa (and so LayoutXLM) was trained by fairseq on ``sentencepiece.bpe.model`` (a Unigram
model despite its name), with fairseq's own first ids: ``<s>``=0, ``<pad>``=1, ``</s>``=2,
``<unk>``=3, every SentencePiece piece from id 3 on shifted up by one, and ``<mask>`` last. This
module reads the ``.model`` file itself (a small protobuf message: pieces with scores, and the
normaliser's precompiled character map), so the Rust tokenizer can be built from it without the
``sentencepiece`` or ``protobuf`` packages; only the slow tokenizer runs ``sentencepiece``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

# fairseq's first four ids; then the SentencePiece pieces from id 3 on; then <mask>
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
FAIRSEQ_OFFSET = 1  # SentencePiece id + 1 = fairseq id, for SentencePiece ids >= 3
_UNKNOWN, _CONTROL = 2, 3  # SentencePiece piece types


@dataclass(frozen=True)
class UnigramVocabulary:
    """(token, score) in fairseq id order, and how the text is normalised before segmentation."""

    pieces: list  # [(token, score)], index = id
    precompiled_charsmap: Optional[bytes]  # SentencePiece's NFKC-like rules (None: no normalisation)
    unk_id: int = 3

    @property
    def token_to_id(self) -> dict:
        ids: dict = {}
        for index, (token, _) in enumerate(self.pieces):
            ids.setdefault(token, index)
        return ids


def _varint(data: bytes, i: int) -> tuple:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def _fields(data: bytes):
    """(field number, value) of a protobuf message: ints for varints, bytes otherwise."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, i = _varint(data, i)
        elif wire_type == 1:
            value, i = data[i:i + 8], i + 8
        elif wire_type == 2:
            size, i = _varint(data, i)
            value, i = data[i:i + size], i + size
        elif wire_type == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        yield number, value


def read_sentencepiece_model(path: Union[str, Path]) -> UnigramVocabulary:
    """The fairseq vocabulary of a SentencePiece Unigram ``.model`` file (XLM-R's layout:
    pieces 0..2 are ``<unk>``, ``<s>``, ``</s>``), or a ValueError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
        pieces, charsmap, model_type = [], None, 1
        for number, value in _fields(data):
            if number == 1:  # ModelProto.pieces: {piece = 1, score = 2, type = 3}
                piece = {1: b"", 2: b"\0\0\0\0", 3: 1}
                piece.update(dict(_fields(value)))
                pieces.append((piece[1].decode("utf-8"), struct.unpack("<f", piece[2])[0], piece[3]))
            elif number == 2:  # TrainerSpec.model_type = 3 (1: unigram, 2: bpe)
                model_type = dict(_fields(value)).get(3, 1)
            elif number == 3:  # NormalizerSpec.precompiled_charsmap = 2
                charsmap = dict(_fields(value)).get(2) or None
    except (OSError, IndexError, UnicodeDecodeError, struct.error, ValueError) as error:
        raise ValueError(f"{path} is not a SentencePiece model file: {error}") from None
    if model_type != 1:
        raise ValueError(f"{path} is a SentencePiece model of type {model_type}, not Unigram (type 1) as XLM-R's")
    if len(pieces) < 4 or pieces[0][2] != _UNKNOWN or pieces[1][2] != _CONTROL or pieces[2][2] != _CONTROL:
        raise ValueError(f"{path}: expected SentencePiece pieces 0..2 to be <unk>, <s>, </s> (XLM-R's layout), "
                         f"got {[p[0] for p in pieces[:3]]}")
    vocab = [(token, 0.0) for token in FAIRSEQ_SPECIALS] + [(p[0], p[1]) for p in pieces[3:]] + [("<mask>", 0.0)]
    return UnigramVocabulary(vocab, charsmap)


def read_unigram_tokenizer_json(path: Union[str, Path]) -> UnigramVocabulary:
    """The vocabulary of a ``tokenizer.json`` holding a Unigram model (as XLM-R's), or a ValueError."""
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    model = saved.get("model", {})
    if model.get("type") != "Unigram" or not isinstance(model.get("vocab"), list):
        raise ValueError(f"{path} does not hold a Unigram (SentencePiece) vocabulary, but {model.get('type')!r}")
    return UnigramVocabulary([(str(t), float(s)) for t, s in model["vocab"]], _charsmap(saved.get("normalizer")),
                             int(model.get("unk_id") or 3))


def _charsmap(normalizer: Optional[dict]) -> Optional[bytes]:
    import base64

    if not normalizer:
        return None
    for item in normalizer.get("normalizers", [normalizer]):
        if item.get("type") == "Precompiled" and item.get("precompiled_charsmap"):
            return base64.b64decode(item["precompiled_charsmap"])
    return None
