"""Theme tokens: colours and sizes designed for a 1080×1920 portrait screen (in dp; the app sets the
density so the layout scales to the real window)."""

from __future__ import annotations


def hex_rgba(value: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    value = value.lstrip("#")
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255, alpha)


PRIMARY = hex_rgba("#1A56A6")  # government blue; white text on it has contrast 7.2:1
PRIMARY_DARK = hex_rgba("#123E78")
ACCENT = hex_rgba("#C8102E")  # 中国红, used sparingly (跨省通办 tile, errors)
BACKGROUND = hex_rgba("#F3F6FA")
SURFACE = hex_rgba("#FFFFFF")
TEXT = hex_rgba("#1F2937")
TEXT_MUTED = hex_rgba("#4B5563")
ERROR_BG = hex_rgba("#FDECEC")
SUCCESS = hex_rgba("#0F7B3F")
WHITE = (1.0, 1.0, 1.0, 1.0)

TOP_BAR_HEIGHT = 140
FONT_TITLE = 60
FONT_HEADING = 46
FONT_BODY = 34
FONT_SMALL = 28
BUTTON_HEIGHT = 130
PADDING = 40
ELDERLY_SCALE = 1.3

# 长者模式 multiplies every type size; screens read it when they (re)build their bodies.
font_scale = 1.0
