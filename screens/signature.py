"""The handwritten signature pad (信用可办: signing the 告知承诺书 on screen).

`SignaturePad(on_done)`: an instruction line, a white pad with a baseline and the hint 请在框内签名, and
two buttons, 重写 (clear) and 确认签名 (done). The finger's points go to kiosk.signature.Signature; the
line on screen is its smoothed curve, redrawn as the finger moves. 确认签名 checks the signature and
hands `on_done` a PNG rendered from the points (not a screenshot); an empty or too small signature is
refused in the instruction line instead, in words that say what to do.

tids: `sign:pad`, `sign:clear`, `sign:done` (the instruction line is `.message`). Do not put the pad
inside a ScrollView: a ScrollView takes the first move of every touch to decide whether it scrolls.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kivy.graphics import Color, InstructionGroup, Line, PopMatrix, PushMatrix, Translate
from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from kiosk.i18n import N_, _
from kiosk.signature import PEN_WIDTH, Point, Signature, SignatureRefused
from screens import theme
from screens.widgets import BigButton, Panel, Text

INSTRUCTION = N_("请在白框内写下您的姓名，再点“确认签名”。")
HINT = N_("请在框内签名")
INK = theme.hex_rgba("#111111")
BORDER = theme.PRIMARY
BASELINE = theme.hex_rgba("#6B7280")  # a guide, not text: visible on white without competing with ink
SECONDARY_BG = theme.hex_rgba("#E3E9F2")  # as the keypads' function keys; TEXT on it 12:1
BASELINE_FROM_BOTTOM = 0.28  # of the pad's height: names sit on the line, with room for descending strokes


class InkPad(Panel):
    """The white writing area (tid `sign:pad`). One finger at a time: a palm or a second finger resting
    on the glass while writing draws nothing."""

    def __init__(self, on_stroke: Callable[[], None], **kwargs) -> None:
        super().__init__(bg=theme.SURFACE, radius=12, **kwargs)
        self.tid = "sign:pad"
        self.signature = Signature(unit=dp(1))
        self._on_stroke = on_stroke
        self._finger: object | None = None
        self._line: Line | None = None
        self.hint = Label(
            text=_(HINT),
            color=theme.TEXT_MUTED,
            font_size=sp(theme.type_size(theme.FONT_HEADING)),
            halign="center",
            valign="middle",
        )
        self.hint.bind(size=lambda label, size: setattr(label, "text_size", size))
        self.add_widget(self.hint)
        with self.canvas.before:  # over Panel's white background, under the hint and the ink
            Color(*BASELINE)
            self._baseline = Line(points=[0, 0, 0, 0], width=dp(1.5))
            Color(*BORDER)
            self._border = Line(rounded_rectangle=(0, 0, 10, 10, dp(12)), width=dp(2))
        with self.canvas.after:  # the ink, in the pad's own coordinates
            PushMatrix()
            self._origin = Translate(0, 0)
            Color(*INK)
            self._ink = InstructionGroup()
            PopMatrix()
        self.bind(pos=self._frame, size=self._frame)

    def _frame(self, *_args) -> None:
        x, y = self.pos
        w, h = self.size
        self._origin.xy = (x, y)
        self._border.rounded_rectangle = (x, y, w, h, dp(12))
        line_y = y + h * BASELINE_FROM_BOTTOM
        self._baseline.points = [x + dp(40), line_y, x + w - dp(40), line_y]
        # The hint sits just above the line, where a name is written.
        self.padding = [dp(20), h * BASELINE_FROM_BOTTOM + dp(10), dp(20), h * 0.35]

    # -- touches ----------------------------------------------------------------------------------
    def _local(self, touch) -> tuple[float, float]:
        """The touch in pad coordinates, kept inside the pad so the ink never leaves the frame."""
        inset = dp(PEN_WIDTH)
        x = min(max(touch.x - self.x, inset), self.width - inset)
        y = min(max(touch.y - self.y, inset), self.height - inset)
        return x, y

    def on_touch_down(self, touch) -> bool:
        if self.disabled or not self.collide_point(*touch.pos) or getattr(touch, "is_mouse_scrolling", False):
            return super().on_touch_down(touch)
        if self._finger is not None:
            return True  # a second finger or a palm: swallowed, not drawn
        touch.grab(self)
        self._finger = touch.uid
        self.signature.begin(*self._local(touch), time.monotonic())
        self.hint.opacity = 0
        self._line = Line(width=dp(PEN_WIDTH) / 2, cap="round", joint="round")  # Kivy's width is half
        self._ink.add(self._line)
        self._redraw()
        return True

    def on_touch_move(self, touch) -> bool:
        if touch.grab_current is not self or touch.uid != self._finger:
            return super().on_touch_move(touch)
        if self.signature.extend(*self._local(touch), time.monotonic()):
            self._redraw()
        return True

    def on_touch_up(self, touch) -> bool:
        if touch.grab_current is not self or touch.uid != self._finger:
            return super().on_touch_up(touch)
        touch.ungrab(self)
        self.signature.end(*self._local(touch), time.monotonic())
        self._redraw()
        self._finger = self._line = None
        self._on_stroke()
        return True

    def _redraw(self) -> None:
        if self._line is not None:
            self._line.points = _flat(self.signature.live_curve())

    def clear(self) -> None:
        self.signature.clear()
        self._ink.clear()
        self._finger = self._line = None
        self.hint.opacity = 1


def _flat(curve: list[Point]) -> list[float]:
    if len(curve) == 1:  # a tap: a dot (a round-capped stub, as Kivy draws nothing for one point)
        (x, y) = curve[0]
        return [x - 0.5, y, x + 0.5, y]
    return [c for point in curve for c in point]


class SignaturePad(BoxLayout):
    """Instruction, pad and buttons. `on_done(png_bytes)` gets the accepted signature as a PNG."""

    def __init__(
        self,
        on_done: Callable[[bytes], None],
        *,
        on_clear: Callable[[], None] | None = None,
        instruction: str = INSTRUCTION,
        **kwargs,
    ) -> None:
        kwargs.setdefault("orientation", "vertical")
        kwargs.setdefault("spacing", dp(24))
        super().__init__(**kwargs)
        self.on_done, self.on_clear, self.instruction = on_done, on_clear, _(instruction)
        self.message = Text(self.instruction, size=theme.FONT_BODY)
        self.pad = InkPad(on_stroke=self._stroke_done)
        buttons = BoxLayout(spacing=dp(30), size_hint_y=None)
        self.clear_button = BigButton(_("重写"), self.clear, bg=SECONDARY_BG, fg=theme.TEXT)
        self.clear_button.tid = "sign:clear"
        self.done_button = BigButton(_("确认签名"), self.done)
        self.done_button.tid = "sign:done"
        buttons.add_widget(self.clear_button)
        buttons.add_widget(self.done_button)
        buttons.height = self.done_button.height
        self.add_widget(self.message)
        self.add_widget(self.pad)
        self.add_widget(buttons)

    @property
    def signature(self) -> Signature:
        return self.pad.signature

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.message.text = text
        self.message.color = theme.ACCENT if error else theme.TEXT

    def _stroke_done(self) -> None:
        if self.message.text != self.instruction:  # the citizen is writing again after a refusal
            self.show_message(self.instruction)

    def clear(self) -> None:
        """重写: the ink goes, and with it the strokes (personal data)."""
        self.pad.clear()
        self.show_message(self.instruction)
        if self.on_clear is not None:
            self.on_clear()

    def done(self) -> bytes | None:
        """确认签名: the PNG goes to on_done (and is returned), or the refusal is shown."""
        try:
            png = self.signature.to_png()
        except SignatureRefused as refused:
            self.show_message(_(refused.message), error=True)  # kiosk.signature's N_-marked sentence
            return None
        self.on_done(png)
        return png
