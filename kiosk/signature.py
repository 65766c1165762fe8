"""A handwritten signature (信用可办, 告知承诺书): the strokes a finger drew, smoothed, checked and rendered.

No Kivy here: screens/signature.py feeds touch points in and draws `smooth()`'s output while the finger
moves; the PNG attached to the case is rendered from the same points by Pillow (never a screenshot), so
it is the same on any screen, cropped to the ink with a margin, black on white.

Coordinates are the pad's, y up (Kivy's convention), in window pixels; `unit` is the size of one design
pixel at 1080×1920 in window pixels (Kivy's dp(1)), so thresholds, pen width and PNG size do not depend on
the screen's density.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from kiosk.i18n import N_

Point = tuple[float, float]
TimedPoint = tuple[float, float, float]  # x, y, seconds since the stroke began

PEN_WIDTH = 5.0  # design px: bold enough to read on a receipt scan, thin enough for 繁 strokes
MIN_STEP = 2.0  # design px between recorded points: finer steps are touch-panel jitter, not ink
SAMPLE_STEP = 2.0  # design px between points of the smoothed curve
MIN_INK = 100.0  # design px of ink in all: less is a tap or a slip, not a name
MIN_EXTENT = 70.0  # design px: the ink's larger side; smaller cannot be read once printed
MARGIN = 24  # PNG px of white around the ink
MAX_SIDE = 1200  # PNG px: a wider signature is scaled down
MAX_PNG_BYTES = 60_000
ALPHA = 0.5  # centripetal Catmull-Rom: no loops or overshoot at sharp turns
MAX_SAMPLES = 24  # per span
SHIFT = 3  # fractional bits of the coordinates given to OpenCV

# Chinese msgids (kiosk.i18n): the signature pad shows them translated.
EMPTY_MESSAGE = N_("请在框内写下您的姓名。")
TOO_SMALL_MESSAGE = N_("字太小了，请在框内把姓名写大一些。")


class SignatureRefused(ValueError):
    """The signature cannot be accepted; `message` is for the citizen (short, says what to do)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- smoothing ------------------------------------------------------------------------------------
def _distinct(points: Sequence[Point]) -> list[Point]:
    """Consecutive duplicates removed (they would make zero-length spline intervals)."""
    out: list[Point] = []
    for x, y in points:
        if not out or (x, y) != out[-1]:
            out.append((float(x), float(y)))
    return out


def smooth(points: Sequence[Point], step: float = SAMPLE_STEP) -> list[Point]:
    """A centripetal Catmull-Rom curve through `points`, sampled about every `step` px.

    The curve passes through every input point, keeps the first and last exactly, and (centripetal)
    neither loops nor overshoots at sharp turns, which a quick 横折 has.
    """
    pts = _distinct(points)
    if len(pts) < 3:
        return pts
    out: list[Point] = [pts[0]]
    for i in range(len(pts) - 1):
        out += _span(pts, i, step)
    return out


def _span(pts: list[Point], i: int, step: float) -> list[Point]:
    """The samples of the curve from pts[i] (excluded) to pts[i + 1] (included, exactly).

    A span depends on pts[i - 1 .. i + 2]; past either end a mirrored phantom point gives the end a
    natural tangent without a cusp.
    """
    p1, p2 = pts[i], pts[i + 1]
    p0 = pts[i - 1] if i > 0 else (2 * p1[0] - p2[0], 2 * p1[1] - p2[1])
    p3 = pts[i + 2] if i + 2 < len(pts) else (2 * p2[0] - p1[0], 2 * p2[1] - p1[1])
    t1 = math.dist(p0, p1) ** ALPHA
    t2 = t1 + math.dist(p1, p2) ** ALPHA
    t3 = t2 + math.dist(p2, p3) ** ALPHA
    # A long jump (a fast scribble) gets at most MAX_SAMPLES: the render time stays bounded.
    samples = min(MAX_SAMPLES, max(1, math.ceil(math.dist(p1, p2) / step)))
    out = [_catmull_rom(p0, p1, p2, p3, t1, t2, t3, t1 + (t2 - t1) * j / samples) for j in range(1, samples)]
    out.append(p2)  # the input point itself, not the float result at t2
    return out


def _catmull_rom(
    p0: Point, p1: Point, p2: Point, p3: Point, t1: float, t2: float, t3: float, t: float
) -> Point:
    """Barry–Goldman's pyramid at parameter t (t0 = 0; intervals are > 0 as the points are distinct)."""

    def lerp(a: Point, b: Point, ta: float, tb: float) -> Point:
        wa, wb = (tb - t) / (tb - ta), (t - ta) / (tb - ta)
        return (a[0] * wa + b[0] * wb, a[1] * wa + b[1] * wb)

    a1, a2, a3 = lerp(p0, p1, 0.0, t1), lerp(p1, p2, t1, t2), lerp(p2, p3, t2, t3)
    b1, b2 = lerp(a1, a2, 0.0, t2), lerp(a2, a3, t1, t3)
    return lerp(b1, b2, t1, t2)


class LiveCurve:
    """The smoothed curve of the stroke being drawn, for the screen to redraw at every finger move.

    Equal to smooth(points), but a span is computed once as soon as its four points are known: only
    the last two spans are recomputed per move, so a long stroke costs the same per move as a short one.
    """

    def __init__(self, step: float = SAMPLE_STEP) -> None:
        self.step = step
        self.points: list[Point] = []
        self._fixed: list[Point] = []  # pts[0] and the samples of every final span
        self._spans = 0  # final spans so far

    def add(self, x: float, y: float) -> None:
        point = (float(x), float(y))
        if self.points and point == self.points[-1]:
            return
        self.points.append(point)
        pts = self.points
        if len(pts) == 1:
            self._fixed = [point]
        while self._spans <= len(pts) - 3:  # span i is final once pts[i + 2] exists
            self._fixed += _span(pts, self._spans, self.step)
            self._spans += 1

    def curve(self) -> list[Point]:
        pts = self.points
        if len(pts) < 3:
            return list(pts)
        tail = [p for i in range(self._spans, len(pts) - 1) for p in _span(pts, i, self.step)]
        return self._fixed + tail


def path_length(points: Sequence[Point]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))


# -- the strokes ----------------------------------------------------------------------------------
@dataclass
class Signature:
    """The strokes of one signature, as the finger drew them. Personal data: wiped with the session."""

    unit: float = 1.0
    strokes: list[list[TimedPoint]] = field(default_factory=list)
    _t0: float = field(default=0.0, repr=False)
    _live: LiveCurve = field(default_factory=LiveCurve, repr=False)

    def begin(self, x: float, y: float, t: float) -> None:
        """A finger touched the pad: a new stroke."""
        self._t0 = t
        self.strokes.append([(x, y, 0.0)])
        self._live = LiveCurve(SAMPLE_STEP * self.unit)
        self._live.add(x, y)

    def extend(self, x: float, y: float, t: float) -> bool:
        """Adds a point to the current stroke; False when it is too close to the last one to matter."""
        if not self.strokes:
            self.begin(x, y, t)
            return True
        lx, ly, _ = self.strokes[-1][-1]
        if math.hypot(x - lx, y - ly) < MIN_STEP * self.unit:
            return False
        self._append(x, y, t)
        return True

    def end(self, x: float, y: float, t: float) -> None:
        """The finger lifted here: kept even if close, so the stroke ends where the finger did."""
        if self.strokes and (x, y) != self.strokes[-1][-1][:2]:
            self._append(x, y, t)

    def _append(self, x: float, y: float, t: float) -> None:
        self.strokes[-1].append((x, y, t - self._t0))
        self._live.add(x, y)

    def live_curve(self) -> list[Point]:
        """The current stroke, smoothed, as the screen draws it while the finger moves."""
        return self._live.curve()

    def clear(self) -> None:
        self.strokes.clear()
        self._live = LiveCurve()

    @property
    def is_empty(self) -> bool:
        return not self.strokes

    def paths(self) -> list[list[Point]]:
        return [[(x, y) for x, y, _ in stroke] for stroke in self.strokes]

    def smoothed(self, index: int = -1) -> list[Point]:
        """One stroke as drawn on screen (the last by default)."""
        return smooth([(x, y) for x, y, _ in self.strokes[index]], SAMPLE_STEP * self.unit)

    def ink_length(self) -> float:
        """Total length of the strokes in design px (a dot counts as one pen width)."""
        return sum(max(path_length(p), PEN_WIDTH * self.unit) for p in self.paths()) / self.unit

    def extent(self) -> float:
        """The larger side of the ink's bounding box, in design px."""
        xs = [x for stroke in self.strokes for x, _, _ in stroke]
        ys = [y for stroke in self.strokes for _, y, _ in stroke]
        if not xs:
            return 0.0
        return max(max(xs) - min(xs), max(ys) - min(ys)) / self.unit

    def check(self) -> None:
        """SignatureRefused when nothing, or too little to read, was written."""
        if self.is_empty or self.ink_length() < MIN_INK:
            raise SignatureRefused(EMPTY_MESSAGE)
        if self.extent() < MIN_EXTENT:
            raise SignatureRefused(TOO_SMALL_MESSAGE)

    def to_png(self) -> bytes:
        """The checked signature as a PNG for the case (see render_png)."""
        self.check()
        scaled = [[(x / self.unit, y / self.unit) for x, y in path] for path in self.paths()]
        return render_png(scaled)


# -- rendering ------------------------------------------------------------------------------------
def render_png(
    paths: Sequence[Sequence[Point]],
    *,
    pen: float = PEN_WIDTH,
    margin: int = MARGIN,
    max_side: int = MAX_SIDE,
    max_bytes: int = MAX_PNG_BYTES,
) -> bytes:
    """Black ink on white, cropped to the ink plus `margin`, at most `max_side` px and `max_bytes`.

    `paths` are raw points (y up) in design px; they are smoothed here as on screen.
    """
    curves = [smooth(p) for p in paths if p]
    if not curves:
        raise SignatureRefused(EMPTY_MESSAGE)
    xs = [x for c in curves for x, _ in c]
    ys = [y for c in curves for _, y in c]
    left, right, bottom, top = min(xs), max(xs), min(ys), max(ys)
    pad = margin + pen / 2
    width, height = right - left + 2 * pad, top - bottom + 2 * pad
    scale = min(1.0, max_side / max(width, height))
    while True:
        data = _draw(curves, left - pad, top + pad, width, height, scale, pen)
        if len(data) <= max_bytes or scale < 0.1:
            return data
        scale *= 0.8  # a scribble over the whole pad: smaller until it fits


def _draw(
    curves: list[list[Point]], x0: float, y_top: float, width: float, height: float, scale: float, pen: float
) -> bytes:
    """OpenCV's antialiased thick polylines: round caps and joins, drawn in C (fast for any scribble)."""
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = np.full((size[1], size[0]), 255, np.uint8)
    thickness = max(1, round(pen * scale))
    for curve in curves:
        # y flipped (images grow downwards); SHIFT fractional bits keep the curve's sub-pixel detail.
        xy = np.array([((x - x0) * scale, (y_top - y) * scale) for x, y in curve]) * (1 << SHIFT)
        xy = np.round(xy).astype(np.int32)
        if len(xy) == 1:  # a lone tap is a dot
            xy = np.vstack([xy, xy])
        cv2.polylines(image, [xy], False, 0, thickness, cv2.LINE_AA, SHIFT)
    # 16 grey levels keep the antialiased edge and compress far better than 256.
    image = (np.round(image / 17.0) * 17).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image, "L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
