"""Maintenance mode in the real Kivy window (1080×1920 under Xvfb), driven by simulated touches.

Like test_accessibility.py, the test runs this file's `_run` in a subprocess (tests/kivy_child.py; one
Kivy App per process): a demo terminal with simulated devices and the platform simulator, a technician PIN set
with the same code as `kiosk maintenance set-pin`. The script walks: a citizen mid-session → the hidden
gesture (the session is wiped) → PIN screen → a wrong PIN → the right PIN → the device list → the ID
card reader's self-test → the test page (the virtual printer receives it) → the platform check → out of
service → leave (the citizen sees 暂停服务) → the gesture again → back in service → leave → home, with
nothing of the maintenance session left. Each maintenance state is audited for touch size (≥ 60 px),
type size (≥ 28 px) and contrast (≥ 4.5:1). MAINT_SHOTS=DIR keeps a screenshot of every step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kivy_child import WINDOW, run_child

PIN = "284913"
WRONG_PIN = "000000"
ITEM = "KS-SAMPLE-JY-SY-0007"  # 失业登记: no scans, so the session starts on any terminal
STEP_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("maint")
    data, result = run_child(__file__, "_run", root / "report.json", root / "state", timeout=280)
    data["stderr"] = result.stderr
    return data


@pytest.mark.ui
def test_the_whole_maintenance_visit_passes(report: dict[str, Any]) -> None:
    checks = report["checks"]
    assert checks["citizen_session_wiped_on_entry"]
    assert "还可尝试 4 次" in checks["wrong_pin_message"]
    assert checks["pin_display"].replace(" ", "") == "●" * len(PIN)
    assert set(checks["devices_listed"]) >= {"idcard", "face_camera", "printer"}
    assert "身份证阅读器自检通过" in checks["idcard_selftest"]
    assert "测试页已打印" in checks["test_page"] and checks["printer_job_has_test_page"]
    assert checks["printer_fault"] == "凭条打印机：需处理"
    assert "更换纸卷" in checks["printer_fault_action"]
    assert "平台连接正常" in checks["platform"]
    assert "暂停服务" in checks["out_of_service_state"]
    assert checks["citizen_screen_when_out"] == "closed"
    assert "正常服务" in checks["back_in_service_state"]
    assert checks["screen_after_leaving"] == "home"
    assert checks["left_nothing"] == {
        "pin_digits": 0,
        "maintenance_widgets": 0,
        "pin_widgets": 0,
        "results": 0,
    }
    assert checks["no_pin_bypass"] == "home"
    assert checks["idle_left"] == {"screen": "home", "maintenance_widgets": 0, "granted": False}


@pytest.mark.ui
def test_maintenance_screens_meet_sizes_and_contrast(report: dict[str, Any]) -> None:
    audited = {a["label"] for a in report["audits"]}
    assert {"pin", "pin+wrong", "maintenance", "maintenance+results"} <= audited
    problems = [f"{a['label']}: {p}" for a in report["audits"] for p in a["problems"]]
    assert not problems, "\n".join(problems)


@pytest.mark.ui
def test_neither_pin_nor_citizen_data_reaches_the_log(report: dict[str, Any]) -> None:
    assert PIN not in report["stderr"] and WRONG_PIN not in report["stderr"]
    assert "411502195803120031" not in report["stderr"]  # the demo card's number
    assert any("maintenance: PIN accepted" in line for line in report["checks"]["log_lines"])
    assert not any(PIN in line for line in report["checks"]["log_lines"])


# -- the script (runs in the subprocess; the only part that imports Kivy) -------------------------
def _run(report_path: Path, state_dir: Path) -> int:
    from kivy_child import Driver, Steps, background, contrast, demo_kiosk, drawn, screenshot, shots_dir

    from kiosk.logs import setup_logging
    from kiosk.maintenance_pin import pin_path, write_pin_file

    setup_logging("INFO")
    report: dict[str, Any] = {"audits": [], "checks": {}, "error": None}
    checks = report["checks"]

    def set_pin(config: Any) -> None:
        write_pin_file(pin_path(config), PIN)  # what `kiosk maintenance set-pin` writes

    with demo_kiosk(state_dir, before_open=set_pin) as (app, terminal, config):
        from kivy.core.window import Window
        from kivy.uix.behaviors import ButtonBehavior
        from kivy.uix.label import Label

        from screens.maintenance import WAIT

        sims = terminal.sims
        shots = shots_dir("MAINT_SHOTS")
        driver = Driver(app, scroll_padding=40)
        wait, frames, on, find, tap = driver.wait, driver.frames, driver.on, driver.find, driver.tap
        shot_count = [0]

        def shot(label: str) -> None:
            shot_count[0] += 1
            screenshot(shots, f"{shot_count[0]:02d}-{label}")

        def audit(label: str) -> None:
            problems: list[str] = []
            for root in list(Window.children):
                for widget in root.walk(restrict=False):
                    if not drawn(widget) or widget.disabled:
                        continue
                    name = getattr(widget, "tid", None) or type(widget).__name__
                    where = f"{name} {getattr(widget, 'text', '')[:20]!r}"
                    if isinstance(widget, ButtonBehavior):
                        w, h = widget.size
                        if w < 60 or h < 60:
                            problems.append(f"touch target {where} is {w:.0f}×{h:.0f}")
                        if isinstance(widget, Label) and widget.text:
                            tw, th = widget.texture_size
                            if tw > w + 1 or th > h + 1:
                                problems.append(f"text of {where} overflows its button")
                    if isinstance(widget, Label) and widget.text.strip():
                        if float(widget.font_size) < 28 - 0.01:
                            problems.append(f"font of {where} is {float(widget.font_size):.1f} px")
                        ratio = contrast(tuple(widget.color), background(widget))
                        if ratio < 4.5:
                            problems.append(f"contrast of {where} is {ratio:.2f}:1")
            report["audits"].append({"label": label, "problems": problems})
            shot(label)

        # -- driver ----------------------------------------------------------------------------
        def text_of(tid: str) -> str:
            widget = find(tid)
            return "" if widget is None else str(widget.text)

        def scroll_to(tid: str) -> Steps:
            widget = find(tid)
            if widget is not None:
                app.screen.scroll.scroll_to(widget, padding=40, animate=False)
            yield from frames(3)

        def gesture() -> Steps:
            yield from driver.maintenance_gesture()

        def type_pin(pin: str) -> Steps:
            for digit in pin:
                yield from tap(f"key:{digit}")

        def visit() -> Steps:
            yield from on("home")
            yield from wait(lambda: Window.size == WINDOW, "the 1080×1920 window")
            # a citizen mid-session (the card reader waiting for the card)
            yield from tap("tile:kuasheng")
            yield from on("catalog")
            yield from tap(f"item:{ITEM}")
            yield from on("guide")
            yield from tap("start")
            yield from on("idcard")
            assert app.controller.session is not None
            citizen = app.controller.session
            # the hidden gesture
            yield from gesture()
            yield from on("maintenance_pin")
            checks["citizen_session_wiped_on_entry"] = (
                app.controller.session is None and app.controller.last_wiped is citizen
            )
            audit("pin")
            yield from type_pin(WRONG_PIN)
            yield from tap("pin:ok")
            yield from wait(lambda: "还可尝试" in text_of("pin:message"), "the wrong-PIN message")
            checks["wrong_pin_message"] = text_of("pin:message")
            audit("pin+wrong")
            yield from type_pin(PIN)
            checks["pin_display"] = text_of("pin:display")
            shot("pin+typed")
            yield from tap("pin:ok")
            yield from on("maintenance")
            yield from wait(lambda: find("device:idcard") is not None, "the device list")
            checks["devices_listed"] = [n for n in config.devices if find(f"device:{n}") is not None]
            audit("maintenance")
            # self-test of the ID card reader
            yield from tap("selftest:idcard")
            yield from wait(lambda: "自检" in text_of("result:selftest:idcard"), "the self-test result")
            checks["idcard_selftest"] = text_of("result:selftest:idcard")
            yield from frames(3)
            shot("selftest-idcard")
            # the test page
            jobs_before = len(sims.printer.jobs)
            yield from tap("maint:print")
            yield from wait(lambda: "测试页" in text_of("result:print"), "the test page result")
            checks["test_page"] = text_of("result:print")
            yield from wait(lambda: len(sims.printer.jobs) > jobs_before, "the printer's job")
            job = sims.printer.jobs[-1]
            checks["printer_job_has_test_page"] = any("打印机测试页" in line for line in job.lines)
            # a fault and the action it needs: paper out is hall staff's work
            sims.printer.paper = "out"
            terminal.devices.poke("printer")
            yield from wait(lambda: "需处理" in text_of("device:printer"), "the printer's fault shown")
            yield from scroll_to("device:printer")
            checks["printer_fault"] = text_of("device:printer")
            checks["printer_fault_action"] = text_of("device_action:printer")
            shot("printer-paper-out")
            sims.printer.paper = "full"
            terminal.devices.poke("printer")
            yield from wait(lambda: "正常" in text_of("device:printer"), "the printer back")
            # the platform check
            yield from tap("maint:platform")
            yield from wait(
                lambda: text_of("result:platform") not in ("", WAIT), "the platform check's result"
            )
            checks["platform"] = text_of("result:platform")
            yield from scroll_to("result:platform")
            audit("maintenance+results")
            yield from tap("maint:logs")
            yield from scroll_to("maint:log_lines")
            shot("logs")
            checks["log_lines"] = text_of("maint:log_lines").splitlines()
            # out of service
            app.screen.scroll.scroll_y = 1
            yield from frames(2)
            yield from tap("maint:out_of_service")
            yield from wait(lambda: "暂停服务" in text_of("maint:service_state"), "out of service")
            checks["out_of_service_state"] = text_of("maint:service_state")
            shot("out-of-service")
            yield from tap("maint:exit")
            yield from wait(lambda: app.manager.current in ("home", "closed"), "left maintenance")
            yield from frames(4)
            checks["citizen_screen_when_out"] = app.manager.current
            shot("citizen-sees-closed")
            # back in, from the 暂停服务 screen
            yield from gesture()
            yield from on("maintenance_pin")
            yield from type_pin(PIN)
            yield from tap("pin:ok")
            yield from on("maintenance")
            yield from tap("maint:in_service")
            yield from wait(lambda: "正常服务" in text_of("maint:service_state"), "back in service")
            checks["back_in_service_state"] = text_of("maint:service_state")
            shot("back-in-service")
            yield from tap("maint:exit")
            yield from on("home")
            yield from frames(10)
            checks["screen_after_leaving"] = app.manager.current
            pin_screen = app.manager.get_screen("maintenance_pin")
            maint_screen = app.manager.get_screen("maintenance")
            checks["left_nothing"] = {
                "pin_digits": len(pin_screen._digits),
                "maintenance_widgets": len(maint_screen.body.children),
                "pin_widgets": len(pin_screen.body.children),
                "results": len(maint_screen.last_results),
            }
            shot("home-after")
            # the maintenance page cannot be reached without the PIN
            app.show("maintenance")
            yield from wait(lambda: app.manager.current == "home", "bounced home")
            yield from frames(3)
            checks["no_pin_bypass"] = app.manager.current
            # a technician who walks away: the idle timeout leaves maintenance mode the same way
            yield from gesture()
            yield from on("maintenance_pin")
            yield from type_pin(PIN)
            yield from tap("pin:ok")
            yield from on("maintenance")
            idle = app.controller.idle
            saved = idle.timeout_s, idle.warning_s
            idle.timeout_s, idle.warning_s = 3.0, 1.0
            idle.touch()
            yield from wait(lambda: app.manager.current == "home", "the idle timeout")
            yield from frames(4)
            idle.timeout_s, idle.warning_s = saved
            checks["idle_left"] = {
                "screen": app.manager.current,
                "maintenance_widgets": len(maint_screen.body.children),
                "granted": maint_screen.granted,
            }

        driver.run(visit(), report, report_path, step_timeout_s=STEP_TIMEOUT_S)
    return 0 if report["error"] is None else 1
