"""Issue 6 §2 accessibility: touch targets ≥ 60 px at 1080×1920, text ≥ 28 px (≥ 40 px in 长者模式),
contrast ≥ 4.5:1 (≥ 7:1 in 长者模式), on every screen of the real app.

The test runs this file's `_probe` in a subprocess (tests/kivy_child.py: Kivy reads its settings at
import time and runs one App per process): the script starts the platform simulator and a demo terminal like
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

import re
from pathlib import Path
from typing import Any

import pytest
from kivy_child import WINDOW, contrast, hex_rgb, run_child

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


# -- colour arithmetic (WCAG 2.x, in kivy_child) ---------------------------------------------------
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
    return run_child(__file__, "_probe", root / "report.json", root / "state", timeout=280)[0]


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
    import uuid

    from kivy_child import Driver, Steps, background, demo_kiosk, drawn, in_scroll, screenshot, shots_dir

    logging.basicConfig(level=logging.INFO)
    report: dict[str, Any] = {"audits": [], "error": None}
    with demo_kiosk(state_dir) as (app, terminal, config):
        from kivy.core.window import Window
        from kivy.metrics import Metrics
        from kivy.uix.behaviors import ButtonBehavior
        from kivy.uix.label import Label
        from kivy.uix.textinput import TextInput

        from screens import launch, theme

        app.simulated_face = launch._simulated_citizen(terminal, config)
        sims = terminal.sims
        shots = shots_dir("A11Y_SHOTS")
        driver = Driver(app, scroll_padding=10)
        wait, frames, on, find, tap = driver.wait, driver.frames, driver.on, driver.find, driver.tap

        # -- audit -------------------------------------------------------------------------
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
                                problems.append(f"text of {where} ({tw}×{th}) overflows its {w:.0f}×{h:.0f}")
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
            # A11Y_SHOTS=dir: a screenshot of every audited state, to look at
            screenshot(shots, f"{len(report['audits']) + 1:02d}-{mode}-{language}-{label}")
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

        # -- the visits (driver: a generator of predicates, resumed once each holds) ---------
        def type_digits(field: str, digits: str) -> Steps:
            yield from tap(f"field:{field}")
            for digit in digits:
                yield from tap(f"key:{digit}")

        def audited(screen: str) -> Steps:
            yield from on(screen)
            audit(screen)

        def audited_with_error(screen: str, message: str) -> Steps:
            """The screen with a citizen-facing error shown, audited; then the error cleared."""
            app.screen.show_error(message, lambda: None)
            yield from frames(3)
            audit(f"{screen}+error", screen)
            app.screen.clear_error()

        def application(card: int) -> Steps:
            """From the catalog through a whole application to the farewell, auditing each screen."""
            yield from audited("catalog")
            yield from tap(f"item:{SCAN_ITEM}")
            yield from audited("guide")
            app._show_warning(30)  # the inactivity warning over a screen
            yield from frames(3)
            audit("guide+idle-warning", "guide")
            app._dismiss_warning()
            yield from wait(lambda: len(Window.children) == 1, "the warning gone")
            yield from tap("start")
            yield from audited("idcard")
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
            yield from audited("form")
            yield from type_digits("phone", PHONE)
            yield from type_digits("bank_account", BANK_ACCOUNT)
            yield from tap("choice:reason:正常退休")
            audit("form+filled", "form")
            yield from tap("next")
            yield from audited("licenses")
            yield from tap("license:decline")
            yield from on("materials")
            flow = app.controller.flow
            yield from wait(lambda: bool(flow.pages()), "the page taken by itself")
            yield from frames(3)
            audit("materials")
            yield from tap("doc:done")
            yield from audited("review")
            yield from audited_with_error("review", "网络暂时不通，请稍后重试。")
            yield from tap("submit")
            yield from audited("receipt")
            yield from tap("next")
            yield from audited("rating")
            yield from tap("rate:2")
            yield from wait(lambda: find("send_rating") is not None, "the reasons")
            yield from frames(3)
            audit("rating+reasons", "rating")
            yield from tap("reason:等候时间长")
            yield from tap("send_rating")
            yield from audited("done")
            yield from tap("finish")
            yield from on("home")

        def visit() -> Steps:
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
            yield from audited("query")
            yield from tap("query:scan")
            yield from audited("scan")
            yield from audited_with_error("scan", "这不是办件回执上的二维码，请扫描回执上的二维码。")
            sims.scanner.scan(receipt_qr_payload(case["case_no"], case["query_code"]).encode())
            yield from audited("progress")
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

        driver.run(visit(), report, report_path, step_timeout_s=STEP_TIMEOUT_S)
    return 0 if report["error"] is None else 1
