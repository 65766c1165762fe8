"""Home: the four main entries, large enough for anyone."""

from __future__ import annotations

from kivy.metrics import dp
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from screens import theme
from screens.base import KioskScreen
from screens.widgets import BigButton, Text, set_font_scale


class HomeScreen(KioskScreen):
    title = "政务服务自助终端"

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="home", **kwargs)

    def refresh(self) -> None:
        set_font_scale(1.0)
        self.app.controller.elderly = False
        self.body.clear_widgets()
        hall = self.app.controller.services.config.terminal.hall_name
        self.body.add_widget(Widget(size_hint_y=None, height=dp(40)))
        self.body.add_widget(
            Text("欢迎使用", size=theme.FONT_HEADING, halign="center", color=theme.TEXT_MUTED)
        )
        self.body.add_widget(Text(hall, size=theme.FONT_TITLE, halign="center", bold=True))
        self.body.add_widget(
            Text("请选择您要办理的业务", size=theme.FONT_BODY, halign="center", color=theme.TEXT_MUTED)
        )
        grid = GridLayout(cols=2, spacing=dp(30), size_hint_y=None, height=dp(2 * 380 + 30))
        tiles = [
            ("办事", "办理各类政务服务事项", "all", theme.PRIMARY),
            ("查询", "查询办理进度、打印证明", "query", theme.hex_rgba("#0E7490")),
            ("跨省通办专区", "外省事项在本地办理", "kuasheng", theme.ACCENT),
            ("长者模式", "大字体 · 步骤更少", "elderly", theme.hex_rgba("#92400E")),  # white on it 7.1:1
        ]
        for title, hint, key, colour in tiles:
            tile = BigButton(
                f"[b]{title}[/b]\n[size={int(dp(30))}]{hint}[/size]",
                lambda k=key: self._open(k),
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
                "如需帮助，请联系大厅工作人员", size=theme.FONT_SMALL, halign="center", color=theme.TEXT_MUTED
            )
        )

    def _open(self, key: str) -> None:
        if key == "elderly":
            set_font_scale(theme.ELDERLY_SCALE)
            self.app.controller.elderly = True
            key = "all"
        if key == "query":
            self.app.show("query")
            return
        self.app.open_catalog(key)
