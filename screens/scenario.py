"""Scripted sessions on the real UI: simulated touches through Kivy's input path, a screenshot of
every screen, the printed receipt and a summary. Used by the e2e tests and as the hall demo.

A scenario is a generator: it yields a predicate and resumes once the predicate holds (checked
every frame), so the script reads top to bottom like a citizen's visit.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.outbox import OutboxUnavailable
from screens.journey_scenarios import PAGE_TIMEOUT_S, JourneyScenarios
from screens.preview import where
from screens.touch import ScriptedTouch

log = logging.getLogger(__name__)
Wait = Callable[[], bool]
Script = Generator[Wait, None, None]
STEP_TIMEOUT_S = 45.0
DEMO_ITEM = "KS-SAMPLE-JY-SY-0007"  # 失业登记: 全程网办, a form and no paper materials
DEMO_PHONE = "13800138000"
SCAN_ITEM = "KS-SAMPLE-GJJ-TQ-0001"  # 正常退休提取住房公积金: 退休证明 on the document camera
DEMO_BANK_ACCOUNT = "6222020000000000"


class ScenarioFailed(Exception):
    pass


def _parents(widget: Widget) -> Iterator[Widget]:
    while widget.parent is not None and widget.parent is not widget:
        widget = widget.parent
        yield widget


class _FullDisk:
    """The outbox on a full disk: every write fails as `Outbox` reports SQLITE_FULL (that path is
    tested on SQLite itself in tests/kiosk/test_outbox.py); reads still work."""

    def __init__(self, outbox: Any) -> None:
        self.outbox = outbox

    def enqueue(self, *_args: Any, **_kwargs: Any) -> Any:
        raise OutboxUnavailable("full", "database or disk is full")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.outbox, name)


class ScenarioRunner(JourneyScenarios):
    def __init__(self, app: Any, terminal: Any, scenario: str, artifacts: Path, server: Any = None) -> None:
        self.app, self.terminal, self.scenario, self.server = app, terminal, scenario, server
        self.artifacts = artifacts
        self.screens: list[str] = []
        self.titles: dict[str, str] = {}  # screenshot label → the top bar's title then (its language)
        self.summary: dict[str, Any] = {
            "scenario": scenario,
            "case_no": None,
            "item_code": None,
            "mode": None,
            "rating": None,
            "wiped": False,
            "screens": self.screens,
            "titles": self.titles,
        }
        self.exit_code = 1
        self._script: Script | None = None
        self._waiting: Wait | None = None
        self._deadline = 0.0

    # -- driver -----------------------------------------------------------------------------
    def start(self) -> None:
        if self.artifacts.exists():
            shutil.rmtree(self.artifacts)
        self.artifacts.mkdir(parents=True)
        self._script = getattr(self, f"scenario_{self.scenario}")()
        Clock.schedule_interval(self._step, 0)

    def _step(self, _dt: float) -> bool:
        try:
            if self._waiting is not None and not self._waiting():
                if time.monotonic() > self._deadline:
                    raise ScenarioFailed(
                        f"timed out on screen {self.app.manager.current!r}: "
                        f"{getattr(self._waiting, 'what', 'condition')}"
                    )
                return True
            assert self._script is not None
            self._waiting = next(self._script)
            self._deadline = time.monotonic() + getattr(self._waiting, "timeout_s", STEP_TIMEOUT_S)
            return True
        except StopIteration:
            self.exit_code = 0
            self._finish(None)
        except Exception as err:  # any failure ends the run with a non-zero exit and the reason
            # Why the last session ended ("idle timeout", "ui error", "home"…): a scenario found
            # on the home screen unexpectedly is explained by it.
            ended = (getattr(self.app.controller, "last_outcome", None) or {}).get("reason")
            log.error("scenario %s failed: %s (last session ended: %s)", self.scenario, err, ended)
            for thread in threading.enumerate():  # what each thread was doing when the wait gave up
                log.error("scenario thread %s at: %s", thread.name, where(thread.ident))
            self._finish(str(err))
        return False

    def _finish(self, error: str | None) -> None:
        self.summary["error"] = error
        (self.artifacts / "summary.json").write_text(json.dumps(self.summary, ensure_ascii=False, indent=1))
        self.app.stop()

    # -- primitives ---------------------------------------------------------------------------
    def wait(self, predicate: Wait, what: str, timeout_s: float = STEP_TIMEOUT_S) -> Iterator[Wait]:
        predicate.what = what  # type: ignore[attr-defined]
        predicate.timeout_s = timeout_s  # type: ignore[attr-defined]
        yield predicate

    def frames(self, count: int = 3) -> Iterator[Wait]:
        left = [count]

        def done() -> bool:
            left[0] -= 1
            return left[0] <= 0

        yield from self.wait(done, f"{count} frames")

    def pause(self, seconds: float) -> Iterator[Wait]:
        until = time.monotonic() + seconds
        yield from self.wait(lambda: time.monotonic() >= until, f"{seconds}s")

    def screen(self, name: str) -> Iterator[Wait]:
        yield from self.wait(lambda: self.app.manager.current == name, f"screen {name}")
        yield from self.frames(3)

    def shot(self, label: str, screen: str | None = None) -> Iterator[Wait]:
        """Screenshot of what is drawn now; it must still be `screen` (default: `label`) after drawing."""
        yield from self.frames(2)  # let the last change be drawn
        expected = screen or label.removesuffix("-filled").removesuffix("-again")
        if self.app.manager.current != expected:
            raise ScenarioFailed(f"screenshot {label!r} would show {self.app.manager.current!r}")
        produced = Window.screenshot(name=str(self.artifacts / "shot.png"))  # Kivy adds a counter
        target = self.artifacts / f"{len(self.screens) + 1:02d}-{label}.png"
        Path(produced).rename(target)
        self.screens.append(label)
        self.titles[label] = self.app.top_bar.title.text

    def find(self, tid: str) -> Widget | None:
        for root in Window.children:  # the app's root and any open modal view
            for widget in root.walk(restrict=False):
                if getattr(widget, "tid", None) == tid and widget.get_root_window() is not None:
                    return widget
        return None

    def tap(self, tid: str) -> Iterator[Wait]:
        yield from self.wait(lambda: self.find(tid) is not None, f"widget {tid}")
        widget = self.find(tid)
        assert widget is not None
        scroller = next((p for p in _parents(widget) if isinstance(p, ScrollView)), None)
        if scroller is not None:  # a finger scrolls a long list until the item shows, then taps it
            scroller.scroll_to(widget, padding=dp(20), animate=False)
            yield from self.frames(2)
        x, y = widget.to_window(*widget.center)
        touch = ScriptedTouch(x, y)
        touch.touch_down()
        touch.touch_up()
        yield from self.frames(2)

    # -- scenarios ----------------------------------------------------------------------------
    def scenario_online(self) -> Script:
        yield from self._to_review()
        yield from self._submit_rate_finish()

    def scenario_online_scan(self) -> Script:
        """退休提取公积金: the 退休证明 is laid on the document camera, which takes it by itself."""
        yield from self._to_form(SCAN_ITEM)
        yield from self._type("phone", DEMO_PHONE)
        yield from self._type("bank_account", DEMO_BANK_ACCOUNT)
        yield from self.tap("choice:reason:正常退休")
        yield from self.shot("form-filled")
        yield from self.tap("next")
        yield from self.screen("licenses")
        yield from self.tap("license:decline")  # the paper 退休证明 is on the camera already
        yield from self.screen("materials")
        flow = self.app.controller.flow
        yield from self.wait(lambda: bool(flow.pages()), "the page taken by itself", PAGE_TIMEOUT_S)
        yield from self.frames(3)
        yield from self.shot("materials")
        yield from self.tap("doc:done")
        yield from self.screen("review")
        yield from self.shot("review")
        yield from self._submit_rate_finish()

    def _submit_rate_finish(self) -> Script:
        yield from self.tap("submit")
        yield from self.screen("receipt")
        yield from self.shot("receipt")
        self._copy_receipt()
        yield from self.tap("next")
        yield from self.screen("rating")
        yield from self.shot("rating")
        yield from self.tap("rate:5")
        yield from self.screen("done")
        yield from self.shot("done")
        self._record_outcome()
        yield from self.tap("finish")
        yield from self.screen("home")
        yield from self.shot("home-again")

    def scenario_elderly(self) -> Script:
        """The whole online journey from the 长者模式 tile: larger type, spoken prompts, longer timeouts."""
        yield from self.screen("home")
        yield from self.shot("home")
        yield from self.tap("tile:elderly")
        yield from self.screen("catalog")
        if not self.app.controller.elderly:
            raise ScenarioFailed("长者模式 did not switch on")
        self.summary["idle_timeout_s"] = self.app.controller.idle.timeout_s
        yield from self.shot("catalog")
        yield from self._after_catalog(DEMO_ITEM)
        yield from self._type("phone", DEMO_PHONE)
        yield from self.shot("form-filled")
        yield from self.tap("next")
        yield from self.screen("review")
        yield from self.shot("review")
        self.summary["spoken"] = list(self.app.speaker.said)
        yield from self._submit_rate_finish()

    def scenario_disk_full(self) -> Script:
        """The disk fills while a citizen is at review: nothing is accepted and the citizen is told so,
        the kiosk shows 暂停服务 until there is room again, then home by itself."""
        services = self.app.controller.services
        services.guard.hold_s = 1.0  # the demo should not wait out the minute a terminal waits
        yield from self._to_review()
        services.outbox = _FullDisk(services.outbox)
        yield from self.tap("submit")
        yield from self.wait(lambda: self.app.screen.error_message is not None, "refusal at submit")
        yield from self.shot("review-refused", "review")
        yield from self.tap("error:home")
        yield from self.screen("closed")
        yield from self.shot("closed")
        self._record_outcome()
        services.outbox = services.outbox.outbox  # the technician made room
        yield from self.screen("home")
        yield from self.shot("home-again")

    def scenario_query_qr(self) -> Script:
        yield from self.scenario_query()

    def scenario_query(self) -> Script:
        """A citizen holds a receipt's QR code up to the camera and reads the case's progress."""
        from kiosk.demo import receipt_photo
        from kiosk.receipt import receipt_qr_payload

        case = self._earlier_case()
        yield from self.screen("home")
        yield from self.shot("home")
        yield from self.tap("tile:query")
        yield from self.screen("query")
        yield from self.shot("query")
        yield from self.tap("query:scan")
        yield from self.screen("scan")
        yield from self.pause(0.3)
        yield from self.shot("scan")
        camera = self.terminal.sims.cameras["face_camera"]
        camera.show(receipt_photo(case["case_no"], case["query_code"]))
        shown = time.monotonic()
        yield from self.wait(lambda: self.app.manager.current == "progress", "screen progress")
        self.summary["scan_to_timeline_ms"] = round((time.monotonic() - shown) * 1000)
        self.summary.update(case_no=case["case_no"], item_code=DEMO_ITEM, mode="query")
        yield from self.frames(3)
        yield from self.shot("progress")
        yield from self.tap("finish")
        yield from self.screen("home")
        yield from self.shot("home-again")
        # The same receipt on the code scanner beside the screen (a serial scanner on a pty).
        camera.show(np.full((720, 1280, 3), 110, np.uint8))  # the receipt is no longer in front of it
        yield from self.tap("tile:query")
        yield from self.screen("query")
        yield from self.tap("query:scan")
        yield from self.screen("scan")
        self.terminal.sims.scanner.scan(receipt_qr_payload(case["case_no"], case["query_code"]).encode())
        yield from self.screen("progress")
        yield from self.shot("progress-scanner", "progress")
        yield from self.tap("finish")
        yield from self.screen("home")

    def scenario_timeout(self) -> Script:
        """A citizen calls for staff mid-form, then walks away: the countdown warns, the session is
        wiped and the kiosk goes home; the help call ends with the session."""
        from kiosk.help_request import pending_help

        yield from self._to_form(DEMO_ITEM)
        yield from self.tap("field:phone")
        for digit in DEMO_PHONE[:5]:
            yield from self.tap(f"key:{digit}")
        yield from self.tap("help")
        yield from self.wait(lambda: self.find("help:ok") is not None, "help confirmation")
        yield from self.shot("help", "form")
        state = self.app.controller.services.state
        self.summary["help_requested"] = pending_help(state) is not None
        yield from self.tap("help:ok")
        # Only now the short wait (the hall waits 90 s; the demo need not): set earlier, a slow machine
        # could warn before the help call, and the warning would take the tap meant for 呼叫工作人员.
        idle = self.app.controller.idle
        idle.timeout_s, idle.warning_s = 12.0, 6.0
        yield from self.wait(lambda: self.find("stay") is not None, "the countdown warning")
        yield from self.shot("timeout-warning", "form")
        yield from self.screen("home")
        self._record_outcome()
        self.summary["help_cleared"] = pending_help(state) is None
        yield from self.shot("home-again")

    def scenario_query_code(self) -> Script:
        """The receipt's case number and query code typed on the keypad instead of scanned."""
        case = self._earlier_case()
        yield from self.screen("home")
        yield from self.tap("tile:query")
        yield from self.screen("query")
        yield from self.shot("query")
        yield from self.tap("query:code")
        yield from self.screen("query_code")
        for digit in case["case_no"].removeprefix("KS"):
            yield from self.tap(f"key:{digit}")
        for digit in case["query_code"]:
            yield from self.tap(f"key:{digit}")
        yield from self.shot("query_code")
        yield from self.tap("next")
        yield from self.screen("progress")
        self.summary.update(case_no=case["case_no"], item_code=DEMO_ITEM, mode="query")
        yield from self.shot("progress")
        yield from self.tap("finish")
        yield from self.screen("home")
        yield from self.shot("home-again")

    def _earlier_case(self) -> dict:
        """A case submitted on an earlier visit (straight to the platform), to look up."""
        from kiosk.demo import demo_application, demo_proof

        platform = self.app.controller.services.platform
        ref = f"{self.app.controller.services.config.terminal.id}-query-{uuid.uuid4().hex[:8]}"
        return platform.submit_application(demo_application(demo_proof(platform), ref), str(uuid.uuid4()))

    def _to_review(self) -> Script:
        """From home to the review of a filled-in 全程网办 application."""
        yield from self._to_form(DEMO_ITEM)
        yield from self._type("phone", DEMO_PHONE)
        yield from self.shot("form-filled")
        yield from self.tap("next")
        yield from self.screen("review")
        yield from self.shot("review")

    def scenario_face_replay(self) -> Script:
        """A photo held up to the camera: the liveness check refuses it, the citizen may try again,
        and after `[face] attempts_before_staff` failures the screen sends them to staff."""
        from kiosk.facepose_sim import still

        actor, self.app.simulated_face = self.app.simulated_face, None  # nobody follows the prompts
        yield from self.wait(lambda: actor.wait_prepared(0), "the simulated citizen's camera view")
        self.terminal.sims.cameras["face_camera"].show(still(actor.view, 1), loop=True)
        yield from self._to_face(DEMO_ITEM)
        attempts = self.app.controller.services.config.face.attempts_before_staff
        face = self.app.manager.get_screen("face")
        for attempt in range(1, attempts + 1):
            yield from self.wait(lambda: face.error_message is not None, f"refusal {attempt}")
            if attempt == 1:
                yield from self.shot("face-refused", "face")
            if attempt < attempts:
                yield from self.tap("error:retry")
        if "工作人员" not in (face.error_message or ""):
            raise ScenarioFailed(f"after {attempts} refusals the screen says {face.error_message!r}")
        yield from self.shot("face-staff", "face")
        self.terminal.sims.idcard.remove()
        yield from self.tap("error:home")
        self._record_outcome()
        yield from self.screen("home")
        yield from self.shot("home-again")

    def _to_form(self, item_code: str) -> Script:
        """From home through the card and the face check to the item's form."""
        yield from self._to_face(item_code)
        self.terminal.sims.idcard.remove()
        yield from self._face_passed("form")
        yield from self.shot("form")

    def _face_passed(self, then: str) -> Script:
        """Until the face check lets the citizen on to `then`; a check a loaded machine failed (a head
        movement whose frames it missed) is tried again, as the citizen would."""
        for _attempt in range(3):
            yield from self.wait(
                lambda: self.app.manager.current == then or self.find("error:retry") is not None,
                f"screen {then} or a retry",
            )
            if self.app.manager.current == then:
                break
            log.warning("scenario: the face check failed; trying again")
            yield from self.tap("error:retry")
        yield from self.screen(then)

    def _to_face(self, item_code: str) -> Script:
        """From home through the card to the face check."""
        yield from self.screen("home")
        yield from self.shot("home")
        yield from self.tap("tile:kuasheng")
        yield from self.screen("catalog")
        yield from self.shot("catalog")
        yield from self._item_to_face(item_code)

    def _after_catalog(self, item_code: str) -> Script:
        """From the catalog through the card and the face check to the form."""
        yield from self._item_to_face(item_code)
        self.terminal.sims.idcard.remove()
        yield from self._face_passed("form")
        yield from self.shot("form")

    def _item_to_face(self, item_code: str) -> Script:
        sims = self.terminal.sims
        yield from self.tap(f"item:{item_code}")
        yield from self.screen("guide")
        yield from self.shot("guide")
        yield from self.tap("start")
        yield from self.screen("idcard")
        yield from self.shot("idcard")
        sims.idcard.insert(0)  # the citizen puts the card on the reader
        yield from self.screen("face")
        yield from self.pause(1.0)  # the live preview and the first prompt show
        yield from self.shot("face")

    def _type(self, field: str, digits: str) -> Script:
        yield from self.tap(f"field:{field}")
        for digit in digits:
            yield from self.tap(f"key:{digit}")

    def _record_outcome(self) -> None:
        controller = self.app.controller
        outcome = controller.last_outcome or {}
        self.summary.update({key: outcome.get(key) for key in ("case_no", "item_code", "mode", "rating")})
        wiped = controller.last_wiped
        self.summary["wiped"] = bool(wiped and wiped.wiped and not wiped.personal_data_present)

    def _copy_receipt(self) -> None:
        jobs = self.terminal.sims.printer.jobs
        if not jobs:
            raise ScenarioFailed("no receipt was printed")
        shutil.copy(jobs[-1].png_path, self.artifacts / "receipt.png")
