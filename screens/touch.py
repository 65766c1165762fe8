"""A simulated finger for the scenario runner, the benchmarks and the UI tests.

Kivy's own, `kivy.tests.common.UnitTestTouch`, lives in a module that imports unittest, pytest and
pygments: ~7 MB more in a kiosk process that plays a scenario (`kiosk demo --scenario`, `kiosk bench
ui`) than in one serving citizens. This is the same event, without them.
"""

from __future__ import annotations

from typing import Any

from kivy.base import EventLoop
from kivy.input.motionevent import MotionEvent


class ScriptedTouch(MotionEvent):
    """One finger at window pixel (x, y): `touch_down()`, `touch_move(x, y)`, `touch_up()`."""

    def __init__(self, x: float, y: float) -> None:
        super().__init__("ScriptedTouch", 99, self._relative(x, y), is_touch=True, type_id="touch")
        self.profile = ["pos"]

    @staticmethod
    def _relative(x: float, y: float) -> dict[str, float]:
        window = EventLoop.window
        return {"x": x / (window.width - 1.0), "y": y / (window.height - 1.0)}

    def depack(self, args: dict[str, Any]) -> None:
        self.sx, self.sy = args["x"], args["y"]
        super().depack(args)

    def touch_down(self) -> None:
        EventLoop.post_dispatch_input("begin", self)

    def touch_move(self, x: float, y: float) -> None:
        self.move(self._relative(x, y))
        EventLoop.post_dispatch_input("update", self)

    def touch_up(self) -> None:
        EventLoop.post_dispatch_input("end", self)
