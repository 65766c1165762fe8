"""The on-screen pinyin keyboard with a candidate bar (no OS input method runs under the kiosk compositor).

Chinese text (address detail, an agent's name) is typed as pinyin on a QWERTY layout; the bar above
the keys shows the letters typed, split into syllables, and the candidates of kiosk.pinyin_ime. A tap
on a candidate, or the space bar for the first one, sends it to the field. A 数字/符号 page has the
digits and the words of an address (号 栋 单元 室 楼 路 街); 中/英 types Latin capitals (A座, B栋).

Every key has a `tid` (`key:a`, `key:3`, `key:号`, `cand:0`, `kb:space`, `kb:del`, `kb:mode`, `kb:lang`,
`kb:clear`, `kb:prev`, `kb:next`, `kb:latin`) for the tests and the scenario runner. Sizes are dp at
1080×1920: keys 96×100, the whole keyboard ≤ 660 high, so the form above stays in view.
"""

from __future__ import annotations

from collections.abc import Callable

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.i18n import _
from kiosk.pinyin_ime import PinyinIME
from screens import theme
from screens.widgets import BigButton, Panel, Text

KEY_HEIGHT = 100
BAR_HEIGHT = 110  # candidate row
INFO_HEIGHT = 64  # the letters typed, and 用字母
SPACING = 10
PAD = 12
HEIGHT = PAD * 2 + INFO_HEIGHT + BAR_HEIGHT + 4 * KEY_HEIGHT + 5 * SPACING  # 644
KEY_BG = theme.SURFACE
FUNCTION_BG = theme.hex_rgba("#E3E9F2")  # TEXT on it 11.6:1
LETTER_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
MULTI_GLYPH_WEIGHT = 1.6  # a key of two glyphs (单元) is this many key widths wide
# The 数字/符号 page: digits for house numbers, then the parts of an address (issue 6 §2).
SYMBOL_ROWS = (
    ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0"),
    ("号", "栋", "单元", "室", "楼", "路", "街", "-", "(", ")"),
    ("层", "区", "村", "组", "号楼", "小区", "#"),
)


class PinyinKeyboard(Panel):
    """QWERTY pinyin keyboard. `on_text(text)` appends committed text to the field; `on_delete()`
    removes the field's last character (called when 删除 finds no letters left to remove);
    `on_clear()`, if given, empties the field (清空 with no letters typed)."""

    def __init__(
        self,
        on_text: Callable[[str], None],
        on_delete: Callable[[], None],
        *,
        on_clear: Callable[[], None] | None = None,
        ime: PinyinIME | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("bg", theme.hex_rgba("#D5DEEA"))
        super().__init__(
            orientation="vertical",
            size_hint_y=None,
            height=dp(HEIGHT),
            padding=dp(PAD),
            spacing=dp(SPACING),
            **kwargs,
        )
        # (not on_* attributes: Kivy reserves that prefix for events)
        self._emit_text, self._emit_delete, self._emit_clear = on_text, on_delete, on_clear
        self.ime = ime or PinyinIME()
        self.symbols = False  # the 数字/符号 page is showing
        self.latin = False  # 英: letters go to the field as capitals
        self._pages: list[int] = [0]  # offsets of the candidate pages seen, for 上一页
        self._page_size = 0

        info = BoxLayout(size_hint_y=None, height=dp(INFO_HEIGHT), spacing=dp(SPACING))
        self.preedit = Text("", size=theme.FONT_BODY, color=theme.TEXT)
        self.preedit.size_hint_y = 1
        self.latin_button = BigButton(
            _("用字母"),
            self._commit_latin,
            bg=FUNCTION_BG,
            fg=theme.TEXT,
            size=theme.FONT_SMALL,
            height=INFO_HEIGHT,
            size_hint_x=None,
            width=dp(200),
        )
        self.latin_button.tid = "kb:latin"
        info.add_widget(self.preedit)
        info.add_widget(self.latin_button)
        self.bar = BoxLayout(size_hint_y=None, height=dp(BAR_HEIGHT), spacing=dp(SPACING))
        self.keys = BoxLayout(orientation="vertical", spacing=dp(SPACING))
        self.add_widget(info)
        self.add_widget(self.bar)
        self.add_widget(self.keys)
        self._build_keys()
        self._refresh_bar()
        self.bind(width=lambda *_: self._refresh_bar())

    # -- public --------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Send what is still in the buffer (best reading) to the field: call when the field loses the
        keyboard, so typed letters are never lost silently."""
        text = self.ime.commit_best()
        if text:
            self._emit_text(text)
        self._changed()

    def reset(self) -> None:
        """Drop the letters typed (the form moved to another field without keeping them)."""
        self.ime.reset()
        self._changed()

    def press(self, key: str) -> None:
        """A key by name, as the buttons send it: a letter, a symbol, or space/del/mode/lang/clear."""
        action = getattr(self, f"_key_{key}", None)
        if action is not None:
            action()
        elif self.latin and key.isalpha() and key.isascii():
            self._emit_text(key.upper())
        else:
            text = self.ime.type(key)
            if text:
                self._emit_text(text)
            self._changed()

    def choose(self, index: int) -> None:
        """Candidate `index` of the current page."""
        text = self.ime.choose(self._pages[-1] + index)
        if text:
            self._emit_text(text)
        self._changed()

    # -- keys ----------------------------------------------------------------------------------------
    def _key_space(self) -> None:
        if self.ime.buffer:
            self.choose(0)
        else:  # between the parts of an address (3号楼 2单元), as on any keyboard
            self._emit_text(" ")

    def _key_del(self) -> None:
        if self.ime.backspace():
            self._changed()
        else:
            self._emit_delete()

    def _key_clear(self) -> None:
        if self.ime.buffer:
            self.ime.reset()
            self._changed()
        elif self._emit_clear is not None:
            self._emit_clear()

    def _key_mode(self) -> None:
        self.symbols = not self.symbols
        self._build_keys()
        self._refresh_bar()

    def _key_lang(self) -> None:
        self.flush()  # letters typed as pinyin are not thrown away by the switch
        self.latin = not self.latin
        self._build_keys()
        self._refresh_bar()

    def _commit_latin(self) -> None:
        text = self.ime.commit_latin()
        if text:
            self._emit_text(text)
        self._changed()

    def _changed(self) -> None:
        self._pages = [0]
        self._refresh_bar()

    def _page(self, step: int) -> None:
        if step > 0 and self._pages[-1] + self._page_size < self.ime.candidate_count():
            self._pages.append(self._pages[-1] + self._page_size)
        elif step < 0 and len(self._pages) > 1:
            self._pages.pop()
        self._refresh_bar()

    # -- drawing -------------------------------------------------------------------------------------
    def _key(self, label: str, key: str, *, bg=KEY_BG, weight: float = 1.0, size: float = theme.FONT_HEADING):
        button = BigButton(
            label,
            lambda: self.press(key),
            bg=bg,
            fg=theme.TEXT,
            size=size,
            height=KEY_HEIGHT,
            size_hint_x=weight,
        )
        button.tid = f"key:{key}" if key not in _FUNCTIONS else f"kb:{key}"
        return button

    def _build_keys(self) -> None:
        self.keys.clear_widgets()
        if self.symbols:
            rows: list[list[tuple[str, str]]] = [[(k, k) for k in row] for row in SYMBOL_ROWS]
        else:
            rows = [[(k.upper(), k) for k in row] for row in LETTER_ROWS]
        for index, row in enumerate(rows):
            line = BoxLayout(spacing=dp(SPACING), size_hint_y=None, height=dp(KEY_HEIGHT))
            if not self.symbols and index == 1:
                line.add_widget(Widget(size_hint_x=0.5))  # the staggered middle row of a real keyboard
            for label, key in row:
                # 单元, 号楼, 小区 get the room for two glyphs side by side (in 长者模式 a one-key width
                # would stack them, one above the other)
                wide = len(label) > 1
                line.add_widget(
                    self._key(
                        label,
                        key,
                        weight=MULTI_GLYPH_WEIGHT if wide else 1.0,
                        size=theme.FONT_BODY if wide else theme.FONT_HEADING,
                    )
                )
            if not self.symbols and index == 1:
                line.add_widget(Widget(size_hint_x=0.5))
            if index == 2:  # 删除 takes what is left of the ten key widths
                used = sum(child.size_hint_x for child in line.children)
                line.add_widget(self._key(_("删除"), "del", bg=FUNCTION_BG, weight=10 - used))
            self.keys.add_widget(line)
        bottom = BoxLayout(spacing=dp(SPACING), size_hint_y=None, height=dp(KEY_HEIGHT))
        mode = _("字母") if self.symbols else _("数字符号")
        bottom.add_widget(self._key(mode, "mode", bg=FUNCTION_BG, weight=2.2, size=theme.FONT_BODY))
        lang = _("中文") if self.latin else _("英文")  # pinyin or Latin capitals, whatever the UI language
        bottom.add_widget(self._key(lang, "lang", bg=FUNCTION_BG, weight=1.6, size=theme.FONT_BODY))
        self._space = self._key(_("空格"), "space", weight=4.2, size=theme.FONT_BODY)
        bottom.add_widget(self._space)
        bottom.add_widget(self._key(_("清空"), "clear", bg=FUNCTION_BG, weight=2.0, size=theme.FONT_BODY))
        self.keys.add_widget(bottom)

    def _refresh_bar(self) -> None:
        self.bar.clear_widgets()
        buffer = self.ime.buffer
        if buffer:
            self.preedit.text = " ".join(self.ime.syllables())
        else:
            self.preedit.text = (
                _("英文字母") if self.latin else (_("数字和符号") if self.symbols else _("请输入拼音"))
            )
        self.latin_button.disabled = not buffer
        self.latin_button.opacity = 1 if buffer else 0
        self._space.text = _("选定") if buffer else _("空格")  # the space bar picks the highlighted candidate
        if not buffer:
            self._page_size = 0
            return
        start = self._pages[-1]
        total = self.ime.candidate_count()
        pager = dp(96)
        room = max(self.width, dp(400)) - 2 * dp(PAD) - 2 * (pager + dp(SPACING))
        font = sp(theme.type_size(theme.FONT_HEADING))
        shown: list[tuple[str, float]] = []
        used = 0.0
        for text in self.ime.candidates(limit=12, offset=start):
            width = max(dp(100), len(text) * font + dp(36))
            if shown and used + width + dp(SPACING) > room:
                break
            shown.append((text, width))
            used += width + dp(SPACING)
        self._page_size = len(shown)
        prev = BigButton(
            "◀",
            lambda: self._page(-1),
            bg=FUNCTION_BG,
            fg=theme.TEXT,
            height=BAR_HEIGHT,
            size_hint_x=None,
            width=pager,
        )
        prev.tid, prev.disabled = "kb:prev", start == 0
        nxt = BigButton(
            "▶",
            lambda: self._page(1),
            bg=FUNCTION_BG,
            fg=theme.TEXT,
            height=BAR_HEIGHT,
            size_hint_x=None,
            width=pager,
        )
        nxt.tid, nxt.disabled = "kb:next", start + len(shown) >= total
        self.bar.add_widget(prev)
        for index, (text, width) in enumerate(shown):
            first = index == 0  # what the space bar picks
            button = BigButton(
                text,
                lambda i=index: self.choose(i),
                bg=theme.PRIMARY if first else KEY_BG,
                fg=theme.WHITE if first else theme.TEXT,
                height=BAR_HEIGHT,
                size_hint_x=None,
                width=width,
            )
            button.tid = f"cand:{index}"
            self.bar.add_widget(button)
        self.bar.add_widget(Widget())
        self.bar.add_widget(nxt)


_FUNCTIONS = {"space", "del", "mode", "lang", "clear"}
