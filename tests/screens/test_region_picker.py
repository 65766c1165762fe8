"""The province → city → county picker in a real Kivy window (1080×1920, density 1), simulated taps.

This file runs itself as a script in a subprocess under Xvfb (Kivy reads its settings at import time and
runs one App per process): a small App shows only the picker; the script picks 广东省 → 深圳市 → 南山区,
goes back up, picks 北京市 → 东城区 (no 市辖区 step) and 香港 (nothing below), reopens a finished pick,
then does the same in 长者模式. It writes a JSON report; the tests assert on it.
`PICKER_SHOTS=DIR` keeps screenshots to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WINDOW = (1080, 1920)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("region_picker") / "report.json"
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
def test_three_taps_pick_a_county(report: dict[str, Any]) -> None:
    for mode in ("normal", "elderly"):
        run = report[mode]
        assert run["top"]["choices"] == 34 and not run["top"]["back_shown"]
        assert run["top"]["crumb"] == "所在地区"
        # A long name breaks where a reader would, if it breaks at all.
        assert run["top"]["texts"]["650000"] in ("新疆维吾尔自治区", "新疆维吾尔\n自治区")
        assert run["province"]["crumb"] == "广东省" and run["province"]["back_shown"]
        assert "440300" in run["province"]["codes"] and run["province"]["prompt"] == "请选择城市"
        assert run["city"]["crumb"] == "广东省 › 深圳市" and run["city"]["prompt"] == "请选择区、县"
        assert run["done"][0] == ["440305", ["广东省", "深圳市", "南山区"]]
        assert run["chosen"]["crumb"] == "广东省 › 深圳市 › 南山区"


@pytest.mark.ui
def test_back_municipality_and_hong_kong(report: dict[str, Any]) -> None:
    run = report["normal"]
    assert run["back_once"]["crumb"] == "广东省" and "440300" in run["back_once"]["codes"]
    assert run["back_twice"]["choices"] == 34 and not run["back_twice"]["back_shown"]
    assert run["beijing"]["prompt"] == "请选择区、县" and "110101" in run["beijing"]["codes"]
    assert not any(code.endswith("00") for code in run["beijing"]["codes"])  # no 市辖区 step
    assert run["done"][1] == ["110101", ["北京市", "东城区"]]
    assert run["done"][2] == ["810000", ["香港特别行政区"]]
    assert len(run["done"]) == 4
    assert report["elderly"]["long_names"]["highlighted"] == ["530925"]


@pytest.mark.ui
def test_the_halls_own_city_is_one_tap_away(report: dict[str, Any]) -> None:
    run = report["normal"]
    assert run["local_top"]["codes"][0] == "local" and run["local_top"]["texts"]["local"] == "本地：信阳市"
    assert run["local_top"]["choices"] == 35
    assert run["local"]["crumb"] == "河南省 › 信阳市" and "411502" in run["local"]["codes"]
    assert run["done"][3] == ["411502", ["河南省", "信阳市", "浉河区"]]


@pytest.mark.ui
def test_reopening_a_finished_pick(report: dict[str, Any]) -> None:
    reopened = report["normal"]["reopened"]
    assert reopened["crumb"] == "广东省 › 深圳市 › 南山区"
    assert "440305" in reopened["codes"] and reopened["highlighted"] == ["440305"]


@pytest.mark.ui
def test_sizes_for_a_70_year_old(report: dict[str, Any]) -> None:
    """Touch targets ≥ 60 px, text ≥ 28 px (≥ 40 px in 长者模式); fewer, larger choices in 长者模式."""
    assert report["window"] == list(WINDOW)
    assert report["normal"]["columns"] == 3 and report["elderly"]["columns"] == 2
    for mode in ("normal", "elderly"):
        assert report[mode]["problems"] == [], report[mode]["problems"]


# -- the script (runs in the subprocess; the only part that imports Kivy) -------------------------
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
    from kivy.uix.scrollview import ScrollView

    from devices.fonts import find_cjk_font
    from screens import theme
    from screens.region_picker import RegionPicker
    from screens.widgets import Text, set_font_scale

    LabelBase.register(DEFAULT_FONT, find_cjk_font())
    shots = Path(os.environ["PICKER_SHOTS"]) if os.environ.get("PICKER_SHOTS") else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"error": None, "window": None}
    done: list[list[Any]] = []

    def build_body(root: BoxLayout, **kwargs: Any) -> RegionPicker:
        root.clear_widgets()
        root.add_widget(Text("收件地址", size=theme.FONT_TITLE, bold=True))
        picker = RegionPicker(on_done=lambda code, names: done.append([code, names]), **kwargs)
        root.add_widget(picker)
        return picker

    def screenshot(name: str) -> None:
        if shots is not None:
            produced = Window.screenshot(name=str(shots / "shot.png"))
            Path(produced).rename(shots / f"{name}.png")

    def in_scroll(widget: Any) -> bool:
        node = widget.parent
        while node is not None and node is not Window:
            if isinstance(node, ScrollView):
                return True
            node = node.parent
        return False

    def audit(root: BoxLayout, min_font: float) -> list[str]:
        problems = []
        for widget in root.walk(restrict=True):
            if widget.opacity <= 0 or widget.disabled:
                continue
            name = getattr(widget, "tid", None) or getattr(widget, "text", "")[:10]
            if isinstance(widget, Label) and widget.text and widget.font_size < min_font - 0.01:
                problems.append(f"font {name!r} {widget.font_size:.1f}")
            if isinstance(widget, ButtonBehavior) or getattr(widget, "tid", None):
                x, y = widget.to_window(*widget.pos)
                w, h = widget.size
                if w < 60 or h < 60:
                    problems.append(f"target {name} {w:.0f}×{h:.0f}")
                off = x < -1 or y < -1 or x + w > Window.width + 1 or y + h > Window.height + 1
                if off and not in_scroll(widget):
                    problems.append(f"target {name} off the window at {x:.0f},{y:.0f}")
            tw, th = widget.texture_size if isinstance(widget, Label) else (0, 0)
            if isinstance(widget, ButtonBehavior) and (tw > widget.width + 1 or th > widget.height + 1):
                problems.append(
                    f"text of {name} overflows ({tw}×{th} in {widget.width:.0f}×{widget.height:.0f})"
                )
        return problems

    def state(picker: RegionPicker) -> dict[str, Any]:
        buttons = [w for w in picker.grid.children[::-1] if getattr(w, "tid", "").startswith("region:")]
        return {
            "crumb": picker.crumb.text,
            "prompt": picker.prompt.text,
            "choices": len(buttons),
            "codes": [b.tid.split(":")[1] for b in buttons],
            "texts": {b.tid.split(":")[1]: b.text for b in buttons},
            "highlighted": [b.tid.split(":")[1] for b in buttons if tuple(b._bg) == tuple(theme.PRIMARY)],
            "back_shown": picker.back_button.opacity > 0 and not picker.back_button.disabled,
        }

    def until(predicate, what: str, frames: int = 300):
        for _ in range(frames):
            if predicate():
                return
            yield
        raise AssertionError(f"timed out waiting for {what}")

    def tap(picker: RegionPicker, tid: str):
        widget = next(w for w in picker.walk(restrict=True) if getattr(w, "tid", None) == tid)
        if in_scroll(widget):
            picker.scroll.scroll_to(widget, padding=10, animate=False)
            yield from range(3)
        before = (list(picker.path), picker.chosen, len(done))
        where = widget.to_window(*widget.center)
        report.setdefault("taps", []).append(
            [tid, *where, picker.scroll.scroll_y, picker.grid.height, picker.scroll.height]
        )
        touch = UnitTestTouch(*where)
        touch.touch_down()
        yield
        touch.touch_up()
        # A ScrollView hands a tap to its child once it knows the touch is not a scroll: wait for it.
        yield from until(lambda: (list(picker.path), picker.chosen, len(done)) != before, f"the tap on {tid}")
        yield from range(3)

    def session(root: BoxLayout, mode: str):
        elderly = mode == "elderly"
        set_font_scale(theme.ELDERLY_SCALE if elderly else 1.0)
        picker = build_body(root)
        done.clear()
        yield from range(5)
        run: dict[str, Any] = {"columns": picker.grid.cols}
        report[mode] = run
        run["top"] = state(picker)
        run["problems"] = audit(root, 40.0 if elderly else 28.0)
        screenshot(f"picker-{mode}-1-provinces")
        yield from tap(picker, "region:440000")
        run["province"] = state(picker)
        run["problems"] += audit(root, 40.0 if elderly else 28.0)
        screenshot(f"picker-{mode}-2-guangdong")
        yield from tap(picker, "region:440300")
        run["city"] = state(picker)
        run["problems"] += audit(root, 40.0 if elderly else 28.0)
        screenshot(f"picker-{mode}-3-shenzhen")
        yield from tap(picker, "region:440305")
        run["chosen"] = state(picker)
        screenshot(f"picker-{mode}-4-chosen")
        # The longest names (双江拉祜族佤族布朗族傣族自治县) fit their buttons.
        picker = build_body(root, initial="530925")
        yield from range(5)
        run["long_names"] = state(picker)
        run["problems"] += audit(root, 40.0 if elderly else 28.0)
        screenshot(f"picker-{mode}-6-long-names")
        if elderly:
            run["done"] = list(done)
            return
        picker = build_body(root, initial="440300")
        yield from range(5)
        yield from tap(picker, "region:back")
        run["back_once"] = state(picker)
        yield from tap(picker, "region:back")
        run["back_twice"] = state(picker)
        yield from tap(picker, "region:110000")
        run["beijing"] = state(picker)
        screenshot(f"picker-{mode}-5-beijing")
        yield from tap(picker, "region:110101")
        yield from tap(picker, "region:back")
        yield from tap(picker, "region:810000")
        run["done"] = list(done)
        picker = build_body(root, initial="440305")
        yield from range(5)
        run["reopened"] = state(picker)
        picker = build_body(root, local="411502")  # a hall in 信阳市浉河区
        yield from range(5)
        run["local_top"] = state(picker)
        run["problems"] += audit(root, 28.0)
        screenshot(f"picker-{mode}-7-local")
        yield from tap(picker, "region:local")
        run["local"] = state(picker)
        yield from tap(picker, "region:411502")
        run["done"] = list(done)

    class PickerApp(App):
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

    PickerApp().run()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(_script(Path(sys.argv[1])))
