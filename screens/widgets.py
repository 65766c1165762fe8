"""Shared widgets: coloured buttons and panels, wrapped labels, the numeric keypad."""

from __future__ import annotations

from collections.abc import Callable

from kivy.graphics import Color, Rectangle, RoundedRectangle
from kivy.metrics import dp, sp
from kivy.properties import ListProperty, NumericProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label

from screens import theme


class Panel(BoxLayout):
    """A BoxLayout with a flat (optionally rounded) background colour."""

    bg = ListProperty(theme.SURFACE)
    radius = NumericProperty(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        with self.canvas.before:
            self._color = Color(*self.bg)
            self._rect = RoundedRectangle(pos=self.pos, size=self.size, radius=[dp(self.radius)])
        self.bind(pos=self._sync, size=self._sync, bg=self._sync)

    def _sync(self, *_args) -> None:
        self._color.rgba = self.bg
        self._rect.pos, self._rect.size = self.pos, self.size


class Text(Label):
    """A label that wraps to its width and grows in height to fit its text."""

    def __init__(self, text: str = "", *, size: float = theme.FONT_BODY, color=theme.TEXT, **kwargs) -> None:
        kwargs.setdefault("halign", "left")
        kwargs.setdefault("valign", "middle")
        super().__init__(
            text=text, font_size=sp(size * theme.font_scale), color=color, size_hint_y=None, **kwargs
        )
        self.bind(width=self._wrap, texture_size=self._fit)

    def _wrap(self, *_args) -> None:
        self.text_size = (self.width, None)

    def _fit(self, *_args) -> None:
        self.height = max(self.texture_size[1], self.font_size * 1.3)


class BigButton(Button):
    """A flat, high-contrast touch target (never smaller than 60 dp high)."""

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
        super().__init__(
            text=text,
            font_size=sp(size * theme.font_scale),
            color=fg,
            background_normal="",
            background_down="",
            background_color=(0, 0, 0, 0),
            height=dp(max(height, 60)),
            halign="center",
            valign="middle",
            **kwargs,
        )
        self._bg, self._down = bg, (*tuple(c * 0.8 for c in bg[:3]), bg[3])
        with self.canvas.before:
            self._color = Color(*bg)
            self._rect = RoundedRectangle(pos=self.pos, size=self.size, radius=[dp(16)])
        self.bind(pos=self._sync, size=self._sync, state=self._sync)
        self.bind(size=lambda *_: setattr(self, "text_size", (self.width - dp(20), None)))
        if on_press is not None:
            self.bind(on_release=lambda *_: on_press())

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
        labels = {"clear": "清空", "del": "删除"}
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
