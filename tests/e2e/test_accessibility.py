"""Issue 6 §2 accessibility: touch targets ≥ 60 px at 1080×1920, text ≥ 28 px (≥ 40 px in 长者模式),
contrast ≥ 4.5:1 (≥ 7:1 in 长者模式), on every screen of the real app.

The test runs this file's `_probe` in a subprocess (tests/kivy_child.py: Kivy reads its settings at
import time and runs one App per process): the script starts the platform simulator and a demo terminal like
`kiosk demo --headless` (with a technician PIN set), but with a 1080×1920 window (density 1.0, so dp/sp
equal window pixels), walks a citizen through every screen with simulated touches and audits each
screen's widget tree. It writes a JSON report; the test asserts on it, among others that the screens
audited are exactly `app.manager.screen_names` (a new screen cannot be forgotten here).

What is audited (every widget that is drawn: attached to the window, not fully transparent):
- touch targets (buttons, text inputs, any other widget with a `tid` but a plain label): ≥ 60 px wide
  and high, inside the window unless in a scroll view, and the button's text fits inside it;
- every label (buttons included): font_size and every markup `[size=N]` ≥ 28 px / ≥ 40 px, and a
  step of `theme.TYPE_LADDER` (each other size would open one more ~3 MB face of the CJK font);
- every label's colour and markup `[color=…]` against the colour it is drawn on (the nearest
  BigButton / Panel background up the tree, else the window's clear colour), alpha-blended:
  WCAG contrast ≥ 4.5 / ≥ 7. Disabled widgets are skipped (a button greyed out while a submission
  is on its way is not readable text that the citizen must act on).

The visits, normal mode first: home, 暂停服务, maintenance (the hidden gesture, a wrong then the right
PIN, the page with a check's result), a whole application (退休提取公积金: card, face check, form,
licences, the camera, review, receipt, rating), 查询 (typed code with a refusal, the scanner with a
refusal, the progress), a certificate (printing, then the paper running out), 信用可办 (异地就医备案:
form errors and the pinyin keyboard, licences fetched, the 告知承诺书 and its signature pad, an empty
signature refused) and 异地代收代办 by mail (社会保障卡申领: 形式审查 with the photo missing, refused,
then complete; the delivery choice, the region picker at province, city and county, the address on
the pinyin keyboard and its 数字/符号 page). The journeys beyond the first log in with the provincial
app's identity code (the face check is audited in the first; they need no second one), and the page
补拍 after 形式审查 is laid into the flow directly (the camera's own capture is audited in the first):
the whole run stays within ~2 minutes on 2 shared cores.

长者模式 is entered as a citizen does (the 长者模式 tile) and covers every screen reachable from it: the
catalog, the same application and journeys, and the certificate. NORMAL_ONLY lists the screens it
cannot reach, and why.

A last visit does the first application in English in 长者模式: the longest words at the largest type,
where a label is most likely to spill out of its button.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from kivy_child import WINDOW, contrast, hex_rgb, kiosk_report

MIN_TARGET_PX = 60
MIN_FONT_PX = {"normal": 28.0, "elderly": 40.0}
MIN_CONTRAST = {"normal": 4.5, "elderly": 7.0}
# Screens 长者模式 never shows: the home screen resets the type scale (and with it 长者模式) whenever
# it is shown, and 暂停服务 is shown instead of it; the query tile sits on that home screen, so 查询
# (the menu, scanning, the typed code, the progress) is only reached in normal mode; and maintenance
# is entered by ending any session and going home first (screens.maintenance.enter → go_home), so it is
# always in normal mode (its words are for technicians, in Chinese).
NORMAL_ONLY = {"home", "closed", "query", "scan", "query_code", "progress", "maintenance_pin", "maintenance"}
# The states every screen must be audited in beyond its plain self (label → modes).
STATES = {
    "guide+idle-warning": {"normal", "elderly"},
    "form+errors": {"normal", "elderly"},
    "form+pinyin": {"normal", "elderly"},
    "form+filled": {"normal", "elderly"},
    "idcard+error": {"normal", "elderly"},
    "licenses+fetched": {"normal", "elderly"},
    "materials+commit": {"normal", "elderly"},
    "commitment+refused": {"normal", "elderly"},
    "checklist+missing": {"normal", "elderly"},
    "checklist+refused": {"normal", "elderly"},
    "checklist+complete": {"normal", "elderly"},
    "delivery+province": {"normal", "elderly"},
    "delivery+city": {"normal", "elderly"},
    "delivery+county": {"normal", "elderly"},
    "delivery+address": {"normal", "elderly"},
    "delivery+symbols": {"normal", "elderly"},
    "certificate+error": {"normal", "elderly"},
    "review+error": {"normal", "elderly"},
    "rating+reasons": {"normal", "elderly"},
    "scan+error": {"normal"},
    "query_code+error": {"normal"},
    "maintenance_pin+wrong": {"normal"},
    "maintenance+result": {"normal"},
}
ENGLISH_SCREENS = {
    "home", "catalog", "guide", "idcard", "face", "form", "licenses", "materials", "review", "receipt",
    "rating", "done",
}  # English, the first application in 长者模式  # fmt: skip
SCAN_ITEM = "KS-SAMPLE-GJJ-TQ-0001"  # 退休提取公积金: a form with a choice, and a page to photograph
PHONE = "13800138000"
BANK_ACCOUNT = "6222020000000000"
PIN = "284913"  # the technician's, written before the terminal opens (as `kiosk maintenance set-pin`)
WRONG_PIN = "000000"
STEP_TIMEOUT_S = 90.0  # 长者模式 doubles the face check's 40 s budget; a retry must fit
SIZE_TAG = re.compile(r"\[size=(\d+(?:\.\d+)?)(?:px|sp|dp)?\]")
COLOR_TAG = re.compile(r"\[color=#?([0-9a-fA-F]{6})\]")


# -- colour arithmetic (WCAG 2.x, in kivy_child) ---------------------------------------------------
def test_contrast_arithmetic() -> None:
    assert contrast((0, 0, 0, 1), (1, 1, 1, 1)) == pytest.approx(21.0)
    assert contrast((1, 1, 1, 1), (1, 1, 1, 1)) == pytest.approx(1.0)
    assert contrast((*hex_rgb("767676"), 1), (1, 1, 1, 1)) == pytest.approx(4.54, abs=0.01)


def test_type_sizes_are_ladder_steps_never_below_the_minimum() -> None:
    from screens import theme

    saved = theme.font_scale
    try:
        for scale, floor in ((1.0, theme.MIN_FONT), (theme.ELDERLY_SCALE, theme.MIN_FONT_ELDERLY)):
            theme.font_scale = scale
            sizes = {theme.type_size(design) for design in range(10, 100)}
            assert sizes <= set(theme.TYPE_LADDER) and min(sizes) == floor
            steps = [theme.type_size(theme.FONT_TITLE)]  # a title shrinking to fit, step by step
            while (smaller := theme.smaller_type_size(steps[-1])) is not None:
                steps.append(smaller)
            assert steps[-1] == floor and steps == sorted(steps, reverse=True) and len(steps) > 3
            # Skipping the steps a measured width rules out: the largest at most that, or the floor.
            assert theme.smaller_type_size(steps[0], at_most=steps[2] + 0.5) == steps[2]
            assert theme.smaller_type_size(steps[0], at_most=1) == floor
    finally:
        theme.font_scale = saved


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
    return kiosk_report(__file__, tmp_path_factory, "_probe", timeout=420)


@pytest.mark.ui
def test_window_is_1080x1920_at_density_1(a11y_report: dict[str, Any]) -> None:
    assert tuple(a11y_report["window"]) == WINDOW
    assert a11y_report["density"] == pytest.approx(1.0)


@pytest.mark.ui
def test_every_screen_was_audited(a11y_report: dict[str, Any]) -> None:
    """Every screen of the app (`app.manager.screen_names`, so a new screen must be walked here too),
    in normal mode and, where 长者模式 can reach it, in 长者模式; and each listed state."""
    screens = set(a11y_report["screen_names"])
    assert not NORMAL_ONLY - screens, sorted(NORMAL_ONLY - screens)  # no stale name in NORMAL_ONLY
    audits = a11y_report["audits"]
    assert {audit["screen"] for audit in audits} == screens
    by_mode = {mode: {a["screen"] for a in audits if a["mode"] == mode} for mode in ("normal", "elderly")}
    assert by_mode["normal"] == screens, sorted(screens ^ by_mode["normal"])
    assert by_mode["elderly"] == screens - NORMAL_ONLY, sorted((screens - NORMAL_ONLY) ^ by_mode["elderly"])
    seen = {(audit["mode"], audit["label"]) for audit in audits}
    states = {(mode, label) for label, modes in STATES.items() for mode in modes}
    assert not states - seen, sorted(states - seen)
    english = {audit["screen"] for audit in audits if audit["language"] == "en"}
    assert not ENGLISH_SCREENS - english, sorted(ENGLISH_SCREENS - english)
    for audit in audits:
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

    from kivy_child import Driver, Steps, background, demo_kiosk, drawn, in_scroll, screenshot, shots_dir

    from kiosk.maintenance_pin import pin_path, write_pin_file
    from screens.journey_scenarios import (
        CERTIFICATE_ITEM,
        COMMITMENT_ITEM,
        EMPTY_DESK,
        PROXY_ITEM,
        QR_LOGIN_PAYLOAD,
    )

    logging.basicConfig(level=logging.INFO)
    report: dict[str, Any] = {"audits": [], "error": None}
    started = time.monotonic()

    def set_pin(config: Any) -> None:
        write_pin_file(pin_path(config), PIN)

    with demo_kiosk(state_dir, before_open=set_pin) as (app, terminal, config):
        from kivy.core.window import Window
        from kivy.metrics import Metrics
        from kivy.uix.behaviors import ButtonBehavior
        from kivy.uix.label import Label
        from kivy.uix.textinput import TextInput

        from kiosk.demo import demo_page_scene
        from screens import launch, theme
        from screens.maintenance import WAIT

        app.simulated_face = launch._simulated_citizen(terminal, config)
        sims = terminal.sims
        document_camera = sims.cameras["document_camera"]
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
                    # A tid marks a touch target (the signature pad…), except on a plain label: a
                    # status line the tests read (maint:service_state, pin:message) is not touched.
                    touchable = (
                        isinstance(widget, ButtonBehavior | TextInput)
                        or (getattr(widget, "tid", None) and not isinstance(widget, Label))
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
                    off_ladder = [size for size in sizes if round(size, 2) not in theme.TYPE_LADDER]
                    if off_ladder:
                        problems.append(f"font of {where} is {off_ladder[0]:.2f} px, off theme.TYPE_LADDER")
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
                    "t": round(time.monotonic() - started, 1),  # seconds into the run
                }
            )

        # -- the visits (driver: a generator of predicates, resumed once each holds) ---------
        def type_keys(keys: str) -> Steps:
            """The first key tapped; the others pressed as a tap releases them, all in one frame (a tap
            waits for frames: one a key made typing the longest part of the run)."""
            yield from tap(f"key:{keys[0]}")
            for key in keys[1:]:
                widget = find(f"key:{key}")
                assert widget is not None, key
                widget.dispatch("on_release")
            yield from frames(2)

        def type_digits(field: str, digits: str) -> Steps:
            yield from tap(f"field:{field}")
            yield from type_keys(digits)

        def audited(screen: str) -> Steps:
            yield from on(screen)
            audit(screen)

        def audited_when(label: str, holds: Any, what: str) -> Steps:
            yield from wait(holds, what)
            yield from frames(3)
            audit(label)

        def audited_with_error(screen: str, message: str) -> Steps:
            """The screen with a citizen-facing error shown, audited; then the error cleared."""
            app.screen.show_error(message, lambda: None)
            yield from frames(3)
            audit(f"{screen}+error", screen)
            app.screen.clear_error()

        def error_shown() -> bool:
            return find("error:home") is not None

        def go_home() -> Steps:
            yield from tap("home_button")
            yield from on("home")

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

        def identified(item: str, start: str = "start") -> Steps:
            """From the catalog to the item's first step after identity, by the provincial app's code
            (no face check: that screen is audited in `application`)."""
            yield from tap(f"item:{item}")
            yield from on("guide")
            yield from tap(start)
            yield from on("idcard")
            sims.scanner.scan(QR_LOGIN_PAYLOAD)

        def commitment() -> Steps:
            """信用可办 (异地就医备案), from the catalog: the identity code refused then accepted, the form
            with its errors and the pinyin keyboard, licences fetched (none found), the camera step
            offering the commitment, the 告知承诺书 with its pad, an empty signature refused."""
            document_camera.show(EMPTY_DESK, loop=True)  # no paper: the citizen signs instead
            yield from tap(f"item:{COMMITMENT_ITEM}")
            yield from on("guide")
            yield from tap("start")
            yield from on("idcard")
            sims.scanner.scan(f"https://example.com/{uuid.uuid4().hex[:6]}".encode())  # not an identity
            yield from audited_when("idcard+error", error_shown, "the code refused")
            yield from tap("error:retry")
            yield from frames(3)
            sims.scanner.scan(QR_LOGIN_PAYLOAD)
            yield from on("form")
            yield from tap("next")  # 就医地 and the date still empty: each says so
            yield from audited_when("form+errors", lambda: app.screen.errors["settle_city"].text, "errors")
            yield from tap("field:settle_city")
            yield from type_keys("shenzhen")
            yield from audited_when("form+pinyin", lambda: find("cand:0") is not None, "candidates")
            yield from tap("cand:0")
            yield from type_digits("start_date", "20261201")
            yield from tap("next")
            yield from on("licenses")
            yield from tap("license:agree")
            flow = app.controller.flow
            yield from audited_when("licenses+fetched", lambda: flow.licenses_fetched, "licences fetched")
            yield from tap("next")
            yield from on("materials")
            audit("materials+commit")
            yield from tap("doc:commit")
            yield from audited("commitment")
            yield from tap("sign:done")  # nothing written yet: refused, in words that say what to do
            pad = app.screen.pad
            yield from audited_when(
                "commitment+refused", lambda: pad.message.text != pad.instruction, "the refusal"
            )
            yield from go_home()
            document_camera.show(demo_page_scene(), loop=True)

        def proxy_by_mail(start: str) -> Steps:
            """异地代收代办 (社会保障卡申领), from the catalog: 形式审查 with the photo missing, refused,
            then complete; delivery by mail: province → city → county, the address on the keyboard."""
            document_camera.show(EMPTY_DESK, loop=True)  # the photo is not there at first
            yield from identified(PROXY_ITEM, start)
            yield from on("form")
            yield from tap("choice:bank:中国银行")
            yield from tap("next")
            yield from on("materials")
            yield from tap("doc:done")
            yield from on("checklist")
            audit("checklist+missing")
            yield from tap("next")
            yield from audited_when("checklist+refused", error_shown, "形式审查 refuses")
            yield from tap("rescan:M01")
            yield from on("materials")
            flow = app.controller.flow
            app.act(lambda: flow.add_page(demo_page_scene().read_bytes()))  # a page, as the camera takes
            yield from tap("doc:done")
            yield from on("checklist")
            audit("checklist+complete")
            yield from tap("next")
            yield from audited("delivery")
            yield from tap("delivery:mail")
            yield from audited_when(
                "delivery+province", lambda: find("region:440000") is not None, "provinces"
            )
            yield from tap("region:440000")
            yield from audited_when("delivery+city", lambda: find("region:440300") is not None, "cities")
            yield from tap("region:440300")
            yield from audited_when("delivery+county", lambda: find("region:440305") is not None, "counties")
            yield from tap("region:440305")
            yield from wait(lambda: find("delivery:confirm") is not None, "the address detail")
            yield from type_keys("kejiyuan")
            yield from audited_when("delivery+address", lambda: find("cand:0") is not None, "candidates")
            yield from tap("cand:0")
            yield from tap("kb:mode")
            yield from audited_when("delivery+symbols", lambda: find("key:号") is not None, "数字/符号")
            yield from go_home()
            document_camera.show(demo_page_scene(), loop=True)

        def certificate() -> Steps:
            """查询打印, from the catalog: the certificate printing, then the paper running out."""
            printer = sims.a4printer
            catalog = app.manager.get_screen("catalog")
            item = next(i for i in catalog.catalog.items if i.code == CERTIFICATE_ITEM)
            yield from wait(lambda: catalog.unavailable(item) is None, "the A4 printer ready")
            printer.job_delay_s = 60.0  # a slow printer: the screen stays while the page comes out
            yield from identified(CERTIFICATE_ITEM)
            yield from audited("certificate")
            printer.paper = "out"
            yield from audited_when("certificate+error", error_shown, "the paper-out message")
            printer.paper, printer.job_delay_s = "ok", 0.0
            terminal.devices.poke("a4_printer")
            yield from tap("error:home")
            yield from on("home")

        def maintenance() -> Steps:
            """The hidden gesture, a wrong PIN, the right one, the page and a check's result, out."""
            yield from driver.maintenance_gesture()
            yield from audited("maintenance_pin")
            yield from type_keys(WRONG_PIN)
            yield from tap("pin:ok")
            pin_screen = app.manager.get_screen("maintenance_pin")
            yield from audited_when("maintenance_pin+wrong", lambda: pin_screen.notice.text, "the wrong PIN")
            yield from type_keys(PIN)
            yield from tap("pin:ok")
            yield from on("maintenance")
            yield from audited_when("maintenance", lambda: find("device:idcard") is not None, "devices")
            yield from tap("maint:platform")
            yield from wait(
                lambda: getattr(find("result:platform"), "text", WAIT) != WAIT, "the platform check's result"
            )
            app.screen.scroll.scroll_to(find("result:platform"), padding=40, animate=False)
            yield from frames(3)
            audit("maintenance+result")
            yield from tap("maint:exit")
            yield from on("home")

        def visit() -> Steps:
            yield from on("home")
            yield from wait(lambda: Window.size == WINDOW, "the 1080×1920 window")
            report["window"], report["density"] = list(Window.size), Metrics.density
            report["screen_names"] = list(app.manager.screen_names)  # every screen build() added
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
            yield from maintenance()
            yield from tap("tile:kuasheng")
            yield from application(0)
            # 查询: a typed code the platform does not know, then a receipt's code on the scanner
            from kiosk.demo import demo_application, demo_proof
            from kiosk.receipt import receipt_qr_payload

            platform = app.controller.services.platform
            ref = f"{config.terminal.id}-a11y-{uuid.uuid4().hex[:8]}"
            body = demo_application(demo_proof(platform), ref)
            case = platform.submit_application(body, str(uuid.uuid4()))
            yield from tap("tile:query")
            yield from audited("query")
            yield from tap("query:code")
            yield from audited("query_code")
            yield from type_keys(case["case_no"].removeprefix("KS") + "000000")
            yield from tap("next")
            yield from audited_when("query_code+error", error_shown, "the code refused")
            yield from tap("error:home")
            yield from on("home")
            yield from tap("tile:query")
            yield from on("query")
            yield from tap("query:scan")
            yield from audited("scan")
            yield from audited_with_error("scan", "这不是办件回执上的二维码，请扫描回执上的二维码。")
            sims.scanner.scan(receipt_qr_payload(case["case_no"], case["query_code"]).encode())
            yield from audited("progress")
            yield from tap("finish")
            yield from on("home")
            # 打印证明, as a citizen finds it: 查询 → 打印证明
            yield from tap("tile:query")
            yield from on("query")
            yield from tap("query:certificates")
            yield from on("catalog")
            yield from certificate()
            yield from tap("tile:kuasheng")
            yield from on("catalog")
            yield from commitment()
            yield from tap("tile:kuasheng")
            yield from on("catalog")
            yield from proxy_by_mail("start:proxy")
            # 长者模式 (each visit home leaves it: the tile again before each)
            yield from tap("tile:elderly")
            yield from application(0)
            for journey in (certificate, commitment, lambda: proxy_by_mail("start:proxy")):
                yield from tap("tile:elderly")
                yield from on("catalog")
                yield from journey()
            # English, then 长者模式 (the finish above went home, back in Chinese)
            yield from tap("lang:en")
            yield from wait(lambda: find("lang:zh") is not None, "the home screen in English")
            yield from frames(3)
            audit("home")
            yield from tap("tile:elderly")
            yield from application(0)

        driver.run(visit(), report, report_path, step_timeout_s=STEP_TIMEOUT_S)
    return 0 if report["error"] is None else 1
