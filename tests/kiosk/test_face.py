"""Quality gate on crafted frames (real YuNet model, real photos)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk import facepose_sim as sim
from kiosk.face import PROMPTS, FaceDetector, estimate_pose

SHARED = Path(__file__).resolve().parents[3] / "shared"
pytestmark = pytest.mark.skipif(not (SHARED / "models").is_dir(), reason="shared models missing")
FACES = SHARED / "testdata" / "faces"


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(SHARED / "models" / "face_detection_yunet_2023mar.onnx")


@pytest.fixture(scope="module")
def view(detector: FaceDetector) -> np.ndarray:
    return sim.kiosk_view(cv2.imread(str(FACES / "obama.jpg")), detector)


def test_a_good_frame_passes(detector, view):
    q = detector.assess(view)
    assert q.ok and q.prompt == "" and q.faces == 1
    assert abs(q.pose.yaw) < 10 and abs(q.pose.pitch) < 10 and abs(q.pose.roll) < 10


def test_every_problem_has_a_short_chinese_prompt():
    assert all(0 < len(p) <= 20 for p in PROMPTS.values())


def test_too_far(detector):
    small = sim.kiosk_view(cv2.imread(str(FACES / "obama.jpg")), detector, face_fraction=0.1)
    assert detector.assess(small).problem == "too_far"


def test_too_close(detector):
    big = sim.kiosk_view(cv2.imread(str(FACES / "obama.jpg")), detector, face_fraction=0.7)
    assert detector.assess(big).problem == "too_close"


def test_off_centre(detector, view):
    shifted = cv2.warpAffine(
        view, np.float32([[1, 0, 200], [0, 1, 0]]), (640, 480), borderMode=cv2.BORDER_REPLICATE
    )
    q = detector.assess(shifted)
    assert q.problem == "off_centre" and q.prompt == "请移到画面中间。"


def test_too_dark_and_too_bright(detector, view):
    dark = (view * 0.25).astype(np.uint8)
    bright = cv2.convertScaleAbs(view, alpha=0.5, beta=170)
    assert detector.assess(dark).problem == "too_dark"
    assert detector.assess(bright).problem == "too_bright"


def test_blurry(detector, view):
    q = detector.assess(cv2.GaussianBlur(view, (0, 0), 3))
    assert q.problem == "blurry" and q.prompt == "请不要晃动。"


def test_two_people(detector):
    q = detector.assess(cv2.imread(str(FACES / "two_people.jpg")))
    assert q.problem == "multiple_faces" and q.faces == 2


def test_nobody(detector):
    q = detector.assess(np.full((480, 640, 3), 128, np.uint8))
    assert q.problem == "no_face" and "正对屏幕" in q.prompt


def test_turned_face_is_not_frontal(detector, view):
    turned = sim.head_movement(view, "turn_left", 12, detector=detector, seed=1)[5]  # at the peak, ~25°
    q = detector.assess(turned)
    assert q.problem == "not_frontal" and q.prompt == "请正对屏幕。"


def test_pose_signs_follow_the_citizen(detector, view):
    q = detector.assess(view)
    lm = q.landmarks.copy()
    lm[2, 0] += 0.3 * (lm[1, 0] - lm[0, 0])  # nose toward the image's right = citizen's own left
    assert estimate_pose(lm).yaw > q.pose.yaw + 10
    lm = q.landmarks.copy()
    lm[2, 1] -= 0.15 * (lm[3, 1] - lm[0, 1])  # nose up toward the eyes = head raised
    assert estimate_pose(lm).pitch > q.pose.pitch + 5


def test_pose_ignores_moving_or_squeezing_a_flat_photo(detector, view):
    q = detector.assess(view)
    squeezed = q.landmarks * np.float32([0.7, 1.1]) + np.float32([40, -20])
    a, b = q.pose, estimate_pose(squeezed)
    assert abs(a.yaw - b.yaw) < 0.5 and abs(a.pitch - b.pitch) < 0.5


@pytest.mark.parametrize("challenge", ["turn_left", "turn_right", "raise_head", "lower_head"])
def test_synthetic_movements_cross_the_liveness_threshold(detector, view, challenge):
    from kiosk.liveness import Challenge, pose_delta, threshold

    neutral = detector.assess(view).pose
    frames = sim.head_movement(view, challenge, 12, detector=detector, seed=1)
    deltas = [pose_delta(Challenge(challenge), detector.assess(f).pose, neutral) for f in frames]
    assert max(deltas) >= threshold(Challenge(challenge))
    assert min(deltas) > -threshold(Challenge(challenge))  # never the wrong way
    assert abs(deltas[-1]) < threshold(Challenge(challenge)) / 2  # back to neutral at the end
