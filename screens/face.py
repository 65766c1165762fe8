"""人脸识别: live preview in a mirror with an oval guide, one short prompt at a time (come closer, face
the screen, turn your head left…), progress through the head-movement challenges, then the 1:1 match.

The check itself is `kiosk.face_check.FaceCheck`, stepped frame by frame on a worker thread
(`CameraLoop`); this screen only shows what it says. After `[face] attempts_before_staff` failed
attempts the message asks the citizen to get help from staff.
"""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp
from kivy.uix.progressbar import ProgressBar
from kivy.uix.widget import Widget

from kiosk.i18n import N_, _
from screens import theme
from screens.preview import CameraLoop, CameraPreview
from screens.steps import StepScreen
from screens.widgets import Text

WAITING = N_("请看着屏幕，保持面部在框内")
VERIFYING = N_("正在核验，请稍候……")


class FaceScreen(StepScreen):
    title = N_("人脸识别")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="face", **kwargs)
        self.preview = CameraPreview(mirror=True, guide="oval")
        self._loop: CameraLoop | None = None
        self._check: Any = None
        self.last_update: Any = None  # the scenario runner follows the challenges through it

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.body.add_widget(
            Text(_("请正对屏幕，摘下帽子和眼镜"), size=theme.FONT_HEADING, halign="center", bold=True)
        )
        self.preview.clear()
        self.body.add_widget(self.preview)
        self.prompt = Text(_(WAITING), size=theme.FONT_HEADING, halign="center", color=theme.PRIMARY)
        self.body.add_widget(self.prompt)
        self.progress = ProgressBar(max=1.0, value=0.0, size_hint_y=None, height=dp(theme.FONT_BODY))
        self.body.add_widget(self.progress)
        self.body.add_widget(Widget())  # the rest of the screen stays empty, below the guidance

    def on_enter(self, *_args) -> None:
        self.start_check()

    def start_check(self) -> None:
        flow = self.flow
        if flow is None:
            return
        self.stop_check()
        self._check = check = flow.start_face_check()
        self.last_update = None
        actor = self.app.simulated_face
        if actor is not None:
            actor.reset()
        camera = self.app.controller.services.camera
        self._loop = CameraLoop(
            camera.read_frame,
            check.step,
            self._show,
            lambda err: self._failed(getattr(err, "message", N_("摄像头暂时无法使用，请联系工作人员。"))),
            final=lambda update: update.phase in ("passed", "failed"),
        )

    def stop_check(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def _show(self, frame, update) -> None:
        if self._loop is None:
            return  # stopped while this frame was on its way
        self.last_update = update
        if self.app.simulated_face is not None:
            self.app.simulated_face.observe(update)  # the demo's simulated citizen follows the prompts
        self.preview.show(frame)
        self.preview.set_guide(update.phase in ("challenge", "passed"))
        self.progress.value = update.progress
        if update.prompt:  # kiosk.face_check gives the Chinese msgid; shown and spoken translated
            self.prompt.text = _(update.prompt)
            self.app.speaker.say(update.prompt)  # in 长者模式; each new prompt once
        if update.phase in ("passed", "failed"):
            # Both end in verify_face: it matches a passed check, and counts a failed one as an
            # attempt, saying what to do (after too many, to ask staff).
            self.stop_check()
            self.prompt.text = _(VERIFYING) if update.phase == "passed" else ""
            flow, check = self.flow, self._check
            self.app.run_worker(lambda: flow.verify_face(check), self._failed)

    def _failed(self, message: str) -> None:
        self.stop_check()
        self.preview.clear()
        self.prompt.text = ""
        self.show_error(message, self.retry)

    def retry(self) -> None:
        self.clear_error()
        self.prompt.text = _(WAITING)
        self.progress.value = 0.0
        self.start_check()

    def on_leave(self, *_args) -> None:
        self.stop_check()
        self.preview.clear()  # the last frame of the citizen's face does not linger on screen
        if self._check is not None:
            self._check.wipe()
            self._check = None

    def forget(self) -> None:
        self.on_leave()
        super().forget()
