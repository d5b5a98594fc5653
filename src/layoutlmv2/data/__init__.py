"""Readers that turn document data sets into `Document` records for fine-tuning and evaluation.

Real copies of FUNSD and SROIE (a subset) live in ../shared/data; CORD, RVL-CDIP, DocVQA and
Kleister-NDA are read from their published formats but no copy is available here.
"""

from .cord import CORD_CATEGORIES, CORD_LABELS, load_cord, read_cord_json
from .derived import FORMS_VS_RECEIPTS_LABELS, FUNSD_QA_TEMPLATE, load_forms_vs_receipts, load_funsd_qa
from .docvqa import load_docvqa, load_docvqa_split, read_docvqa_ocr
from .document import Document, find_word_span, image_size, quad_to_box, split_line_box
from .funsd import FUNSD_ENTITY_TYPES, FUNSD_LABELS, load_funsd
from .kleister_nda import (
    KLEISTER_LABELS,
    KLEISTER_NDA_KEYS,
    KLEISTER_TEXT_COLUMNS,
    format_expected_line,
    load_kleister_nda,
    load_kleister_nda_tagged,
    parse_expected_line,
)
from .rvl_cdip import RVL_CDIP_CLASSES, load_rvl_cdip
from .xfund import XFUND_LANGUAGES, load_xfund
from .sroie import (
    SROIE_FIELDS,
    SROIE_LABELS,
    decode_sroie_fields,
    label_sroie_lines,
    load_sroie,
    parse_sroie_box_file,
    read_sroie_entities,
)

__all__ = [
    "CORD_CATEGORIES", "CORD_LABELS", "Document", "FORMS_VS_RECEIPTS_LABELS", "FUNSD_ENTITY_TYPES",
    "FUNSD_LABELS", "FUNSD_QA_TEMPLATE", "KLEISTER_LABELS", "KLEISTER_NDA_KEYS", "KLEISTER_TEXT_COLUMNS",
    "RVL_CDIP_CLASSES", "SROIE_FIELDS", "SROIE_LABELS", "decode_sroie_fields", "find_word_span",
    "format_expected_line", "image_size", "label_sroie_lines", "load_cord", "load_docvqa", "load_docvqa_split",
    "load_forms_vs_receipts", "load_funsd", "load_funsd_qa", "load_kleister_nda", "load_kleister_nda_tagged", "load_rvl_cdip",
    "load_sroie", "parse_expected_line", "parse_sroie_box_file", "quad_to_box",
    "read_cord_json", "read_docvqa_ocr", "read_sroie_entities", "split_line_box", "XFUND_LANGUAGES", "load_xfund",
]  # fmt: skip
