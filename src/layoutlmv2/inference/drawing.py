"""Draw predictions on a page: one coloured box per labelled word and a legend; key -> value pairs
as two boxes and an arrow.

Colours are fixed per label *type* (``B-QUESTION`` and ``I-QUESTION`` share one), taken in
order from a qualitative palette, so the same type has the same colour on every page of a run.
Words tagged ``O`` are not drawn.
"""

from __future__ import annotations

from typing import Optional, Sequence

from PIL import Image, ImageDraw, ImageFont

# Colour-blind-safe qualitative palette (Okabe & Ito), then a few extra distinct colours.
PALETTE = [
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (213, 94, 0), (0, 114, 178), (204, 121, 167),
    (240, 228, 66), (120, 94, 240), (100, 143, 255), (254, 97, 0), (220, 38, 127), (0, 0, 0),
]


def label_type(label: str) -> Optional[str]:
    """``B-QUESTION`` -> ``QUESTION``; ``O`` (or empty) -> None (not drawn)."""
    if not label or label == "O":
        return None
    prefix, sep, rest = label.partition("-")
    return rest if sep and prefix in ("B", "I", "E", "S") else label


def colour_map(types: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """A colour per distinct type, in first-seen order (cycling through `PALETTE` past 12 types)."""
    colours: dict[str, tuple[int, int, int]] = {}
    for kind in types:
        if kind is not None and kind not in colours:
            colours[kind] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def draw_labels(
    image: Image.Image,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[str],
    types: Optional[Sequence[str]] = None,
    width: int = 3,
) -> Image.Image:
    """A copy of ``image`` (same size, RGB) with a box per labelled word and a legend.

    ``boxes`` are in pixels of ``image``. ``types`` fixes the colour order (e.g. every type the
    model knows, so colours do not depend on which types a page happens to contain).
    """
    if len(boxes) != len(labels):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    page = image.convert("RGB")
    kinds = [label_type(label) for label in labels]
    colours = colour_map([label_type(t) for t in types or []] + kinds)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default()
    for box, kind in zip(boxes, kinds):
        if kind is None:
            continue
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle([x0, y0, x1, y1], outline=colours[kind], width=width)
    present = [kind for kind in colours if kind in kinds]
    _legend(draw, font, [(kind, colours[kind]) for kind in present])
    return page


def _legend(draw: ImageDraw.ImageDraw, font, entries: Sequence[tuple[str, tuple[int, int, int]]]) -> None:
    """Filled swatches with their names in the top-left corner, on a white panel."""
    if not entries:
        return
    line, swatch, pad = 14, 10, 4
    text_width = max(draw.textlength(name, font=font) for name, _ in entries)
    draw.rectangle([0, 0, pad * 3 + swatch + text_width, pad * 2 + line * len(entries)], fill=(255, 255, 255),
                   outline=(0, 0, 0))
    for i, (name, colour) in enumerate(entries):
        top = pad + i * line
        draw.rectangle([pad, top + 1, pad + swatch, top + 1 + swatch], fill=colour)
        draw.text((pad * 2 + swatch, top), name, fill=(0, 0, 0), font=font)


KEY_COLOUR, VALUE_COLOUR, ARROW_COLOUR = PALETTE[1], PALETTE[2], PALETTE[3]


def draw_pairs(image: Image.Image, pairs: Sequence[tuple[Sequence[float], Sequence[float]]],
               width: int = 3) -> Image.Image:
    """A copy of ``image`` with each key -> value pair: the key's box, the value's box and an arrow
    from the key's right edge to the value's left edge (boxes in pixels of ``image``)."""
    page = image.convert("RGB")
    draw = ImageDraw.Draw(page)
    for key, value in pairs:
        draw.rectangle([float(v) for v in key], outline=KEY_COLOUR, width=width)
        draw.rectangle([float(v) for v in value], outline=VALUE_COLOUR, width=width)
        start = (float(key[2]), (float(key[1]) + float(key[3])) / 2)
        end = (float(value[0]), (float(value[1]) + float(value[3])) / 2)
        _arrow(draw, start, end, width)
    if pairs:
        _legend(draw, ImageFont.load_default(), [("KEY", KEY_COLOUR), ("VALUE", VALUE_COLOUR)])
    return page


def _arrow(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float], width: int) -> None:
    """A line with a filled head at ``end``."""
    import math

    draw.line([start, end], fill=ARROW_COLOUR, width=max(1, width - 1))
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    size = 4 + 2 * width
    left = (end[0] - size * math.cos(angle - 0.45), end[1] - size * math.sin(angle - 0.45))
    right = (end[0] - size * math.cos(angle + 0.45), end[1] - size * math.sin(angle + 0.45))
    draw.polygon([end, left, right], fill=ARROW_COLOUR)
