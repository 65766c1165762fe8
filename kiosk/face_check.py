"""The face check the FACE screen runs, one camera frame at a time: quality gate, then active liveness,
keeping the best frontal frame for the 1:1 match.

    check = FaceCheck(detector, config.face)
    while check.phase in ("quality", "challenge"):
        update = check.step(camera.read_frame())   # draw update.box / landmarks, show update.prompt

Cheap per step (one detection plus a few numpy operations); no threads, no I/O; time comes from the
injected clock. Frames are kept only as the single best one, and `wipe()` drops it.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kiosk.config import FaceConfig
from kiosk.face import FaceDetector, Pose, Quality
from kiosk.i18n import N_
from kiosk.liveness import CHALLENGE_PROMPTS, RETURN_PROMPT, ActiveLiveness, random_challenges

log = logging.getLogger(__name__)

STEADY_FRAMES = 5  # good frames in a row before the challenges start: the face is settled
_STEADY_MOVE = 0.08  # box centre may move this share of the face width between steady frames
_JUMP = 1.0  # a box centre jumping a face width between frames: another face, not a head turn
_QUALITY_SHARE = 0.2  # progress bar share of the quality phase
_HOLD_STILL = N_("请保持不动")  # prompts are Chinese msgids; screens translate them (kiosk.i18n)

FAIL_PROMPTS: dict[str, str] = {
    "timeout": N_("时间到了，请重新开始人脸识别。"),
    "no_movement": N_("没有检测到转头动作，请重新开始。"),
    "wrong_direction": N_("动作方向不对，请按提示重新开始。"),
    "still_image": N_("未通过活体检测，请本人正对屏幕重新开始。"),
    "face_changed": N_("请保持同一人在镜头前，重新开始。"),
}


@dataclass(frozen=True)
class FaceUpdate:
    phase: str  # "quality" | "challenge" | "passed" | "failed"
    prompt: str  # short Chinese sentence for the screen ("" when nothing to say)
    progress: float  # 0..1
    challenge: str | None = None  # kiosk.liveness.Challenge value while one is asked
    box: tuple[int, int, int, int] | None = None
    landmarks: np.ndarray | None = None
    reason: str | None = None  # when failed: a FAIL_PROMPTS code


class FaceCheck:
    def __init__(
        self,
        detector: FaceDetector,
        config: FaceConfig,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        mirrored: bool = False,
    ) -> None:
        self._detector, self._config, self._clock, self._mirrored = detector, config, clock, mirrored
        self.challenges = random_challenges(config.liveness_challenges, rng)
        self.deadline = clock() + config.liveness_timeout_s
        self.phase = "quality"
        self.reason: str | None = None
        self.best_frame: np.ndarray | None = None
        self._best_score = -1.0
        self._steady: list[Quality] = []
        self._last_centre: tuple[float, float, float] | None = None  # x, y, face width
        self._last_prompt = ""
        self._liveness: ActiveLiveness | None = None
        self.liveness_score = 0.0

    # -- the one entry point -----------------------------------------------------------------
    def step(self, frame: np.ndarray) -> FaceUpdate:
        if self.phase in ("passed", "failed"):
            return self._final()
        quality = self._detector.assess(frame)
        if self._jumped(quality):
            return self._fail("face_changed", quality)
        if quality.ok:
            self._keep_if_best(frame, quality)
        if self.phase == "quality":
            return self._quality_step(quality)
        return self._challenge_step(quality)

    def wipe(self) -> None:
        """Drop every frame (the session is over, or the check is being restarted)."""
        if self.best_frame is not None:
            self.best_frame.fill(0)
        self.best_frame = None
        self._best_score = -1.0
        self._steady.clear()

    # -- phases ------------------------------------------------------------------------------
    def _quality_step(self, quality: Quality) -> FaceUpdate:
        if self._clock() >= self.deadline:
            return self._fail("timeout", quality)
        steady = quality.ok and (not self._steady or self._close(self._steady[-1], quality))
        self._steady = [*self._steady, quality] if steady else ([quality] if quality.ok else [])
        if len(self._steady) >= STEADY_FRAMES:
            neutral = Pose(
                statistics.median(q.pose.yaw for q in self._steady if q.pose),
                statistics.median(q.pose.pitch for q in self._steady if q.pose),
                statistics.median(q.pose.roll for q in self._steady if q.pose),
            )
            self._liveness = ActiveLiveness(
                self.challenges, neutral, self.deadline, clock=self._clock, mirrored=self._mirrored
            )
            self.phase = "challenge"
            first = self.challenges[0]
            return self._update(CHALLENGE_PROMPTS[first], self._progress(), quality, first.value)
        prompt = quality.prompt or _HOLD_STILL
        self._last_prompt = prompt
        return self._update(prompt, _QUALITY_SHARE * len(self._steady) / STEADY_FRAMES, quality)

    def _challenge_step(self, quality: Quality) -> FaceUpdate:
        assert self._liveness is not None
        one_face = quality.faces == 1
        state = self._liveness.update(
            quality.pose if one_face else None, quality.landmarks if one_face else None
        )
        if state.status == "failed":
            return self._fail(state.reason or "timeout", quality)
        if state.status == "passed":
            if self.best_frame is None:  # cannot happen after the quality phase; be safe anyway
                return self._fail("timeout", quality)
            self.phase = "passed"
            self.liveness_score = state.score
            log.info("face check passed: %d challenges, score %.2f", len(self.challenges), state.score)
            return self._final(quality)
        assert state.challenge is not None
        if quality.faces > 1:
            prompt = quality.prompt  # a second person stepped in: say so, the challenge waits
        else:
            prompt = RETURN_PROMPT if state.returning else CHALLENGE_PROMPTS[state.challenge]
        return self._update(prompt, self._progress(), quality, state.challenge.value)

    # -- helpers -----------------------------------------------------------------------------
    def _progress(self) -> float:
        if self._liveness is None:
            return 0.0
        state = self._liveness.state
        done = state.index + (0.5 if state.returning else 0.0)
        return _QUALITY_SHARE + (1 - _QUALITY_SHARE) * done / len(self.challenges)

    @staticmethod
    def _close(a: Quality, b: Quality) -> bool:
        assert a.box and b.box
        ax, ay = a.box[0] + a.box[2] / 2, a.box[1] + a.box[3] / 2
        bx, by = b.box[0] + b.box[2] / 2, b.box[1] + b.box[3] / 2
        return max(abs(ax - bx), abs(ay - by)) <= _STEADY_MOVE * a.box[2]

    def _jumped(self, quality: Quality) -> bool:
        """Once the face is being followed (challenge phase), a face suddenly elsewhere is someone else
        or a photo swapped in: the frames must all show the same person."""
        if quality.box is None or quality.faces != 1:
            return False
        x, y, w, _ = quality.box
        h = quality.box[3]
        centre = (x + w / 2, y + h / 2, float(w))
        last, self._last_centre = self._last_centre, centre
        if self.phase != "challenge" or last is None:
            return False
        return max(abs(centre[0] - last[0]), abs(centre[1] - last[1])) > _JUMP * last[2]

    def _keep_if_best(self, frame: np.ndarray, quality: Quality) -> None:
        # Sharpest frame that faces the screen most squarely; one copy kept, the rest never stored.
        assert quality.pose is not None
        frontal = max(0.0, 1.0 - (abs(quality.pose.yaw) + abs(quality.pose.pitch)) / 40.0)
        score = quality.sharpness * (0.5 + frontal)
        if score > self._best_score:
            if self.best_frame is not None and self.best_frame.shape == frame.shape:
                np.copyto(self.best_frame, frame)
            else:
                self.best_frame = frame.copy()
            self._best_score = score

    def _update(
        self, prompt: str, progress: float, quality: Quality | None, challenge: str | None = None
    ) -> FaceUpdate:
        return FaceUpdate(
            self.phase,
            prompt,
            round(min(1.0, max(0.0, progress)), 3),
            challenge,
            quality.box if quality else None,
            quality.landmarks if quality else None,
        )

    def _fail(self, reason: str, quality: Quality | None = None) -> FaceUpdate:
        self.phase, self.reason = "failed", reason
        self.wipe()  # a failed check sends nothing anywhere
        log.info("face check failed: %s", reason)
        return self._final(quality)

    @property
    def failure_prompt(self) -> str:
        """What to tell the citizen when the check failed (or was never finished)."""
        # A timeout while the face was never right: the last guidance says best what to do.
        if self.reason in (None, "timeout") and self._liveness is None and self._last_prompt != _HOLD_STILL:
            return self._last_prompt or FAIL_PROMPTS["timeout"]
        return FAIL_PROMPTS.get(self.reason or "timeout", FAIL_PROMPTS["timeout"])

    def _final(self, quality: Quality | None = None) -> FaceUpdate:
        if self.phase == "passed":
            return self._update("", 1.0, quality)
        return FaceUpdate("failed", self.failure_prompt, 0.0, None, None, None, self.reason)
