"""Shared widgets: coloured buttons and panels, wrapped labels, the numeric keypad."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable

from kivy.clock import Clock
from kivy.graphics import Color, Rectangle, SmoothRoundedRectangle
from kivy.metrics import dp, sp
from kivy.properties import ListProperty, NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label

from kiosk.i18n import _
from screens import theme

# Every Text and BigButton alive, so a change of type scale (长者模式) reaches widgets built once, like
# the top bar; screen bodies are rebuilt on entry anyway.
_TYPESET: weakref.WeakSet[Text | LineText | BigButton] = weakref.WeakSet()


def set_font_scale(scale: float) -> None:
    """Enter (theme.ELDERLY_SCALE) or leave (1.0) 长者模式's type sizes, for what is on screen too."""
    theme.font_scale = scale
    for widget in list(_TYPESET):
        widget.apply_type_size()


def small_px() -> int:
    """The small type size as a [size=…] markup value, already scaled (markup bypasses font_size)."""
    return math.ceil(sp(theme.type_size(theme.FONT_SMALL)))


WIDTH_SLACK = 1.05  # text width is near proportional to type size, give or take hinting


def shrink_to_fit(label: Label, overflows: Callable[[], bool]) -> None:
    """Set `label` at its type size, then down the type ladder until it no longer overflows or is at the
    mode's minimum (theme.TYPE_LADDER: arbitrary sizes would each open a font face). Text too wide
    skips the steps its measured width rules out (each step tried opens a font face, and fitting to
    a placeholder width walked the whole ladder), never one that might fit."""
    size: float | None = theme.type_size(label.type_base)
    while size is not None:
        label.font_size = sp(size)
        label.texture_update()
        if not overflows():
            return
        drawn = label.texture_size[0]
        at_most = size * label.width / drawn * WIDTH_SLACK if drawn > label.width > 0 else None
        size = theme.smaller_type_size(size, at_most)


class Panel(BoxLayout):
    """A BoxLayout with a flat (optionally rounded) background colour."""

    bg = ListProperty(theme.SURFACE)
    radius = NumericProperty(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._color = Color(*self.bg)
            self._rect = SmoothRoundedRectangle(pos=self.pos, size=self.size, radius=[dp(self.radius)])
        self.bind(pos=self._sync, size=self._sync, bg=self._sync)

    def _sync(self, *_args) -> None:
        self._color.rgba = self.bg
        self._rect.pos, self._rect.size = self.pos, self.size


class Text(Label):
    """A label that wraps to its width and grows in height to fit its text.

    `size` is a design type size (theme.FONT_*); it is scaled in 长者模式 and never drawn below the
    mode's minimum (theme.type_size).
    """

    def __init__(self, text: str = "", *, size: float = theme.FONT_BODY, color=theme.TEXT, **kwargs) -> None:
        kwargs.setdefault("halign", "left")
        kwargs.setdefault("valign", "middle")
        self.type_base = size
        super().__init__(
            text=text, font_size=sp(theme.type_size(size)), color=color, size_hint_y=None, **kwargs
        )
        self.bind(width=self._wrap, texture_size=self._fit)
        _TYPESET.add(self)

    def apply_type_size(self) -> None:
        self.font_size = sp(theme.type_size(self.type_base))

    def _wrap(self, *_args) -> None:
        self.text_size = (self.width, None)

    def _fit(self, *_args) -> None:
        self.height = max(self.texture_size[1], self.font_size * 1.3)


class LineText(Label):
    """One line of text (a title) that is set smaller until it fits its width, never below the mode's
    minimum type size. Still too long at that size (English in 长者模式), it takes two closer lines if
    its height holds them, and only then is it shortened with an ellipsis."""

    def __init__(self, text: str = "", *, size: float = theme.FONT_HEADING, color=theme.TEXT, **kw) -> None:
        self.type_base = size
        super().__init__(
            text=text,
            font_size=sp(theme.type_size(size)),  # else first drawn at Kivy's 15 sp: one more font face
            color=color,
            halign="left",
            valign="middle",
            shorten=True,
            **kw,
        )
        self._refit = Clock.create_trigger(self._fit_text)
        self.bind(size=self._refit, text=self._refit)
        self.apply_type_size()
        _TYPESET.add(self)

    def apply_type_size(self) -> None:
        self._refit()

    def _fit_text(self, *_args) -> None:
        self.shorten, self.line_height = True, 1.0
        self.text_size = (None, None)
        shrink_to_fit(self, lambda: self.texture_size[0] > self.width)
        if self.texture_size[0] > self.width and " " in self.text:  # words to wrap between
            # The CJK font's line box is tall; Latin lines set at 0.85 of it still clear each other.
            self.shorten, self.line_height = False, 0.85
            self.text_size = (self.width, None)
            self.texture_update()
            if self.texture_size[1] > self.height:  # no room for two lines: one, shortened
                self.shorten, self.line_height = True, 1.0
        self.text_size = (self.width, self.height)


class BigButton(Button):
    """A flat, high-contrast touch target (never smaller than theme.MIN_TOUCH high).

    The label is wrapped to the button's width; a label that still does not fit (a long word in
    长者模式) is set smaller until it does, but never below the mode's minimum type size; at that
    size its lines are set closer (Chinese glyphs keep clear of each other down to 0.8).
    """

    def __init__(
        self,
        text: str,
        on_press: Callable[[], None] | None = None,
        *,
        bg=theme.PRIMARY,
        fg=theme.WHITE,
        size: float = theme.FONT_HEADING,
        height: float = theme.BUTTON_HEIGHT,
        **kwargs,
    ) -> None:
        kwargs.setdefault("size_hint_y", None)
        self.type_base = size
        self._refit = Clock.create_trigger(self._fit_text)
        super().__init__(
            text=text,
            font_size=sp(theme.type_size(size)),
            color=fg,
            background_normal="",
            background_down="",
            background_color=(0, 0, 0, 0),
            height=dp(max(height, theme.MIN_TOUCH)),
            halign="center",
            valign="middle",
            **kwargs,
        )
        self._bg, self._down = bg, (*tuple(c * 0.8 for c in bg[:3]), bg[3])
        with self.canvas.before:
            self._color = Color(*bg)
            self._rect = SmoothRoundedRectangle(pos=self.pos, size=self.size, radius=[dp(16)])
        self.bind(pos=self._sync, size=self._sync, state=self._sync)
        self.bind(size=self._refit, text=self._refit)
        self._refit()
        if on_press is not None:
            self.bind(on_release=lambda *_: on_press())
        _TYPESET.add(self)

    def apply_type_size(self) -> None:
        self._refit()

    def _fit_text(self, *_args) -> None:
        self.line_height = 1.0
        self.text_size = (max(self.width - dp(20), 1), None)
        # Narrower than one glyph at the minimum size: a size derived from a placeholder before the
        # layout's real one (fitting to it walked the whole ladder, a font face per step).
        if not self.text or self.text_size[0] < sp(theme.min_type_size()):
            self.font_size = sp(theme.type_size(self.type_base))
            return

        def overflows() -> bool:
            return self.texture_size[1] > self.height - dp(4) or self.texture_size[0] > self.width

        shrink_to_fit(self, overflows)
        for leading in (0.9, 0.8):
            if not overflows():
                break
            self.line_height = leading
            self.texture_update()

    def _sync(self, *_args) -> None:
        self._rect.pos, self._rect.size = self.pos, self.size
        self._color.rgba = self._down if self.state == "down" else self._bg


class Divider(BoxLayout):
    def __init__(self, **kwargs) -> None:
        super().__init__(size_hint_y=None, height=dp(2), **kwargs)
        with self.canvas:
            Color(*theme.hex_rgba("#D1D9E6"))
            self._rect = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=lambda *_: setattr(self._rect, "pos", self.pos))
        self.bind(size=lambda *_: setattr(self._rect, "size", self.size))


class NumPad(GridLayout):
    """An on-screen numeric keypad (no OS input method runs under the kiosk compositor).

    `on_key` receives a digit, "X" (ID numbers only), "del" or "clear".
    """

    def __init__(self, on_key: Callable[[str], None], *, allow_x: bool = False, **kwargs) -> None:
        super().__init__(cols=3, spacing=dp(14), size_hint_y=None, **kwargs)
        keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "X" if allow_x else "clear", "0", "del"]
        labels = {"clear": _("清空"), "del": _("删除")}
        for key in keys:
            button = BigButton(
                labels.get(key, key),
                lambda k=key: on_key(k),
                bg=theme.SURFACE if key.isdigit() or key == "X" else theme.hex_rgba("#E3E9F2"),
                fg=theme.TEXT,
                size=theme.FONT_HEADING,
                height=110,
            )
            button.key = key
            button.tid = f"key:{key}"
            self.add_widget(button)
        self.height = 4 * dp(110) + 3 * dp(14)
