"""Cameras: OpenCV capture for real devices; the simulator lives in devices/camera_sim.py.

Both give the same interface (open / read_frame / latest / close / status / check_health) so a
simulator is a config change away from a real camera. Each camera fills a latest-frame buffer from
its own thread, so a reader never waits for a whole sensor exposure and never gets a stale frame:
`read_frame()` returns a frame newer than the one it returned last, `latest()` lets a polling
pipeline take the newest frame without waiting or copying.

A real camera that stops delivering (unplugged, USB reset) is released and reopened with backoff by
its capture thread; meanwhile `status()` says NO_DEVICE (the device node is gone) or OFFLINE and
`read_frame()` fails at once with DEVICE_NOT_READY. Frames are never logged.

A camera streams only while it is used: once nobody has asked for a frame for `idle_s` (15 s), the
capture is released and the last frame let go, and the next `read_frame()` or `latest()` starts it
again (that read waits up to RESUME_GRACE_S longer). A kiosk spends most of its day on the home
screen: its cameras' lights stay off in front of passers-by, and a 12 MP document camera does not
decode frames nobody looks at (a core's worth of MJPEG) nor hold them (~70 MB with OpenCV's own).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from devices.base import N_, Action, Completion, DeviceError, DeviceState, DeviceStatus, HealthLevel
from devices.lifecycle import Lifecycle, LifecycleState

log = logging.getLogger(__name__)
MSG_NOT_READY = N_("摄像头暂时无法使用，请联系工作人员。")
MSG_NO_PICTURE = N_("摄像头暂时没有画面，请稍后再试；如仍不行，请联系工作人员。")
_NOT_READY = MSG_NOT_READY  # the old private name
_BLANK_STD = 2.0  # a frame whose grey levels vary less than this is blank (capped lens, dead sensor)
_JOIN_S = 3.0  # a capture thread stuck in a driver read is abandoned (daemon) rather than hanging close
IDLE_S = 15.0  # no frame asked for this long: the camera stops streaming until the next read
RESUME_GRACE_S = 3.0  # a read that wakes a stopped camera waits this much longer (V4L2 start, exposure)
_IDLE_CHECK_S = 2.0  # a stopped camera still looks for its device node this often (unplug detection)


def frame_health(frame: np.ndarray) -> dict[str, object]:
    """Raise DeviceError(HARDWARE_ERROR) for a blank frame; else the frame's size and spread."""
    std = float(np.std(frame)) if frame.size else 0.0
    if frame.size == 0 or std < _BLANK_STD:
        raise DeviceError(
            Completion.HARDWARE_ERROR,
            MSG_NOT_READY,
            detail=f"blank frame (grey level spread {std:.1f})",
            action=Action.MAINTENANCE,
        )
    return {"frame": f"{frame.shape[1]}x{frame.shape[0]}", "frame_std": round(std, 1)}


def _not_open() -> DeviceError:
    return DeviceError(Completion.SEQUENCE_ERROR, MSG_NOT_READY, detail="camera not open")


class FrameBuffer:
    """The newest frame with its sequence number, and whether the camera is there at all.

    Producers (a capture or player thread) `publish`; readers wait on a condition for a newer
    sequence number, so nobody polls. `lost()` drops the frame and wakes readers so they fail at
    once instead of timing out. Sequence numbers only grow, across reconnects too.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seq = 0
        self._frame: np.ndarray | None = None
        self._state = DeviceState.ONLINE
        self._error = ""

    def publish(self, frame: np.ndarray) -> int:
        with self._cond:
            self._seq += 1
            self._frame = frame
            self._cond.notify_all()
            return self._seq

    def lost(self, state: DeviceState, error: str) -> None:
        with self._cond:
            self._frame, self._state, self._error = None, state, error
            self._cond.notify_all()

    def restored(self) -> None:
        with self._cond:
            self._state, self._error = DeviceState.ONLINE, ""

    def clear(self) -> None:
        """Let the frame go (the camera stopped streaming); the link state stays as it is."""
        with self._cond:
            self._frame = None

    def link(self) -> tuple[DeviceState, str]:
        with self._cond:
            return self._state, self._error

    def latest(self) -> tuple[int, np.ndarray] | None:
        with self._cond:
            return None if self._frame is None else (self._seq, self._frame)

    def wait_newer(self, after: int, timeout_s: float) -> tuple[int, np.ndarray]:
        """The newest frame once its sequence number is above `after`; DeviceError while the camera
        is gone (DEVICE_NOT_READY) or when nothing newer comes within `timeout_s` (TIMEOUT)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                if self._state is not DeviceState.ONLINE:
                    raise DeviceError(
                        Completion.DEVICE_NOT_READY,
                        MSG_NOT_READY,
                        detail=f"camera {self._state.value}: {self._error}",
                        action=Action.MAINTENANCE,
                    )
                if self._frame is not None and self._seq > after:
                    return self._seq, self._frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DeviceError(
                        Completion.TIMEOUT,
                        MSG_NO_PICTURE,
                        detail=f"no new frame within {timeout_s:g} s",
                        action=Action.AUTO,
                    )
                self._cond.wait(remaining)


class Demand:
    """When a camera's frames were last wanted, for the thread that streams them: `idle()` once
    nobody has asked for `idle_s`; `want()` (any read) wakes a stream that has stopped."""

    def __init__(self, idle_s: float, wake: threading.Event) -> None:
        self.idle_s, self.wake = idle_s, wake
        self.streaming = True
        self._at = time.monotonic()

    def want(self) -> bool:
        """Record a read; True when the stream had stopped (the read should allow for its start)."""
        self._at = time.monotonic()  # before looking at `streaming`: see sleep_while_idle
        if self.streaming:
            return False
        self.wake.set()
        return True

    def idle(self) -> bool:
        return time.monotonic() - self._at > self.idle_s

    def sleep_while_idle(
        self, stop: threading.Event, check: Callable[[], None] | None = None, every_s: float | None = None
    ) -> None:
        """Stopped until a read (or `stop`), calling `check` every `every_s` meanwhile. `streaming`
        is cleared before idle() is looked at again, so a read racing with the stop still wakes us."""
        self.streaming = False
        while not stop.is_set() and self.idle():
            if check is not None:
                check()
            self.wake.wait(every_s)
            self.wake.clear()
        self.streaming = True


class _CameraLifecycle(Lifecycle):
    """Lifecycle (devices/lifecycle.py) shared by both cameras: `open()` claims, enables and starts
    the camera's thread; a disabled or released camera refuses `read_frame`. Counters: `frames`
    (frames handed out by read_frame and health checks), `errors`, and for the real camera
    `reconnects`. EXTERNAL health waits for a new frame and checks it is not blank."""

    kind = "camera"
    name: str

    def _camera_init(self, claim_key: str) -> None:
        self._lifecycle_init(claim_key)
        self._last_seq = 0
        self._seq_lock = threading.Lock()

    def _buffer(self) -> FrameBuffer:
        raise NotImplementedError

    def _details(self) -> dict[str, Any]:
        return {}

    def _demand(self) -> Demand:
        raise NotImplementedError

    def read_frame(self, timeout_s: float = 2.0) -> np.ndarray:
        """A frame newer than the one this method returned last, waiting up to `timeout_s` (plus
        RESUME_GRACE_S when the camera had stopped streaming). The frame is the caller's own copy.
        DeviceError: SEQUENCE_ERROR when not open or disabled, DEVICE_NOT_READY while the camera is
        gone, TIMEOUT when no new frame comes in time."""
        with self._operation("read_frame"):
            frame = self._next_frame(timeout_s).copy()  # the buffer's frame is shared with latest()
        self._count("frames")
        return frame

    def latest(self) -> tuple[int, np.ndarray] | None:
        """(sequence number, frame) of the newest frame without waiting, or None (not enabled, no
        frame yet, camera gone or starting). Not a copy: callers must not modify it. A pipeline polls
        this and skips work while the sequence number has not moved."""
        if self._lc_state is not LifecycleState.ENABLED:
            return None
        self._demand().want()
        return self._buffer().latest()

    def _next_frame(self, timeout_s: float) -> np.ndarray:
        if self._lc_state is LifecycleState.CLOSED:
            raise _not_open()
        if self._demand().want():
            timeout_s += RESUME_GRACE_S
        seq, frame = self._buffer().wait_newer(self._last_seq, timeout_s)
        with self._seq_lock:
            self._last_seq = max(self._last_seq, seq)
        return frame

    def status(self) -> DeviceStatus:
        if self._lc_state is LifecycleState.CLOSED:
            return DeviceStatus(self.name, self.kind, DeviceState.OFFLINE, self._details())
        state, error = self._buffer().link()
        if state is DeviceState.ONLINE:
            return DeviceStatus(self.name, self.kind, state, self._details())
        return DeviceStatus(
            self.name, self.kind, state, {**self._details(), "error": error}, Action.MAINTENANCE
        )

    def _exercise(self, level: HealthLevel) -> dict[str, object]:
        frame = self._next_frame(2.0)
        self._count("frames")
        return frame_health(frame)


class Capture(Protocol):
    """The part of cv2.VideoCapture the camera uses (tests inject fakes)."""

    def isOpened(self) -> bool: ...  # OpenCV's name

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def set(self, prop_id: int, value: float) -> bool: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[str | int], Capture]


def opencv_capture(source: str | int) -> Capture:
    """V4L2 for device nodes and indexes (no slow backend probing); OpenCV's choice for a file."""
    if isinstance(source, int) or source.startswith("/dev/"):
        return cv2.VideoCapture(source, cv2.CAP_V4L2)
    return cv2.VideoCapture(source)


def _option(options: Mapping[str, Any], key: str, kind: Callable[[Any], Any]) -> Any:
    if options.get(key) in (None, ""):
        return None
    try:
        return kind(options[key])
    except (TypeError, ValueError):
        raise DeviceError(
            Completion.UNSUPPORTED,
            MSG_NOT_READY,
            detail=f"camera option {key}={options[key]!r} is not a {kind.__name__}",
            action=Action.MAINTENANCE,
        ) from None


def url_options(url: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Query parameters of `url`, overridden by config options (`[devices.<name>]` extra keys)."""
    merged: dict[str, Any] = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    merged.update(options or {})
    return merged


class Camera(_CameraLifecycle):
    """A V4L2 / index camera through OpenCV: `v4l2:///dev/v4l/by-id/...` (stable across replugs),
    `v4l2:///dev/video0`, `v4l2://0`. A capture thread keeps the latest frame and reconnects."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "camera",
        width: int | None = 640,
        height: int | None = 480,
        fps: float | None = None,
        exposure: float | str | None = None,
        fourcc: str | None = None,
        capture_factory: CaptureFactory = opencv_capture,
        backoff: tuple[float, float] = (0.5, 8.0),
        failures_before_lost: int = 5,
        idle_s: float = IDLE_S,
    ) -> None:
        parts = urlsplit(url)
        source: str | int = parts.path or parts.netloc
        self._source = int(source) if isinstance(source, str) and source.isdigit() else source
        self.name = name
        self._size = (width, height)
        self._fps, self._exposure, self._fourcc = fps, exposure, fourcc
        if fourcc is not None and len(fourcc) != 4:
            raise DeviceError(
                Completion.UNSUPPORTED, MSG_NOT_READY, detail=f"fourcc must be 4 characters: {fourcc!r}"
            )
        self._factory, self._backoff, self._max_failures = capture_factory, backoff, failures_before_lost
        self._frames = FrameBuffer()
        self._resolution = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wanted = Demand(idle_s, threading.Event())
        self._camera_init(f"camera:{self._source}")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        name: str = "camera",
        options: Mapping[str, Any] | None = None,
        capture_factory: CaptureFactory = opencv_capture,
    ) -> Camera:
        """Options (URL query or config): width, height, fps, exposure (a number or "auto"), fourcc."""
        opts = url_options(url, options)
        exposure = opts.get("exposure")
        return cls(
            url.split("?", 1)[0],
            name=name,
            width=_option(opts, "width", int) or 640,
            height=_option(opts, "height", int) or 480,
            fps=_option(opts, "fps", float),
            exposure=exposure if exposure == "auto" else _option(opts, "exposure", float),
            fourcc=_option(opts, "fourcc", str),
            capture_factory=capture_factory,
        )

    def _buffer(self) -> FrameBuffer:
        return self._frames

    def _demand(self) -> Demand:
        return self._wanted

    def _details(self) -> dict[str, Any]:
        return {"resolution": self._resolution} if self._resolution else {}

    def open(self) -> None:
        self._lc_open(self._open)

    def _open(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return  # open() again while open: UPOS no-op
        cap = self._connect()  # fails here, synchronously, when the camera is not there at all
        self._frames.restored()
        self._wanted.want()  # streams from the open until it has been idle for a while
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(cap, self._stop), daemon=True, name=f"camera-{self.name}"
        )
        self._thread.start()

    def _connect(self) -> Capture:
        try:
            cap = self._factory(self._source)
            opened = cap.isOpened()
        except cv2.error as exc:
            raise self._cannot_open(type(exc).__name__) from None
        if not opened:
            cap.release()
            raise self._cannot_open("not opened")
        self._configure(cap)
        return cap

    def _cannot_open(self, why: str) -> DeviceError:
        return DeviceError(
            Completion.DEVICE_NOT_READY,
            MSG_NOT_READY,
            detail=f"cannot open camera {self._source}: {why}",
            action=Action.MAINTENANCE,
        )

    def _configure(self, cap: Capture) -> None:
        # V4L2 negotiates the format in this order: pixel format, then size, then frame rate.
        if self._fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self._fourcc))
        width, height = self._size
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if self._fps:
            cap.set(cv2.CAP_PROP_FPS, self._fps)
        if self._exposure == "auto":
            cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 3)  # V4L2 backend: 3 = aperture priority (auto)
        elif self._exposure is not None:
            cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)  # V4L2 backend: 1 = manual, needed before EXPOSURE
            cap.set(cv2.CAP_PROP_EXPOSURE, float(self._exposure))
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the thread reads continuously; a deep queue only adds lag
        got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._resolution = f"{got[0]}x{got[1]}" if all(got) else ""
        if width and height and all(got) and got != (width, height):
            log.info("camera %s: asked for %dx%d, got %dx%d", self.name, width, height, *got)

    def _gone_state(self) -> DeviceState:
        """NO_DEVICE when the device node has gone (unplugged), OFFLINE when it is there but mute."""
        node = f"/dev/video{self._source}" if isinstance(self._source, int) else self._source
        if node.startswith("/dev/") and not os.path.exists(node):
            return DeviceState.NO_DEVICE
        return DeviceState.OFFLINE

    def _read(self, cap: Capture) -> np.ndarray | None:
        try:
            ok, frame = cap.read()
        except cv2.error:
            return None
        return frame if ok and frame is not None and frame.size else None

    def _run(self, cap: Capture | None, stop: threading.Event) -> None:
        """Capture thread: read as fast as the sensor delivers (cap.read blocks until the next frame);
        after `failures_before_lost` failed reads in a row, release and reopen with backoff; when
        nobody has wanted a frame for `idle_s`, release and wait for the next read."""
        delay, failures = self._backoff[0], 0
        resuming = False
        try:
            while not stop.is_set():
                if cap is not None and self._wanted.idle():
                    cap.release()
                    cap, resuming, frame = None, True, None  # `frame` would keep the last one alive
                    self._frames.clear()
                    self._wanted.sleep_while_idle(stop, self._check_node_while_idle, _IDLE_CHECK_S)
                    continue
                if cap is None:
                    try:
                        cap = self._connect()
                    except DeviceError as err:
                        resuming = False  # a loss from here on: its return counts as a reconnect
                        self._frames.lost(self._gone_state(), err.detail)
                        stop.wait(delay)
                        delay = min(delay * 2, self._backoff[1])
                        continue
                    if not resuming:
                        log.info("camera %s: back", self.name)
                        self._count("reconnects")
                    self._frames.restored()
                    delay, failures, resuming = self._backoff[0], 0, False
                frame = self._read(cap)
                if frame is not None:
                    failures = 0
                    self._frames.publish(frame)
                    continue
                failures += 1
                if failures < self._max_failures:
                    stop.wait(0.02)  # a single dropped frame is normal; do not spin on a failing read
                    continue
                log.warning("camera %s: no frames; reconnecting in the background", self.name)
                self._count("errors")
                self._frames.lost(self._gone_state(), f"camera {self._source} stopped delivering frames")
                cap.release()
                cap = None
        finally:
            if cap is not None:
                cap.release()

    def _check_node_while_idle(self) -> None:
        """A stopped camera reads nothing, so an unplug shows only as its device node going away."""
        gone = self._gone_state() is DeviceState.NO_DEVICE
        state, _ = self._frames.link()
        if gone and state is DeviceState.ONLINE:
            self._frames.lost(DeviceState.NO_DEVICE, f"camera {self._source} unplugged while stopped")
        elif not gone and state is DeviceState.NO_DEVICE:
            self._frames.restored()

    def close(self) -> None:
        self._lc_close(self._close)

    def _close(self) -> None:
        self._stop.set()
        self._wanted.wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(_JOIN_S)
            if thread.is_alive():
                log.warning("camera %s: capture thread stuck in a read; left behind", self.name)
        self._frames.lost(DeviceState.OFFLINE, "closed")


# Imported last: the simulator builds on FrameBuffer and _CameraLifecycle above.
from devices.camera_sim import CameraFeed, SimulatedCamera  # noqa: E402

__all__ = [
    "Camera",
    "CameraFeed",
    "Capture",
    "CaptureFactory",
    "FrameBuffer",
    "SimulatedCamera",
    "frame_health",
    "open_camera",
]


def open_camera(
    url: str, *, name: str = "camera", options: Mapping[str, Any] | None = None
) -> Camera | SimulatedCamera:
    """Build and open the camera `url` names; `options` are the config's `[devices.<name>]` keys."""
    camera: Camera | SimulatedCamera
    if url.startswith("sim://"):
        camera = SimulatedCamera.from_url(url, name=name, options=options)
    else:
        camera = Camera.from_url(url, name=name, options=options)
    camera.open()
    return camera
