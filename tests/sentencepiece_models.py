"""Small SentencePiece Unigram models trained by the tests (no XLM-R vocabulary is available offline).

The training text is real: the words of the XFUND-de forms and of FUNSD, plus strings written here
in the scripts a multilingual tokenizer must handle (CJK, Arabic, Devanagari, Thai, Cyrillic,
combining marks, emoji with modifiers, zero-width characters, full-width digits and letters).
The model has XLM-R's layout (pieces 0..2 are <unk>, <s>, </s>; NFKC normalisation) and takes a
few seconds to train on one core.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

# written for these tests; each line is a few words of one script or of one Unicode corner
MULTILINGUAL_LINES = [
    "申请表 姓名 地址 电话号码 出生日期 签名",
    "申請書 氏名 住所 電話番号 生年月日 署名 です ます カタカナ",
    "신청서 이름 주소 전화번호 서명",
    "الاسم العنوان رقم الهاتف تاريخ الميلاد التوقيع",
    "नाम पता फ़ोन नंबर जन्म तिथि हस्ताक्षर",
    "ชื่อ ที่อยู่ หมายเลขโทรศัพท์ วันเกิด ลายมือชื่อ",
    "Имя Адрес Телефон Дата рождения Подпись",
    "Ελληνικά όνομα διεύθυνση",
    "cafe\u0301 nai\u0308ve Zu\u0308rich man\u0303ana",
    "😀 👍🏽 🇩🇪 👩‍💻 ✅ ☑ ☒",
    "zero\u200bwidth join\u200der non\u200cjoiner \ufeffbom",
    "１２３ ４５６ ７８９０ Ｆｏｒｍ ＡＢＣ：",
    "ﬁle ﬂow Ⅻ ① ² ½ ㎏ ™",
    "Straße Größe Übersicht Äpfel Öl",
]


def training_lines(xfund_dir: Path, funsd_dir: Path) -> list[str]:
    """One line per XFUND-de train form and per FUNSD training form, then the lines above (repeated)."""
    lines = []
    for document in json.loads((xfund_dir / "de.train.json").read_text(encoding="utf-8"))["documents"]:
        lines.append(" ".join(w["text"] for entity in document["document"] for w in entity["words"]))
    for path in sorted((funsd_dir / "training_data" / "annotations").glob("*.json"))[:100]:
        form = json.loads(path.read_text(encoding="utf-8"))["form"]
        lines.append(" ".join(w["text"] for entity in form for w in entity["words"]))
    return lines + MULTILINGUAL_LINES * 20


def train_unigram(lines: list[str], vocab_size: int, path: Path) -> Path:
    """Train a SentencePiece Unigram model (XLM-R's settings: NFKC, pieces 0..2 <unk>, <s>, </s>) to ``path``."""
    import sentencepiece

    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buffer, vocab_size=vocab_size, model_type="unigram",
        character_coverage=0.9995, normalization_rule_name="nmt_nfkc", num_threads=1, minloglevel=2,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
    )
    path.write_bytes(buffer.getvalue())
    return path


def xfund_documents(xfund_dir: Path, split: str) -> list[tuple[list[str], list[list[int]]]]:
    """(words, boxes in 0..1000) of every XFUND-de form of a split, as the annotations give them."""
    out = []
    for document in json.loads((xfund_dir / f"de.{split}.json").read_text(encoding="utf-8"))["documents"]:
        width, height = document["img"]["width"], document["img"]["height"]
        words, boxes = [], []
        for entity in document["document"]:
            for word in entity["words"]:
                x0, y0, x1, y1 = word["box"]
                words.append(word["text"])
                boxes.append([min(1000, max(0, int(1000 * x0 / width))), min(1000, max(0, int(1000 * y0 / height))),
                              min(1000, max(0, int(1000 * x1 / width))), min(1000, max(0, int(1000 * y1 / height)))])
        out.append((words, boxes))
    return out
