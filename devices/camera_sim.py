"""The simulated camera: `sim://camera?source=IMAGE_DIR_OR_VIDEO&fps=15&loop=1` or `?script=FILE.json`.

A `CameraFeed` is the simulated sensor: it plays a still image, a folder of images (name order), a
video file, numpy frames, or scripted segments of those, at `fps` from its own thread into the same
latest-frame buffer the real camera uses, so drivers and pipelines cannot tell the difference.
`SimulatedCamera` is the driver on a feed. Tests and the demo script the scene with `show()`,
`show_sequence()`, and `unplug()` / `replug()`.

When devices/simhost.py resolves a `sim://camera` URL it keeps the feed, so a scripted scene and an
unplug outlive the DeviceManager closing and rebuilding the driver (as a real camera outlives its
driver); a camera built straight from a URL or a path has a private feed.

Segments are measured in frames at the nominal fps (`seconds * fps`), not in wall-clock time, so a
scripted scene plays the same on a slow test machine.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Generator, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devices.base import Action, Completion, DeviceError, DeviceState
from devices.camera import (
    IDLE_S,
    MSG_NOT_READY,
    Demand,
    FrameBuffer,
    _CameraLifecycle,
    _option,
    url_options,
)

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm", ".mjpg", ".mjpeg"}

Source = str | Path | np.ndarray | Sequence[np.ndarray]
"""An image file, a folder of images, a video file, one frame, or a list of frames."""

# Feeds kept by SimHost, by URL, so a rebuilt driver finds the same scene (see the module doc).
_shared: dict[str, CameraFeed] = {}
_shared_lock = threading.Lock()


def _bad_source(detail: str) -> DeviceError:
    return DeviceError(Completion.DEVICE_NOT_READY, MSG_NOT_READY, detail=detail, action=Action.MAINTENANCE)


def _fit(frame: np.ndarray, size: tuple[int | None, int | None]) -> np.ndarray:
    """Scale to the configured resolution; with one side given, keep the aspect ratio."""
    width, height = size
    if not width and not height:
        return frame
    h, w = frame.shape[:2]
    if not width:
        width = round(w * height / h)  # type: ignore[operator]
    if not height:
        height = round(h * width / w)
    if (w, h) == (width, height):
        return frame
    shrink = width * height < w * h
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class _Clip:
    """The frames of one source in order; a video is decoded as it plays, stills are kept decoded."""

    def __init__(self, stills: list[np.ndarray] | None = None, video: Path | None = None) -> None:
        self.stills, self.video = stills, video

    def one_pass(self, size: tuple[int | None, int | None]) -> Generator[np.ndarray, None, None]:
        if self.stills is not None:
            yield from self.stills
            return
        cap = cv2.VideoCapture(str(self.video))
        try:
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                yield _fit(frame, size)
        finally:
            cap.release()


def _load_clip(source: Source, size: tuple[int | None, int | None]) -> _Clip:
    """Decode stills now (errors surface to the caller, not in the player thread); check a video opens."""
    if isinstance(source, np.ndarray):
        return _Clip([_fit(source, size)])
    if not isinstance(source, (str, Path)):
        frames = [_fit(np.asarray(f), size) for f in source]
        if not frames:
            raise _bad_source("simulated camera: empty frame list")
        return _Clip(frames)
    path = Path(source)
    if path.is_dir():
        paths = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        cap = cv2.VideoCapture(str(path))
        try:
            ok, _ = cap.read()
        finally:
            cap.release()
        if not ok:
            raise _bad_source(f"simulated camera cannot play the video {path}")
        return _Clip(video=path)
    else:
        paths = [path]
    frames = [_fit(f, size) for f in (cv2.imread(str(p)) for p in paths) if f is not None]
    if not frames:
        raise _bad_source(f"simulated camera has no readable image at {path}")
    return _Clip(frames)


def _script_segments(path: Path) -> list[tuple[Source, float]]:
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        return [(path.parent / str(item["source"]), float(item["seconds"])) for item in items]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise _bad_source(f"simulated camera script {path}: {type(exc).__name__}") from None


class _Plan:
    """Segments of (clip, frame count or None for one pass of the clip), played once or looping."""

    def __init__(self, segments: list[tuple[_Clip, int | None]], loop: bool) -> None:
        self.segments, self.loop = segments, loop

    def frames(self, size: tuple[int | None, int | None]) -> Generator[np.ndarray, None, None]:
        while True:
            produced = 0
            for clip, count in self.segments:
                produced += yield from self._segment(clip, count, size)
            if not self.loop or produced == 0:  # nothing playable: stop rather than spin
                return

    @staticmethod
    def _segment(
        clip: _Clip, count: int | None, size: tuple[int | None, int | None]
    ) -> Generator[np.ndarray, None, int]:
        """Yields the segment's frames; returns how many (a generator's return value)."""
        n = 0
        while count is None or n < count:
            before = n
            passing = clip.one_pass(size)
            try:
                for frame in passing:
                    yield frame
                    n += 1
                    if count is not None and n >= count:
                        break
            finally:
                passing.close()  # release a video now, not when the generator is collected
            if count is None or n == before:
                break
        return n


class CameraFeed:
    """The simulated sensor (see the module doc). Thread-safe; `show*` may be called while playing.

    While nothing new is due the player thread sleeps on an event: an ended or unplugged feed costs
    no CPU, a playing one wakes once per frame. Like a real camera it stops once no driver has asked
    for a frame for `idle_s` (devices/camera.py), and then also lets go of what it decoded from its
    URL's source (the demo's 12 MP desk scene is 34 MB); the next read loads and plays it again.
    """

    def __init__(
        self,
        source: Source | None = None,
        *,
        fps: float = 15.0,
        loop: bool = True,
        width: int | None = None,
        height: int | None = None,
        script: Path | None = None,
        idle_s: float = IDLE_S,
    ) -> None:
        if fps <= 0:
            raise DeviceError(Completion.UNSUPPORTED, MSG_NOT_READY, detail=f"sim camera fps={fps}")
        self.fps, self._loop, self._size = fps, loop, (width, height)
        self._initial: tuple[Source | None, Path | None] | None = (source, script)
        self._reload: tuple[Source | None, Path | None] | None = None  # the plan is the URL's source
        self.buffer = FrameBuffer()
        self.key = str(script or source) if isinstance(script or source, (str, Path)) else f"feed-{id(self)}"
        self._lock = threading.Lock()
        self._plan: _Plan | None = None
        self._version = 0
        self._plugged = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.demand = Demand(idle_s, self._wake)

    @classmethod
    def from_url(cls, url: str, options: Mapping[str, Any] | None = None) -> CameraFeed:
        """`sim://camera?source=…` or `?script=FILE.json`; fps, loop (1/0), width, height from the
        URL or from config options (which win)."""
        opts = url_options(url, options)
        source, script = opts.get("source"), opts.get("script")
        if bool(source) == bool(script):
            raise DeviceError(
                Completion.INVALID_DATA,
                MSG_NOT_READY,
                detail=f"sim camera url needs exactly one of ?source= and ?script=: {url}",
            )
        loop = str(opts.get("loop", "1")).lower() not in ("0", "false", "no")
        return cls(
            Path(source) if source else None,
            fps=_option(opts, "fps", float) or 15.0,
            loop=loop,
            width=_option(opts, "width", int),
            height=_option(opts, "height", int),
            script=Path(script) if script else None,
        )

    # -- scripting ---------------------------------------------------------------------------------

    def show(self, source: Source, *, loop: bool | None = None) -> None:
        """Play `source` from now on: a still or a folder repeats, a video or a frame list plays
        through; `loop` (default: the feed's) repeats it forever, else the feed stops at its end."""
        self._set_plan(self._source_plan(source, loop))

    def show_sequence(self, segments: Sequence[tuple[Source, float]], loop: bool = False) -> None:
        """Play scripted segments, each `(source, seconds)` (counted in frames at the nominal fps),
        e.g. a face, then head-turn frames, then a document page."""
        self._set_plan(self._sequence_plan(segments, loop))

    def play_script(self, path: Path, loop: bool = False) -> None:
        """A JSON list of {"source": path, "seconds": s}; relative paths are from the script's folder."""
        self.show_sequence(_script_segments(path), loop)

    def _source_plan(self, source: Source, loop: bool | None = None) -> _Plan:
        return _Plan([(_load_clip(source, self._size), None)], self._loop if loop is None else loop)

    def _sequence_plan(self, segments: Sequence[tuple[Source, float]], loop: bool) -> _Plan:
        if not segments:
            raise _bad_source("simulated camera: empty sequence")
        clips = [(_load_clip(src, self._size), max(1, round(s * self.fps))) for src, s in segments]
        return _Plan(clips, loop)

    def unplug(self) -> None:
        """Like pulling the USB cable: no frames, drivers report NO_DEVICE and fail reads at once."""
        with self._lock:
            self._plugged = False
        self.buffer.lost(DeviceState.NO_DEVICE, "camera unplugged")
        self._wake.set()

    def replug(self) -> None:
        with self._lock:
            self._plugged = True
        self.buffer.restored()
        self._wake.set()

    @property
    def plugged(self) -> bool:
        return self._plugged

    def _set_plan(self, plan: _Plan, loaded: tuple[Source | None, Path | None] | None = None) -> None:
        """Play `plan`; `loaded` when it is the URL's source `_initial` named, which a scene shown
        while it was being decoded (a 12 MP still takes a while) must win over."""
        with self._lock:
            if loaded is not None and self._initial is not loaded:
                return
            self._plan, self._initial, self._reload = plan, None, loaded
            self._version += 1
        self._wake.set()

    def _load_initial(self) -> None:
        """Load the URL's source (or script), if it is not loaded; DeviceError when unreadable."""
        initial = self._initial
        if initial is None:
            return
        source, script = initial
        if script is not None:
            self._set_plan(self._sequence_plan(_script_segments(script), self._loop), initial)
        elif source is not None:
            self._set_plan(self._source_plan(source), initial)

    def _let_go(self) -> None:
        """Stopped for want of readers: drop the frame and what the URL's source decoded to (a scene
        scripted with show() is kept: nothing could load it again)."""
        self.buffer.clear()
        with self._lock:
            if self._reload is not None:
                self._plan, self._initial = None, self._reload

    # -- player ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the initial source (DeviceError when unreadable) and start playing; idempotent."""
        self._load_initial()
        self.demand.want()
        if self._plan is None:
            raise _bad_source("simulated camera has nothing to play")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._version += 1  # a restarted feed plays its plan from the beginning
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), daemon=True, name="sim-camera"
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2.0)

    def _load_in_player(self) -> bool:
        """The source let go while idle, loaded again for a new reader; False (and the camera
        broken) when it has become unreadable."""
        try:
            self._load_initial()
        except DeviceError as err:
            self.buffer.lost(DeviceState.HARDWARE_ERROR, err.detail)
            self._wake.wait()  # until a new scene, a replug or stop
            if self._initial is None:  # a new scene was shown: the camera works again
                self.buffer.restored()
            return False
        return True

    def _run(self, stop: threading.Event) -> None:
        interval = 1.0 / self.fps
        frames: Generator[np.ndarray, None, None] | None = None
        version = -1
        due = time.monotonic()
        try:
            while not stop.is_set():
                self._wake.clear()  # before reading the state, so a change after this wakes us again
                if self.demand.idle():
                    if frames is not None:
                        frames.close()
                    # Played again from its start when wanted; the locals would keep the clip alive.
                    frames, version, frame, plan = None, -1, None, None
                    self._let_go()
                    self.demand.sleep_while_idle(stop)
                    continue
                if self._initial is not None and not self._load_in_player():
                    continue
                with self._lock:
                    plugged, plan, current = self._plugged, self._plan, self._version
                if current != version:
                    if frames is not None:
                        frames.close()
                    frames = plan.frames(self._size) if plan is not None else None
                    version, due = current, time.monotonic()
                if not plugged or frames is None:
                    self._wake.wait()  # unplugged or ended: sleep until show / replug / stop
                    continue
                delay = due - time.monotonic()
                if delay > 0 and self._wake.wait(delay):
                    continue  # something changed while waiting for the next frame
                frame = next(frames, None)
                if frame is None:
                    frames = None  # played through: latest() keeps the last frame, nothing newer comes
                    continue
                self.buffer.publish(frame)
                due = max(due + interval, time.monotonic() - interval)  # no burst after a stall
        finally:
            if frames is not None:
                frames.close()


def share_feed(url: str, options: Mapping[str, Any] | None = None) -> CameraFeed:
    """The feed SimHost keeps for `url` (made now, loaded when a driver first opens it)."""
    with _shared_lock:
        feed = _shared.get(url)
        if feed is None:
            feed = _shared[url] = CameraFeed.from_url(url, options)
        return feed


def unshare_feed(url: str, feed: CameraFeed) -> None:
    with _shared_lock:
        if _shared.get(url) is feed:
            del _shared[url]
    feed.stop()


class SimulatedCamera(_CameraLifecycle):
    """The camera driver on a `CameraFeed`; same interface and lifecycle as `Camera`. The scripting
    methods (`show`, `show_sequence`, `unplug`, `replug`) act on its feed."""

    def __init__(
        self,
        source: Source | None = None,
        *,
        name: str = "camera",
        fps: float = 15.0,
        loop: bool = True,
        width: int | None = None,
        height: int | None = None,
        script: Path | None = None,
        feed: CameraFeed | None = None,
    ) -> None:
        self.name = name
        self._own_feed = feed is None
        self.feed = feed or CameraFeed(source, fps=fps, loop=loop, width=width, height=height, script=script)
        self._camera_init(f"simcamera:{self.feed.key}")

    @classmethod
    def from_url(
        cls, url: str, *, name: str = "camera", options: Mapping[str, Any] | None = None
    ) -> SimulatedCamera:
        """On the feed SimHost keeps for `url` if any, else on a private feed."""
        with _shared_lock:
            shared = _shared.get(url)
        if shared is not None:
            return cls(name=name, feed=shared)
        camera = cls(name=name, feed=CameraFeed.from_url(url, options))
        camera._own_feed = True  # private: started and stopped with this driver
        return camera

    def _buffer(self) -> FrameBuffer:
        return self.feed.buffer

    def _demand(self) -> Demand:
        return self.feed.demand

    def _details(self) -> dict[str, Any]:
        return {"simulated": True}

    def show(self, source: Source, *, loop: bool | None = None) -> None:
        self.feed.show(source, loop=loop)

    def show_sequence(self, segments: Sequence[tuple[Source, float]], loop: bool = False) -> None:
        self.feed.show_sequence(segments, loop)

    def unplug(self) -> None:
        self.feed.unplug()

    def replug(self) -> None:
        self.feed.replug()

    def open(self) -> None:
        self._lc_open(self._open)

    def _open(self) -> None:
        if not self.feed.plugged:  # an unplugged camera cannot be opened
            raise _bad_source("camera unplugged")
        self.feed.start()

    def close(self) -> None:
        self._lc_close(self._close)

    def _close(self) -> None:
        if self._own_feed:
            self.feed.stop()
