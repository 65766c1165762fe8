"""Cameras: OpenCV capture for real devices, an image-source simulator for the demo and tests.

Both give the same small interface (open / read_frame / close / status) so a simulator is a config
change away from a real camera. The capture thread with a latest-frame buffer comes with the camera
issue; here every read grabs a fresh frame.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np

from devices.base import Action, Completion, DeviceError, DeviceState, DeviceStatus, HealthLevel
from devices.lifecycle import Lifecycle

log = logging.getLogger(__name__)
_NOT_READY = "摄像头暂时无法使用，请联系工作人员。"
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
_BLANK_STD = 2.0  # a frame whose grey levels vary less than this is blank (capped lens, dead sensor)


def frame_health(frame: np.ndarray) -> dict[str, object]:
    """Raise DeviceError(HARDWARE_ERROR) for a blank frame; else the frame's size and spread."""
    std = float(np.std(frame))
    if frame.size == 0 or std < _BLANK_STD:
        raise DeviceError(
            Completion.HARDWARE_ERROR,
            _NOT_READY,
            detail=f"blank frame (grey level spread {std:.1f})",
            action=Action.MAINTENANCE,
        )
    return {"frame": f"{frame.shape[1]}x{frame.shape[0]}", "frame_std": round(std, 1)}


class _CameraLifecycle(Lifecycle):
    """Lifecycle (devices/lifecycle.py) shared by both cameras: `open()` claims and enables; a
    disabled or released camera refuses `read_frame`. Counters: `frames` and `errors`.
    EXTERNAL health grabs a frame and checks it is not blank."""

    def _grab(self, timeout_s: float) -> np.ndarray:
        raise NotImplementedError

    def read_frame(self, timeout_s: float = 2.0) -> np.ndarray:
        with self._operation("read_frame"):
            frame = self._grab(timeout_s)
        self._count("frames")
        return frame

    def _exercise(self, level: HealthLevel) -> dict[str, object]:
        frame = self._grab(2.0)
        self._count("frames")
        return frame_health(frame)


class Camera(_CameraLifecycle):
    """A V4L2 / index camera through OpenCV: `v4l2:///dev/video0`, `v4l2:///dev/v4l/by-id/...`, `v4l2://0`."""

    kind = "camera"

    def __init__(self, url: str, *, name: str = "camera", width: int = 640, height: int = 480) -> None:
        parts = urlsplit(url)
        self._source: str | int = parts.path or parts.netloc
        if isinstance(self._source, str) and self._source.isdigit():
            self._source = int(self._source)
        self.name, self._size = name, (width, height)
        self._cap: cv2.VideoCapture | None = None
        self._lock = threading.Lock()
        self._lifecycle_init(f"camera:{self._source}")

    def open(self) -> None:
        self._lc_open(self._open)

    def _open(self) -> None:
        cap = cv2.VideoCapture(self._source, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(
                Completion.DEVICE_NOT_READY,
                _NOT_READY,
                detail=f"cannot open camera {self._source}",
                action=Action.MAINTENANCE,
            )
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        self._cap = cap

    def _grab(self, timeout_s: float) -> np.ndarray:
        with self._lock:
            if self._cap is None:
                raise DeviceError(Completion.SEQUENCE_ERROR, _NOT_READY, detail="camera not open")
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                ok, frame = self._cap.read()
                if ok and frame is not None:
                    return frame
                time.sleep(0.05)
        raise DeviceError(Completion.TIMEOUT, _NOT_READY, detail="no frame from camera", action=Action.AUTO)

    def status(self) -> DeviceStatus:
        state = DeviceState.ONLINE if self._cap is not None and self._cap.isOpened() else DeviceState.OFFLINE
        return DeviceStatus(self.name, self.kind, state)

    def close(self) -> None:
        self._lc_close(self._close)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class SimulatedCamera(_CameraLifecycle):
    """Plays still images (one file, or every image of a folder in name order, looping) as frames."""

    kind = "camera"

    def __init__(self, source: Path, *, name: str = "camera", fps: float = 15.0) -> None:
        self.name, self._source, self._interval = name, source, 1.0 / fps
        self._frames: list[np.ndarray] = []
        self._index = 0
        self._lock = threading.Lock()
        self._lifecycle_init(f"simcamera:{source}")

    @classmethod
    def from_url(cls, url: str, *, name: str = "camera") -> SimulatedCamera:
        query = parse_qs(urlsplit(url).query)
        if "source" not in query:
            raise DeviceError(
                Completion.INVALID_DATA, _NOT_READY, detail=f"sim camera url needs ?source=: {url}"
            )
        return cls(Path(query["source"][0]), name=name, fps=float(query.get("fps", ["15"])[0]))

    def open(self) -> None:
        self._lc_open(self._open)

    def _open(self) -> None:
        paths = (
            sorted(p for p in self._source.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
            if self._source.is_dir()
            else [self._source]
        )
        frames = [f for f in (cv2.imread(str(p)) for p in paths) if f is not None]
        if not frames:
            raise DeviceError(
                Completion.DEVICE_NOT_READY,
                _NOT_READY,
                detail=f"simulated camera has no readable image at {self._source}",
                action=Action.MAINTENANCE,
            )
        self._frames = frames

    def _grab(self, timeout_s: float) -> np.ndarray:
        with self._lock:
            if not self._frames:
                raise DeviceError(Completion.SEQUENCE_ERROR, _NOT_READY, detail="camera not open")
            time.sleep(self._interval)  # pace like a real sensor so callers see realistic timing
            frame = self._frames[self._index % len(self._frames)]
            self._index += 1
            return frame.copy()

    def status(self) -> DeviceStatus:
        return DeviceStatus(self.name, self.kind, DeviceState.ONLINE if self._frames else DeviceState.OFFLINE)

    def close(self) -> None:
        self._lc_close(self._close)

    def _close(self) -> None:
        self._frames = []


def open_camera(url: str, *, name: str = "camera") -> Camera | SimulatedCamera:
    camera = SimulatedCamera.from_url(url, name=name) if url.startswith("sim://") else Camera(url, name=name)
    camera.open()
    return camera
