"""The harness of the tests that drive a real Kivy window (1080×1920, density 1) with simulated touches.

Kivy reads its settings when it is first imported and runs one App per process, so such a test runs a
function of its own file in a child process: `run_child` starts `python tests/kivy_child.py TEST_FILE
FUNCTION REPORT [ARG...]` (under its own Xvfb, big enough for the window, when xvfb-run is there), the
child imports TEST_FILE and calls FUNCTION(REPORT, ARG...) with paths; the function writes a JSON report
(`"error"`: what broke, else None or absent), which the test asserts on.

The rest serves the child: setting the window up, screenshots, the audits' widget walks, the colour
arithmetic, and two drivers — `run_in_both_modes` for a bare App that shows one widget (one frame per
`yield`), `Driver` for the whole kiosk app (a script of waits, each resumed once its predicate holds).
Nothing here imports Kivy at module level: the child calls `prepare_kivy` first. tests/conftest.py
makes this module importable from every test directory; in the child it is the script's own folder.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

WINDOW = (1080, 1920)
ROOT = Path(__file__).resolve().parents[1]

Wait = Callable[[], bool]
Steps = Iterator[tuple[Wait, str]]


# -- colour arithmetic (WCAG 2.x) ------------------------------------------------------------------
def relative_luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: tuple[float, ...], bg: tuple[float, ...]) -> float:
    """`fg` may be translucent: it is blended over the (opaque) background first."""
    alpha = fg[3] if len(fg) > 3 else 1.0
    blended = tuple(f * alpha + b * (1 - alpha) for f, b in zip(fg[:3], bg[:3], strict=True))
    high, low = sorted((relative_luminance(blended), relative_luminance(tuple(bg[:3]))), reverse=True)
    return (high + 0.05) / (low + 0.05)


def hex_rgb(value: str) -> tuple[float, float, float]:
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255)


# -- the test's side -------------------------------------------------------------------------------
def run_child(
    test_file: str | Path, function: str, report_path: Path, *args: Path, timeout: float
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Runs `function(report_path, *args)` of `test_file` in a child; its report and the finished process.

    Skips without an X display and xvfb-run; fails when the child wrote no report, or reported an
    error, or exited with another status than 0."""
    here = Path(__file__).resolve()
    command = [sys.executable, str(here), str(Path(test_file).resolve()), function, str(report_path)]
    command += [str(arg) for arg in args]
    xvfb = shutil.which("xvfb-run")
    if xvfb is not None:  # our own X server, big enough for the 1080×1920 window whatever DISPLAY is
        command = [xvfb, "-a", "-s", "-screen 0 1080x1920x24", *command]
    elif not os.environ.get("DISPLAY"):
        pytest.skip("no X display and no xvfb-run")
    env = {**os.environ, "KIVY_METRICS_FONTSCALE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)
    output = result.stdout[-3000:] + result.stderr[-6000:]
    assert report_path.exists(), output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report.get("error") is None and result.returncode == 0, report.get("error") or output
    return report, result


def script_report(test_file: str, factory: pytest.TempPathFactory, *, timeout: float) -> dict[str, Any]:
    """The report of `test_file`'s `_script`, run in a child: the whole of a module-scoped fixture."""
    out = factory.mktemp(Path(test_file).stem) / "report.json"
    return run_child(test_file, "_script", out, timeout=timeout)[0]


def kiosk_report(
    test_file: str, factory: pytest.TempPathFactory, function: str, *, timeout: float
) -> dict[str, Any]:
    """The report of `test_file`'s `function(report_path, state_dir)`, run in a child with a fresh
    state directory for its demo terminal: the whole of a module-scoped fixture."""
    root = factory.mktemp(f"{Path(test_file).stem}{function}")
    return run_child(test_file, function, root / "report.json", root / "state", timeout=timeout)[0]


# -- the child's side ------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    """`TEST_FILE FUNCTION ARG...`: imports the test file by its path and returns FUNCTION(*ARGs)."""
    test_file, function, *args = argv
    path = Path(test_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, function)(*(Path(arg) for arg in args)) or 0


def prepare_window() -> None:
    """A WINDOW-sized portrait window, not fullscreen, with the CJK font as Kivy's default."""
    from screens.bootstrap import prepare_kivy

    prepare_kivy(WINDOW, orientation="portrait", fullscreen=False, locked=False)
    from kivy.core.text import DEFAULT_FONT, LabelBase

    from devices.ui_font import ui_font

    LabelBase.register(DEFAULT_FONT, str(ui_font()))


def shots_dir(variable: str) -> Path | None:
    """The folder named by the environment `variable` (made), where screenshots are kept; else None."""
    shots = Path(os.environ[variable]) if os.environ.get(variable) else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    return shots


def screenshot(shots: Path | None, name: str) -> None:
    """The window as `shots/NAME.png` (nothing without `shots`)."""
    from kivy.core.window import Window

    if shots is not None:
        produced = Window.screenshot(name=str(shots / "shot.png"))  # Kivy numbers the name
        Path(produced).rename(shots / f"{name}.png")


def write_report(report_path: Path, report: dict[str, Any]) -> None:
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")


def in_scroll(widget: Any) -> bool:
    """Inside a ScrollView (so it may lie outside the window until scrolled to)."""
    from kivy.core.window import Window
    from kivy.uix.scrollview import ScrollView

    node = widget.parent
    while node is not None and node is not Window:
        if isinstance(node, ScrollView):
            return True
        node = node.parent
    return False


def drawn(widget: Any) -> bool:
    """Attached to the window, and neither it nor a parent fully transparent."""
    from kivy.core.window import Window

    node = widget
    while node is not None and node is not Window:
        if getattr(node, "opacity", 1) <= 0:
            return False
        node = node.parent
    return widget.get_root_window() is not None


def background(widget: Any) -> tuple[float, ...]:
    """The colour a widget is drawn on: the nearest BigButton / Panel up the tree, else the window's."""
    from kivy.core.window import Window

    from screens.widgets import BigButton, Panel

    node = widget
    while node is not None and node is not Window:
        if isinstance(node, BigButton):
            return tuple(node._bg)
        if isinstance(node, Panel):
            return tuple(node.bg)
        node = node.parent
    return tuple(Window.clearcolor)


def audit_sizes(root: Any, min_font: float) -> list[str]:
    """What in `root` is too small for a 70-year-old: text under `min_font` px, touch targets under
    60 px or off the window (unless in a scroll view), button text spilling out of its button."""
    from kivy.core.window import Window
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label

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
            problems.append(f"text of {name} overflows ({tw}×{th} in {widget.width:.0f}×{widget.height:.0f})")
    return problems


def run_in_both_modes(
    report_path: Path, report: dict[str, Any], session: Callable[[Any, str], Iterator[Any]]
) -> int:
    """A bare App (a padded vertical BoxLayout on the kiosk's background) runs `session(root, "normal")`
    then `session(root, "elderly")`, one frame per `yield`; then writes `report` with the window's size,
    the seconds taken and, if a step raised, the traceback as `"error"`."""
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.metrics import dp
    from kivy.uix.boxlayout import BoxLayout

    from screens import theme

    class BodyApp(App):
        def build(self) -> BoxLayout:
            Window.clearcolor = theme.BACKGROUND
            return BoxLayout(orientation="vertical", padding=dp(theme.PADDING), spacing=dp(24))

        def on_start(self) -> None:
            steps = self.steps()
            self.tick = Clock.schedule_interval(lambda _dt: self.step(steps), 0)

        def steps(self) -> Iterator[Any]:
            started = time.monotonic()
            yield from range(10)
            report["window"] = list(Window.size)
            yield from session(self.root, "normal")
            yield from session(self.root, "elderly")
            report["seconds"] = round(time.monotonic() - started, 1)

        def step(self, steps: Iterator[Any]) -> bool:
            try:
                next(steps)
                return True
            except StopIteration:
                pass
            except Exception:
                report["error"] = traceback.format_exc()
            write_report(report_path, report)
            self.stop()
            return False

    BodyApp().run()
    return 0


@contextmanager
def demo_terminal_config(state_dir: Path) -> Iterator[Any]:
    """The config of a demo terminal (simulated devices, like `kiosk demo --headless`, in a WINDOW-sized
    window) that talks to a platform simulator run here until the end of the block."""
    from kiosk.demo import demo_config
    from kiosk.platform_sim import ServerThread

    state_dir.mkdir(parents=True, exist_ok=True)
    probe = demo_config(state_dir, "http://127.0.0.1:1", window=WINDOW)  # writes the secret
    secret = probe.platform.secret_file.read_text().strip()
    server = ServerThread(state_dir / "platform-sim.db", {probe.platform.terminal_id: secret})
    server.start()
    try:
        yield demo_config(state_dir, server.base_url, window=WINDOW)
    finally:
        server.stop()


@contextmanager
def demo_kiosk(
    state_dir: Path, *, before_open: Callable[[Any], None] | None = None
) -> Iterator[tuple[Any, Any, Any]]:
    """The kiosk app of a demo terminal (demo_terminal_config), its terminal opened before it starts:
    (app, terminal, config). `before_open(config)` runs before the terminal opens."""
    from kiosk.wiring import open_terminal
    from screens.bootstrap import prepare_kivy

    with demo_terminal_config(state_dir) as config:
        if before_open is not None:
            before_open(config)
        with open_terminal(config) as terminal:
            prepare_kivy(config.ui.size, orientation=config.ui.orientation, fullscreen=False, locked=False)
            from kiosk.ui_settings import UiSettings
            from screens.app import KioskApp
            from screens.launch import font_for

            settings = UiSettings.of(config)
            app = KioskApp(settings, font_path=font_for(settings))
            app.attach(terminal.controller)
            yield app, terminal, config


class Driver:
    """Drives the kiosk app from a script: a generator of (predicate, what) waits, resumed once each
    holds; a wait that does not hold within the step timeout fails the run."""

    def __init__(self, app: Any, *, scroll_padding: float) -> None:
        self.app = app
        self.scroll_padding = scroll_padding

    def wait(self, predicate: Wait, what: str) -> Steps:
        yield predicate, what

    def frames(self, count: int = 3) -> Steps:
        left = [count]

        def done() -> bool:
            left[0] -= 1
            return left[0] <= 0

        yield from self.wait(done, f"{count} frames")

    def on(self, name: str) -> Steps:
        yield from self.wait(lambda: self.app.manager.current == name, f"screen {name}")
        yield from self.frames(4)

    def find(self, tid: str) -> Any:
        """The drawn, enabled widget with this tid, else None."""
        from kivy.core.window import Window

        for root in list(Window.children):
            for widget in root.walk(restrict=False):
                if getattr(widget, "tid", None) == tid and drawn(widget) and not widget.disabled:
                    return widget
        return None

    def maintenance_gesture(self) -> Steps:
        """The technicians' hidden gesture: five taps on the top bar's left corner, a frame apart."""
        from screens.touch import ScriptedTouch

        bar = self.app.top_bar
        x, y = bar.to_window(bar.x + 60, bar.center_y)
        for _ in range(5):
            touch = ScriptedTouch(x, y)
            touch.touch_down()
            touch.touch_up()
            yield from self.frames(1)

    def tap(self, tid: str) -> Steps:
        """Waits for the widget, scrolls it into view if need be, and taps its centre."""
        from kivy.core.window import Window
        from kivy.uix.scrollview import ScrollView

        from screens.touch import ScriptedTouch

        yield from self.wait(lambda: self.find(tid) is not None, f"widget {tid}")
        widget = self.find(tid)
        assert widget is not None
        node = widget.parent
        while node is not None and node is not Window:
            if isinstance(node, ScrollView):
                node.scroll_to(widget, padding=self.scroll_padding, animate=False)
                yield from self.frames(2)
                break
            node = node.parent
        touch = ScriptedTouch(*widget.to_window(*widget.center))
        touch.touch_down()
        touch.touch_up()
        yield from self.frames(2)

    def run(self, script: Steps, report: dict[str, Any], report_path: Path, *, step_timeout_s: float) -> None:
        """Runs the app through `script`, then writes `report` (`"error"`: what failed) and stops it."""
        self.app.bind(
            on_start=lambda *_: self.play(script, report, report_path, step_timeout_s=step_timeout_s)
        )
        self.app.run()

    def play(
        self, script: Steps, report: dict[str, Any], report_path: Path, *, step_timeout_s: float
    ) -> None:
        """`run` for an app already started (by screens.launch.run_ui): from its next frame on."""
        from kivy.clock import Clock

        app = self.app
        state: dict[str, Any] = {"waiting": None, "deadline": 0.0}

        def step(_dt: float) -> bool:
            try:
                waiting = state["waiting"]
                if waiting is not None and not waiting[0]():
                    if time.monotonic() > state["deadline"]:
                        raise TimeoutError(f"on screen {app.manager.current!r}: {waiting[1]}")
                    return True
                state["waiting"] = next(script)
                state["deadline"] = time.monotonic() + step_timeout_s
                return True
            except StopIteration:
                pass
            except Exception as err:
                logging.exception("the scripted run failed")
                report["error"] = f"{type(err).__name__}: {err}"
            write_report(report_path, report)
            app.stop()
            return False

        Clock.schedule_interval(step, 0)


if __name__ == "__main__":
    import kivy_child  # the module the test files import, rather than a second copy named __main__

    sys.exit(kivy_child.main(sys.argv[1:]))
