"""Draw a virtual printer job as a PNG at 8 dots/mm, the way a thermal head would print it.

Characters sit in the printer's fixed cells (12x24 dots, 24x24 for Chinese), scaled by pixel
doubling like the real head, so column counts and wrapping match the paper.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

import qrcode
from PIL import Image, ImageDraw, ImageFont

from devices.fonts import find_cjk_font_face
from devices.printer.sim_parser import Blank, Block, QrBlock, Segment, TextLine

CELL_HEIGHT = 24
LINE_GAP = 6  # default line spacing is 30 dots for 24-dot characters
MARGIN = 16
Draw: TypeAlias = Callable[[Image.Image, int], None]  # draws a piece on the canvas at a given top
_QR_LEVELS = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


class Renderer:
    def __init__(self, width: int, font_path: str | None = None) -> None:
        self.width = width
        path, index = (font_path, 0) if font_path else find_cjk_font_face()
        self._font = _monospace_face(path, index)

    def render(self, blocks: list[Block], png_path: Path) -> None:
        pieces = [piece for block in blocks for piece in self._pieces(block)]
        height = MARGIN * 2 + sum(h for h, _ in pieces)
        canvas = Image.new("L", (self.width, height), 255)
        y = MARGIN
        for h, draw in pieces:
            draw(canvas, y)
            y += h
        # Write then rename, so a reader watching the folder never sees half a PNG.
        partial = png_path.with_suffix(".part")
        canvas.save(partial, format="PNG")
        partial.replace(png_path)

    # Each block becomes (height, draw(canvas, top)) pieces; a long text line wraps into several.
    def _pieces(self, block: Block) -> list[tuple[int, Draw]]:
        if isinstance(block, Blank):
            return [(block.dots, lambda canvas, y: None)]
        if isinstance(block, TextLine):
            return [self._text_row(row, block.align) for row in self._wrap(block.segments)]
        image = _qr_image(block) if isinstance(block, QrBlock) else block.image.convert("L")
        image = image.crop((0, 0, min(image.width, self.width), image.height))
        x = _offset(self.width, image.width, block.align)
        return [(image.height, lambda canvas, y: canvas.paste(image, (x, y)))]

    def _wrap(self, segments: list[Segment]) -> list[list[tuple[Image.Image, Segment]]]:
        rows: list[list[tuple[Image.Image, Segment]]] = [[]]
        used = 0
        for seg in segments:
            for ch in seg.text:
                glyph = self._glyph(ch, seg)
                if used + glyph.width > self.width and rows[-1]:
                    rows.append([])
                    used = 0
                rows[-1].append((glyph, seg))
                used += glyph.width
        return rows

    def _text_row(self, row: list[tuple[Image.Image, Segment]], align: str) -> tuple[int, Draw]:
        tallest = max((g.height for g, _ in row), default=CELL_HEIGHT)
        x = _offset(self.width, sum(g.width for g, _ in row), align)

        def draw(canvas: Image.Image, y: int) -> None:
            left = x
            for glyph, _ in row:
                # Characters of different heights share the line's bottom, like on paper.
                canvas.paste(0, (left, y + tallest - glyph.height), mask=glyph)
                left += glyph.width

        return tallest + LINE_GAP, draw

    def _glyph(self, ch: str, seg: Segment) -> Image.Image:
        base = _cell(self._font, ch, seg.wide, seg.style.bold)
        if seg.style.width == 1 and seg.style.height == 1:
            return base
        size = (base.width * seg.style.width, base.height * seg.style.height)
        return base.resize(size, Image.Resampling.NEAREST)


@functools.lru_cache(maxsize=4096)
def _cell(font: ImageFont.FreeTypeFont, ch: str, wide: bool, bold: bool) -> Image.Image:
    """One character as an ink mask (255 = black dot) in its 12- or 24-dot cell."""
    width = 24 if wide else 12
    if ch.isspace():
        return Image.new("L", (width, CELL_HEIGHT), 0)
    # Drawn at its natural place in the cell (so 。 and ： sit where they should); a proportional glyph
    # wider than its cell is squeezed instead of overflowing into the next one.
    advance = max(int(font.getlength(ch) + 0.5), 1)
    scratch = Image.new("L", (max(advance, width) + 2, CELL_HEIGHT), 0)
    draw = ImageDraw.Draw(scratch)
    for dx in (0, 1) if bold else (0,):
        draw.text((dx, CELL_HEIGHT // 2), ch, font=font, fill=255, anchor="lm")
    if advance > width:
        cell = scratch.crop((0, 0, advance, CELL_HEIGHT)).resize(
            (width, CELL_HEIGHT), Image.Resampling.LANCZOS
        )
    else:
        cell = scratch.crop((0, 0, width, CELL_HEIGHT))
    return cell.point(lambda v: 255 if v >= 96 else 0)  # a thermal dot is either burnt or not


def _qr_image(block: QrBlock) -> Image.Image:
    # Regenerated from the stored data at the stored module size, as the printer's firmware would.
    code = qrcode.QRCode(error_correction=_QR_LEVELS[block.level], box_size=block.module, border=0)
    code.add_data(block.data)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def _offset(total: int, used: int, align: str) -> int:
    if align == "center":
        return max((total - used) // 2, 0)
    if align == "right":
        return max(total - used, 0)
    return 0


def _monospace_face(path: str, index: int) -> ImageFont.FreeTypeFont:
    """Prefer the monospaced Simplified Chinese face of a collection (half-width Latin)."""
    for i in range(16):
        try:
            face = ImageFont.truetype(path, CELL_HEIGHT, index=i)
        except OSError:
            break
        family = face.getname()[0] or ""
        if "Mono" in family and family.endswith("SC"):
            return face
    return ImageFont.truetype(path, CELL_HEIGHT, index=index)
