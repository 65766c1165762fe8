"""The signature pad in a real Kivy window (1080×1920, density 1) driven by simulated touches.

This file runs itself as a script in a subprocess under Xvfb (Kivy reads its settings at import time and
runs one App per process): a small App shows only the 告知承诺书 signing area, the script presses 确认签名
on an empty and on a too-small signature, writes a name with several strokes (with a second finger
resting on the glass), and presses 确认签名 again; then the same in 长者模式. It writes a JSON report and
the PNG handed to on_done; the tests assert on them. `SIG_SHOTS=DIR` keeps screenshots to look at.
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WINDOW = (1080, 1920)
MOVES_PER_FRAME = 4


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("signature_pad")
    out = root / "report.json"
    command = [sys.executable, str(Path(__file__).resolve()), str(out)]
    xvfb = shutil.which("xvfb-run")
    if xvfb is not None:
        command = [xvfb, "-a", "-s", "-screen 0 1080x1920x24", *command]
    elif not os.environ.get("DISPLAY"):
        pytest.skip("no X display and no xvfb-run")
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=200,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "KIVY_METRICS_FONTSCALE": "1"},
    )
    assert result.returncode == 0 and out.exists(), result.stdout[-3000:] + result.stderr[-6000:]
    data = json.loads(out.read_text())
    assert data["error"] is None, data["error"]
    return data


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
    import time
    import traceback

    from screens.bootstrap import prepare_kivy

    prepare_kivy(WINDOW, orientation="portrait", fullscreen=False, locked=False)
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.text import DEFAULT_FONT, LabelBase
    from kivy.core.window import Window
    from kivy.metrics import dp
    from kivy.tests.common import UnitTestTouch
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.label import Label

    from devices.fonts import find_cjk_font
    from screens import theme
    from screens.signature import SignaturePad
    from screens.widgets import Text, set_font_scale

    LabelBase.register(DEFAULT_FONT, find_cjk_font())
    shots = Path(os.environ["SIG_SHOTS"]) if os.environ.get("SIG_SHOTS") else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
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

    def screenshot(name: str) -> None:
        if shots is not None:
            produced = Window.screenshot(name=str(shots / "shot.png"))
            Path(produced).rename(shots / f"{name}.png")

    def audit(min_font: float) -> list[str]:
        problems = []
        for widget in Window.children[0].walk(restrict=True):
            if widget.opacity <= 0 or widget.disabled:
                continue
            if isinstance(widget, Label) and widget.text and widget.font_size < min_font - 0.01:
                problems.append(f"font {widget.text[:10]!r} {widget.font_size:.1f}")
            if isinstance(widget, ButtonBehavior) or getattr(widget, "tid", None):
                x, y = widget.to_window(*widget.pos)
                w, h = widget.size
                if w < 60 or h < 60:
                    problems.append(f"target {widget.tid} {w:.0f}×{h:.0f}")
                if x < -1 or y < -1 or x + w > Window.width + 1 or y + h > Window.height + 1:
                    problems.append(f"target {widget.tid} off the window at {x:.0f},{y:.0f}")
            tw, th = widget.texture_size if isinstance(widget, Label) else (0, 0)
            if isinstance(widget, ButtonBehavior) and (tw > widget.width + 1 or th > widget.height + 1):
                problems.append(f"text of {widget.tid} overflows")
        return problems

    def find(root: BoxLayout, tid: str) -> Any:
        return next(w for w in root.walk(restrict=True) if getattr(w, "tid", None) == tid)

    def tap(root: BoxLayout, tid: str):
        touch = UnitTestTouch(*find(root, tid).to_window(*find(root, tid).center))
        touch.touch_down()
        touch.touch_up()
        yield from range(3)

    def draw(pad: Any, stroke: list[tuple[float, float]], rest_finger: bool = False):
        touch = UnitTestTouch(pad.x + stroke[0][0], pad.y + stroke[0][1])
        touch.touch_down()
        yield
        if rest_finger:  # a second finger (or the palm) rests on the pad meanwhile: no ink
            palm = UnitTestTouch(pad.x + 40, pad.y + 40)
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
        screenshot(f"signature-{mode}-1-empty")
        calls = len(done)
        yield from tap(root, "sign:done")
        run["empty"] = {"message": signature_pad.message.text, "done_calls": len(done) - calls}
        screenshot(f"signature-{mode}-2-refused-empty")
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
        run["problems"] = audit(min_font)
        screenshot(f"signature-{mode}-3-written")
        yield from tap(root, "sign:done")
        run["done_calls"] = len(done) - calls
        if len(done) > calls:
            png = out.parent / f"signature-{mode}.png"
            png.write_bytes(done[-1])
            run["png"] = str(png)
            if shots is not None:
                (shots / f"signature-{mode}-4-png.png").write_bytes(done[-1])

    class PadApp(App):
        def build(self) -> BoxLayout:
            Window.clearcolor = theme.BACKGROUND
            return BoxLayout(orientation="vertical", padding=dp(theme.PADDING), spacing=dp(24))

        def on_start(self) -> None:
            steps = self.steps()
            self.tick = Clock.schedule_interval(lambda _dt: self.step(steps), 0)

        def steps(self):
            started = time.monotonic()
            yield from range(10)
            report["window"] = list(Window.size)
            yield from session(self.root, "normal")
            yield from session(self.root, "elderly")
            report["seconds"] = round(time.monotonic() - started, 1)

        def step(self, steps) -> bool:
            try:
                next(steps)
                return True
            except StopIteration:
                pass
            except Exception:
                report["error"] = traceback.format_exc()
            out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
            self.stop()
            return False

    PadApp().run()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(_script(Path(sys.argv[1])))
