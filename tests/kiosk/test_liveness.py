"""Active liveness on synthetic head movements (real YuNet landmarks) with an injected clock."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk import facepose_sim as sim
from kiosk.face import FaceDetector, Pose
from kiosk.liveness import ActiveLiveness, Challenge, random_challenges

SHARED = Path(__file__).resolve().parents[3] / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "models").is_dir(), reason="shared models missing")


class Clock:
    def __init__(self, step: float = 1 / 15) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.step


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(SHARED / "models" / "face_detection_yunet_2023mar.onnx")


@pytest.fixture(scope="module")
def view(detector) -> np.ndarray:
    return sim.kiosk_view(cv2.imread(str(SHARED / "testdata" / "faces" / "obama.jpg")), detector)


def run(detector, liveness: ActiveLiveness, clock: Clock, frames):
    state = liveness.state
    for frame in frames:
        q = detector.assess(frame)
        state = liveness.update(q.pose if q.faces == 1 else None, q.landmarks)
        clock.tick()
        if state.status != "running":
            break
    return state


def start(detector, view, challenges, clock, timeout=20.0) -> ActiveLiveness:
    neutral = detector.assess(view).pose
    return ActiveLiveness(challenges, neutral, clock() + timeout, clock=clock)


def test_random_challenges_are_distinct_and_seeded():
    a = random_challenges(2, random.Random(7))
    assert len(set(a)) == 2 and a == random_challenges(2, random.Random(7))
    assert len({tuple(random_challenges(2, random.Random(s))) for s in range(30)}) > 3


def test_the_asked_movements_pass(detector, view):
    challenges = random_challenges(2, random.Random(3))
    clock = Clock()
    liveness = start(detector, view, challenges, clock)
    frames = [
        f
        for c in challenges
        for f in sim.neutral(view, 3, seed=1) + sim.head_movement(view, c, 12, detector=detector)
    ]
    state = run(detector, liveness, clock, frames)
    assert state.status == "passed" and 0.5 <= state.score <= 1.0


@pytest.mark.parametrize("challenge", list(Challenge))
def test_each_movement_passes_alone(detector, view, challenge):
    clock = Clock()
    state = run(
        detector,
        start(detector, view, [challenge], clock),
        clock,
        sim.head_movement(view, challenge, 12, detector=detector),
    )
    assert state.status == "passed"


def test_a_photo_held_still_fails(detector, view):
    clock = Clock()
    state = run(
        detector,
        start(detector, view, [Challenge.TURN_LEFT, Challenge.RAISE_HEAD], clock),
        clock,
        sim.neutral(view, 400, seed=2),
    )
    assert state.status == "failed" and state.reason == "no_movement"
    assert clock.now <= 10.5  # the first challenge's share of the 20 s, not the whole time


def test_a_replayed_still_image_fails_at_once(detector, view):
    clock = Clock()
    state = run(detector, start(detector, view, [Challenge.TURN_LEFT], clock), clock, sim.still(view, 30))
    assert state.status == "failed" and state.reason == "still_image"


def test_the_wrong_direction_fails(detector, view):
    clock = Clock()
    frames = sim.head_movement(view, Challenge.TURN_RIGHT, 12, detector=detector)
    state = run(detector, start(detector, view, [Challenge.TURN_LEFT], clock), clock, frames)
    assert state.status == "failed" and state.reason == "wrong_direction"


def test_lowering_instead_of_raising_fails(detector, view):
    clock = Clock()
    frames = sim.head_movement(view, Challenge.LOWER_HEAD, 12, detector=detector)
    state = run(detector, start(detector, view, [Challenge.RAISE_HEAD], clock), clock, frames)
    assert state.status == "failed" and state.reason == "wrong_direction"


def test_too_slow_times_out(detector, view):
    clock = Clock(step=1.0)  # one frame a second: the movement takes longer than the time left
    challenges = [Challenge.TURN_LEFT, Challenge.TURN_RIGHT]
    frames = sim.head_movement(view, Challenge.TURN_LEFT, 12, detector=detector)
    state = run(detector, start(detector, view, challenges, clock, timeout=8.0), clock, frames)
    assert state.status == "failed" and state.reason in ("timeout", "no_movement")


def test_overall_deadline_is_final():
    clock = Clock()
    liveness = ActiveLiveness([Challenge.TURN_LEFT], Pose(0, 0, 0), 5.0, clock=clock)
    clock.now = 5.0
    assert liveness.update(Pose(0, 0, 0)).reason == "timeout"


def test_mirrored_camera_swaps_left_and_right():
    clock = Clock()
    liveness = ActiveLiveness([Challenge.TURN_LEFT], Pose(0, 0, 0), 20.0, clock=clock, mirrored=True)
    for yaw in (5, 15, 25, 15, 3):
        state = liveness.update(Pose(-yaw, 0, 0), np.random.default_rng(yaw).random((5, 2)))
    assert state.status == "passed"
