"""The pinyin keyboard in a real Kivy window (1080×1920, density 1: dp equal window pixels), tapped with
simulated touches like the scenario runner does.

The test runs this file's `_main` in a subprocess (tests/kivy_child.py: Kivy reads its settings at import
time and runs one App per process): an App with only the keyboard and a label for the field. The script
types, pages, switches pages and languages, audits every key (≥ 60 px, text ≥ 28 px / ≥ 40 px in
长者模式, inside the window, the keyboard ≤ 700 px high), takes screenshots, and writes a JSON report the
test asserts on.
Run under Xvfb: xvfb-run -a -s "-screen 0 1080x1920x24" uv run pytest tests/screens/test_keyboard.py
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kivy_child import WINDOW, run_child

MAX_KEYBOARD_HEIGHT = 700


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("keyboard")
    shots = Path(os.environ.get("KEYBOARD_SHOTS", out))
    return run_child(__file__, "_main", out / "report.json", shots, timeout=180)[0]


pytestmark = pytest.mark.ui


def test_beijing_typed_and_chosen(report) -> None:
    assert report["after_beijing"] == "北京"
    assert "北京" in report["candidates_beij"]  # an unfinished last syllable already finds it


def test_digits_symbols_delete_space_latin(report) -> None:
    assert report["after_symbols"] == "北京3号"
    assert report["after_deletes"] == "北京3"  # two letters from the buffer, then 号 from the field
    assert report["after_space"] == "北京3路"
    assert report["after_english"] == "北京3路A"
    assert report["after_latin_commit"] == "北京3路Axy"
    assert report["after_clear"] == ""
    assert report["after_blank_space"] == "3 "


def test_paging(report) -> None:
    first, second = report["page1"], report["page2"]
    assert first and second and not set(first) & set(second)
    assert report["page_back"] == first


def test_sizes_normal_and_elderly(report) -> None:
    for mode, minimum in (("normal", 28), ("elderly", 40)):
        audit = report["audit"][mode]
        assert audit["problems"] == [], audit["problems"]
        assert audit["keys"] >= 30
        assert audit["height"] <= MAX_KEYBOARD_HEIGHT
        assert audit["min_font"] >= minimum
    assert report["after_elderly"] == "小区"


def test_each_key_press_redraws_the_candidate_bar(report) -> None:
    # one press at a time, a frame between: the bar shows the whole buffer's reading each time
    assert report["bar_after_press"][-1][0] == "中关村", report["bar_after_press"]
    assert report["bar_after_press"][0][0] == "在"  # "z" alone: the most used character of z… first


def test_screenshots_written(report) -> None:
    for name in ("keyboard-normal.png", "keyboard-symbols.png", "keyboard-elderly.png"):
        assert Path(report["shots"][name]).stat().st_size > 10_000


# -- the script -------------------------------------------------------------------------------------
def _main(report_path: Path, shots: Path) -> None:
    from kivy_child import prepare_window, write_report

    prepare_window()
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.label import Label
    from kivy.uix.widget import Widget

    from kiosk import pinyin_ime
    from screens import theme
    from screens.keyboard import PinyinKeyboard
    from screens.touch import ScriptedTouch
    from screens.widgets import Text, set_font_scale

    Window.clearcolor = theme.BACKGROUND
    pinyin_ime.warm_up()  # as the app would, in a thread at start-up
    shots.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"shots": {}, "audit": {}}
    field: list[str] = []
    Wait = Iterator[None]

    class KeyboardApp(App):
        def build(self) -> Widget:
            self.root_box = BoxLayout(orientation="vertical", padding=40, spacing=20)
            self.field = Text("", size=theme.FONT_HEADING)
            self.field.tid = "field"
            self.root_box.add_widget(Text("详细地址", size=theme.FONT_BODY, color=theme.TEXT_MUTED))
            self.root_box.add_widget(self.field)
            self.root_box.add_widget(Widget())
            self.keyboard = self.make_keyboard()
            self.root_box.add_widget(self.keyboard)
            return self.root_box

        def make_keyboard(self) -> PinyinKeyboard:
            def on_text(text: str) -> None:
                field.append(text)
                self.show()

            def on_delete() -> None:
                text = "".join(field)[:-1]
                field[:] = [text]
                self.show()

            def on_clear() -> None:
                field.clear()
                self.show()

            return PinyinKeyboard(on_text, on_delete, on_clear=on_clear)

        def show(self) -> None:
            self.field.text = "".join(field) or " "

    app = KeyboardApp()

    def find(tid: str) -> Widget | None:
        return next((w for w in app.root.walk() if getattr(w, "tid", None) == tid), None)

    def frames(n: int = 2) -> Wait:
        for _ in range(n):
            yield

    def tap(tid: str) -> Wait:
        widget = find(tid)
        assert widget is not None, f"no widget {tid}"
        touch = ScriptedTouch(*widget.to_window(*widget.center))
        touch.touch_down()
        touch.touch_up()
        yield from frames()

    def type_keys(tids: list[str]) -> Wait:
        for tid in tids:
            yield from tap(tid)

    def candidates() -> list[str]:
        found = [w for w in app.root.walk() if str(getattr(w, "tid", "")).startswith("cand:")]
        return [w.text for w in sorted(found, key=lambda w: int(w.tid.split(":")[1]))]

    def shot(name: str) -> Wait:
        yield from frames(3)
        path = Window.screenshot(name=str(shots / name))
        out["shots"][name] = path

    def audit(mode: str) -> None:
        minimum = 40 if mode == "elderly" else 28
        problems: list[str] = []
        keys = 0
        min_font = 1000.0
        for widget in app.keyboard.walk():
            if not isinstance(widget, Label) or widget.opacity == 0 or widget.disabled:
                continue
            min_font = min(min_font, widget.font_size)
            if widget.font_size < minimum:
                problems.append(f"{getattr(widget, 'tid', widget.text)}: font {widget.font_size}")
            if not hasattr(widget, "tid") or widget.tid == "field":
                continue
            keys += 1
            x, y = widget.to_window(*widget.pos)
            if widget.width < 60 or widget.height < 60:
                problems.append(f"{widget.tid}: {widget.width:.0f}×{widget.height:.0f}")
            if x < 0 or x + widget.width > WINDOW[0] + 0.5 or y < 0:
                problems.append(f"{widget.tid}: outside the window at {x:.0f},{y:.0f}")
            if widget.texture_size[0] > widget.width or widget.texture_size[1] > widget.height:
                problems.append(f"{widget.tid}: text {widget.texture_size} overflows {widget.size}")
        out["audit"][mode] = {
            "problems": problems, "keys": keys, "height": app.keyboard.height, "min_font": min_font,
        }  # fmt: skip

    def script() -> Wait:
        yield from frames(5)
        yield from type_keys(["key:b", "key:e", "key:i", "key:j"])
        out["candidates_beij"] = candidates()
        yield from shot("keyboard-normal.png")
        audit("normal")
        yield from type_keys(["key:i", "key:n", "key:g", "cand:0"])
        out["after_beijing"] = "".join(field)
        yield from type_keys(["kb:mode"])
        yield from shot("keyboard-symbols.png")
        yield from type_keys(["key:3", "key:号", "kb:mode"])
        out["after_symbols"] = "".join(field)
        yield from type_keys(["key:l", "key:u", "kb:del", "kb:del", "kb:del"])
        out["after_deletes"] = "".join(field)
        yield from type_keys(["key:l", "key:u", "kb:space"])
        out["after_space"] = "".join(field)
        yield from type_keys(["kb:lang", "key:a", "kb:lang"])
        out["after_english"] = "".join(field)
        yield from type_keys(["key:s", "key:h", "key:i"])
        out["page1"] = candidates()
        yield from tap("kb:next")
        out["page2"] = candidates()
        yield from tap("kb:prev")
        out["page_back"] = candidates()
        yield from type_keys(["kb:clear", "key:x", "key:y", "kb:latin"])
        out["after_latin_commit"] = "".join(field)
        yield from type_keys(["kb:clear"])
        out["after_clear"] = "".join(field)
        yield from type_keys(["kb:mode", "key:3", "kb:mode", "kb:space"])  # no letters: space types a space
        out["after_blank_space"] = "".join(field)
        yield from type_keys(["kb:clear"])
        # A key press redraws the bar (the engine's search and new candidate buttons).
        bars = []
        for letter in "zhongguancun":
            app.keyboard.press(letter)
            yield
            bars.append(candidates())
        out["bar_after_press"] = bars
        yield from type_keys(["kb:clear"])
        # 长者模式: the screens rebuild their bodies on entry, so the keyboard is built anew.
        set_font_scale(theme.ELDERLY_SCALE)
        app.root_box.remove_widget(app.keyboard)
        app.keyboard = app.make_keyboard()
        app.root_box.add_widget(app.keyboard)
        yield from frames(4)
        yield from type_keys([f"key:{c}" for c in "xiaoqu"])
        yield from shot("keyboard-elderly.png")
        audit("elderly")
        yield from tap("cand:0")
        out["after_elderly"] = "".join(field)

    steps = script()

    def advance(_dt: float) -> bool:
        try:
            next(steps)
        except StopIteration:
            write_report(report_path, out)
            app.stop()
            return False
        except Exception as error:  # the report says what broke; the test shows it
            out["error"] = repr(error)
            write_report(report_path, out)
            app.stop()
            raise
        return True

    Clock.schedule_interval(advance, 0)
    app.run()


def test_report_has_no_error(report) -> None:
    assert "error" not in report
