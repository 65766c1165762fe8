"""The real camera's capture thread, latest-frame buffer and reconnection, without hardware: a fake
capture factory (a camera that goes away after N frames and comes back) and a video file path.
Nothing here asserts on wall-clock time; every wait is bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.base import Completion, DeviceError, DeviceState, HealthLevel
from devices.camera import Camera

SOURCE = "v4l2:///dev/v4l/by-id/usb-Fake_Cam-video-index0"  # no such node: a lost camera is NO_DEVICE


def until(condition: Callable[[], bool], limit_s: float = 5.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


class FakeUsbCamera:
    """The hardware: counts frames into their grey level; `unplug_after` frames it goes away until
    `replug()`; optionally a few dropped frames (`hiccup_at`) that must not count as a loss."""

    def __init__(
        self, unplug_after: int | None = None, hiccup_at: int | None = None, source: str = SOURCE
    ) -> None:
        self.source = source.removeprefix("v4l2://")
        self.frames = 0
        self.plugged = True
        self.unplug_after, self.hiccup_at = unplug_after, hiccup_at
        self.opens = 0
        self.captures: list[FakeCapture] = []
        self.lock = threading.Lock()

    def replug(self) -> None:
        with self.lock:
            self.plugged, self.unplug_after = True, None

    def factory(self, source: str | int) -> FakeCapture:
        assert source == self.source
        with self.lock:
            self.opens += 1
            cap = FakeCapture(self, opened=self.plugged)
        self.captures.append(cap)
        return cap


class FakeCapture:
    def __init__(self, camera: FakeUsbCamera, opened: bool) -> None:
        self.camera, self.opened, self.released = camera, opened, False
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:
        return self.opened

    def set(self, prop_id: int, value: float) -> bool:
        self.props[prop_id] = value
        return True

    def get(self, prop_id: int) -> float:
        return self.props.get(prop_id, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(0.002)  # a sensor delivers at its own pace; the thread must not spin
        cam = self.camera
        with cam.lock:
            if cam.unplug_after is not None and cam.frames >= cam.unplug_after:
                cam.plugged = False
            if not cam.plugged or self.released:
                return False, None
            cam.frames += 1
            if cam.hiccup_at is not None and cam.hiccup_at <= cam.frames < cam.hiccup_at + 2:
                return False, None  # two dropped frames: below the loss threshold
            frame = np.full((48, 64, 3), cam.frames % 256, np.uint8)
            frame[::4, ::4] = 255
            return True, frame

    def release(self) -> None:
        self.released = True


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert until(lambda: not [t for t in set(threading.enumerate()) - before if t.name.startswith("camera-")])


def camera_on(fake: FakeUsbCamera, **kwargs: object) -> Camera:
    return Camera(
        "v4l2://" + fake.source,
        name="face_camera",
        capture_factory=fake.factory,
        backoff=(0.01, 0.05),
        **kwargs,  # type: ignore[arg-type]
    )


def level(frame: np.ndarray) -> int:
    return int(np.median(frame))


def test_read_frame_returns_newer_frames_and_latest_does_not_copy(no_thread_leak: None) -> None:
    fake = FakeUsbCamera(hiccup_at=5)
    camera = camera_on(fake)
    camera.open()
    try:
        values = [level(camera.read_frame(timeout_s=1)) for _ in range(10)]
        assert values == sorted(set(values))  # strictly newer each time
        first = camera.latest()
        assert first is not None
        assert until(lambda: camera.latest()[0] > first[0])  # type: ignore[index]
        seq, frame = camera.latest()  # type: ignore[misc]
        assert camera.latest()[1] is frame or camera.latest()[0] > seq  # type: ignore[index]
        assert camera.status().state is DeviceState.ONLINE
        assert camera.counters["frames"] == 10 and camera.counters["errors"] == 0  # hiccup not a loss
        assert fake.opens == 1
    finally:
        camera.close()
    assert fake.captures[0].released


def test_options_are_set_on_the_capture(no_thread_leak: None) -> None:
    fake = FakeUsbCamera()
    camera = Camera.from_url(
        SOURCE + "?fps=30",
        name="document_camera",
        options={"width": "4000", "height": 3000, "fourcc": "MJPG", "exposure": -6},
        capture_factory=fake.factory,
    )
    camera.open()
    try:
        props = fake.captures[0].props
        assert props[cv2.CAP_PROP_FRAME_WIDTH] == 4000 and props[cv2.CAP_PROP_FRAME_HEIGHT] == 3000
        assert props[cv2.CAP_PROP_FPS] == 30
        assert props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
        assert props[cv2.CAP_PROP_AUTO_EXPOSURE] == 1 and props[cv2.CAP_PROP_EXPOSURE] == -6
        assert camera.status().details["resolution"] == "4000x3000"
    finally:
        camera.close()
    with pytest.raises(DeviceError) as info:
        Camera.from_url(SOURCE, options={"width": "wide"})
    assert info.value.completion is Completion.UNSUPPORTED


def test_unplug_after_n_frames_then_reconnect(no_thread_leak: None) -> None:
    fake = FakeUsbCamera(unplug_after=20)
    camera = camera_on(fake)
    camera.open()
    try:
        camera.read_frame(timeout_s=1)
        assert until(lambda: camera.status().state is not DeviceState.ONLINE)
        status = camera.status()
        assert status.state is DeviceState.NO_DEVICE and status.details["error"]  # lost, or reopen failed
        assert camera.latest() is None
        with pytest.raises(DeviceError) as info:
            camera.read_frame(timeout_s=5)  # fails at once, does not wait out the timeout
        assert info.value.completion is Completion.DEVICE_NOT_READY and info.value.message
        health = camera.check_health(HealthLevel.INTERNAL)
        assert health.details["health"] == "failed"
        assert until(lambda: fake.opens >= 3)  # retrying with backoff while it is away
        assert fake.captures[0].released  # the lost capture was let go before reopening
        fake.replug()
        assert until(lambda: camera.status().state is DeviceState.ONLINE)
        assert level(camera.read_frame(timeout_s=1)) > 20
        assert camera.counters["reconnects"] == 1
        assert camera.counters["errors"] == 2  # the loss and the refused read
    finally:
        camera.close()
    assert all(cap.released for cap in fake.captures)


def test_close_while_waiting_for_the_camera_stops_the_thread(no_thread_leak: None) -> None:
    fake = FakeUsbCamera(unplug_after=3)
    camera = camera_on(fake)
    camera.open()
    assert until(lambda: camera.status().state is DeviceState.NO_DEVICE)
    camera.close()  # the thread is in its backoff wait; close must end it (checked by the fixture)
    assert camera.status().state is DeviceState.OFFLINE
    with pytest.raises(DeviceError) as info:
        camera.read_frame()
    assert info.value.completion is Completion.SEQUENCE_ERROR
    fake.replug()
    camera.open()  # and a closed camera opens again
    try:
        assert camera.read_frame(timeout_s=1) is not None
    finally:
        camera.close()


def test_not_there_at_open_fails_at_once() -> None:
    fake = FakeUsbCamera()
    fake.plugged = False
    camera = camera_on(fake)
    with pytest.raises(DeviceError) as info:
        camera.open()
    assert info.value.completion is Completion.DEVICE_NOT_READY
    assert not [t for t in threading.enumerate() if t.name == "camera-face_camera"]


def test_video_file_path_reconnects_at_its_end(tmp_path: Path, no_thread_leak: None) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for value in range(40, 240, 40):  # 5 frames
        frame = np.full((48, 64, 3), value, np.uint8)
        frame[::4, ::4] = 0
        writer.write(frame)
    writer.release()
    camera = Camera(f"v4l2://{path}", width=None, height=None, backoff=(0.01, 0.05))
    camera.open()
    try:
        read = 0
        for _ in range(200):  # bounded: the end of the file looks like an unplug, then it reopens
            try:
                camera.read_frame(timeout_s=1)
                read += 1
            except DeviceError as err:
                assert err.completion is Completion.DEVICE_NOT_READY
                time.sleep(0.01)
            if read >= 8:
                break
        assert read >= 8 and camera.counters["reconnects"] >= 1
        assert camera.status().details["resolution"] == "64x48"
    finally:
        camera.close()


def test_an_unused_camera_stops_streaming_and_the_next_read_starts_it(no_thread_leak: None) -> None:
    fake = FakeUsbCamera(source="v4l2:///dev/null")  # a device node that is there
    camera = camera_on(fake, idle_s=0.2)
    camera.open()
    try:
        first = level(camera.read_frame(timeout_s=1))
        # Nobody reads: the capture is released (the camera's light goes off) and its frame let go.
        assert until(lambda: fake.captures[0].released)
        frames_then = fake.frames
        assert not until(lambda: fake.frames > frames_then, 0.3)  # nothing is captured meanwhile
        assert camera.status().state is DeviceState.ONLINE
        assert camera.latest() is None  # stopped: this poll asks for it again
        assert level(camera.read_frame(timeout_s=1)) > first
        assert fake.opens == 2 and not fake.captures[1].released
        assert camera.counters["reconnects"] == 0 and camera.counters["errors"] == 0  # not a loss
    finally:
        camera.close()


def test_a_stopped_camera_still_notices_its_device_node_going(
    no_thread_leak: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeUsbCamera(source="v4l2:///dev/null")
    camera = camera_on(fake, idle_s=0.1)
    monkeypatch.setattr("devices.camera._IDLE_CHECK_S", 0.02)
    camera.open()
    try:
        camera.read_frame(timeout_s=1)
        assert until(lambda: fake.captures[0].released)
        monkeypatch.setattr(camera, "_gone_state", lambda: DeviceState.NO_DEVICE)  # the node goes
        assert until(lambda: camera.status().state is DeviceState.NO_DEVICE)
        monkeypatch.setattr(camera, "_gone_state", lambda: DeviceState.OFFLINE)  # and comes back
        assert until(lambda: camera.status().state is DeviceState.ONLINE)
        assert camera.read_frame(timeout_s=1) is not None
    finally:
        camera.close()
