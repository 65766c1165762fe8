"""The bar above every screen: the screen's title, the inactivity countdown, 静音 (长者模式 only),
呼叫工作人员 and 首页 (hidden at rest, on home and 暂停服务)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kivy.metrics import dp

from kiosk import i18n
from kiosk.i18n import _
from screens import theme
from screens.widgets import BigButton, LineText, Panel, Text

if TYPE_CHECKING:
    from screens.app import KioskApp

HELP_WIDTH, HELP_WIDTH_ELDERLY = 220, 280  # dp of 呼叫工作人员
HOME_WIDTH = 150  # dp of 首页
AT_REST = ("home", "closed")  # the screens without a session: nothing to go home from


def _button(
    tid: str, action: Callable[[], object], size: float, width: float, **colours: object
) -> BigButton:
    button = BigButton("", action, size=size, height=100, size_hint_x=None, width=dp(width), **colours)
    button.tid = tid
    return button


class TopBar(Panel):
    def __init__(self, app: KioskApp) -> None:
        super().__init__(
            orientation="horizontal",
            bg=theme.PRIMARY,
            size_hint_y=None,
            height=dp(theme.TOP_BAR_HEIGHT),
            padding=(dp(30), dp(16)),
            spacing=dp(20),
        )
        self.title = LineText("", size=theme.FONT_HEADING, color=theme.WHITE, bold=True)
        self.countdown = Text(
            "", size=theme.FONT_SMALL, color=theme.WHITE, halign="right", size_hint_x=None, width=dp(130)
        )
        on_white = {"bg": theme.WHITE, "fg": theme.PRIMARY}
        self.home = _button("home_button", app.go_home, theme.FONT_BODY, HOME_WIDTH, **on_white)
        self.help = _button(
            "help", lambda: app.when_ready(app.call_staff), theme.FONT_SMALL, HELP_WIDTH, bg=theme.ACCENT
        )
        self.mute = _button("mute", app.toggle_mute, theme.FONT_SMALL, 0, **on_white)
        self.mute.opacity, self.mute.disabled = 0, True  # shown in 长者模式 only, where prompts are spoken
        self.translate(muted=False)
        for widget in (self.title, self.countdown, self.mute, self.help, self.home):
            widget.pos_hint = {"center_y": 0.5}
            self.add_widget(widget)

    def translate(self, *, muted: bool) -> None:
        """The bar is built once: its words follow the language on every change of screen."""
        self.home.text = _("首页")
        self.help.text = _("呼叫工作人员")
        self.mute.text = _("取消静音") if muted else _("静音")

    def update(self, title: str, screen_name: str, *, elderly: bool, muted: bool) -> None:
        """A new screen (or language, or mode): its title, and the buttons that fit it."""
        self.title.text = title
        self.translate(muted=muted)
        # "Unmute" at 长者模式 size needs more room than 取消静音 on two lines.
        mute_width = dp(110 if i18n.current_language() == i18n.DEFAULT_LANGUAGE else 170)
        mute = self.mute
        mute.width, mute.opacity, mute.disabled = (mute_width, 1, False) if elderly else (0, 0, True)
        # Six glyphs at 长者模式 size need one line of their own: 220 dp would wrap them.
        self.help.width = dp(HELP_WIDTH_ELDERLY if elderly else HELP_WIDTH)
        at_rest = screen_name in AT_REST
        self.home.opacity = 0 if at_rest else 1
        self.home.disabled = at_rest
        self.home.width = 0 if at_rest else dp(HOME_WIDTH)  # its room goes to the title (longer in English)
        if at_rest:
            self.countdown.text = ""
