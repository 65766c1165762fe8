"""Sentences shown over the current screen: a notice (正在准备 at start, 已通知工作人员) and the
inactivity warning with its countdown and 继续办理."""

from __future__ import annotations

from collections.abc import Callable

from kivy.metrics import dp
from kivy.uix.modalview import ModalView
from kivy.uix.widget import Widget

from kiosk.i18n import _
from screens import theme
from screens.widgets import BigButton, Panel, Text


def _modal(height: float, *, closable: bool) -> tuple[ModalView, Panel]:
    view = ModalView(size_hint=(0.8, None), height=dp(height), auto_dismiss=closable)
    box = Panel(orientation="vertical", bg=theme.SURFACE, radius=16, padding=dp(40), spacing=dp(30))
    view.add_widget(box)
    return view, box


def notice(message: str, *, closable: bool = False) -> ModalView:
    """A modal sentence over the screen; `closable`: with a 好的 button (and a tap outside)."""
    view, box = _modal(420 if closable else 260, closable=closable)
    text = Text(message, size=theme.FONT_HEADING, halign="center")
    if closable:
        ok = BigButton(_("好的"), view.dismiss)
        ok.tid = "help:ok"
        widgets: tuple[Widget, ...] = (text, ok)
    else:  # the sentence alone, in the middle
        widgets = (Widget(), text, Widget())
    for widget in widgets:
        box.add_widget(widget)
    view.open()
    return view


class IdleWarning:
    """您还在吗？ with the seconds left, until the citizen taps 继续办理 (`stay`) or it is dismissed."""

    def __init__(self, stay: Callable[[], None]) -> None:
        self._stay = stay
        self._view: ModalView | None = None
        self._text: Text | None = None

    def show(self, left: int) -> None:
        if self._view is None:
            self._view, box = _modal(420, closable=False)
            self._text = Text("", size=theme.FONT_HEADING, halign="center")
            box.add_widget(self._text)
            stay = BigButton(_("继续办理"), self._stay)
            stay.tid = "stay"
            box.add_widget(stay)
            self._view.open()
        assert self._text is not None
        self._text.text = _("您还在吗？\n{seconds} 秒后将清除您的信息并返回首页。").format(seconds=left)

    def dismiss(self) -> None:
        if self._view is not None:
            self._view.dismiss()
            self._view = self._text = None
