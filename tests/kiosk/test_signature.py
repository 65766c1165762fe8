"""kiosk.signature: smoothing, the refusals, the PNG attached to a 信用可办 case."""

from __future__ import annotations

import io
import itertools
import math
import random

import numpy as np
import pytest
from PIL import Image

from kiosk import signature
from kiosk.signature import (
    EMPTY_MESSAGE,
    MAX_PNG_BYTES,
    TOO_SMALL_MESSAGE,
    LiveCurve,
    Signature,
    SignatureRefused,
    render_png,
    smooth,
)


def write(sig: Signature, strokes: list[list[tuple[float, float]]]) -> Signature:
    t = 0.0
    for stroke in strokes:
        sig.begin(*stroke[0], t)
        for x, y in stroke[1:-1]:
            t += 0.008
            sig.extend(x, y, t)
        t += 0.008
        sig.end(*stroke[-1], t)
        t += 0.3
    return sig


def name(
    x0: float = 100, y0: float = 100, size: float = 300, unit: float = 1.0
) -> list[list[tuple[float, float]]]:
    """王 with a loop beside it, as a finger reports it (~8 px apart)."""

    def line(ax: float, ay: float, bx: float, by: float) -> list[tuple[float, float]]:
        n = max(2, int(math.dist((ax, ay), (bx, by)) / 8))
        return [
            ((x0 + ax + (bx - ax) * i / n) * unit, (y0 + ay + (by - ay) * i / n) * unit) for i in range(n + 1)
        ]

    loop = [
        ((x0 + size * 1.5 + 80 * math.cos(a / 10)) * unit, (y0 + size / 2 + 120 * math.sin(a / 10)) * unit)
        for a in range(64)
    ]
    return [
        line(0, size, size, size),
        line(30, size / 2, size - 30, size / 2),
        line(0, 0, size, 0),
        line(size / 2, size, size / 2, 0),
        loop,
    ]


# -- smoothing ------------------------------------------------------------------------------------
def test_smoothing_keeps_the_endpoints_and_passes_through_every_point() -> None:
    points = [(0.0, 0.0), (40.0, 10.0), (60.0, 60.0), (20.0, 90.0), (100.0, 100.0)]
    curve = smooth(points)
    assert curve[0] == points[0] and curve[-1] == points[-1]
    for point in points:
        assert point in curve
    assert len(curve) > 5 * len(points)  # sampled about every 2 px
    steps = [math.dist(a, b) for a, b in itertools.pairwise(curve)]
    assert max(steps) < 6


def test_smoothing_does_not_overshoot_a_sharp_turn() -> None:
    """横折: right then straight down. Centripetal Catmull-Rom stays near the polyline (no loop)."""
    points = [(0.0, 0.0), (50.0, 0.0), (100.0, 0.0), (102.0, -2.0), (102.0, -50.0), (102.0, -100.0)]
    curve = smooth(points)
    assert max(x for x, _ in curve) < 106
    assert max(y for _, y in curve) < 4


def test_smoothing_short_input() -> None:
    assert smooth([]) == []
    assert smooth([(1.0, 2.0)]) == [(1.0, 2.0)]
    assert smooth([(1.0, 2.0), (1.0, 2.0), (5.0, 2.0)]) == [(1.0, 2.0), (5.0, 2.0)]


def test_the_live_curve_equals_the_final_smoothing() -> None:
    rng = random.Random(7)
    points = [(rng.uniform(0, 300), rng.uniform(0, 300)) for _ in range(40)]
    live = LiveCurve()
    for i, point in enumerate(points):
        live.add(*point)
        if i in (0, 1, 2, 10):
            assert live.curve() == smooth(points[: i + 1])
    assert live.curve() == smooth(points)


# -- recording and refusals -----------------------------------------------------------------------
def test_jitter_below_the_step_is_not_recorded_but_the_lift_point_is() -> None:
    sig = Signature()
    sig.begin(10, 10, 0.0)
    assert not sig.extend(10.5, 10.5, 0.01)
    assert sig.extend(20, 10, 0.02)
    sig.end(20.5, 10, 0.03)
    assert [p[:2] for p in sig.strokes[0]] == [(10, 10), (20, 10), (20.5, 10)]
    assert sig.strokes[0][-1][2] == pytest.approx(0.03)  # timestamps are kept, from the stroke's start


def test_blank_and_tiny_signatures_are_refused() -> None:
    with pytest.raises(SignatureRefused) as empty:
        Signature().to_png()
    assert empty.value.message == EMPTY_MESSAGE
    tap = write(Signature(), [[(100.0, 100.0)]])
    with pytest.raises(SignatureRefused, match=EMPTY_MESSAGE):
        tap.check()
    zigzag = [(100.0 + 25 * (i % 2), 100.0 + 3 * i) for i in range(10)]  # > MIN_INK long, 25×27 px
    with pytest.raises(SignatureRefused) as small:
        write(Signature(), [zigzag]).check()
    assert small.value.message == TOO_SMALL_MESSAGE


def test_thresholds_follow_the_screen_density() -> None:
    """The same name on a 720×1280 screen (dp(1) = 0.667 px) is as acceptable as at 1080×1920."""
    write(Signature(unit=2 / 3), name(unit=2 / 3)).check()
    zigzag = [(100.0 + 80 * (i % 2), 100.0 + 8 * i) for i in range(10)]
    write(Signature(), [zigzag]).check()  # 80×72 design px is large enough at density 1 …
    with pytest.raises(SignatureRefused, match=TOO_SMALL_MESSAGE):
        write(Signature(unit=2.0), [zigzag]).check()  # … but only 40×36 design px at density 2


def test_clear_forgets_the_strokes() -> None:
    sig = write(Signature(), name())
    sig.clear()
    assert sig.is_empty and sig.strokes == []


# -- the PNG --------------------------------------------------------------------------------------
def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("L")


def test_png_is_cropped_black_ink_on_white() -> None:
    png = write(Signature(), name(x0=300, y0=500)).to_png()
    image = decode(png)
    # The ink spans 300 + the loop (≈ 530) × 300 (≈ 300 + 2 × 120 with the loop): plus the margins.
    assert 560 < image.width < 620 and 320 < image.height < 380
    assert image.getextrema() == (0, 255)
    pixels = np.asarray(image)
    m = signature.MARGIN - 2
    for edge in (pixels[:m], pixels[-m:], pixels[:, :m], pixels[:, -m:]):
        assert edge.min() == 255  # nothing within the margin
    assert len(png) <= MAX_PNG_BYTES


def test_png_is_upright() -> None:
    """Pad coordinates have y up: a stroke at the top of the pad is at the top of the image."""
    top = [(100.0, 300.0), (300.0, 300.0)]
    low = [(0.0, 0.0), (0.0, 100.0)]  # a short vertical at the bottom left
    image = decode(render_png([top, low]))
    ink_rows = [y for y in range(image.height) if image.getpixel((image.width // 2, y)) < 128]
    assert ink_rows and max(ink_rows) < image.height / 4
    left_rows = [y for y in range(image.height) if image.getpixel((signature.MARGIN + 2, y)) < 128]
    assert left_rows and min(left_rows) > image.height / 2


def test_png_does_not_depend_on_the_screen_density() -> None:
    a = decode(write(Signature(), name()).to_png())
    b = decode(write(Signature(unit=2.0), name(unit=2.0)).to_png())
    assert abs(a.width - b.width) <= 2 and abs(a.height - b.height) <= 2


def test_a_scribble_over_the_whole_pad_stays_under_the_size_bound() -> None:
    rng = random.Random(3)
    strokes = [[(rng.uniform(0, 1000), rng.uniform(0, 600)) for _ in range(60)] for _ in range(30)]
    png = write(Signature(), strokes).to_png()
    assert len(png) <= MAX_PNG_BYTES
    assert max(decode(png).size) <= signature.MAX_SIDE


def test_size_bound_shrinks_the_image_when_needed() -> None:
    rng = random.Random(5)
    strokes = [[(rng.uniform(0, 1000), rng.uniform(0, 600)) for _ in range(40)] for _ in range(20)]
    full = render_png(strokes)
    bounded = render_png(strokes, max_bytes=len(full) // 2)
    assert len(bounded) <= len(full) // 2
    assert decode(bounded).width < decode(full).width


def test_a_dot_is_drawn() -> None:
    image = decode(render_png([[(0.0, 0.0), (200.0, 0.0)], [(100.0, 60.0)]]))
    assert image.getextrema()[0] == 0
    assert image.height > 60
