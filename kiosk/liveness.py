"""Active liveness: the citizen performs a random sequence of head movements, judged from the head pose
(kiosk.face.estimate_pose, from YuNet's landmarks) over time.

Each challenge passes when the pose moves from the neutral pose (measured while the face was held still
for the quality gate) past a threshold in the asked direction and then comes back toward neutral, before
the challenge's share of the time left runs out. Moving the other way fails it; not moving fails it.

Why a photo fails: the pose angles are ratios of landmark distances, so moving, tilting, scaling or
bending a printed photo (or a phone showing one) barely changes them; and a frozen feed (the very same
landmarks frame after frame, as when a still image is replayed) is refused outright.

Direction convention: frames are the camera's unmirrored image and "left" is the citizen's own left
(see kiosk.face). A camera that mirrors its output in hardware needs `mirrored=True`.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.face import Pose
from kiosk.i18n import N_


class Challenge(enum.StrEnum):
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    RAISE_HEAD = "raise_head"
    LOWER_HEAD = "lower_head"


CHALLENGE_PROMPTS: dict[Challenge, str] = {
    Challenge.TURN_LEFT: N_("请向左转头"),
    Challenge.TURN_RIGHT: N_("请向右转头"),
    Challenge.RAISE_HEAD: N_("请抬头"),
    Challenge.LOWER_HEAD: N_("请低头"),
}
RETURN_PROMPT = N_("很好，请回正")

# Degrees past neutral that count as "moved". A real head turn asked for on screen is 25–40° and a nod
# 15–25°; the landmark estimate understates both, and its frame-to-frame jitter on a still face is
# about 1–2°. Pitch is the less sensitive estimate, and raising the head the least of all (YuNet's nose
# landmark lags when the head goes up), hence the lower bars.
YAW_THRESHOLD = 12.0
PITCH_THRESHOLD = 8.0
RAISE_THRESHOLD = 6.0
RETURN_FRACTION = 0.5  # back toward neutral: within this share of the threshold
FROZEN_FRAMES = 8  # this many frames in a row with identical landmarks: a replayed still image
_FROZEN_EPS = 0.01  # pixels; a live camera's landmarks jitter far more than this from frame to frame

# (pose attribute, sign) for each challenge in the unmirrored camera image.
_AXIS: dict[Challenge, tuple[str, float]] = {
    Challenge.TURN_LEFT: ("yaw", 1.0),
    Challenge.TURN_RIGHT: ("yaw", -1.0),
    Challenge.RAISE_HEAD: ("pitch", 1.0),
    Challenge.LOWER_HEAD: ("pitch", -1.0),
}


def threshold(challenge: Challenge) -> float:
    """Degrees past neutral that count as having moved for this challenge (also the wrong-way limit)."""
    if challenge is Challenge.RAISE_HEAD:
        return RAISE_THRESHOLD
    return YAW_THRESHOLD if _AXIS[challenge][0] == "yaw" else PITCH_THRESHOLD


def pose_delta(challenge: Challenge, pose: Pose, neutral: Pose, *, mirrored: bool = False) -> float:
    """How far the pose has moved from neutral in the challenge's direction (degrees; negative = the
    opposite way)."""
    axis, sign = _AXIS[challenge]
    if mirrored and axis == "yaw":
        sign = -sign
    return sign * (getattr(pose, axis) - getattr(neutral, axis))


def random_challenges(count: int, rng: random.Random | None = None) -> list[Challenge]:
    """`count` distinct challenges in random order (an attacker cannot pre-record the answer)."""
    return (rng or random.SystemRandom()).sample(list(Challenge), count)


@dataclass(frozen=True)
class LivenessState:
    status: str  # "running" | "passed" | "failed"
    index: int  # challenges done
    challenge: Challenge | None  # the one being asked (None when finished)
    returning: bool = False  # moved far enough; now coming back to neutral
    reason: str | None = None  # when failed: wrong_direction | no_movement | still_image | timeout
    score: float = 0.0


class ActiveLiveness:
    """Feed one pose per frame with `update`; the clock decides time limits (inject it in tests)."""

    def __init__(
        self,
        challenges: Sequence[Challenge],
        neutral: Pose,
        deadline: float,
        *,
        clock: Callable[[], float],
        mirrored: bool = False,
    ) -> None:
        if not challenges:
            raise ValueError("at least one challenge")
        self.challenges = list(challenges)
        self.neutral, self.deadline, self._clock, self._mirrored = neutral, deadline, clock, mirrored
        self._index = 0
        self._returning = False
        self._peak = 0.0
        self._peaks: list[float] = []
        self._frozen = 0
        self._last_landmarks: np.ndarray | None = None
        self._state = LivenessState("running", 0, self.challenges[0])
        self._challenge_deadline = self._share_of_time_left()

    @property
    def state(self) -> LivenessState:
        return self._state

    def _share_of_time_left(self) -> float:
        # Each challenge gets an equal share of what is left, so one slow challenge cannot starve the rest
        # and a photo held up fails early instead of at the very end.
        now = self._clock()
        left = len(self.challenges) - self._index
        return now + max(0.0, self.deadline - now) / left

    def _fail(self, reason: str) -> LivenessState:
        self._state = LivenessState("failed", self._index, None, reason=reason)
        return self._state

    def update(self, pose: Pose | None, landmarks: np.ndarray | None = None) -> LivenessState:
        """One frame's pose (None when no single face was seen in it)."""
        if self._state.status != "running":
            return self._state
        now = self._clock()
        if landmarks is not None:
            landmarks = np.asarray(landmarks, np.float32)
            if (
                self._last_landmarks is not None
                and np.abs(landmarks - self._last_landmarks).max() < _FROZEN_EPS
            ):
                self._frozen += 1
                if self._frozen >= FROZEN_FRAMES:
                    return self._fail("still_image")
            else:
                self._frozen = 0
            self._last_landmarks = landmarks
        challenge = self.challenges[self._index]
        limit = threshold(challenge)
        if pose is not None:
            delta = pose_delta(challenge, pose, self.neutral, mirrored=self._mirrored)
            if not self._returning:
                if delta <= -limit:
                    return self._fail("wrong_direction")
                if delta >= limit:
                    self._returning, self._peak = True, delta
            else:
                self._peak = max(self._peak, delta)
                if delta <= limit * RETURN_FRACTION:
                    return self._next()
        if now >= self.deadline:
            return self._fail("timeout")
        if now >= self._challenge_deadline:
            return self._fail("no_movement" if not self._returning else "timeout")
        self._state = LivenessState("running", self._index, challenge, self._returning)
        return self._state

    def _next(self) -> LivenessState:
        self._peaks.append(self._peak / threshold(self.challenges[self._index]))
        self._index += 1
        self._returning, self._peak = False, 0.0
        if self._index == len(self.challenges):
            # Score: how clearly the movements exceeded their thresholds (1.0 at twice the threshold).
            score = min(1.0, float(np.mean([min(p, 2.0) for p in self._peaks])) / 2.0)
            self._state = LivenessState("passed", self._index, None, score=round(score, 3))
            return self._state
        self._challenge_deadline = self._share_of_time_left()
        self._state = LivenessState("running", self._index, self.challenges[self._index])
        return self._state
