"""Text as a raster image (GS v 0), for receipt printers without a Chinese font.

Such a printer cannot print GB18030 text, but every ESC/POS printer prints raster images, so a line
holding Chinese is drawn with a CJK font at the printer's own 24-dot character height.
"""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw, ImageFont

from devices.fonts import find_cjk_font_face

GLYPH_DOTS = 24  # font A: 12x24 ASCII, 24x24 Chinese
LINE_DOTS = 30  # the default line spacing, so image and text lines look alike


class NoFontError(RuntimeError):
    """No CJK font to draw Chinese with."""


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    try:
        path, index = find_cjk_font_face()
        return ImageFont.truetype(path, size, index=index)
    except (RuntimeError, OSError) as exc:
        raise NoFontError(str(exc)) from exc


def render_line(
    text: str, width: int, *, align: str = "left", bold: bool = False, double: bool = False
) -> Image.Image:
    """Draw one line of text as a 1-bit image `width` dots wide, wrapped onto more rows if needed."""
    scale = 2 if double else 1
    font = _font(GLYPH_DOTS * scale)
    row_h = LINE_DOTS * scale
    rows = _wrap(text, font, width)
    image = Image.new("1", (width, row_h * len(rows)), 1)
    draw = ImageDraw.Draw(image)
    # Centre the ink of a full-height glyph in the row, measured from the baseline.
    _, top, _, bottom = font.getbbox("国Agy", anchor="ls")
    baseline = (row_h - (bottom - top)) // 2 - top
    for i, row in enumerate(rows):
        used = int(font.getlength(row))
        x = {"center": (width - used) // 2, "right": width - used}.get(align, 0)
        draw.text(
            (max(0, x), i * row_h + baseline),
            row,
            anchor="ls",
            font=font,
            fill=0,
            stroke_width=1 if bold else 0,
            stroke_fill=0,
        )
    return image


def gs_v0(image: Image.Image) -> bytes:
    """GS v 0: print a raster bit image (a set bit is a black dot)."""
    mono = image.convert("1")
    width_bytes = (mono.width + 7) // 8
    if mono.width % 8:
        padded = Image.new("1", (width_bytes * 8, mono.height), 1)
        padded.paste(mono, (0, 0))
        mono = padded
    # Pillow's "1" mode stores white as a set bit: invert for the printer.
    data = bytes(b ^ 0xFF for b in mono.tobytes())
    header = b"\x1dv0\x00" + bytes(
        [width_bytes & 0xFF, width_bytes >> 8, mono.height & 0xFF, (mono.height >> 8) & 0xFF]
    )
    return header + data


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    rows: list[str] = []
    row = ""
    for ch in text:
        if row and font.getlength(row + ch) > width:
            rows.append(row)
            row = ""
        row += ch
    rows.append(row)
    return rows
