"""Page images from files (`layoutlmv2.preprocessing.pages`): PDF resolution, frames, and the errors."""

from __future__ import annotations

from collections import Counter

import pytest
from PIL import Image

from layoutlmv2.errors import LayoutLMv2Error
from layoutlmv2.preprocessing.ocr import apply_tesseract
from layoutlmv2.preprocessing.pages import VECTOR_DPI, iter_pages, page_count

from conftest import shared_data_path

FUNSD_PAGE = "82092117"


def words(image: Image.Image) -> Counter:
    found, _ = apply_tesseract(image)
    return Counter(w for w in found if w.strip())


def recall(found: Counter, reference: Counter) -> float:
    return sum((found & reference).values()) / sum(reference.values())


@pytest.fixture(scope="module")
def funsd_png(funsd_dir) -> Image.Image:
    return Image.open(funsd_dir / "testing_data" / "images" / f"{FUNSD_PAGE}.png").convert("RGB")


@pytest.mark.parametrize("paper_ppi", [72, 100, 200])
def test_a_scanned_pdf_renders_at_the_scan_s_own_pixels(funsd_png, paper_ppi, tmp_path):
    pdf = tmp_path / "scan.pdf"
    funsd_png.save(pdf, "PDF", resolution=paper_ppi)  # as a scanner writes it: the image at paper_ppi
    (page,) = list(iter_pages(pdf))
    assert all(abs(a - b) <= 1 for a, b in zip(page.size, funsd_png.size)), (page.size, funsd_png.size)


@pytest.mark.ocr
def test_ocr_of_a_scanned_pdf_finds_the_words_of_the_png(funsd_png, tmp_path):
    """The old fixed 170 dpi found 73 of this page's 188 words. Rendered at its own resolution the page
    reads as well as the PDF's embedded (JPEG-compressed) image itself, the best any rendering can do."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = tmp_path / "scan.pdf"
    funsd_png.save(pdf, "PDF", resolution=100)
    document = pdfium.PdfDocument(str(pdf))
    embedded = next(document[0].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])).get_bitmap(render=False).to_pil()
    reference = words(funsd_png)
    best = recall(words(embedded.convert("RGB")), reference)
    document.close()
    auto = recall(words(next(iter_pages(pdf))), reference)
    fixed = recall(words(next(iter_pages(pdf, dpi=170))), reference)
    assert auto >= best - 0.05 and auto > fixed + 0.3, (auto, best, fixed)


def test_a_born_digital_pdf_renders_at_the_vector_resolution():
    pdf = shared_data_path("pdfs", "pypdf", "SF424_page2.pdf")
    (page,) = list(iter_pages(pdf))
    assert page.width == pytest.approx(612 * VECTOR_DPI / 72, abs=1)  # US letter, 612 points wide
    (page,) = list(iter_pages(pdf, dpi=100))
    assert page.width == pytest.approx(850, abs=1)


def test_every_page_of_a_real_multi_page_pdf():
    pdf = shared_data_path("pdfs", "pdfplumber", "150109DSP-Milw-505-90D.pdf")
    pages = list(iter_pages(pdf, dpi=72))
    assert len(pages) == page_count(pdf) == 2 and all(p.mode == "RGB" for p in pages)


@pytest.mark.parametrize("dpi", [5, 10_000, "high", True])
def test_a_bad_dpi_is_named(dpi, tmp_path):
    pdf = tmp_path / "p.pdf"
    Image.new("RGB", (50, 50), "white").save(pdf, "PDF")
    with pytest.raises(LayoutLMv2Error, match=f"dpi must be 'auto' or a number in 72..600, got {dpi!r}"):
        list(iter_pages(pdf, dpi=dpi))


def test_a_huge_pdf_page_is_refused(tmp_path):
    pdf = tmp_path / "poster.pdf"
    Image.new("1", (2000, 2000)).save(pdf, "PDF", resolution=1)  # a 2000 x 2000 inch page
    with pytest.raises(LayoutLMv2Error, match="too large to be a page"):
        list(iter_pages(pdf, dpi=300))


def test_page_count_of_unreadable_files_is_zero(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert page_count(text) == 0
    with pytest.raises(LayoutLMv2Error, match="not an image Pillow can read"):
        list(iter_pages(text))
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(iter_pages(tmp_path / "missing.png"))
