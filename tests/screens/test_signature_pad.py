"""The signature pad in a real Kivy window (1080×1920, density 1) driven by simulated touches.

The test runs this file's `_script` in a subprocess under Xvfb (tests/kivy_child.py: Kivy reads its
settings at import time and runs one App per process): a small App shows only the 告知承诺书 signing
area, the script presses 确认签名 on an empty and on a too-small signature, writes a name with several
strokes (with a second finger resting on the glass), and presses 确认签名 again; then the same in
长者模式. It writes a JSON report and the PNG handed to on_done; the tests assert on them.
`SIG_SHOTS=DIR` keeps screenshots to look at.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pytest
from kivy_child import WINDOW, script_report

MOVES_PER_FRAME = 4


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return script_report(__file__, tmp_path_factory, timeout=200)


@pytest.mark.ui
def test_empty_and_small_signatures_are_refused(report: dict[str, Any]) -> None:
    from kiosk.signature import EMPTY_MESSAGE, TOO_SMALL_MESSAGE

    for mode in ("normal", "elderly"):
        run = report[mode]
        assert run["empty"] == {"message": EMPTY_MESSAGE, "done_calls": 0}
        assert run["small"] == {"message": TOO_SMALL_MESSAGE, "done_calls": 0}
        assert run["after_clear"]["strokes"] == 0 and run["after_clear"]["hint_opacity"] == 1


@pytest.mark.ui
def test_a_written_name_is_drawn_smoothly_and_handed_over_as_png(report: dict[str, Any]) -> None:
    from PIL import Image

    for mode in ("normal", "elderly"):
        run = report[mode]
        assert run["written"]["strokes"] == 4  # the resting second finger drew nothing
        assert run["written"]["hint_opacity"] == 0
        # Smoothed: many more points on screen than the finger reported.
        assert run["written"]["drawn_points"] > 2 * run["written"]["touch_points"]
        assert run["done_calls"] == 1
        png = Path(run["png"]).read_bytes()
        assert len(png) <= 60_000
        image = Image.open(io.BytesIO(png))
        assert image.format == "PNG"
        grey = image.convert("L")
        # Cropped to the ink: a name 600×300 px on screen, not the 1000 px wide pad.
        assert 500 < image.width < 800 and 200 < image.height < 450, image.size
        assert grey.getextrema() == (0, 255)  # black ink on white
        assert grey.getpixel((2, 2)) == 255


@pytest.mark.ui
def test_sizes_for_a_70_year_old(report: dict[str, Any]) -> None:
    """Touch targets ≥ 60 px, text ≥ 28 px (≥ 40 px in 长者模式), everything inside the window."""
    assert report["window"] == list(WINDOW)
    for mode in ("normal", "elderly"):
        assert report[mode]["problems"] == []
        assert report[mode]["pad_size"][1] >= 600


# -- the script (runs in the subprocess; the only part that imports Kivy) -------------------------
def _name_strokes(width: float, height: float) -> list[list[tuple[float, float]]]:
    """A 王 in the pad's middle (3 across, 1 down), as a finger writes it: wobbly, ~10 px per report."""
    x0, y0, w, h = width * 0.3, height * 0.3, 600.0, 300.0

    def stroke(ax: float, ay: float, bx: float, by: float) -> list[tuple[float, float]]:
        n = max(8, int(math.dist((ax, ay), (bx, by)) / 10))
        return [
            (
                x0 + ax + (bx - ax) * i / n + 1.5 * math.sin(i),
                y0 + ay + (by - ay) * i / n + 2 * math.sin(i / 2),
            )
            for i in range(n + 1)
        ]

    return [
        stroke(0, h, w, h),
        stroke(60, h / 2, w - 60, h / 2),
        stroke(-20, 0, w + 20, 10),
        stroke(w / 2, h, w / 2, 0),
    ]


def _script(out: Path) -> int:
    from kivy_child import audit_sizes, prepare_window, run_in_both_modes, screenshot, shots_dir

    prepare_window()
    from kivy.uix.boxlayout import BoxLayout

    from screens import theme
    from screens.signature import SignaturePad
    from screens.touch import ScriptedTouch
    from screens.widgets import Text, set_font_scale

    shots = shots_dir("SIG_SHOTS")
    report: dict[str, Any] = {"error": None, "window": None}
    done: list[bytes] = []

    def build_body(root: BoxLayout) -> SignaturePad:
        root.clear_widgets()
        root.add_widget(Text("告知承诺书", size=theme.FONT_TITLE, bold=True))
        root.add_widget(
            Text(
                "本人承诺所填信息真实、准确，如有不实，愿承担相应法律责任。",
                size=theme.FONT_BODY,
                color=theme.TEXT_MUTED,
            )
        )
        pad = SignaturePad(on_done=done.append)
        root.add_widget(pad)
        return pad

    def find(root: BoxLayout, tid: str) -> Any:
        return next(w for w in root.walk(restrict=True) if getattr(w, "tid", None) == tid)

    def tap(root: BoxLayout, tid: str):
        touch = ScriptedTouch(*find(root, tid).to_window(*find(root, tid).center))
        touch.touch_down()
        touch.touch_up()
        yield from range(3)

    def draw(pad: Any, stroke: list[tuple[float, float]], rest_finger: bool = False):
        touch = ScriptedTouch(pad.x + stroke[0][0], pad.y + stroke[0][1])
        touch.touch_down()
        yield
        if rest_finger:  # a second finger (or the palm) rests on the pad meanwhile: no ink
            palm = ScriptedTouch(pad.x + 40, pad.y + 40)
            palm.touch_down()
            yield
            palm.touch_move(pad.x + 140, pad.y + 90)
            yield
            palm.touch_up()
            yield
        for i, (x, y) in enumerate(stroke[1:], 1):
            touch.touch_move(pad.x + x, pad.y + y)
            if i % MOVES_PER_FRAME == 0:  # as a 120 Hz panel reports them between two 30 fps frames
                yield
        touch.touch_up()
        yield

    def session(root: BoxLayout, mode: str):
        min_font = 40.0 if mode == "elderly" else 28.0
        set_font_scale(theme.ELDERLY_SCALE if mode == "elderly" else 1.0)
        signature_pad = build_body(root)
        yield from range(5)
        run: dict[str, Any] = {"pad_size": list(signature_pad.pad.size)}
        report[mode] = run
        screenshot(shots, f"signature-{mode}-1-empty")
        calls = len(done)
        yield from tap(root, "sign:done")
        run["empty"] = {"message": signature_pad.message.text, "done_calls": len(done) - calls}
        screenshot(shots, f"signature-{mode}-2-refused-empty")
        pad = signature_pad.pad
        yield from draw(
            pad, [(pad.width / 2 + 30 * (i % 2), pad.height / 2 + 3 * i) for i in range(12)]
        )  # a tiny zigzag
        yield from tap(root, "sign:done")
        run["small"] = {"message": signature_pad.message.text, "done_calls": len(done) - calls}
        yield from tap(root, "sign:clear")
        run["after_clear"] = {"strokes": len(pad.signature.strokes), "hint_opacity": pad.hint.opacity}
        strokes = _name_strokes(pad.width, pad.height)
        for i, stroke in enumerate(strokes):
            yield from draw(pad, stroke, rest_finger=i == 1)
        yield from range(3)
        run["written"] = {
            "strokes": len(pad.signature.strokes),
            "hint_opacity": pad.hint.opacity,
            "touch_points": sum(len(s) for s in pad.signature.strokes),
            "drawn_points": sum(
                len(line.points) // 2 for line in pad._ink.children if hasattr(line, "points")
            ),
        }
        run["problems"] = audit_sizes(root, min_font)
        screenshot(shots, f"signature-{mode}-3-written")
        yield from tap(root, "sign:done")
        run["done_calls"] = len(done) - calls
        if len(done) > calls:
            png = out.parent / f"signature-{mode}.png"
            png.write_bytes(done[-1])
            run["png"] = str(png)
            if shots is not None:
                (shots / f"signature-{mode}-4-png.png").write_bytes(done[-1])

    return run_in_both_modes(out, report, session)
