"""拍摄材料 on the document camera (高拍仪): the citizen lays a page down, the screen outlines it and
takes the picture by itself once the page has been still for a moment; a page that is blurred, cut
off, too small, glaring or under a hand is not kept and the screen says what to change. Pages are
listed with 重拍上一页 and 完成.

Detection and capture are `kiosk.document` (find_page on a downscaled copy, SteadyDetector, capture)
on the `CameraLoop` worker thread; the flow keeps the pages (wiped with the session).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.i18n import N_, _
from screens import theme
from screens.preview import CameraLoop, CameraPreview
from screens.steps import StepScreen
from screens.widgets import BigButton, Text

LAY_DOWN = N_("请把材料平放在拍摄区域内")
HOLD_STILL = N_("请保持不动，正在拍摄……")
TAKEN = N_("已拍好，可以换下一页。")


@dataclass(frozen=True)
class _Seen:
    quad: Any  # the page outline, or None
    page: Any = None  # kiosk.document.DocumentPage when a picture was taken


class DocumentScreen(StepScreen):
    title = N_("拍摄材料")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="materials", **kwargs)
        self.preview = CameraPreview()
        self._loop: CameraLoop | None = None
        self._taken = False  # the page now in view has been taken already
        self._steady: Any = None  # kiosk.document.SteadyDetector of the running loop

    @property
    def material(self) -> Any:
        flow = self.flow
        return None if flow is None else flow.current_material

    def refresh(self) -> None:
        self.body.clear_widgets()
        material = self.material
        if material is None:
            return
        heading = _("请拍摄《{material}》").format(material=material.name)  # the catalog's name, Chinese
        self.heading = Text(heading, size=theme.FONT_HEADING, halign="center", bold=True)
        self.body.add_widget(self.heading)
        self.preview.clear()
        self.body.add_widget(self.preview)
        self.prompt = Text(_(LAY_DOWN), size=theme.FONT_HEADING, halign="center", color=theme.PRIMARY)
        self.body.add_widget(self.prompt)
        self.count = Text("", halign="center", color=theme.TEXT_MUTED)
        self.body.add_widget(self.count)
        row = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_HEIGHT), spacing=dp(20))
        retake = BigButton(_("重拍上一页"), self.retake, bg=theme.SURFACE, fg=theme.PRIMARY)
        retake.tid = "doc:retake"
        done = BigButton(_("拍好了"), self.done)
        done.tid = "doc:done"
        row.add_widget(retake)
        row.add_widget(done)
        self.body.add_widget(row)
        if self.flow.materials.can_commit():  # 信用可办: offered after the camera, never before it
            commit = BigButton(
                _("没有这份材料，签署告知承诺书"), self.commit, bg=theme.SURFACE, fg=theme.ACCENT
            )
            commit.tid = "doc:commit"
            self.body.add_widget(commit)
        self.body.add_widget(Widget())
        self._count_pages()

    def on_enter(self, *_args) -> None:
        self.start()

    def start(self) -> None:
        from kiosk.document import SteadyDetector, capture, find_page

        self.stop()
        self._taken = False
        self._steady = steady = SteadyDetector()
        camera = self.app.controller.services.document_camera

        def look(frame) -> _Seen:
            quad = find_page(frame)
            return _Seen(quad, capture(frame) if steady.update(quad) else None)

        self._loop = CameraLoop(
            camera.read_frame,
            look,
            self._show,
            lambda err: self._failed(getattr(err, "message", N_("高拍仪暂时无法使用，请联系工作人员。"))),
            keep=lambda seen: seen.page is not None,  # taken once per placement: never skip it
        )

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def _show(self, frame, seen: _Seen) -> None:
        if self._loop is None:
            return
        self.preview.show(frame)
        self.preview.set_guide(seen.quad is not None, seen.quad)
        if seen.page is None:
            if seen.quad is None:
                self._taken = False  # the page was taken away: ready for the next one
                self.prompt.text = _(LAY_DOWN)
            elif not self._taken:
                self.prompt.text = _(HOLD_STILL)
        elif not seen.page.ok:  # kiosk.document's guidance is an N_-marked Chinese msgid
            self.prompt.text = _(seen.page.quality.get("guidance") or LAY_DOWN)
        else:
            self.app.act(lambda: self.flow.add_page(seen.page.jpeg))
            self._taken = True
            self.prompt.text = _(TAKEN)
            self._count_pages()

    def _count_pages(self) -> None:
        pages = len(self.flow.pages()) if self.flow is not None else 0
        self.count.text = _("已拍 {pages} 页").format(pages=pages) if pages else _("还没有拍照")

    def retake(self) -> None:
        self.app.act(self.flow.delete_last_page)
        self._count_pages()
        self._taken = False
        self._steady.reset()  # the page still lying there is taken again once steady
        self.prompt.text = _(LAY_DOWN)

    def done(self) -> None:
        self.app.act(self.flow.finish_material)  # next material, or on to review; a refusal is shown

    def commit(self) -> None:
        self.app.act(self.flow.commit_instead)

    def _failed(self, message: str) -> None:
        self.stop()
        self.show_error(message, self.start)

    def on_pre_leave(self, *_args) -> None:
        self.stop()
        self.preview.clear()

    def forget(self) -> None:
        self.on_pre_leave()
        super().forget()
