"""暂停服务: shown instead of home while the kiosk cannot take cases (operator's command, storage
trouble). It names the way forward (the staffed window) and goes back home by itself once the
cause is gone; the app re-checks every few seconds."""

from __future__ import annotations

from kivy.metrics import dp
from kivy.uix.widget import Widget

from kiosk.i18n import N_, _
from screens import theme
from screens.base import KioskScreen
from screens.widgets import Text


class ClosedScreen(KioskScreen):
    title = N_("暂停服务")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="closed", **kwargs)
        self.message = ""

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.body.add_widget(Widget(size_hint_y=None, height=dp(200)))
        self.body.add_widget(Text(_("暂停服务"), size=theme.FONT_TITLE * 1.4, halign="center", bold=True))
        self.body.add_widget(Widget(size_hint_y=None, height=dp(40)))
        self.body.add_widget(
            Text(_(self.message), size=theme.FONT_HEADING, halign="center", color=theme.ACCENT)
        )
        self.body.add_widget(Widget(size_hint_y=None, height=dp(40)))
        hall = self.app.ui_settings.hall_name
        hint = _("{hall}人工窗口可以为您办理。给您带来不便，敬请谅解。").format(hall=hall)
        self.body.add_widget(Text(hint, halign="center", color=theme.TEXT_MUTED))
        self.body.add_widget(Widget())
