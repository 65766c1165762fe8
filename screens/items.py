"""The catalog list and an item's guide (readable without logging in)."""

from __future__ import annotations

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView

from kiosk.catalog import MODE_NAMES, Item
from kiosk.flow import STEPS
from screens import theme
from screens.base import KioskScreen
from screens.widgets import BigButton, Divider, Panel, Text

FILTERS = {
    "all": ("全部事项", lambda item: True),
    "query": ("查询打印", lambda item: "query" in item.modes),
    "kuasheng": ("跨省通办专区", lambda item: item.kuasheng),
}


def scroll_column() -> tuple[ScrollView, BoxLayout]:
    column = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(20))
    column.bind(minimum_height=column.setter("height"))
    scroll = ScrollView(do_scroll_x=False, bar_width=dp(10))
    scroll.add_widget(column)
    return scroll, column


class CatalogScreen(KioskScreen):
    filter_name = "all"

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="catalog", **kwargs)

    def refresh(self) -> None:
        label, keep = FILTERS[self.filter_name]
        self.title = label
        self.body.clear_widgets()
        self.body.add_widget(Text("请点击要办理的事项", size=theme.FONT_BODY, color=theme.TEXT_MUTED))
        scroll, column = scroll_column()
        for item in self.app.controller.services.catalog.items:
            if not keep(item):
                continue
            modes = " · ".join(MODE_NAMES[m] for m in item.modes)
            button = BigButton(
                f"[b]{item.name}[/b]\n[size={int(dp(28 * theme.font_scale))}]"
                f"{item.department}  |  {modes}[/size]",
                lambda i=item: self.app.open_item(i),
                bg=theme.SURFACE,
                fg=theme.TEXT,
                size=theme.FONT_HEADING - 4,
                height=170,
                markup=True,
            )
            button.tid = f"item:{item.code}"
            column.add_widget(button)
        self.body.add_widget(scroll)


def self_service_mode(item: Item) -> str | None:
    """The first of the item's modes this terminal can run as a self-service flow."""
    return next((mode for mode in item.modes if mode in STEPS), None)


class GuideScreen(KioskScreen):
    title = "办事指南"

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="guide", **kwargs)

    def refresh(self) -> None:
        item = self.app.selected_item
        self.body.clear_widgets()
        if item is None:
            return
        scroll, column = scroll_column()
        column.add_widget(Text(item.name, size=theme.FONT_TITLE - 8, bold=True))
        column.add_widget(Text(f"实施主体：{item.department}", color=theme.TEXT_MUTED))
        for heading, text in self._sections(item):
            panel = Panel(orientation="vertical", radius=16, size_hint_y=None, padding=dp(24), spacing=dp(8))
            panel.add_widget(Text(heading, size=theme.FONT_BODY, bold=True, color=theme.PRIMARY))
            panel.add_widget(Text(text, size=theme.FONT_BODY))
            panel.bind(minimum_height=panel.setter("height"))
            column.add_widget(panel)
        self.body.add_widget(scroll)
        self.body.add_widget(Divider())
        mode = self_service_mode(item)
        if mode is None:
            self.body.add_widget(
                Text(
                    "本终端暂未开通此事项的自助办理，请到人工窗口办理。", color=theme.ACCENT, halign="center"
                )
            )
        else:
            start = BigButton(f"开始办理（{MODE_NAMES[mode]}）", lambda: self.app.start_flow(item, mode))
            start.tid = "start"
            self.body.add_widget(start)

    @staticmethod
    def _sections(item: Item) -> list[tuple[str, str]]:
        materials = (
            "\n".join(
                f"{i}. {m.name}（{'必需' if m.required else '可选'}，{m.copies}份）"
                for i, m in enumerate(item.materials, 1)
            )
            or "无需提交材料"
        )
        limits = []
        if item.legal_days is not None:
            limits.append(f"法定时限 {item.legal_days} 个工作日")
        if item.promised_days is not None:
            limits.append(f"承诺时限 {item.promised_days} 个工作日" if item.promised_days else "即时办结")
        fee = f"收费（依据：{item.fee.basis}）" if item.fee.charged else "不收费"
        return [
            ("办理条件", item.conditions),
            ("申请材料", materials),
            ("办理流程", " → ".join(item.process)),
            ("办理时限", "；".join(limits) or "以部门告知为准"),
            ("收费标准", fee),
            ("办理方式", "、".join(MODE_NAMES[m] for m in item.modes)),
        ]
