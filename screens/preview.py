"""Live camera pictures on screen, for the face check, code scanning and the document camera.

- `CameraPreview` draws frames on ONE texture it reuses (Kivy leaks GPU memory when a texture is
  created per frame) and a guide over it: an oval for the face, the detected outline of a page.
- `CameraLoop` reads frames and runs the screen's processing (face check step, QR decode, page
  detection) on a worker thread; the main thread only picks up the newest (frame, result) pair at
  display rate, so widgets are touched on the main thread alone and a slow step never piles up.
  A result that must not be skipped (a page taken, a final result) is kept until it is delivered.
  A worker that stops delivering (stuck in a call) is given up after `STALL_S`: the citizen gets
  a retry instead of a frozen picture, the log gets where the worker was stuck.
- `CodeListener` waits for one code from a serial or keyboard-wedge scanner on a thread of its own.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from kivy.clock import Clock
from kivy.graphics import Color, Line
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.uix.image import Image

from kiosk.i18n import N_

log = logging.getLogger(__name__)

DISPLAY_FPS = 15
# A healthy worker delivers a result at least every read timeout (2 s); a step that takes this long
# is stuck, not slow (a 12 MP page detection takes under 1 s on a loaded 2-core terminal).
STALL_S = 12.0
STALLED = N_("画面没有反应，请点“重试”。")
GUIDE_IDLE = (1.0, 1.0, 1.0, 0.9)
GUIDE_GOOD = (0.06, 0.48, 0.25, 1.0)


class CameraPreview(Image):
    """The camera picture (mirrored for the face camera, as people expect a mirror) and a guide."""

    def __init__(
        self, *, mirror: bool = False, guide: str | None = None, aspect: float = 0.75, **kwargs: Any
    ) -> None:
        """`aspect` (height / width) sizes the widget to the camera picture, so nothing is letterboxed."""
        kwargs.setdefault("fit_mode", "contain")
        super().__init__(size_hint_y=None, **kwargs)
        self.bind(width=lambda _w, width: setattr(self, "height", width * aspect))
        self.mirror, self.guide = mirror, guide
        self._texture: Texture | None = None
        self._frame_size = (0, 0)
        self._quad: np.ndarray | None = None
        with self.canvas.after:
            self._guide_colour = Color(*GUIDE_IDLE)
            self._guide_line = Line(width=dp(4))
        self.bind(pos=self._redraw, size=self._redraw)

    def show(self, frame: np.ndarray) -> None:
        """Main thread only."""
        if self.mirror:
            frame = cv2.flip(frame, 1)
        frame = cv2.flip(frame, 0)  # OpenCV rows go top-down, GL textures bottom-up
        height, width = frame.shape[:2]
        if self._texture is None or self._texture.size != (width, height):
            self._texture = Texture.create(size=(width, height), colorfmt="bgr")  # then reused
            self._frame_size = (width, height)
        self._texture.blit_buffer(np.ascontiguousarray(frame).tobytes(), colorfmt="bgr", bufferfmt="ubyte")
        self.texture = self._texture
        self.opacity = 1
        self.canvas.ask_update()
        self._redraw()

    def set_guide(self, good: bool, quad: np.ndarray | None = None) -> None:
        """Green when the subject is right; `quad` (4×2, frame pixels) outlines a detected page."""
        self._guide_colour.rgba = GUIDE_GOOD if good else GUIDE_IDLE
        self._quad = quad
        self._redraw()

    def clear(self) -> None:
        """Nothing of the citizen stays on screen (the texture is kept for reuse, not shown)."""
        self.texture = None
        self.opacity = 0  # an Image without a texture would show a white box
        self._quad = None
        self._guide_line.points = []

    def _redraw(self, *_args: Any) -> None:
        if self.texture is None or not self._frame_size[0]:
            self._guide_line.points = []
            return
        iw, ih = self.norm_image_size
        left, bottom = self.center_x - iw / 2, self.center_y - ih / 2
        if self.guide == "oval":
            w, h = iw * 0.42, ih * 0.62  # where a face at the right distance sits
            self._guide_line.ellipse = (self.center_x - w / 2, self.center_y - h / 2, w, h)
        elif self._quad is not None:
            fw, fh = self._frame_size
            points: list[float] = []
            for x, y in [*self._quad, self._quad[0]]:
                points += [left + x / fw * iw, bottom + (1 - y / fh) * ih]
            self._guide_line.points = points
        else:
            self._guide_line.points = []


class CameraStalled(Exception):
    """The loop's worker delivered nothing for `STALL_S` (its `message` is the citizen's sentence)."""

    message = STALLED


class CameraLoop:
    """Frames from `read` → `process(frame)` on a worker thread → `deliver(frame, result)` on the main
    thread at display rate (only the newest pair). A result for which `keep(result)` holds is never
    overwritten: the pick-up delivers it, in order, before the newest (a page taken once must reach
    the flow even when the main thread was slow). A result for which `final(result)` holds is kept,
    ends the worker and stops the loop once delivered (a scanned code must not be overwritten by the
    next empty frame). No result for `stall_s` ends the loop with `on_error(CameraStalled())`."""

    def __init__(
        self,
        read: Callable[[], np.ndarray],
        process: Callable[[np.ndarray], Any],
        deliver: Callable[[np.ndarray, Any], None],
        on_error: Callable[[Exception], None],
        final: Callable[[Any], bool] = lambda _result: False,
        stall_s: float = STALL_S,
        keep: Callable[[Any], bool] = lambda _result: False,
    ) -> None:
        self._read, self._process, self._deliver, self._on_error = read, process, deliver, on_error
        self._final, self._keep = final, keep
        self._stall_s = stall_s
        self._last_result = time.monotonic()
        self._stop = threading.Event()
        # Waiting for the main thread, as (frame, result, is_final): the results to keep, oldest first,
        # and the newest other one (always newer than the kept: keeping one drops an older newest).
        # Whether a result is final travels with it: the pick-up stops the loop only after delivering it.
        self._kept: list[tuple[np.ndarray, Any, bool]] = []
        self._latest: tuple[np.ndarray, Any, bool] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True, name="camera-loop")
        self._event = Clock.schedule_interval(self._pick_up, 1 / DISPLAY_FPS)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._event.cancel()
        with self._lock:
            self._kept.clear()
            self._latest = None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._read()
                if self._stop.is_set():  # left while the read waited (a waking camera: up to 3 s)
                    return  # nothing to process for: a face check would rebuild a released detector
                result = self._process(frame)
                final = self._final(result)
                kept = final or self._keep(result)
            except Exception as err:  # a camera fault or a processing bug: the screen says what to do
                if not self._stop.is_set():
                    log.warning("camera loop stopped: %s", type(err).__name__)
                    Clock.schedule_once(lambda _dt, e=err: self._on_error(e))
                self._stop.set()
                return
            with self._lock:
                if kept:
                    self._kept.append((frame, result, final))
                    self._latest = None
                else:
                    self._latest = (frame, result, final)
                self._last_result = time.monotonic()
            if final:
                return

    def _pick_up(self, _dt: float) -> None:
        with self._lock:
            due = self._kept + ([self._latest] if self._latest is not None else [])
            self._kept, self._latest = [], None
            silent_s = time.monotonic() - self._last_result
        for frame, result, final in due:
            if self._stop.is_set():  # stopped before, or by a delivery (the screen was left)
                return
            self._deliver(frame, result)
            if final:
                self.stop()
        if not due and not self._stop.is_set() and silent_s > self._stall_s:
            log.warning("camera loop stalled for %.0f s; worker at: %s", silent_s, self._where())
            self.stop()
            self._on_error(CameraStalled())

    def _where(self) -> str:
        return where(self._thread.ident)


def where(thread_ident: int | None, depth: int = 6) -> str:
    """A thread's innermost calls, for the log: file:line function only (no values, nothing personal)."""
    frame = sys._current_frames().get(thread_ident or -1)
    if frame is None:
        return "(ended)"
    calls = traceback.extract_stack(frame)[-depth:]
    return " <- ".join(f"{Path(c.filename).name}:{c.lineno} {c.name}" for c in reversed(calls))


class CodeListener:
    """One code from the code scanner, classified (kiosk.qr), handed to `on_scan` on the main thread.
    An unplugged scanner is retried quietly: the screen has other ways in (a camera, the card reader)."""

    def __init__(self, scanner: Any, on_scan: Callable[[Any], None]) -> None:
        self._stop = threading.Event()
        self._on_scan = on_scan
        threading.Thread(target=self._listen, args=(scanner,), daemon=True, name="scanner").start()

    def stop(self) -> None:
        self._stop.set()

    def _listen(self, scanner: Any) -> None:
        from devices.base import DeviceError
        from kiosk.qr import classify_bytes

        stop = self._stop
        while not stop.is_set():
            try:
                data = scanner.read_code(0.5)
            except DeviceError as err:
                log.warning("code scanner: %s", err.detail or err.completion)
                stop.wait(2.0)
                continue
            if data:
                scan = classify_bytes(data)
                Clock.schedule_once(lambda _dt, s=scan: None if stop.is_set() else self._on_scan(s))
                return
