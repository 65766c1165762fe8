"""The province → city → county picker in a real Kivy window (1080×1920, density 1), simulated taps.

The test runs this file's `_script` in a subprocess under Xvfb (tests/kivy_child.py: Kivy reads its
settings at import time and runs one App per process): a small App shows only the picker; the script
picks 广东省 → 深圳市 → 南山区, goes back up, picks 北京市 → 东城区 (no 市辖区 step) and 香港 (nothing
below), reopens a finished pick, then does the same in 长者模式. It writes a JSON report; the tests
assert on it. `PICKER_SHOTS=DIR` keeps screenshots to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kivy_child import WINDOW, script_report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return script_report(__file__, tmp_path_factory, timeout=200)


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
    from kivy_child import audit_sizes, in_scroll, prepare_window, run_in_both_modes, screenshot, shots_dir

    prepare_window()
    from kivy.uix.boxlayout import BoxLayout

    from screens import theme
    from screens.region_picker import RegionPicker
    from screens.touch import ScriptedTouch
    from screens.widgets import Text, set_font_scale

    shots = shots_dir("PICKER_SHOTS")
    report: dict[str, Any] = {"error": None, "window": None}
    done: list[list[Any]] = []

    def build_body(root: BoxLayout, **kwargs: Any) -> RegionPicker:
        root.clear_widgets()
        root.add_widget(Text("收件地址", size=theme.FONT_TITLE, bold=True))
        picker = RegionPicker(on_done=lambda code, names: done.append([code, names]), **kwargs)
        root.add_widget(picker)
        return picker

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
        touch = ScriptedTouch(*where)
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
        run["problems"] = audit_sizes(root, 40.0 if elderly else 28.0)
        screenshot(shots, f"picker-{mode}-1-provinces")
        yield from tap(picker, "region:440000")
        run["province"] = state(picker)
        run["problems"] += audit_sizes(root, 40.0 if elderly else 28.0)
        screenshot(shots, f"picker-{mode}-2-guangdong")
        yield from tap(picker, "region:440300")
        run["city"] = state(picker)
        run["problems"] += audit_sizes(root, 40.0 if elderly else 28.0)
        screenshot(shots, f"picker-{mode}-3-shenzhen")
        yield from tap(picker, "region:440305")
        run["chosen"] = state(picker)
        screenshot(shots, f"picker-{mode}-4-chosen")
        # The longest names (双江拉祜族佤族布朗族傣族自治县) fit their buttons.
        picker = build_body(root, initial="530925")
        yield from range(5)
        run["long_names"] = state(picker)
        run["problems"] += audit_sizes(root, 40.0 if elderly else 28.0)
        screenshot(shots, f"picker-{mode}-6-long-names")
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
        screenshot(shots, f"picker-{mode}-5-beijing")
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
        run["problems"] += audit_sizes(root, 28.0)
        screenshot(shots, f"picker-{mode}-7-local")
        yield from tap(picker, "region:local")
        run["local"] = state(picker)
        yield from tap(picker, "region:411502")
        run["done"] = list(done)

    return run_in_both_modes(out, report, session)
