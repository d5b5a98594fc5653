"""CachedOcr: a page is OCRed once; the key follows the file's bytes and the OCR settings."""

import shutil

import pytest
from PIL import Image, ImageDraw

from layoutlmv2.preprocessing import ocr_cache
from layoutlmv2.preprocessing.ocr_cache import CachedOcr, default_ocr_cache_dir


def _page(path, text="x"):
    image = Image.new("L", (200, 100), 255)
    ImageDraw.Draw(image).rectangle([10, 10, 60 + len(text), 40], fill=0)
    image.save(path)
    return path


class CountingEngine:
    def __init__(self):
        self.calls = 0

    def __call__(self, image):
        self.calls += 1
        return ["word", "two"], [[10, 10, 50, 40], [60, 10, 190, 90]]


def test_second_read_hits_the_cache_and_never_calls_the_engine(tmp_path):
    page = _page(tmp_path / "page.png")
    engine = CountingEngine()
    ocr = CachedOcr(tmp_path / "cache", pixel_words=engine, engine="counting")
    words, boxes, size = ocr(page)
    assert words == ["word", "two"] and size == (200, 100)
    assert boxes == [[50, 100, 250, 400], [300, 100, 950, 900]]  # 0..1000 grid
    assert ocr(page) == (words, boxes, size)
    again = CachedOcr(tmp_path / "cache", pixel_words=engine, engine="counting")  # a second run
    assert again(page) == (words, boxes, size)
    assert engine.calls == 1 and (ocr.misses, ocr.hits, again.misses, again.hits) == (1, 1, 0, 1)
    # keyed by the bytes: a copy elsewhere is a hit, an edited page a miss
    shutil.copy(page, tmp_path / "moved.png")
    again(tmp_path / "moved.png")
    assert engine.calls == 1
    _page(page, text="longer")
    again(page)
    assert engine.calls == 2


def test_other_settings_are_another_entry(tmp_path):
    page = _page(tmp_path / "page.png")
    engine = CountingEngine()
    CachedOcr(tmp_path, pixel_words=engine, engine="a")(page)
    CachedOcr(tmp_path, pixel_words=engine, engine="a", lang="deu")(page)
    CachedOcr(tmp_path, pixel_words=engine, engine="a", tesseract_config="--psm 6")(page)
    assert engine.calls == 3
    assert len(list(tmp_path.rglob("*.json"))) == 3


def test_a_damaged_entry_is_read_again(tmp_path):
    page = _page(tmp_path / "page.png")
    engine = CountingEngine()
    ocr = CachedOcr(tmp_path / "cache", pixel_words=engine, engine="a")
    ocr(page)
    ocr.cache_file(page).write_text("{not json")
    assert ocr(page)[0] == ["word", "two"] and engine.calls == 2


def test_default_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("LAYOUTLMV2_OCR_CACHE", raising=False)
    assert default_ocr_cache_dir().parts[-3:] == (".cache", "layoutlmv2", "ocr")
    monkeypatch.setenv("LAYOUTLMV2_OCR_CACHE", str(tmp_path))
    assert CachedOcr().cache_dir == tmp_path


@pytest.mark.ocr
def test_tesseract_is_called_once_per_page(tmp_path, monkeypatch):
    if shutil.which("tesseract") is None:
        pytest.skip("Tesseract is not installed")
    image = Image.new("RGB", (600, 120), "white")
    ImageDraw.Draw(image).text((20, 40), "HELLO WORLD 1234", fill="black")
    image = image.resize((1800, 360))
    image.save(tmp_path / "page.png")
    calls = []
    real = ocr_cache.tesseract_pixel_words
    monkeypatch.setattr(ocr_cache, "tesseract_pixel_words", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = CachedOcr(tmp_path / "cache")(tmp_path / "page.png")
    second = CachedOcr(tmp_path / "cache")(tmp_path / "page.png")
    assert first == second and len(calls) == 1
    assert "tesseract" in CachedOcr(tmp_path / "cache").settings()
