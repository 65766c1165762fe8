"""查询: the query menu, scanning the receipt's QR code, and the case's progress in plain words.

Scanning runs `kiosk.qr.scan_frame` on camera frames in a `CameraLoop`; the first valid receipt code
is looked up with `kiosk.query.case_progress` on a worker thread. A code that is not ours (a login
code, a web address, anything malformed) is refused with a sentence saying what to scan instead.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from kivy.metrics import dp
from kivy.uix.widget import Widget

from kiosk.i18n import N_, _
from screens import theme
from screens.base import KioskScreen
from screens.items import scroll_column
from screens.journey import card
from screens.preview import CameraLoop, CameraPreview, CodeListener
from screens.widgets import BigButton, NumPad, Panel, Text

log = logging.getLogger(__name__)
WRONG_CODE = N_("这不是办件回执上的二维码，请扫描回执上的二维码。")


class QueryMenuScreen(KioskScreen):
    title = N_("查询")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="query", **kwargs)

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.body.add_widget(Widget(size_hint_y=None, height=dp(40)))
        self.body.add_widget(Text(_("您想查询什么？"), size=theme.FONT_TITLE, halign="center", bold=True))
        scan = BigButton(_("扫描回执二维码\n查询办理进度"), lambda: self.app.show("scan"), height=260)
        scan.tid = "query:scan"
        self.body.add_widget(scan)
        typed = BigButton(
            _("输入办件编号和查询码"), lambda: self.app.show("query_code"), bg=theme.PRIMARY_DARK, height=200
        )
        typed.tid = "query:code"
        self.body.add_widget(typed)
        certificates = BigButton(
            _("打印证明\n（社保参保证明等）"),
            lambda: self.app.open_catalog("query"),
            bg=theme.hex_rgba("#0E7490"),
            height=260,
        )
        certificates.tid = "query:certificates"
        self.body.add_widget(certificates)
        self.body.add_widget(Widget())


class ScanScreen(KioskScreen):
    title = N_("扫码查询")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="scan", **kwargs)
        self.preview = CameraPreview(aspect=720 / 1280)
        self._loop: CameraLoop | None = None
        self._listener: CodeListener | None = None
        self.shown_at: float | None = None  # when the code was seen (the scenario measures scan → timeline)

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.body.add_widget(
            Text(_("请把回执上的二维码对准摄像头"), size=theme.FONT_HEADING, halign="center", bold=True)
        )
        self.preview.clear()
        self.body.add_widget(self.preview)
        self.prompt = Text(_("距离摄像头约 20 厘米，保持不动"), halign="center", color=theme.TEXT_MUTED)
        self.body.add_widget(self.prompt)
        self.body.add_widget(Widget())

    def on_enter(self, *_args) -> None:
        self.start()

    def start(self) -> None:
        from kiosk.qr import scan_frame

        self.stop()
        self.shown_at = None
        services = self.app.controller.services
        if services.scanner is not None:  # a code scanner too: whichever sees the code first
            self._listener = CodeListener(services.scanner, self._found)
        camera = services.camera
        self._loop = CameraLoop(
            camera.read_frame,
            lambda frame: next(iter(scan_frame(frame)), None),
            self._show,
            lambda err: self._failed(getattr(err, "message", N_("摄像头暂时无法使用，请联系工作人员。"))),
            final=lambda scan: scan is not None,
        )

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def _show(self, frame, scan) -> None:
        if self._loop is None:
            return
        self.preview.show(frame)
        if scan is not None:
            self._found(scan)

    def _found(self, scan: Any) -> None:
        self.stop()
        self.shown_at = time.monotonic()
        if scan.refusal:
            self._failed(scan.refusal)
        elif scan.kind != "receipt":
            self._failed(WRONG_CODE)
        else:
            self.prompt.text = _("正在查询，请稍候……")
            self.app.lookup_case(scan.case_no, scan.query_code, self._failed)

    def _failed(self, message: str) -> None:
        self.stop()
        self.show_error(message, self.start)

    def on_leave(self, *_args) -> None:
        self.stop()
        self.preview.clear()

    def forget(self) -> None:
        self.on_leave()


class QueryCodeScreen(KioskScreen):
    """The case number (KS + 16 digits) and the 6-digit query code from the receipt, on a keypad."""

    title = N_("输入查询信息")
    FIELDS = (
        ("case_no", N_("办件编号（回执上 KS 后面的 16 位数字）"), 16),
        ("query_code", N_("查询码（6 位数字）"), 6),
    )

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="query_code", **kwargs)
        self.values = {"case_no": "", "query_code": ""}
        self.focused = "case_no"

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.values, self.focused = {"case_no": "", "query_code": ""}, "case_no"
        self.boxes: dict[str, BigButton] = {}
        for field, label, _length in self.FIELDS:
            self.body.add_widget(Text(_(label), color=theme.TEXT_MUTED))
            box = BigButton("", lambda f=field: self._focus(f), bg=theme.SURFACE, fg=theme.TEXT, height=110)
            box.tid = f"field:{field}"
            self.boxes[field] = box
            self.body.add_widget(box)
        self.body.add_widget(NumPad(self._key))
        search = BigButton(_("查询"), self._search)
        search.tid = "next"
        self.body.add_widget(search)
        self.body.add_widget(Widget())
        self._show_values()

    def _focus(self, field: str) -> None:
        self.focused = field
        self._show_values()

    def _key(self, key: str) -> None:
        limit = dict((f, n) for f, _label, n in self.FIELDS)[self.focused]
        value = self.values[self.focused]
        if key == "del":
            value = value[:-1]
        elif key == "clear":
            value = ""
        elif len(value) < limit:
            value += key
        self.values[self.focused] = value
        if len(value) == limit and self.focused == "case_no":
            self.focused = "query_code"  # the next thing on the receipt
        self._show_values()

    def _show_values(self) -> None:
        for field, box in self.boxes.items():
            shown = ("KS " if field == "case_no" else "") + self.values[field]
            box.text = shown + ("｜" if field == self.focused else "")  # where the next digit goes

    def _search(self) -> None:
        self.clear_error()
        self.app.lookup_case("KS" + self.values["case_no"], self.values["query_code"], self.show_error)

    def forget(self) -> None:
        self.values = {"case_no": "", "query_code": ""}
        self.body.clear_widgets()


class ProgressScreen(KioskScreen):
    title = N_("办理进度")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="progress", **kwargs)
        self.progress: Any = None  # kiosk.query.CaseProgress, set before this screen is shown

    def refresh(self) -> None:
        self.body.clear_widgets()
        progress = self.progress
        if progress is None:
            return
        self.body.add_widget(Text(progress.item_name, size=theme.FONT_HEADING, bold=True))  # platform's
        self.body.add_widget(
            Text(_("办件编号：{case_no}").format(case_no=progress.case_no), color=theme.TEXT_MUTED)
        )
        now = Panel(orientation="vertical", bg=theme.SURFACE, radius=16, size_hint_y=None, padding=dp(24))
        state = _("当前状态：{state}").format(state=_(progress.label))  # kiosk.query's N_-marked words
        now.add_widget(Text(state, size=theme.FONT_HEADING, color=theme.PRIMARY))
        now.add_widget(Text(_(progress.explanation)))
        now.bind(minimum_height=now.setter("height"))
        self.body.add_widget(now)
        if progress.departments:  # 多地联办: one line per department, in the platform's own words
            lines = [(_("各部门办理情况"), theme.TEXT)] + [
                (f"{name}：{state}", theme.SUCCESS if state == "已完成" else theme.TEXT)
                for name, state in progress.departments
            ]
            self.body.add_widget(card(lines))
        scroll, column = scroll_column()
        for index, step in enumerate(progress.steps, 1):
            line = f"{index}. {step.at}  {_(step.label)}" + (f"\n    {step.note}" if step.note else "")
            column.add_widget(Text(line))
        self.body.add_widget(scroll)
        done = BigButton(_("查询完毕，返回首页"), self.app.go_home)
        done.tid = "finish"
        self.body.add_widget(done)

    def forget(self) -> None:
        self.progress = None
        self.body.clear_widgets()
