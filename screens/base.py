"""The base of every screen: a titled body with one place for a citizen-facing error."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from kiosk.i18n import N_, _
from screens import theme
from screens.widgets import BigButton, Panel, Text

if TYPE_CHECKING:
    from screens.app import KioskApp


class KioskScreen(Screen):
    title = N_("政务服务自助终端")  # translated where the top bar shows it

    def __init__(self, app: KioskApp, **kwargs) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.body = BoxLayout(orientation="vertical", padding=dp(theme.PADDING), spacing=dp(24))
        self.add_widget(self.body)
        self.error_box: Panel | None = None

    # What the body was last built for (see view_key); None: build on every entry.
    built_for: Hashable | None = None

    def on_pre_enter(self, *_args) -> None:
        self.clear_error()
        key = self.view_key()
        if key is None or key != self.built_for:
            self.refresh()

    def view_key(self) -> Hashable | None:
        """Everything the body shows, for a screen that holds nothing personal (home, catalog,
        guide): entering it again with the same key keeps the body built last time, since building
        a screen full of CJK labels costs more than drawing it. Such a screen's refresh() ends with
        `self.built_for = self.view_key()`. None (the default): rebuilt on every entry."""
        return None

    def refresh(self) -> None:
        """Rebuild the body from the current flow state (screens override)."""

    def show_error(self, message: str, retry: Callable[[], None] | None = None) -> None:
        """A short sentence and a way forward: retry where it makes sense, always 返回首页.

        The message is translated here as well: a device's or the platform's fixed Chinese sentence
        (devices/ cannot import kiosk) reaches the screen as its msgid; one already translated is
        not a msgid and passes unchanged."""
        self.clear_error()
        message = _(message)
        box = Panel(
            orientation="vertical",
            bg=theme.ERROR_BG,
            radius=16,
            size_hint_y=None,
            padding=dp(24),
            spacing=dp(16),
        )
        label = Text(message, size=theme.FONT_BODY, color=theme.ACCENT)
        row = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_HEIGHT), spacing=dp(20))
        if retry is not None:
            retry_button = BigButton(_("重试"), lambda: (self.clear_error(), retry()))
            retry_button.name = retry_button.tid = "error:retry"
            row.add_widget(retry_button)
        home = BigButton(_("返回首页"), self.app.go_home, bg=theme.SURFACE, fg=theme.PRIMARY)
        home.tid = "error:home"
        row.add_widget(home)
        box.add_widget(label)
        box.add_widget(row)
        box.bind(minimum_height=box.setter("height"))
        self.error_box = box
        self.error_message = message
        self.body.add_widget(box)

    def clear_error(self) -> None:
        if self.error_box is not None:
            self.body.remove_widget(self.error_box)
            self.error_box = None
        self.error_message = None
