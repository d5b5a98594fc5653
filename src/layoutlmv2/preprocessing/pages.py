"""Page images from files: PNG/JPEG/TIFF/... (every frame) and PDFs (every page), as RGB.

A file that cannot be read is one `LayoutLMv2Error` naming it and saying why (not an image, truncated,
too large, a corrupt PDF), raised before or while its pages are yielded.

PDF resolution. Tesseract reads a scan best at the scan's own pixels: resampling a 100-dpi scan to
170 dpi found 73 of a FUNSD page's 188 words (benchmarks/results/pdf_dpi.md). So ``dpi="auto"``
renders a page whose content is one raster image (a scan) at that image's native resolution, pixel
for pixel, and a born-digital page (vector text) at `VECTOR_DPI`. A number renders every page at it.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from PIL import Image

from ..errors import LayoutLMv2Error, describe_os_error

__all__ = ["IMAGE_SUFFIXES", "MAX_PAGE_PIXELS", "VECTOR_DPI", "as_rgb_page", "iter_bytes_pages", "iter_pages",
           "page_count", "pdf_page_dpi"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
# Pillow's own decompression-bomb limit (about 179 megapixels, a 13000 x 13000 page); larger is refused.
MAX_PAGE_PIXELS = 2 * (Image.MAX_IMAGE_PIXELS or 89_478_485)
VECTOR_DPI = 300  # born-digital PDF pages (see the module docstring)
SCAN_COVERAGE = 0.9  # an image covering this share of the page makes it a scan
DPI_RANGE = (72, 600)

Dpi = Union[int, float, str, None]


def iter_pages(path: Union[str, Path], dpi: Dpi = "auto") -> Iterator[Image.Image]:
    """Every page of a file as an RGB image: image frames one by one, PDF pages rendered at ``dpi``."""
    if isinstance(path, (bytes, bytearray, memoryview)):
        yield from iter_bytes_pages(bytes(path), "<bytes>", dpi)
        return
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        yield from _pdf_pages(path, dpi)
    elif suffix in IMAGE_SUFFIXES:
        yield from _image_frames(path)
    else:
        raise LayoutLMv2Error(f"{path}: unsupported file type {suffix!r} (images {sorted(IMAGE_SUFFIXES)} or .pdf)")


def page_count(path: Union[str, Path]) -> int:
    """How many pages a file declares (image frames, PDF pages), without decoding them; 0 when it
    cannot be opened (`iter_pages` then says why)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".pdf":
            import pypdfium2 as pdfium

            pdf = pdfium.PdfDocument(str(path))
            try:
                return len(pdf)
            finally:
                pdf.close()
        if path.suffix.lower() in IMAGE_SUFFIXES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(path) as image:
                    return int(getattr(image, "n_frames", 1))
    except Exception:  # noqa: BLE001 (any reason it cannot be opened: iter_pages reports it)
        return 0
    return 0


def iter_bytes_pages(data: bytes, name: str = "<bytes>", dpi: Dpi = "auto") -> Iterator[Image.Image]:
    """The pages of a file held in memory: a PDF (``%PDF`` at the start) or an image Pillow reads."""
    import io

    if data[:1024].lstrip().startswith(b"%PDF"):
        yield from _pdf_pages(data, dpi, name)
    else:
        yield from _image_frames(io.BytesIO(data), name)


def as_rgb_page(image: Any, name: str = "<array>") -> Image.Image:
    """A PIL image or a numpy array (H x W gray, H x W x 3 RGB, H x W x 4 RGBA; uint8, or floats in 0..1) as RGB."""
    if isinstance(image, Image.Image):
        try:
            return image.convert("RGB")
        except (ValueError, OSError) as error:
            raise LayoutLMv2Error(f"{name}: cannot read a PIL image of mode {image.mode!r} as RGB ({error})") from None
    import numpy as np

    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)) or 0 in array.shape:
        raise LayoutLMv2Error(f"{name}: an array page must be H x W or H x W x 1/3/4, got shape {array.shape}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise LayoutLMv2Error(f"{name}: a float array page must hold values in 0..1")
        array = (array * 255).round().astype(np.uint8)
    elif array.dtype != np.uint8:
        raise LayoutLMv2Error(f"{name}: an array page must be uint8 or float in 0..1, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(array).convert("RGB")


def _image_frames(path, name: Optional[str] = None) -> Iterator[Image.Image]:
    source, path = path, (name or path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.UnidentifiedImageError:
        raise LayoutLMv2Error(f"{path}: not an image Pillow can read (wrong extension, or a damaged file)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise LayoutLMv2Error(f"{path}: image too large to be a page ({error})") from None
    except PermissionError as error:
        raise LayoutLMv2Error(describe_os_error(error, "read", path)) from None
    except Exception as error:  # noqa: BLE001  Pillow's parsers raise many types on damaged headers
        raise LayoutLMv2Error(f"{path}: damaged image header ({_reason(error)})") from None
    with image:
        frames = _frame_count(image, path)
        for frame in range(frames):
            try:
                image.seek(frame)
                page = image.convert("RGB")
            except MemoryError:
                raise LayoutLMv2Error(f"{path}: image too large to decode ({image.width} x {image.height})") from None
            except Exception as error:  # noqa: BLE001  truncated data, bad palette, ... (any decoder error)
                where = f" (frame {frame + 1})" if frames > 1 else ""
                raise LayoutLMv2Error(f"{path}{where}: damaged or truncated image ({_reason(error)})") from None
            yield page


def _frame_count(image: Image.Image, path: Path) -> int:
    try:
        return int(getattr(image, "n_frames", 1))
    except Exception as error:  # noqa: BLE001  counting frames parses every frame header
        raise LayoutLMv2Error(f"{path}: damaged multi-frame image ({_reason(error)})") from None


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _pdf_pages(path, dpi: Dpi, name: Optional[str] = None) -> Iterator[Image.Image]:
    try:
        import pypdfium2 as pdfium
    except ImportError as error:
        raise ImportError("reading PDFs needs pypdfium2: pip install 'layoutlmv2[pdf]'") from error
    _check_dpi(dpi)
    source, path = (path if isinstance(path, bytes) else str(path)), (name or path)
    try:
        pdf = pdfium.PdfDocument(source)
    except pdfium.PdfiumError as error:
        reason = " ".join(str(error).split())
        if "password" in reason.lower():
            raise LayoutLMv2Error(f"{path}: the PDF is password-protected; decrypt it first "
                                  f"(e.g. qpdf --decrypt --password=... in.pdf out.pdf)") from None
        raise LayoutLMv2Error(f"{path}: not a readable PDF ({reason})") from None
    if len(pdf) == 0:
        pdf.close()
        raise LayoutLMv2Error(f"{path}: the PDF has no pages")
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                page_dpi = pdf_page_dpi(page) if dpi in (None, "auto") else float(dpi)
                width, height = page.get_size()
                if width * height * (page_dpi / 72) ** 2 > MAX_PAGE_PIXELS:
                    raise LayoutLMv2Error(f"{path} page {index + 1}: {width:.0f} x {height:.0f} points at {page_dpi:.0f}"
                                          f" dpi is too large to be a page; pass a smaller dpi")
                rendered = page.render(scale=page_dpi / 72).to_pil().convert("RGB")
            except pdfium.PdfiumError as error:
                raise LayoutLMv2Error(f"{path} page {index + 1}: cannot be rendered ({error})") from None
            finally:
                page.close()
            yield rendered
    finally:
        pdf.close()


def _check_dpi(dpi: Dpi) -> None:
    if dpi in (None, "auto"):
        return
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise LayoutLMv2Error(f"dpi must be 'auto' or a number in {DPI_RANGE[0]}..{DPI_RANGE[1]}, got {dpi!r}")


def pdf_page_dpi(page) -> float:
    """The resolution to render a pypdfium2 page at: a scan's native one, else `VECTOR_DPI`."""
    native = _scan_dpi(page)
    if native is None:
        return float(VECTOR_DPI)
    return float(min(max(native, DPI_RANGE[0]), DPI_RANGE[1]))


def _scan_dpi(page) -> Optional[float]:
    """Pixels per inch of the raster image that covers the page (a scan), or None for other pages."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    best = None
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = obj.get_bounds()
        covered = max(right - left, 0) * max(top - bottom, 0)
        if width * height == 0 or covered < SCAN_COVERAGE * width * height:
            continue
        pixels_wide, _ = obj.get_px_size()
        dpi = pixels_wide / (right - left) * 72
        best = dpi if best is None else max(best, dpi)
    return best
