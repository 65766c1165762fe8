"""Theme tokens: colours and sizes designed for a 1080×1920 portrait screen (in dp; the app sets the
density so the layout scales to the real window).

Issue 6 §2: at 1080×1920, touch targets ≥ 60 px, text ≥ 28 px (≥ 40 px in 长者模式) and text contrast
≥ 4.5:1 (≥ 7:1 in 长者模式). Every text/background pair below is ≥ 7:1 (WCAG), so the same colours serve
both modes; tests/e2e/test_accessibility.py checks every screen of the running app.
"""

from __future__ import annotations


def hex_rgba(value: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    value = value.lstrip("#")
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255, alpha)


PRIMARY = hex_rgba("#174E98")  # government blue; white on it 8.1:1, as text on BACKGROUND 7.5:1
PRIMARY_DARK = hex_rgba("#123E78")  # on the light blue card area (#DCE7F5) 8.5:1
ACCENT = hex_rgba("#A00C24")  # 中国红, sparingly (跨省通办, errors); on ERROR_BG 7.2:1, white on it 8.2:1
BACKGROUND = hex_rgba("#F3F6FA")
SURFACE = hex_rgba("#FFFFFF")
TEXT = hex_rgba("#1F2937")  # 13.5:1 on BACKGROUND
TEXT_MUTED = hex_rgba("#434C59")  # 8.0:1 on BACKGROUND, 8.7:1 on SURFACE
ERROR_BG = hex_rgba("#FDECEC")
SUCCESS = hex_rgba("#095C2E")  # 7.5:1 on BACKGROUND
WHITE = (1.0, 1.0, 1.0, 1.0)

TOP_BAR_HEIGHT = 140
FONT_TITLE = 60
FONT_HEADING = 46
FONT_BODY = 34
FONT_SMALL = 28
MIN_FONT = 28  # px at 1080×1920: no text is smaller…
MIN_FONT_ELDERLY = 40  # …nor, in 长者模式, smaller than this
MIN_TOUCH = 60  # px at 1080×1920, both dimensions
BUTTON_HEIGHT = 130
PADDING = 40
ELDERLY_SCALE = 1.3

# 长者模式 multiplies every type size; screens read it when they (re)build their bodies.
# Change it with screens.widgets.set_font_scale, which also rescales what is already built (top bar).
font_scale = 1.0


# Every text is set in one of these sizes (dp at 1080×1920). Kivy's text provider opens a FreeType
# face per size (and per bold/regular) and keeps up to 64 of them, and a face of the CJK font costs
# ~3 MB. Sizes made by arithmetic (×1.3 in 长者模式, ×0.92 until a label fits) opened 50 faces in one
# 长者模式 journey; on this ladder a kiosk needs at most twice its length.
TYPE_LADDER = (28, 31, 34, 37, 40, 43, 46, 52, 56, 60, 68, 78)


def min_type_size() -> float:
    """The smallest type size of the current mode (on the ladder)."""
    return MIN_FONT_ELDERLY if font_scale > 1 else MIN_FONT


def type_size(size: float) -> float:
    """A design type size in the current mode: scaled, never below the mode's minimum, and put on the
    nearest step of TYPE_LADDER."""
    wanted = max(size * font_scale, min_type_size())
    return min(TYPE_LADDER, key=lambda step: abs(step - wanted))


def smaller_type_size(size: float, at_most: float | None = None) -> float | None:
    """The ladder's next size below `size` (and not above `at_most`; but the minimum at least), or None
    when `size` is the mode's minimum already."""
    below = [step for step in TYPE_LADDER if min_type_size() <= step < size]
    fitting = [step for step in below if at_most is None or step <= at_most]
    return (fitting or below[:1] or [None])[-1]


def hex_code(rgba: tuple[float, ...]) -> str:
    """The colour as RRGGBB, for Kivy markup ([color=…])."""
    return "".join(f"{round(c * 255):02X}" for c in rgba[:3])
