"""Province → city → county picker (GB/T 2260) for a delivery address.

`RegionPicker(on_done)`: one level at a time, as big buttons in a scrolling grid; a breadcrumb of what is
chosen so far and 返回上一级. Municipalities go straight from 北京市 to its districts (no 市辖区 step),
county-level cities a province administers itself (济源市, 仙桃市…) sit among its cities, and a choice
with nothing below it (东莞市, 香港特别行政区) finishes the pick. `on_done(code, names)` gets the chosen
code and its names from the province down: ("440305", ["广东省", "深圳市", "南山区"]). With `local` (the
hall's region_code) the province list starts with 本地：信阳市, one tap to that city's counties.

tids: `region:<code>` for every choice, `region:local` and `region:back` (the breadcrumb is `.crumb`,
the prompt `.prompt`).
In 长者模式 (theme.font_scale > 1) the grid has two columns of larger buttons instead of three.
"""

from __future__ import annotations

from collections.abc import Callable

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView

from kiosk import regions
from kiosk.i18n import N_, _
from screens import theme
from screens.widgets import BigButton, Text

CHOICE_HEIGHT = 120
BACK_WIDTH = 320
SECONDARY_BG = theme.hex_rgba("#E3E9F2")  # as the keypads' function keys; TEXT on it 12:1
CHOICE_BG = theme.SURFACE
LOCAL_BG = theme.hex_rgba("#DCE7F5")  # the light blue card colour; PRIMARY_DARK on it 8.5:1
PROMPTS = {0: N_("请选择省、自治区或直辖市"), 1: N_("请选择城市"), 2: N_("请选择区、县")}


class ChoiceButton(BigButton):
    """A region's button: a name too long for one line breaks where a reader would (新疆维吾尔 / 自治区),
    not wherever the width runs out (新疆维吾尔自治 / 区)."""

    def __init__(self, name: str, on_press: Callable[[], None], **kwargs) -> None:
        self.region_name = name
        super().__init__(name, on_press, **kwargs)
        self.unbind(text=self._refit)  # _fit_text sets the text itself

    def _fit_text(self, *_args) -> None:
        self.text = self.region_name
        super()._fit_text()
        if self.width > 1 and self.texture_size[1] > self.font_size * 1.5:  # it wrapped
            self.text = _two_lines(self.region_name)
            super()._fit_text()


def _two_lines(name: str) -> str:
    """The name in two lines, split after a 族 or before 自治 nearest the middle (else in the middle)."""
    middle = len(name) / 2
    cuts = [i + 1 for i, c in enumerate(name[:-1]) if c == "族"]
    cuts += [i for i in range(1, len(name)) if name.startswith("自治", i)]
    cut = min(cuts, key=lambda i: abs(i - middle)) if cuts else round(middle)
    return f"{name[:cut]}\n{name[cut:]}"


class RegionPicker(BoxLayout):
    def __init__(
        self,
        on_done: Callable[[str, list[str]], None],
        *,
        initial: str | None = None,
        title: str = N_("所在地区"),
        local: str | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("orientation", "vertical")
        kwargs.setdefault("spacing", dp(20))
        super().__init__(**kwargs)
        self.on_done, self.title = on_done, title
        # 本地: the hall's own city (its config region_code) as the first choice, one tap to its counties.
        self.local = _openable(local) if local and regions.is_valid_region(local) else None
        self.path: list[str] = []  # the codes opened so far, province first
        self.chosen: str | None = None  # the finished pick, highlighted
        if initial is not None and regions.is_valid_region(initial):
            steps = regions.code_path(initial)
            if regions.is_complete(initial):
                self.path, self.chosen = steps[:-1], initial
            else:
                self.path = steps

        top = BoxLayout(spacing=dp(20), size_hint_y=None)
        self.crumb = Text(
            "", size=theme.FONT_HEADING, color=theme.PRIMARY_DARK, bold=True, pos_hint={"center_y": 0.5}
        )
        self.back_button = BigButton(
            _("返回上一级"),
            self.back,
            bg=SECONDARY_BG,
            fg=theme.TEXT,
            size=theme.FONT_BODY,
            size_hint_x=None,
            width=dp(BACK_WIDTH),
            height=CHOICE_HEIGHT,
            pos_hint={"top": 1},
        )
        self.back_button.tid = "region:back"
        top.add_widget(self.crumb)
        top.add_widget(self.back_button)
        # A long path (云南省 › 临沧市 › 双江拉祜族佤族布朗族傣族自治县) wraps: the row grows with it.
        self.crumb.bind(
            height=lambda *_: setattr(top, "height", max(self.back_button.height, self.crumb.height))
        )
        top.height = self.back_button.height
        self.prompt = Text("", size=theme.FONT_BODY, color=theme.TEXT)
        # The right padding leaves room for the scroll bar.
        self.grid = GridLayout(spacing=dp(16), size_hint_y=None, padding=[0, 0, dp(18), 0])
        self.grid.bind(minimum_height=self.grid.setter("height"))
        self.scroll = ScrollView(do_scroll_x=False, bar_width=dp(10), bar_color=list(theme.PRIMARY))
        self.scroll.bar_inactive_color = [*theme.PRIMARY[:3], 0.5]  # always visible: there is more below
        self.scroll.scroll_type = ["bars", "content"]
        self.scroll.add_widget(self.grid)
        # A short list stays at the top: a ScrollView places shorter content by scroll_y, which a
        # scroll_to (the scenario runner's taps) or the last list's position may have left anywhere.
        self.grid.bind(height=self._top_if_short)
        self.scroll.bind(height=self._top_if_short, scroll_y=self._top_if_short)
        self.add_widget(top)
        self.add_widget(self.prompt)
        self.add_widget(self.scroll)
        self._show()

    # -- navigation -------------------------------------------------------------------------------
    def pick(self, code: str) -> None:
        """A choice was tapped: open it, or finish when nothing lies below it."""
        if regions.is_complete(code):
            self.chosen = code
            self._show(keep_scroll=True)
            self.on_done(code, regions.name_path(code))
        else:
            self.path.append(code)
            self.chosen = None
            self._show()

    def open(self, code: str) -> None:
        """Show the choices under `code` directly (the 本地 shortcut)."""
        self.path = regions.code_path(code)
        self.chosen = None
        self._show()

    def back(self) -> None:
        """返回上一级 (the finished pick, if any, is dropped: the citizen is choosing again)."""
        if self.path:
            self.path.pop()
        self.chosen = None
        self._show()

    def _top_if_short(self, *_args) -> None:
        if self.grid.height <= self.scroll.height and self.scroll.scroll_y != 1:
            self.scroll.scroll_y = 1

    # -- drawing ----------------------------------------------------------------------------------
    def _show(self, *, keep_scroll: bool = False) -> None:
        here = self.path[-1] if self.path else None
        choices = regions.children(here) if here else regions.provinces()
        elderly = theme.font_scale > 1
        self.grid.cols = 2 if elderly else 3
        self.grid.clear_widgets()
        if here is None and self.local is not None:
            shortcut = ChoiceButton(
                _("本地：{city}").format(city=regions.name_path(self.local)[-1]),  # GB/T 2260 names: Chinese
                lambda: self.open(self.local),
                bg=LOCAL_BG,
                fg=theme.PRIMARY_DARK,
                size=theme.FONT_BODY + 4,
                height=CHOICE_HEIGHT * (1.15 if elderly else 1),
            )
            shortcut.tid = "region:local"
            self.grid.add_widget(shortcut)
        for region in choices:
            selected = region.code == self.chosen
            button = ChoiceButton(
                region.name,
                lambda code=region.code: self.pick(code),
                bg=theme.PRIMARY if selected else CHOICE_BG,
                fg=theme.WHITE if selected else theme.TEXT,
                size=theme.FONT_BODY + 4,
                height=CHOICE_HEIGHT * (1.15 if elderly else 1),
            )
            button.tid = f"region:{region.code}"
            self.grid.add_widget(button)
        names = regions.name_path(self.chosen or here) if (self.chosen or here) else []
        self.crumb.text = " › ".join(names) if names else _(self.title)
        if self.chosen:
            self.prompt.text = _("已选好。如要更改，请重新点选。")
        else:
            self.prompt.text = _(PROMPTS[0] if here is None else PROMPTS[_level_of(choices)])
        self.back_button.disabled = not self.path
        self.back_button.opacity = 1 if self.path else 0
        if not keep_scroll:
            self.scroll.scroll_y = 1


def _openable(code: str) -> str:
    """The deepest division on `code`'s path that still has choices below it (411502 → 411500)."""
    return next(step for step in reversed(regions.code_path(code)) if not regions.is_complete(step))


def _level_of(choices: list[regions.Region]) -> int:
    """1 when the choices are cities (a province's list), 2 when they are counties only."""
    return 1 if any(r.code.endswith("00") for r in choices) else 2
