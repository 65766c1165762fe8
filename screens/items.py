"""The catalog (filter tabs, letter-keypad search) and an item's guide (readable without logging in)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView

from kiosk.catalog import MODE_NAMES, Catalog, Item, unavailable_reason
from kiosk.catalog_search import CatalogIndex, build_index, departments, themes
from kiosk.flow import STEPS
from kiosk.i18n import N_, _, current_language
from screens import theme
from screens.base import KioskScreen
from screens.widgets import BigButton, Divider, Panel, Text, small_px

log = logging.getLogger(__name__)

# filter_name → (title, search filters). "all", "query" and "kuasheng" are opened from home and the
# query menu; "theme" and "department" add a second row to pick one theme or department.
FILTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "all": (N_("全部事项"), {}),
    "query": (N_("查询打印"), {"mode": "query"}),
    "kuasheng": (N_("跨省通办专区"), {"kuasheng": True}),
    "theme": (N_("按主题办事"), {}),
    "department": (N_("按部门办事"), {}),
    "person": (N_("个人办事"), {"audience": "person"}),
    "legal_person": (N_("法人办事"), {"audience": "legal_person"}),
}
TABS = [
    ("all", N_("全部")),
    ("kuasheng", N_("跨省通办专区")),
    ("theme", N_("按主题")),
    ("department", N_("按部门")),
    ("person", N_("个人办事")),
    ("legal_person", N_("法人办事")),
]
ELDERLY_TABS = {"all", "kuasheng", "person"}  # 长者模式: fewer choices, each on one line
LETTERS = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
MUTED_BG = theme.hex_rgba("#E3E9F2")
GREY_BG = theme.hex_rgba("#E5E7EB")
GREY_TEXT = theme.hex_rgba("#374151")  # 8.3:1 on GREY_BG: greyed out, yet readable in 长者模式 (≥ 7:1)
REASON_COLOUR = "7F1D1D"  # dark red, ≥ 7:1 on GREY_BG
HINT_COLOUR = "4B5563"  # 7.6:1 on white
ITEM_HEIGHT = 150
KEY_HEIGHT = 84
TAB_HEIGHT = 110  # 跨省通办专区 may wrap to two lines in 长者模式
SEARCH_HEIGHT = 120

DeviceStates = Callable[[], Mapping[str, str]]


def ems(text: str) -> float:
    """The width of `text` in ems: a CJK glyph is about one em wide, a Latin letter about half."""
    return sum(1.0 if ord(c) >= 0x2E80 else 0.55 for c in text)


def tab_ems(text: str) -> float:
    """The width a label needs on a two-line button: half of it, but never less than its longest word
    (English wraps between words; a word cut in two is unreadable). Chinese has no spaces: all of it."""
    return max(ems(text) / 2, *(ems(word) for word in text.split())) if " " in text else ems(text)


def scroll_column(spacing: float = 20) -> tuple[ScrollView, BoxLayout]:
    column = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(spacing))
    column.bind(minimum_height=column.setter("height"))
    scroll = ScrollView(do_scroll_x=False, bar_width=dp(10))
    scroll.add_widget(column)
    return scroll, column


class LetterPad(GridLayout):
    """A–Z, 删除 and 清空 (the kiosk has no OS input method, so it draws its own keyboard).

    `on_key` receives a letter, "del" or "clear"; every key has the tid `search:key:<key>`.
    """

    def __init__(self, on_key: Callable[[str], None], **kwargs) -> None:
        super().__init__(cols=7, spacing=dp(10), size_hint_y=None, **kwargs)
        labels = {"del": _("删除"), "clear": _("清空")}
        keys = [*LETTERS, "del", "clear"]
        for key in keys:
            button = BigButton(
                labels.get(key, key),
                lambda k=key: on_key(k),
                bg=theme.SURFACE if len(key) == 1 else MUTED_BG,
                fg=theme.TEXT,
                size=theme.FONT_BODY,
                height=KEY_HEIGHT,
            )
            button.key = key
            button.tid = f"search:key:{key}"
            self.add_widget(button)
        rows = -(-len(keys) // 7)
        self.height = rows * dp(KEY_HEIGHT) + (rows - 1) * dp(10)


class CatalogScreen(KioskScreen):
    filter_name = "all"
    # Live device states by role ("idcard" → "online"…); None reads the snapshots the StateDB keeps.
    device_states: DeviceStates | None = None

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="catalog", **kwargs)
        self.query = ""
        self.choice: str | None = None  # the theme or department picked under 按主题 / 按部门
        self.keypad_open = False
        self._shown_filter: str | None = None
        self._index: tuple[Catalog, CatalogIndex] | None = None
        self.results: list[Item] = []  # what the list shows now, for tests and the scenario runner
        self._buttons: dict[str, tuple[str | None, BigButton]] = {}  # see _reused_item_button
        self._buttons_look: tuple[Any, ...] | None = None

    # -- data -------------------------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        return self.app.controller.services.catalog

    def index(self) -> CatalogIndex:
        """Built once per catalog object (pinyin is computed then), so typing stays instant."""
        catalog = self.catalog
        if self._index is None or self._index[0] is not catalog:
            self._index = (catalog, build_index(catalog.items))
        return self._index[1]

    def _states(self) -> Mapping[str, str]:
        if self.device_states is not None:
            return self.device_states()
        db = self.app.controller.services.state
        if db is None:
            return {}
        try:
            return {row["name"]: row["state"] for row in db.statuses()}
        except Exception:  # a listing must never fail on the status store; the flow re-checks devices
            log.warning("device states unavailable for the catalog", exc_info=True)
            return {}

    def unavailable(self, item: Item, states: Mapping[str, str] | None = None) -> str | None:
        installed = self.app.controller.services.config.devices.keys()
        return unavailable_reason(item, self._states() if states is None else states, installed)

    def forget(self) -> None:
        self.query, self.choice, self.keypad_open, self._shown_filter = "", None, False, None

    # -- layout -----------------------------------------------------------------------------------
    def _settle_filter(self) -> None:
        if self.filter_name not in FILTERS:
            self.filter_name = "all"
        if self._shown_filter != self.filter_name:  # a new visit or another tab: start afresh
            self.query, self.choice = "", None
            self._shown_filter = self.filter_name

    def view_key(self) -> Hashable:
        self._settle_filter()
        states = tuple(sorted(self._states().items()))  # availability of the items listed
        return (
            self.filter_name, self.query, self.choice, self.keypad_open,
            current_language(), theme.font_scale, id(self.catalog), states,
        )  # fmt: skip

    def refresh(self) -> None:
        self._settle_filter()
        self.title = FILTERS[self.filter_name][0]
        top_bar = getattr(self.app, "top_bar", None)
        if top_bar is not None and self.app.manager.current == "catalog":  # a tab changed in place
            top_bar.title.text = _(self.title)
        self.body.clear_widgets()
        self.body.add_widget(self._tabs())
        if self.filter_name in ("theme", "department"):
            self.body.add_widget(self._choices())
        self.body.add_widget(self._search_bar())
        if self.keypad_open:
            self.body.add_widget(LetterPad(self._key))
        scroll, self.column = scroll_column(16)
        self.body.add_widget(scroll)
        self._show_results()

    def _tabs(self) -> BoxLayout:
        row = BoxLayout(size_hint_y=None, height=dp(TAB_HEIGHT), spacing=dp(10))
        elderly = theme.font_scale > 1
        for key, msgid in TABS:
            if elderly and key not in ELDERLY_TABS:
                continue
            label = _(msgid)
            selected = key == self.filter_name
            tab = BigButton(
                label,
                lambda k=key: self.set_filter(k),
                bg=theme.PRIMARY if selected else theme.SURFACE,
                fg=theme.WHITE if selected else theme.PRIMARY,
                size=theme.FONT_SMALL,
                height=TAB_HEIGHT,
                size_hint_x=tab_ems(label) + 1.5,  # widths follow the labels, so 跨省通办专区 fits
            )
            tab.tid = f"filter:{key}"
            row.add_widget(tab)
        return row

    def _choices(self) -> ScrollView:
        """One button per theme or department, in a row that scrolls sideways."""
        names = themes(self.catalog.items) if self.filter_name == "theme" else departments(self.catalog.items)
        prefix = "theme" if self.filter_name == "theme" else "dept"
        row = BoxLayout(size_hint=(None, None), height=dp(84), spacing=dp(10))
        row.bind(minimum_width=row.setter("width"))
        for name in [None, *names]:
            selected = name == self.choice
            label = name or _("全部")  # theme and department names are the catalog's, in Chinese
            chip = BigButton(
                label,
                lambda n=name: self.set_choice(n),
                bg=theme.PRIMARY if selected else MUTED_BG,
                fg=theme.WHITE if selected else theme.TEXT,
                size=theme.FONT_SMALL,
                height=84,
                size_hint_x=None,
                width=dp(60) + ems(label) * small_px() * 1.05,
            )
            chip.tid = f"{prefix}:{name or 'all'}"
            row.add_widget(chip)
        scroll = ScrollView(do_scroll_y=False, size_hint_y=None, height=dp(84), bar_width=dp(6))
        scroll.add_widget(row)
        return scroll

    def _search_bar(self) -> BoxLayout:
        row = BoxLayout(size_hint_y=None, height=dp(SEARCH_HEIGHT), spacing=dp(16))
        self.search_box = BigButton(
            "",
            self.toggle_keypad,
            bg=theme.SURFACE,
            fg=theme.TEXT,
            size=theme.FONT_BODY,
            height=SEARCH_HEIGHT,
            markup=True,
        )
        self.search_box.halign = "left"
        self.search_box.tid = "search:box"
        self.count = Text("", size=theme.FONT_SMALL, halign="right", size_hint_x=0.22)
        self.count.pos_hint = {"center_y": 0.5}
        row.add_widget(self.search_box)
        row.add_widget(self.count)
        return row

    def _show_results(self) -> None:
        index = self.index()
        filters = dict(FILTERS[self.filter_name][1])
        if self.choice is not None:
            filters["theme" if self.filter_name == "theme" else "department"] = self.choice
        hits = index.search(self.query, **filters)
        by_code = {item.code: item for item in self.catalog.items}
        states = self._states()  # read once per rebuild, not once per item
        rows = [(by_code[h.entry.code], self.unavailable(by_code[h.entry.code], states)) for h in hits]
        if not self.query:  # browsing: what can be done here comes first; a search keeps its ranking
            rows.sort(key=lambda row: row[1] is not None)
        self.results = [item for item, _ in rows]
        self._update_search_box()
        self.count.text = _("共 {count} 项").format(count=len(rows))
        self.column.clear_widgets()
        if not rows:
            self.column.add_widget(
                Text(
                    _("没有找到相关事项，请换个关键字或咨询大厅工作人员。") if self.query else _("暂无事项"),
                    color=theme.TEXT_MUTED,
                    halign="center",
                )
            )
        for item, reason in rows:
            self.column.add_widget(self._reused_item_button(item, reason))
        self.built_for = self.view_key()  # also after typing: the list is what the key says

    def _reused_item_button(self, item: Item, reason: str | None) -> BigButton:
        """An item's button as built for an earlier list, when it would look the same (the tabs list
        the same items again: rendering their labels is most of a rebuild); at most one per item."""
        looks = (current_language(), theme.font_scale, id(self.catalog))
        if self._buttons_look != looks:
            self._buttons.clear()
            self._buttons_look = looks
        kept = self._buttons.get(item.code)
        if kept is not None and kept[0] == reason:
            button = kept[1]
        else:
            button = self._item_button(item, reason)
            self._buttons[item.code] = (reason, button)
        if button.parent is not None:
            button.parent.remove_widget(button)
        return button

    def _item_button(self, item: Item, reason: str | None) -> BigButton:
        small = small_px()
        modes = " · ".join(_(MODE_NAMES[m]) for m in item.modes)  # the name and department stay Chinese
        text = f"[b]{item.name}[/b]\n[size={small}]{item.department}  |  {modes}[/size]"
        if reason is not None:  # greyed out, with the reason; the guide stays readable but cannot start
            text += f"\n[size={small}][color=#{REASON_COLOUR}]{reason}[/color][/size]"
        button = BigButton(
            text,
            lambda: self.app.open_item(item),
            bg=theme.SURFACE if reason is None else GREY_BG,
            fg=theme.TEXT if reason is None else GREY_TEXT,
            size=theme.FONT_HEADING - 6,
            height=ITEM_HEIGHT,
            markup=True,
        )
        # Long names and reasons wrap: the button grows to its text rather than letting it spill.
        button.bind(texture_size=lambda b, ts: setattr(b, "height", max(dp(ITEM_HEIGHT), ts[1] + dp(36))))
        button.tid = f"item:{item.code}"
        button.unavailable = reason
        return button

    def _update_search_box(self) -> None:
        if self.query:
            self.search_box.text = _("搜索：{query}").format(query=f"[b]{self.query}[/b]")
        else:
            hint = _("点此搜索（拼音首字母，如 SBK）")
            self.search_box.text = f"[color=#{HINT_COLOUR}]{hint}[/color]"

    # -- actions ----------------------------------------------------------------------------------
    def set_filter(self, name: str) -> None:
        self.filter_name, self._shown_filter, self.choice = name, name, None  # the typed query stays
        self.refresh()

    def set_choice(self, name: str | None) -> None:
        self.choice = name
        self.refresh()

    def toggle_keypad(self) -> None:
        self.keypad_open = not self.keypad_open
        self.refresh()

    def _key(self, key: str) -> None:
        if key == "del":
            self.query = self.query[:-1]
        elif key == "clear":
            self.query = ""
        elif len(self.query) < 20:  # longer than any name's pinyin initials; keeps the box one line
            self.query += key
        self._show_results()  # only the list changes while typing, never the keypad under the finger


AUDIENCE_NAMES = {"person": N_("自然人"), "legal_person": N_("法人")}


class GuideScreen(KioskScreen):
    title = N_("办事指南")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="guide", **kwargs)

    def view_key(self) -> Hashable | None:
        item = self.app.selected_item
        if item is None:
            return None
        reason = self.app.manager.get_screen("catalog").unavailable(item)
        return item.code, id(item), reason, current_language(), theme.font_scale

    def refresh(self) -> None:
        item = self.app.selected_item
        self.body.clear_widgets()
        self.built_for = self.view_key()
        if item is None:
            return
        scroll, column = scroll_column()
        column.add_widget(Text(item.name, size=theme.FONT_TITLE - 8, bold=True))
        column.add_widget(
            Text(_("实施主体：{department}").format(department=item.department), color=theme.TEXT_MUTED)
        )
        for heading, text in self._sections(item):
            panel = Panel(orientation="vertical", radius=16, size_hint_y=None, padding=dp(24), spacing=dp(8))
            panel.add_widget(Text(heading, size=theme.FONT_BODY, bold=True, color=theme.PRIMARY))
            panel.add_widget(Text(text, size=theme.FONT_BODY))
            panel.bind(minimum_height=panel.setter("height"))
            column.add_widget(panel)
        self.body.add_widget(scroll)
        self.body.add_widget(Divider())
        row = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_HEIGHT), spacing=dp(20))
        back = BigButton(
            _("返回列表"),
            lambda: self.app.show("catalog"),
            bg=theme.SURFACE,
            fg=theme.PRIMARY,
            size_hint_x=0.35,
        )
        back.tid = "guide:back"
        row.add_widget(back)
        reason = self.app.manager.get_screen("catalog").unavailable(item)
        modes = [mode for mode in item.modes if mode in STEPS]
        if reason is not None or not modes:
            self.body.add_widget(
                Text(
                    reason or _("本终端暂未开通此事项的自助办理，请到人工窗口办理。"),
                    color=theme.ACCENT,
                    halign="center",
                )
            )
        elif len(modes) == 1:
            start = _("开始办理（{mode}）").format(mode=_(MODE_NAMES[modes[0]]))
            row.add_widget(self._start_button(item, modes[0], start, "start"))
        else:  # e.g. 全程网办 or 异地代收代办: the citizen chooses, each explained in a word
            self.body.add_widget(Text(_("请选择办理方式："), bold=True))
            choices = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_HEIGHT), spacing=dp(20))
            for mode in modes:
                choices.add_widget(self._start_button(item, mode, _(MODE_NAMES[mode]), f"start:{mode}"))
            self.body.add_widget(choices)
        self.body.add_widget(row)

    def _start_button(self, item: Item, mode: str, text: str, tid: str) -> BigButton:
        button = BigButton(text, lambda: self.app.start_flow(item, mode))
        button.tid = tid
        return button

    @staticmethod
    def _sections(item: Item) -> list[tuple[str, str]]:
        """The guide's headings and fixed words in the citizen's language; the catalog's own text
        (conditions, material names, process, fee basis) stays as the platform publishes it."""
        materials = "\n".join(
            _("{index}. {name}（{need}，{copies}份）").format(
                index=i, name=m.name, need=_("必需") if m.required else _("可选"), copies=m.copies
            )
            for i, m in enumerate(item.materials, 1)
        ) or _("无需提交材料")
        limits = []
        if item.legal_days is not None:
            limits.append(_("法定时限 {days} 个工作日").format(days=item.legal_days))
        if item.promised_days is not None:
            limits.append(
                _("承诺时限 {days} 个工作日").format(days=item.promised_days)
                if item.promised_days
                else _("即时办结")
            )
        fee = _("收费（依据：{basis}）").format(basis=item.fee.basis) if item.fee.charged else _("不收费")
        listing = _("、")
        sections = [
            (_("办理条件"), item.conditions),
            (_("申请材料"), materials),
            (_("办理流程"), " → ".join(item.process)),
            (_("办理时限"), _("；").join(limits) or _("以部门告知为准")),
            (_("收费标准"), fee),
            (_("办理方式"), listing.join(_(MODE_NAMES[m]) for m in item.modes)),
            (_("服务对象"), listing.join(_(AUDIENCE_NAMES[a]) for a in item.audience)),
        ]
        if item.consult_phone:
            sections.append((_("咨询电话"), item.consult_phone))
        return sections
