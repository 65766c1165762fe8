"""Issue 6 §2 accessibility: touch targets ≥ 60 px at 1080×1920, text ≥ 28 px (≥ 40 px in 长者模式),
contrast ≥ 4.5:1 (≥ 7:1 in 长者模式), on every screen of the real app.

The test runs this very file as a script in a subprocess (Kivy reads its settings at import time and
runs one App per process): the script starts the platform simulator and a demo terminal like
`kiosk demo --headless`, but with a 1080×1920 window (density 1.0, so dp/sp equal window pixels), walks
a citizen through every screen with simulated touches (normal visit, query visit, 长者模式 visit) and
audits each screen's widget tree. It writes a JSON report; the test asserts on it.

What is audited (every widget that is drawn: attached to the window, not fully transparent):
- touch targets (buttons, anything with a `tid`, text inputs): ≥ 60 px wide and high, inside the
  window unless in a scroll view, and the button's text fits inside it;
- every label (buttons included): font_size and every markup `[size=N]` ≥ 28 px / ≥ 40 px;
- every label's colour and markup `[color=…]` against the colour it is drawn on (the nearest
  BigButton / Panel background up the tree, else the window's clear colour), alpha-blended:
  WCAG contrast ≥ 4.5 / ≥ 7. Disabled widgets are skipped (a button greyed out while a submission
  is on its way is not readable text that the citizen must act on).

长者模式 is entered as a citizen does (the 长者模式 tile) and covers the screens reachable from it: the
catalog and a whole application. Home, 暂停服务 and the query screens are only ever shown in normal
mode (home resets the type scale; the query tile leaves 长者模式).

A last visit does the same application in English in 长者模式: the longest words at the largest type,
where a label is most likely to spill out of its button.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

WINDOW = (1080, 1920)
MIN_TARGET_PX = 60
MIN_FONT_PX = {"normal": 28.0, "elderly": 40.0}
MIN_CONTRAST = {"normal": 4.5, "elderly": 7.0}
NORMAL_SCREENS = {
    "home", "closed", "catalog", "guide", "idcard", "face", "form", "licenses", "materials", "review",
    "receipt", "rating", "done", "query", "scan", "progress",
}  # fmt: skip
ELDERLY_SCREENS = NORMAL_SCREENS - {"home", "closed", "query", "scan", "progress"}
ENGLISH_SCREENS = {"home"} | ELDERLY_SCREENS  # English, the application in 长者模式
SCAN_ITEM = "KS-SAMPLE-GJJ-TQ-0001"  # 退休提取公积金: a form with a choice, and a page to photograph
PHONE = "13800138000"
BANK_ACCOUNT = "6222020000000000"
STEP_TIMEOUT_S = 90.0  # 长者模式 doubles the face check's 40 s budget; a retry must fit
SIZE_TAG = re.compile(r"\[size=(\d+(?:\.\d+)?)(?:px|sp|dp)?\]")
COLOR_TAG = re.compile(r"\[color=#?([0-9a-fA-F]{6})\]")


# -- colour arithmetic (WCAG 2.x) ------------------------------------------------------------------
def relative_luminance(rgb: tuple[float, float, float]) -> float:
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


def test_contrast_arithmetic() -> None:
    assert contrast((0, 0, 0, 1), (1, 1, 1, 1)) == pytest.approx(21.0)
    assert contrast((1, 1, 1, 1), (1, 1, 1, 1)) == pytest.approx(1.0)
    assert contrast((*hex_rgb("767676"), 1), (1, 1, 1, 1)) == pytest.approx(4.54, abs=0.01)


def test_theme_pairs_meet_elderly_contrast() -> None:
    """The theme's text/background pairs, independent of any screen (theme.py imports no Kivy)."""
    from screens import theme

    pairs = {
        "TEXT on BACKGROUND": (theme.TEXT, theme.BACKGROUND),
        "TEXT on SURFACE": (theme.TEXT, theme.SURFACE),
        "TEXT_MUTED on BACKGROUND": (theme.TEXT_MUTED, theme.BACKGROUND),
        "TEXT_MUTED on SURFACE": (theme.TEXT_MUTED, theme.SURFACE),
        "PRIMARY on BACKGROUND": (theme.PRIMARY, theme.BACKGROUND),
        "PRIMARY on SURFACE": (theme.PRIMARY, theme.SURFACE),
        "WHITE on PRIMARY": (theme.WHITE, theme.PRIMARY),
        "ACCENT on BACKGROUND": (theme.ACCENT, theme.BACKGROUND),
        "ACCENT on ERROR_BG": (theme.ACCENT, theme.ERROR_BG),
        "SUCCESS on BACKGROUND": (theme.SUCCESS, theme.BACKGROUND),
    }
    low = {name: round(contrast(fg, bg), 2) for name, (fg, bg) in pairs.items() if contrast(fg, bg) < 7.0}
    assert not low, f"below 7:1: {low}"


# -- the run on the real UI ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def a11y_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("a11y")
    report = root / "report.json"
    command = [sys.executable, str(Path(__file__).resolve()), str(report), str(root / "state")]
    xvfb = shutil.which("xvfb-run")
    if xvfb is not None:  # our own X server, big enough for the 1080×1920 window whatever DISPLAY is
        command = [xvfb, "-a", "-s", "-screen 0 1080x1920x24", *command]
    elif not os.environ.get("DISPLAY"):
        pytest.skip("no X display and no xvfb-run")
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=280,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "KIVY_METRICS_FONTSCALE": "1"},
    )
    assert result.returncode == 0 and report.exists(), result.stdout[-3000:] + result.stderr[-6000:]
    return json.loads(report.read_text())


@pytest.mark.ui
def test_window_is_1080x1920_at_density_1(a11y_report: dict[str, Any]) -> None:
    assert tuple(a11y_report["window"]) == WINDOW
    assert a11y_report["density"] == pytest.approx(1.0)


@pytest.mark.ui
def test_every_screen_was_audited(a11y_report: dict[str, Any]) -> None:
    seen = {(audit["mode"], audit["screen"]) for audit in a11y_report["audits"]}
    missing = {("normal", s) for s in NORMAL_SCREENS} | {("elderly", s) for s in ELDERLY_SCREENS}
    assert not missing - seen, sorted(missing - seen)
    english = {audit["screen"] for audit in a11y_report["audits"] if audit["language"] == "en"}
    assert not ENGLISH_SCREENS - english, sorted(ENGLISH_SCREENS - english)
    for audit in a11y_report["audits"]:
        assert audit["labels"] > 0 and audit["targets"] > 0, audit


def _problems(report: dict[str, Any], *, overflow: bool) -> list[str]:
    return [
        f"{a['mode']}/{a['language']}/{a['label']}: {p}"
        for a in report["audits"]
        for p in a["problems"]
        if p.startswith("text of ") == overflow
    ]


@pytest.mark.ui
def test_every_screen_meets_sizes_and_contrast(a11y_report: dict[str, Any]) -> None:
    problems = _problems(a11y_report, overflow=False)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


@pytest.mark.ui
def test_button_labels_fit_their_buttons(a11y_report: dict[str, Any]) -> None:
    """Larger type must not spill out of a button (BigButton shrinks to the minimum, then tightens)."""
    problems = _problems(a11y_report, overflow=True)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


# -- the script (runs in the subprocess; the only part that imports Kivy) -------------------------
def _probe(report_path: Path, state_dir: Path) -> int:
    import logging
    import time
    import uuid
    from collections.abc import Callable, Generator, Iterator

    from kiosk.demo import demo_config
    from kiosk.platform_sim import ServerThread
    from kiosk.wiring import open_terminal
    from screens.bootstrap import prepare_kivy

    logging.basicConfig(level=logging.INFO)
    state_dir.mkdir(parents=True, exist_ok=True)
    probe_config = demo_config(state_dir, "http://127.0.0.1:1", window=WINDOW)  # writes the secret
    secret = probe_config.platform.secret_file.read_text().strip()
    server = ServerThread(state_dir / "platform-sim.db", {probe_config.platform.terminal_id: secret})
    server.start()
    report: dict[str, Any] = {"audits": [], "error": None}
    try:
        config = demo_config(state_dir, server.base_url, window=WINDOW)
        with open_terminal(config) as terminal:
            from devices.fonts import find_cjk_font

            prepare_kivy(config.ui.size, orientation=config.ui.orientation, fullscreen=False, locked=False)
            from kivy.clock import Clock
            from kivy.core.window import Window
            from kivy.metrics import Metrics
            from kivy.tests.common import UnitTestTouch
            from kivy.uix.behaviors import ButtonBehavior
            from kivy.uix.label import Label
            from kivy.uix.scrollview import ScrollView
            from kivy.uix.textinput import TextInput
            from kivy.uix.widget import Widget

            from screens import launch, theme
            from screens.app import KioskApp
            from screens.widgets import BigButton, Panel

            app = KioskApp(terminal.controller, font_path=config.ui.font or Path(find_cjk_font()))
            app.simulated_face = launch._simulated_citizen(terminal, config)
            sims = terminal.sims
            shots = Path(os.environ["A11Y_SHOTS"]) if os.environ.get("A11Y_SHOTS") else None
            if shots is not None:
                shots.mkdir(parents=True, exist_ok=True)
            Wait = Callable[[], bool]

            # -- audit -------------------------------------------------------------------------
            def drawn(widget: Widget) -> bool:
                node: Any = widget
                while node is not None and node is not Window:
                    if getattr(node, "opacity", 1) <= 0:
                        return False
                    node = node.parent
                return widget.get_root_window() is not None

            def background(widget: Widget) -> tuple[float, ...]:
                node: Any = widget
                while node is not None and node is not Window:
                    if isinstance(node, BigButton):
                        return tuple(node._bg)
                    if isinstance(node, Panel):
                        return tuple(node.bg)
                    node = node.parent
                return tuple(Window.clearcolor)

            def in_scroll(widget: Widget) -> bool:
                node: Any = widget.parent
                while node is not None and node is not Window:
                    if isinstance(node, ScrollView):
                        return True
                    node = node.parent
                return False

            def audit(label: str, screen: str | None = None) -> None:
                from kiosk.i18n import current_language

                mode = "elderly" if theme.font_scale > 1 else "normal"
                language = current_language()
                expected = screen or label.split("+")[0]
                problems: list[str] = []
                if app.manager.current != expected:
                    problems.append(f"expected screen {expected!r}, shown {app.manager.current!r}")
                min_font, min_contrast = MIN_FONT_PX[mode], MIN_CONTRAST[mode]
                labels = targets = 0
                for root in list(Window.children):
                    for widget in root.walk(restrict=False):
                        if not drawn(widget):
                            continue
                        name = getattr(widget, "tid", None) or type(widget).__name__
                        text = getattr(widget, "text", "")
                        where = f"{name} {text[:24]!r}"
                        touchable = (
                            isinstance(widget, ButtonBehavior | TextInput) or getattr(widget, "tid", None)
                        ) and not widget.disabled
                        if touchable:
                            targets += 1
                            w, h = widget.size
                            if w < MIN_TARGET_PX or h < MIN_TARGET_PX:
                                problems.append(f"touch target {where} is {w:.0f}×{h:.0f} px")
                            x, y = widget.to_window(*widget.pos)
                            if not in_scroll(widget) and (
                                x < -1 or y < -1 or x + w > Window.width + 1 or y + h > Window.height + 1
                            ):
                                problems.append(f"touch target {where} at {x:.0f},{y:.0f} is off the window")
                            if isinstance(widget, Label) and widget.text:
                                tw, th = widget.texture_size
                                if tw > w + 1 or th > h + 1:
                                    problems.append(
                                        f"text of {where} ({tw}×{th}) overflows its {w:.0f}×{h:.0f}"
                                    )
                        if not isinstance(widget, Label) or widget.disabled:
                            continue
                        labels += 1
                        sizes = [float(widget.font_size)]
                        if widget.markup:
                            sizes += [float(s) for s in SIZE_TAG.findall(text)]
                        if min(sizes) < min_font - 0.01:
                            problems.append(f"font of {where} is {min(sizes):.1f} px (< {min_font})")
                        bg = background(widget)
                        colours = [tuple(widget.color)]
                        if widget.markup:
                            colours += [(*hex_rgb(c), 1.0) for c in COLOR_TAG.findall(text)]
                        for colour in colours:
                            ratio = contrast(colour, bg)
                            if ratio < min_contrast:
                                problems.append(
                                    f"contrast of {where} is {ratio:.2f}:1 (< {min_contrast}) "
                                    f"fg={[round(c, 3) for c in colour]} bg={[round(c, 3) for c in bg]}"
                                )
                if shots is not None:  # A11Y_SHOTS=dir: a screenshot of every audited state, to look at
                    produced = Window.screenshot(name=str(shots / "shot.png"))
                    name = f"{len(report['audits']) + 1:02d}-{mode}-{language}-{label}.png"
                    Path(produced).rename(shots / name)
                report["audits"].append(
                    {
                        "label": label,
                        "screen": expected,
                        "mode": mode,
                        "language": language,
                        "labels": labels,
                        "targets": targets,
                        "problems": problems,
                    }
                )

            # -- driver (a generator of predicates, resumed once each holds) --------------------
            def wait(predicate: Wait, what: str) -> Iterator[tuple[Wait, str]]:
                yield predicate, what

            def frames(count: int = 3) -> Iterator[tuple[Wait, str]]:
                left = [count]

                def done() -> bool:
                    left[0] -= 1
                    return left[0] <= 0

                yield from wait(done, f"{count} frames")

            def on(name: str) -> Iterator[tuple[Wait, str]]:
                yield from wait(lambda: app.manager.current == name, f"screen {name}")
                yield from frames(4)

            def find(tid: str) -> Widget | None:
                for root in list(Window.children):
                    for widget in root.walk(restrict=False):
                        if getattr(widget, "tid", None) == tid and drawn(widget) and not widget.disabled:
                            return widget
                return None

            def tap(tid: str) -> Iterator[tuple[Wait, str]]:
                yield from wait(lambda: find(tid) is not None, f"widget {tid}")
                widget = find(tid)
                assert widget is not None
                node: Any = widget.parent
                while node is not None and node is not Window:
                    if isinstance(node, ScrollView):
                        node.scroll_to(widget, padding=10, animate=False)
                        yield from frames(2)
                        break
                    node = node.parent
                touch = UnitTestTouch(*widget.to_window(*widget.center))
                touch.touch_down()
                touch.touch_up()
                yield from frames(2)

            def type_digits(field: str, digits: str) -> Iterator[tuple[Wait, str]]:
                yield from tap(f"field:{field}")
                for digit in digits:
                    yield from tap(f"key:{digit}")

            def application(card: int) -> Iterator[tuple[Wait, str]]:
                """From the catalog through a whole application to the farewell, auditing each screen."""
                yield from on("catalog")
                audit("catalog")
                yield from tap(f"item:{SCAN_ITEM}")
                yield from on("guide")
                audit("guide")
                app._show_warning(30)  # the inactivity warning over a screen
                yield from frames(3)
                audit("guide+idle-warning", "guide")
                app._dismiss_warning()
                yield from wait(lambda: len(Window.children) == 1, "the warning gone")
                yield from tap("start")
                yield from on("idcard")
                audit("idcard")
                sims.idcard.insert(card)
                yield from on("face")
                yield from wait(lambda: app.screen.last_update is not None, "a face check update")
                audit("face")
                sims.idcard.remove()
                for _attempt in range(3):  # a loaded machine may miss a challenge: retry as a citizen would
                    yield from wait(
                        lambda: app.manager.current == "form" or find("error:retry") is not None,
                        "the face check passed or a retry offered",
                    )
                    if app.manager.current == "form":
                        break
                    yield from tap("error:retry")
                yield from on("form")
                audit("form")
                yield from type_digits("phone", PHONE)
                yield from type_digits("bank_account", BANK_ACCOUNT)
                yield from tap("choice:reason:正常退休")
                audit("form+filled", "form")
                yield from tap("next")
                yield from on("licenses")
                audit("licenses")
                yield from tap("license:decline")
                yield from on("materials")
                flow = app.controller.flow
                yield from wait(lambda: bool(flow.pages()), "the page taken by itself")
                yield from frames(3)
                audit("materials")
                yield from tap("doc:done")
                yield from on("review")
                audit("review")
                app.screen.show_error("网络暂时不通，请稍后重试。", lambda: None)
                yield from frames(3)
                audit("review+error", "review")
                app.screen.clear_error()
                yield from tap("submit")
                yield from on("receipt")
                audit("receipt")
                yield from tap("next")
                yield from on("rating")
                audit("rating")
                yield from tap("rate:2")
                yield from wait(lambda: find("send_rating") is not None, "the reasons")
                yield from frames(3)
                audit("rating+reasons", "rating")
                yield from tap("reason:等候时间长")
                yield from tap("send_rating")
                yield from on("done")
                audit("done")
                yield from tap("finish")
                yield from on("home")

            def visit() -> Generator[tuple[Wait, str], None, None]:
                yield from on("home")
                yield from wait(lambda: Window.size == WINDOW, "the 1080×1920 window")
                report["window"], report["density"] = list(Window.size), Metrics.density
                audit("home")
                closed = app.manager.get_screen("closed")
                closed.message = "本机暂停受理业务，请到人工窗口办理。"
                for _attempt in range(5):  # the service check may put home back meanwhile: show again
                    app.show("closed")
                    yield from frames(3)
                    if app.manager.current == "closed":
                        break
                audit("closed")
                app.show("home")
                yield from on("home")
                yield from tap("tile:kuasheng")
                yield from application(0)
                # 查询: a receipt's code on the code scanner
                from kiosk.demo import demo_application, demo_proof
                from kiosk.receipt import receipt_qr_payload

                platform = app.controller.services.platform
                ref = f"{config.terminal.id}-a11y-{uuid.uuid4().hex[:8]}"
                body = demo_application(demo_proof(platform), ref)
                case = platform.submit_application(body, str(uuid.uuid4()))
                yield from tap("tile:query")
                yield from on("query")
                audit("query")
                yield from tap("query:scan")
                yield from on("scan")
                audit("scan")
                app.screen.show_error("这不是办件回执上的二维码，请扫描回执上的二维码。", lambda: None)
                yield from frames(3)
                audit("scan+error", "scan")
                app.screen.clear_error()
                sims.scanner.scan(receipt_qr_payload(case["case_no"], case["query_code"]).encode())
                yield from on("progress")
                audit("progress")
                yield from tap("finish")
                yield from on("home")
                # 长者模式
                yield from tap("tile:elderly")
                yield from application(0)
                # English, then 长者模式 (the finish above went home, back in Chinese)
                yield from tap("lang:en")
                yield from wait(lambda: find("lang:zh") is not None, "the home screen in English")
                yield from frames(3)
                audit("home")
                yield from tap("tile:elderly")
                yield from application(0)

            script = visit()
            state: dict[str, Any] = {"waiting": None, "deadline": 0.0}

            def step(_dt: float) -> bool:
                try:
                    waiting = state["waiting"]
                    if waiting is not None and not waiting[0]():
                        if time.monotonic() > state["deadline"]:
                            raise TimeoutError(f"on screen {app.manager.current!r}: {waiting[1]}")
                        return True
                    state["waiting"] = next(script)
                    state["deadline"] = time.monotonic() + STEP_TIMEOUT_S
                    return True
                except StopIteration:
                    pass
                except Exception as err:
                    logging.exception("accessibility run failed")
                    report["error"] = f"{type(err).__name__}: {err}"
                report_path.write_text(json.dumps(report, ensure_ascii=False, indent=1))
                app.stop()
                return False

            app.bind(on_start=lambda *_: Clock.schedule_interval(step, 0))
            app.run()
    finally:
        server.stop()
    return 0 if report["error"] is None else 1


if __name__ == "__main__":
    sys.exit(_probe(Path(sys.argv[1]), Path(sys.argv[2])))
