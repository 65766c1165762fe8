"""The simulated camera: images, folders, videos, scripted sequences, unplug/replug, the shared feed.

Frames carry their index as their grey level so order can be checked; nothing here asserts on
wall-clock time (segments are counted in frames, waits are only upper bounds).
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from devices.base import Action, Completion, DeviceError, DeviceState, HealthLevel
from devices.camera import SimulatedCamera, open_camera
from devices.manager import DeviceManager
from devices.simhost import SimHost

FAST = 200.0  # fps: quick tests; correctness never depends on it


def level(value: int, shape: tuple[int, int] = (48, 64)) -> np.ndarray:
    """A frame whose grey level is `value`, with a little texture so it is not blank."""
    frame = np.full((*shape, 3), value, np.uint8)
    frame[::8, ::8] = 255 - value
    return frame


def grey(frame: np.ndarray) -> int:
    return round(float(np.median(frame)))


def until(condition: Callable[[], bool], limit_s: float = 5.0) -> bool:
    """Poll `condition` (bounded); the limit is a safety net, not a timing assertion."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def drain(camera: SimulatedCamera) -> list[int]:
    """Grey levels of every frame read until the source ends (read_frame times out)."""
    seen: list[int] = []
    for _ in range(1000):
        try:
            seen.append(grey(camera.read_frame(timeout_s=0.3)))
        except DeviceError as err:
            assert err.completion is Completion.TIMEOUT
            return seen
    raise AssertionError("the source never ended")


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    assert until(lambda: not [t for t in set(threading.enumerate()) - before if t.name.startswith("sim-")])


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "face.png"
    cv2.imwrite(str(path), level(100, (120, 160)))
    return path


def test_still_image_gives_newer_frames_and_latest_seq_grows(image: Path, no_thread_leak: None) -> None:
    camera = SimulatedCamera(image, fps=FAST)
    assert camera.latest() is None  # not open
    camera.open()
    try:
        first = camera.read_frame(timeout_s=1)
        assert first.shape == (120, 160, 3) and grey(first) == 100
        latest = camera.latest()
        assert latest is not None
        seq = latest[0]
        camera.read_frame(timeout_s=1)
        newer = camera.latest()
        assert newer is not None and newer[0] > seq
        first[:] = 0  # read_frame hands out a copy: the feed is unharmed
        assert grey(camera.read_frame(timeout_s=1)) == 100
        status = camera.status()
        assert status.state is DeviceState.ONLINE and status.kind == "camera"
        assert camera.check_health(HealthLevel.EXTERNAL).details["health"] == "ok"
        assert camera.counters["frames"] == 4
    finally:
        camera.close()
    assert camera.status().state is DeviceState.OFFLINE and camera.latest() is None


def test_frame_list_plays_in_order_then_read_times_out(no_thread_leak: None) -> None:
    camera = SimulatedCamera([level(10 * i) for i in range(1, 7)], fps=FAST, loop=False)
    camera.open()
    try:
        seen = drain(camera)
        assert seen == sorted(set(seen)) and seen[-1] == 60  # newer every time, never repeated
        latest = camera.latest()
        assert latest is not None and latest[0] == 6 and grey(latest[1]) == 60
        with pytest.raises(DeviceError) as info:
            camera.read_frame(timeout_s=0.1)
        assert info.value.completion is Completion.TIMEOUT and info.value.action is Action.AUTO
        assert info.value.message and "0.1" in info.value.detail
        assert camera.status().state is DeviceState.ONLINE  # connected, just nothing new
        camera.show(level(200))  # scripting restarts a stopped source
        assert grey(camera.read_frame(timeout_s=1)) == 200
    finally:
        camera.close()


def test_directory_plays_sorted_images_and_loops(tmp_path: Path, no_thread_leak: None) -> None:
    for name, value in [("b.png", 80), ("a.png", 40), ("c.jpg", 120), ("notes.txt", 0)]:
        if name.endswith(".txt"):
            (tmp_path / name).write_text("not an image")
        else:
            cv2.imwrite(str(tmp_path / name), level(value))
    camera = open_camera(f"sim://camera?source={tmp_path}&fps={FAST}&loop=0")
    try:
        seen = drain(camera)
        assert seen == sorted(seen) and seen[-1] == 120 and set(seen) <= {40, 80, 120}
        latest = camera.latest()
        assert latest is not None and latest[0] == 3
    finally:
        camera.close()
    looping = open_camera(f"sim://camera?source={tmp_path}&fps={FAST}")
    try:
        levels = {grey(looping.read_frame(timeout_s=1)) for _ in range(30)}
        assert 40 in levels and 120 in levels  # wrapped around at least once
    finally:
        looping.close()


def write_video(path: Path, levels: list[int]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    assert writer.isOpened()
    for value in levels:
        writer.write(level(value))
    writer.release()
    return path


def test_video_file_plays_through_and_loops(tmp_path: Path, no_thread_leak: None) -> None:
    video = write_video(tmp_path / "clip.avi", [30, 60, 90, 120, 150])
    camera = SimulatedCamera(video, fps=FAST, loop=False)
    camera.open()
    try:
        seen = drain(camera)
        assert seen == sorted(seen) and abs(seen[-1] - 150) <= 3  # MJPG is lossy
        latest = camera.latest()
        assert latest is not None and latest[0] == 5 and latest[1].shape == (48, 64, 3)
    finally:
        camera.close()
    looping = open_camera(f"sim://camera?source={video}&fps={FAST}&loop=1&width=32")
    try:
        frames = [looping.read_frame(timeout_s=1) for _ in range(15)]
        assert frames[0].shape == (24, 32, 3)  # one side given: aspect kept
        assert looping.latest()[0] > 5  # type: ignore[index]  # past the end of the file: looped
    finally:
        looping.close()


def test_unreadable_sources_fail_open(tmp_path: Path) -> None:
    (tmp_path / "broken.avi").write_bytes(b"not a video")
    for source in [tmp_path / "missing.png", tmp_path / "broken.avi", tmp_path]:
        camera = SimulatedCamera(source)
        with pytest.raises(DeviceError) as info:
            camera.open()
        assert info.value.completion is Completion.DEVICE_NOT_READY and info.value.message
    with pytest.raises(DeviceError) as info:
        open_camera("sim://camera?fps=5")
    assert info.value.completion is Completion.INVALID_DATA


def test_scripted_sequence_face_head_turn_document(no_thread_leak: None) -> None:
    page = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)  # 12 MP, as-is
    turn = [level(150), level(160), level(170)]
    camera = SimulatedCamera(fps=100)
    camera.show_sequence([(level(100), 0.05), (turn, 0.03), (page, 0.02)])
    camera.open()
    try:
        first = camera.read_frame(timeout_s=1)
        assert grey(first) in (100, 150, 160, 170) or first.shape == page.shape
        assert until(lambda: (camera.latest() or (0,))[0] >= 10)
        assert camera.read_frame(timeout_s=1).shape == page.shape  # the newest one: the page
        with pytest.raises(DeviceError):
            camera.read_frame(timeout_s=0.2)  # ended
        latest = camera.latest()
        assert latest is not None
        assert latest[0] == 5 + 3 + 2  # segments counted in frames at the nominal fps
        assert latest[1] is page  # latest() does not copy
    finally:
        camera.close()


def test_script_file_in_the_url(tmp_path: Path, no_thread_leak: None) -> None:
    cv2.imwrite(str(tmp_path / "face.png"), level(90))
    write_video(tmp_path / "turn.avi", [140, 180])
    (tmp_path / "scene.json").write_text(
        json.dumps([{"source": "face.png", "seconds": 0.04}, {"source": "turn.avi", "seconds": 0.04}])
    )
    camera = open_camera(f"sim://camera?script={tmp_path / 'scene.json'}&fps=100&loop=0&width=32&height=32")
    try:
        seen = drain(camera)
        assert seen[0] in (90, 140, 180) and abs(seen[-1] - 180) <= 3
        latest = camera.latest()
        assert latest is not None and latest[0] == 4 + 4 and latest[1].shape == (32, 32, 3)
    finally:
        camera.close()


def test_unplug_then_replug(image: Path, no_thread_leak: None) -> None:
    camera = SimulatedCamera(image, fps=FAST)
    camera.open()
    try:
        camera.read_frame(timeout_s=1)
        waiting: list[DeviceError] = []

        def wait_long() -> None:
            try:
                camera.show([level(50)], loop=False)
                camera.read_frame(timeout_s=1)
                camera.read_frame(timeout_s=30)  # the list has ended: only the unplug can end this
            except DeviceError as err:
                waiting.append(err)

        reader = threading.Thread(target=wait_long)
        reader.start()
        time.sleep(0.05)  # let it start waiting (the result does not depend on it)
        camera.unplug()
        reader.join(5)
        assert not reader.is_alive() and waiting[0].completion is Completion.DEVICE_NOT_READY
        status = camera.status()
        assert status.state is DeviceState.NO_DEVICE and status.action is Action.MAINTENANCE
        assert "unplugged" in status.details["error"]
        assert camera.latest() is None
        with pytest.raises(DeviceError) as info:
            camera.read_frame(timeout_s=5)
        assert info.value.completion is Completion.DEVICE_NOT_READY and info.value.message
        assert camera.check_health(HealthLevel.EXTERNAL).state is DeviceState.NO_DEVICE
        camera.replug()
        camera.show(image)
        assert grey(camera.read_frame(timeout_s=1)) == 100
        assert camera.status().state is DeviceState.ONLINE
    finally:
        camera.close()
    assert camera.counters["errors"] == 2  # the woken reader and the read while unplugged


def test_simhost_feed_outlives_the_driver_through_the_device_manager(
    image: Path, no_thread_leak: None
) -> None:
    host = SimHost()
    url = host.resolve("face_camera", f"sim://camera?source={image}&fps=50", {"width": 80})
    assert url.startswith("sim://camera")
    manager = DeviceManager(
        {"face_camera": lambda: open_camera(url, name="face_camera")},
        poll_interval_s=0.05,
        backoff=(0.02, 0.1),
    )
    feed = host.cameras["face_camera"]
    try:
        manager.start()
        assert until(lambda: manager.status("face_camera").state is DeviceState.ONLINE)
        with manager.use("face_camera") as camera:
            assert camera.read_frame(timeout_s=1).shape == (60, 80, 3)  # option from the config
            camera.show(level(33, (60, 80)))
            assert grey(camera.read_frame(timeout_s=1)) == 33
        feed.unplug()
        assert until(lambda: manager.status("face_camera").state is not DeviceState.ONLINE)
        time.sleep(0.2)  # several rebuild attempts: the unplug holds across them
        assert manager.status("face_camera").state is not DeviceState.ONLINE
        feed.replug()
        assert until(lambda: manager.status("face_camera").state is DeviceState.ONLINE)
        with manager.use("face_camera") as camera:
            assert grey(camera.read_frame(timeout_s=1)) == 33  # the scripted scene survived the rebuild
    finally:
        manager.stop()
        host.stop()


def test_an_unused_feed_stops_and_lets_its_source_go_until_the_next_read(
    image: Path, no_thread_leak: None
) -> None:
    camera = SimulatedCamera.from_url(f"sim://camera?source={image}&fps={FAST:g}")
    camera.feed.demand.idle_s = 0.2
    camera.open()
    try:
        seq_then = camera.feed.buffer.latest()
        assert grey(camera.read_frame(timeout_s=1)) == 100
        assert camera.feed._plan is not None
        decoded = weakref.ref(camera.feed._plan.segments[0][0].stills[0])  # type: ignore[index]
        # The buffer is looked at directly: camera.latest() is a read and would keep it streaming.
        assert until(lambda: camera.feed.buffer.latest() is None and camera.feed._plan is None)
        assert until(lambda: decoded() is None)  # nothing, not even the player thread, keeps it
        assert camera.status().state is DeviceState.ONLINE
        assert grey(camera.read_frame(timeout_s=1)) == 100  # loaded and played again
        assert seq_then is None or camera.feed.buffer.latest()[0] > seq_then[0]  # type: ignore[index]
        # A scene given by a script is kept while stopped (nothing could load it again).
        camera.show(level(30))
        assert until(lambda: camera.feed.buffer.latest() is None)
        assert camera.feed._plan is not None
        assert grey(camera.read_frame(timeout_s=1)) == 30
    finally:
        camera.close()


def test_a_scene_shown_while_the_source_is_decoded_again_wins(
    image: Path, no_thread_leak: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopped feed decodes its URL's source again when read; a scene a script shows meanwhile (the
    demo's 12 MP desk takes a while) must not be replaced by that source when its decoding ends."""
    import devices.camera_sim as camera_sim

    camera = SimulatedCamera.from_url(f"sim://camera?source={image}&fps={FAST:g}")
    camera.feed.demand.idle_s = 0.2
    camera.open()
    decode = camera_sim._load_clip

    def slow_decode(source: object, size: tuple[int | None, int | None]) -> object:
        if (
            isinstance(source, Path) and source == image
        ):  # the script shows its page while the source is being decoded
            camera.show(level(30))
        return decode(source, size)  # type: ignore[arg-type]

    try:
        assert grey(camera.read_frame(timeout_s=1)) == 100
        assert until(lambda: camera.feed._plan is None)  # stopped, its source let go
        monkeypatch.setattr(camera_sim, "_load_clip", slow_decode)
        assert grey(camera.read_frame(timeout_s=1)) == 30
        assert all(grey(camera.read_frame(timeout_s=1)) == 30 for _ in range(5))
    finally:
        camera.close()
