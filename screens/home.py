"""Home: the four main entries, large enough for anyone, and the switch to English (or back)."""

from __future__ import annotations

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from kiosk.i18n import DEFAULT_LANGUAGE, N_, _, current_language
from screens import theme
from screens.base import KioskScreen
from screens.widgets import BigButton, Text, set_font_scale, small_px


class HomeScreen(KioskScreen):
    title = N_("政务服务自助终端")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="home", **kwargs)

    def on_pre_enter(self, *args) -> None:
        self._standard_mode()  # before the key: the body is built at the standard type size
        super().on_pre_enter(*args)

    def view_key(self) -> tuple[str, str]:
        return current_language(), self.app.ui_settings.hall_name

    def _standard_mode(self) -> None:
        """Home is where 长者模式 ends: whoever comes next starts with the standard type."""
        set_font_scale(1.0)
        if self.app.terminal_ready:  # else no session has started, nor 长者模式
            self.app.controller.elderly = False

    def refresh(self) -> None:
        self._standard_mode()
        self.body.clear_widgets()
        hall = self.app.ui_settings.hall_name
        self.body.add_widget(self._language_switch())
        self.body.add_widget(
            Text(_("欢迎使用"), size=theme.FONT_HEADING, halign="center", color=theme.TEXT_MUTED)
        )
        self.body.add_widget(Text(hall, size=theme.FONT_TITLE, halign="center", bold=True))
        self.body.add_widget(
            Text(_("请选择您要办理的业务"), size=theme.FONT_BODY, halign="center", color=theme.TEXT_MUTED)
        )
        grid = GridLayout(cols=2, spacing=dp(30), size_hint_y=None, height=dp(2 * 380 + 30))
        tiles = [
            (N_("办事"), N_("办理各类政务服务事项"), "all", theme.PRIMARY),
            (N_("查询"), N_("查询办理进度、打印证明"), "query", theme.hex_rgba("#0E7490")),
            (N_("跨省通办专区"), N_("外省事项在本地办理"), "kuasheng", theme.ACCENT),
            (N_("长者模式"), N_("大字体 · 步骤更少"), "elderly", theme.hex_rgba("#92400E")),  # white 7.1:1
        ]
        for title, hint, key, colour in tiles:
            tile = BigButton(
                f"[b]{_(title)}[/b]\n[size={small_px()}]{_(hint)}[/size]",
                lambda k=key: self.app.when_ready(lambda: self._open(k)),
                bg=colour,
                size=56,
                height=380,
                markup=True,
            )
            tile.tid = f"tile:{key}"
            grid.add_widget(tile)
        self.body.add_widget(grid)
        self.body.add_widget(Widget())
        self.body.add_widget(
            Text(
                _("如需帮助，请联系大厅工作人员"),
                size=theme.FONT_SMALL,
                halign="center",
                color=theme.TEXT_MUTED,
            )
        )
        self.built_for = self.view_key()

    def _language_switch(self) -> BoxLayout:
        """Top right: the other language, named in itself (a tourist looks for "English", not 英文)."""
        chinese = current_language() == DEFAULT_LANGUAGE
        lang, label = ("en", "English") if chinese else ("zh", "中文")
        button = BigButton(
            label,
            lambda: self.app.set_language(lang),
            bg=theme.SURFACE,
            fg=theme.PRIMARY,
            size=theme.FONT_BODY,
            height=90,
            size_hint_x=None,
            width=dp(220),
        )
        button.tid = f"lang:{lang}"
        row = BoxLayout(size_hint_y=None, height=dp(90))
        row.add_widget(Widget())
        row.add_widget(button)
        return row

    def _open(self, key: str) -> None:
        if key == "elderly":
            set_font_scale(theme.ELDERLY_SCALE)
            self.app.controller.elderly = True
            key = "all"
        if key == "query":
            self.app.show("query")
            return
        self.app.open_catalog(key)
