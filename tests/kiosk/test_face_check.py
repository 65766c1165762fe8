"""FaceCheck end to end on synthetic frame sequences, with an injected clock and seeded challenges."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk import facepose_sim as sim
from kiosk.config import FaceConfig
from kiosk.face import FaceDetector
from kiosk.face_check import FaceCheck, FaceUpdate

SHARED = Path(__file__).resolve().parents[3] / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "models").is_dir(), reason="shared models missing")
MODEL = SHARED / "models" / "face_detection_yunet_2023mar.onnx"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(MODEL)


@pytest.fixture(scope="module")
def view(detector) -> np.ndarray:
    return sim.kiosk_view(cv2.imread(str(SHARED / "testdata" / "faces" / "obama.jpg")), detector)


def config(**kw) -> FaceConfig:
    return FaceConfig(detector_model=MODEL, **kw)


def drive(check: FaceCheck, clock: Clock, source, limit: int = 400) -> list[FaceUpdate]:
    updates = []
    for _ in range(limit):
        updates.append(check.step(source()))
        clock.now += 1 / 15
        if check.phase in ("passed", "failed"):
            break
    return updates


def test_a_live_citizen_passes_and_the_best_frame_is_kept(detector, view):
    clock = Clock()
    check = FaceCheck(detector, config(), rng=random.Random(5), clock=clock)
    actor = sim.FaceActor(view, detector)

    def source():
        if updates:
            actor.observe(updates[-1])
        return actor.frame()

    updates: list[FaceUpdate] = []
    for _ in range(400):
        updates.append(check.step(source()))
        clock.now += 1 / 15
        if check.phase in ("passed", "failed"):
            break
    assert check.phase == "passed", updates[-1]
    phases = [u.phase for u in updates]
    assert phases[0] == "quality" and "challenge" in phases and phases[-1] == "passed"
    asked = [u.challenge for u in updates if u.challenge]
    assert list(dict.fromkeys(asked)) == [c.value for c in check.challenges]
    prompts = {u.prompt for u in updates if u.phase == "challenge"}
    assert {"请向左转头", "请向右转头", "请抬头", "请低头"} & prompts
    progress = [u.progress for u in updates]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert check.best_frame is not None and check.best_frame.shape == view.shape
    assert detector.assess(check.best_frame).ok
    assert 0.5 <= check.liveness_score <= 1.0
    check.wipe()
    assert check.best_frame is None


def test_guidance_until_the_face_is_good(detector, view):
    clock = Clock()
    check = FaceCheck(detector, config(), rng=random.Random(1), clock=clock)
    dark = (view * 0.25).astype(np.uint8)
    update = check.step(dark)
    assert update.phase == "quality" and update.prompt.startswith("光线太暗") and update.box is not None
    update = check.step(np.full((480, 640, 3), 120, np.uint8))
    assert update.prompt == "没有看到您的脸，请正对屏幕。" and update.box is None


def test_a_still_photo_fails(detector, view):
    clock = Clock()
    check = FaceCheck(detector, config(), rng=random.Random(2), clock=clock)
    frames = iter(sim.neutral(view, 400, seed=3))
    updates = drive(check, clock, lambda: next(frames))
    assert check.phase == "failed" and check.reason == "no_movement"
    assert updates[-1].prompt and check.best_frame is None


def test_a_replayed_still_fails_fast(detector, view):
    clock = Clock()
    check = FaceCheck(detector, config(), rng=random.Random(2), clock=clock)
    updates = drive(check, clock, lambda: view)
    assert check.phase == "failed" and check.reason == "still_image" and len(updates) < 30


def test_nobody_times_out_with_the_last_guidance(detector):
    clock = Clock()
    check = FaceCheck(detector, config(liveness_timeout_s=5), clock=clock)
    blank = np.full((480, 640, 3), 120, np.uint8)
    drive(check, clock, lambda: blank)
    assert check.phase == "failed" and check.reason == "timeout"
    assert check.failure_prompt == "没有看到您的脸，请正对屏幕。"


def test_wrong_movement_fails(detector, view):
    clock = Clock()
    check = FaceCheck(detector, config(liveness_challenges=1), rng=random.Random(0), clock=clock)
    wrong = {
        "turn_left": "turn_right",
        "turn_right": "turn_left",
        "raise_head": "lower_head",
        "lower_head": "raise_head",
    }
    frames = sim.neutral(view, 6, seed=1) + sim.head_movement(
        view, wrong[check.challenges[0].value], 12, detector=detector
    )
    it = iter(frames)
    drive(check, clock, lambda: next(it), limit=len(frames))
    assert check.phase == "failed" and check.reason == "wrong_direction"


def test_a_different_face_during_the_challenges_fails(detector, view):
    clock = Clock()
    check = FaceCheck(detector, config(), rng=random.Random(0), clock=clock)
    shifted = cv2.warpAffine(
        view, np.float32([[1, 0, 260], [0, 1, 0]]), (640, 480), borderMode=cv2.BORDER_REPLICATE
    )
    frames = iter([*sim.neutral(view, 6, seed=1), shifted])
    drive(check, clock, lambda: next(frames), limit=7)
    assert check.phase == "failed" and check.reason == "face_changed"
