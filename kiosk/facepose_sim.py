"""SIMULATION ONLY: synthetic head movements made from a still photo, for tests, the demo and the
scenario runner. Nothing here is used to judge a real citizen.

A real head turn moves the inner face (eyes, nose, mouth) toward one side of the head outline, the nose
tip most because it stands out furthest. We imitate that with a smooth 2.5D warp (cv2.remap): a depth
map made of a broad bump over the face plus a narrower one on the nose, each pixel shifted by
depth × sin(angle). YuNet's landmarks follow the warp, but not one-for-one, so every movement is
calibrated with the detector: the warp strength is raised until the estimated pose (kiosk.face) really
passes the liveness threshold (kiosk.liveness) in the asked direction.

Every frame gets a little sensor noise (as a real camera does), so the frozen-feed check of liveness does
not fire on simulated neutral frames; `still()` gives bit-identical frames, like a replayed still image.

How a runner drives the camera: show `neutral(view)` frames until the face check prompts a challenge
(`FaceUpdate.challenge`), then show `head_movement(view, challenge)`, then neutral frames again;
`FaceActor` does exactly that.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.face import FaceDetector, Pose, estimate_pose
from kiosk.liveness import Challenge, pose_delta, threshold

log = logging.getLogger(__name__)

# (angle in degrees, head bump depth, nose bump depth) tried in order until the detector agrees.
# The mouth bump has negative depth (it moves the other way): YuNet follows a head raised with the mouth
# and nose pulled apart far better than a plain shift.
_CANDIDATES = [
    (a, h, n, m)
    for a in (20, 25, 30, 35, 40)
    for h, n, m in ((0.8, 0.8, 0.0), (1.0, 1.0, 0.0), (0.6, 1.4, 0.0), (0.6, 1.4, 0.8), (0.4, 1.6, 1.4))
]
REPEAT_AFTER_S = 3.0  # a CameraActor repeats a movement still asked for this long after it ended
_MARGIN = 1.4  # the peak must pass the threshold by this factor: stays robust to sensor noise
_calibrated: dict[tuple[str, Challenge], tuple[float, float, float, float]] = {}


def _default_detector() -> FaceDetector:
    from kiosk.paths import shared_dir

    return FaceDetector(shared_dir() / "models" / "face_detection_yunet_2023mar.onnx")


def _one_face(detector: FaceDetector, image: np.ndarray) -> np.ndarray:
    faces = detector.detect(image)
    if len(faces) != 1:
        raise ValueError(f"need a photo with exactly one face, found {len(faces)}")
    return faces[0]


def kiosk_view(
    photo: np.ndarray,
    detector: FaceDetector | None = None,
    *,
    size: tuple[int, int] = (640, 480),
    face_fraction: float = 0.34,
) -> np.ndarray:
    """The photo as the kiosk camera would see its subject: face centred, `face_fraction` of the width."""
    detector = detector or _default_detector()
    x, y, w, h = (float(v) for v in _one_face(detector, photo)[:4])
    width, height = size
    scale = face_fraction * width / w
    cx, cy = (x + w / 2) * scale, (y + h / 2) * scale
    matrix = np.array([[scale, 0, width / 2 - cx], [0, scale, height / 2 - cy]], np.float32)
    return cv2.warpAffine(photo, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _warp(
    image: np.ndarray, face: np.ndarray, yaw: float, pitch: float, head: float, nose: float, mouth: float
) -> np.ndarray:
    x, y, w, h = (float(v) for v in face[:4])
    lm = face[4:14].reshape(5, 2)
    eye_dist = float(np.linalg.norm(lm[1] - lm[0]))
    rows, cols = image.shape[:2]
    xs, ys = np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32))
    cx, cy = x + w / 2, y + h / 2
    depth = head * w * np.exp(-(((xs - cx) / (0.5 * w)) ** 2 + ((ys - cy) / (0.5 * h)) ** 2))
    sigma = 0.3 * eye_dist
    depth += nose * eye_dist * np.exp(-((xs - lm[2][0]) ** 2 + (ys - lm[2][1]) ** 2) / (2 * sigma * sigma))
    if mouth:
        mx, my = (lm[3] + lm[4]) / 2
        depth -= mouth * eye_dist * np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / (2 * sigma * sigma))
    # Backward map: the output pixel p shows the input at p - shift. Yaw > 0 (citizen's left) moves the
    # face toward the image's right; pitch > 0 (head up) moves it up.
    map_x = (xs - depth * math.sin(math.radians(yaw))).astype(np.float32)
    map_y = (ys + depth * math.sin(math.radians(pitch))).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _angles(challenge: Challenge, angle: float) -> tuple[float, float]:
    return {
        Challenge.TURN_LEFT: (angle, 0.0),
        Challenge.TURN_RIGHT: (-angle, 0.0),
        Challenge.RAISE_HEAD: (0.0, angle),
        Challenge.LOWER_HEAD: (0.0, -angle),
    }[challenge]


def _calibrate(
    image: np.ndarray, challenge: Challenge, detector: FaceDetector
) -> tuple[float, float, float, float]:
    key = (hashlib.sha1(image.tobytes()).hexdigest(), challenge)
    if key in _calibrated:
        return _calibrated[key]
    face = _one_face(detector, image)
    neutral = estimate_pose(face[4:14])
    best: tuple[float, tuple[float, float, float, float]] | None = None
    for angle, head, nose, mouth in _CANDIDATES:
        if mouth and challenge in (Challenge.TURN_LEFT, Challenge.TURN_RIGHT):
            continue
        moved = detector.assess(_warp(image, face, *_angles(challenge, angle), head, nose, mouth))
        if moved.pose is None:
            continue
        delta = pose_delta(challenge, moved.pose, neutral)
        if best is None or delta > best[0]:
            best = (delta, (angle, head, nose, mouth))
        if delta >= _MARGIN * threshold(challenge):
            break
    if best is None or best[0] < threshold(challenge) * 1.15:
        raise ValueError(f"cannot simulate {challenge} convincingly on this photo")
    _calibrated[key] = best[1]
    return best[1]


def _grain(rng: np.random.Generator, shape: tuple[int, ...], noise: float) -> np.ndarray:
    return np.rint(rng.standard_normal(shape, dtype=np.float32) * noise).astype(np.int16)


def _noisy(image: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    if noise <= 0:
        return image.copy()
    return np.clip(image.astype(np.int16) + _grain(rng, image.shape, noise), 0, 255).astype(np.uint8)


def neutral(
    image: np.ndarray, frames: int, *, seed: int | None = None, noise: float = 2.0
) -> list[np.ndarray]:
    """The face held still, as a live camera sees it (sensor noise differs from frame to frame)."""
    if noise <= 0:
        return [image.copy() for _ in range(frames)]
    rng = np.random.default_rng(seed)
    height = image.shape[0]
    # One field of grain `frames` rows taller than the image; frame i takes the window from row i, so
    # every pixel's noise differs between frames at a fraction of drawing a field per frame (the
    # demo's start paid ~0.6 s for 30 fields).
    grain = _grain(rng, (height + frames, *image.shape[1:]), noise)
    base = image.astype(np.int16)
    return [np.clip(base + grain[i : i + height], 0, 255).astype(np.uint8) for i in range(frames)]


def still(image: np.ndarray, frames: int) -> list[np.ndarray]:
    """A replayed still image: the very same frame again and again."""
    return [image.copy() for _ in range(frames)]


def head_movement(
    image: np.ndarray,
    challenge: Challenge | str,
    frames: int = 12,
    *,
    detector: FaceDetector | None = None,
    seed: int | None = None,
    noise: float = 2.0,
) -> list[np.ndarray]:
    """Neutral → turned past the liveness threshold → back to neutral, in `frames` frames.

    `image` is a camera-like frame with one face (e.g. `kiosk_view(photo)`). Raises ValueError when the
    detector cannot be made to see the movement on this photo."""
    return Movement.calibrated(image, challenge, detector or _default_detector()).play(
        frames, seed=seed, noise=noise
    )


@dataclass(frozen=True)
class Movement:
    """One challenge's movement, calibrated on one image: playing it needs no detector."""

    image: np.ndarray
    face: np.ndarray
    challenge: Challenge
    warp: tuple[float, float, float, float]  # angle, head, nose, mouth

    @classmethod
    def calibrated(cls, image: np.ndarray, challenge: Challenge | str, detector: FaceDetector) -> Movement:
        challenge = Challenge(challenge)
        warp = _calibrate(image, challenge, detector)
        return cls(image, _one_face(detector, image), challenge, warp)

    def play(self, frames: int = 12, *, seed: int | None = None, noise: float = 2.0) -> list[np.ndarray]:
        angle, head, nose, mouth = self.warp
        rng = np.random.default_rng(seed)
        frames = max(frames, 5)
        out = []
        for i in range(frames):
            # Up for 40 %, held at the peak for 20 %, back for 40 %: the peak is seen on several frames.
            t = i / (frames - 1)
            amount = min(1.0, t / 0.4) if t <= 0.5 else min(1.0, (1.0 - t) / 0.4)
            yaw, pitch = _angles(self.challenge, angle * amount)
            out.append(_noisy(_warp(self.image, self.face, yaw, pitch, head, nose, mouth), rng, noise))
        return out


def measured_pose(image: np.ndarray, detector: FaceDetector | None = None) -> Pose | None:
    """The pose the kiosk would estimate on this frame (for checks and demos)."""
    return (detector or _default_detector()).assess(image).pose


@dataclass
class FaceActor:
    """A simulated citizen in front of the camera who does what the face check asks.

    `frame()` gives the next camera frame; `observe(update)` is called with each FaceUpdate and starts
    a head movement whenever a new challenge is asked."""

    view: np.ndarray
    detector: FaceDetector | None = None
    frames_per_move: int = 12
    seed: int = 0

    def __post_init__(self) -> None:
        self._queue: deque[np.ndarray] = deque()
        self._rng = np.random.default_rng(self.seed)
        self._asked: str | None = None
        self._moves = 0

    def frame(self) -> np.ndarray:
        if self._queue:
            return self._queue.popleft()
        return _noisy(self.view, self._rng, 2.0)

    def observe(self, update: object) -> None:
        challenge = getattr(update, "challenge", None)
        if challenge is None or getattr(update, "phase", "") != "challenge":
            return
        asked = str(challenge)  # challenges in one check are distinct
        if asked == self._asked:
            return
        self._asked = asked
        self._moves += 1
        self._queue.extend(
            head_movement(
                self.view,
                challenge,
                self.frames_per_move,
                detector=self.detector,
                seed=self.seed + self._moves,
            )
        )


class CameraActor:
    """The simulated citizen in front of a *simulated camera* (the demo and the scenario runner): the
    camera plays the face held still, and each new challenge the face check asks for is played as a
    head movement, then still again.

    Everything is prepared on a thread of its own, off the UI's start: the camera view of the photo,
    the face at rest, and every movement calibrated once with a face detector that is then let go (a
    YuNet net holds ~20 MB; playing a calibrated movement needs none). `observe` and `reset` may be
    called from the UI thread at any time; what they ask for is played once the preparation is done."""

    REST_FRAMES = 10  # a short loop of sensor noise: consecutive frames differ, as a live camera's do

    def __init__(self, camera: object, photo: np.ndarray, *, fps: float = 15.0) -> None:
        self._camera, self._fps = camera, fps
        self._movements: dict[Challenge, Movement] = {}
        self._rest: list[np.ndarray] | None = None
        self.view: np.ndarray | None = None  # the photo as the camera sees it, once prepared
        self._asked: str | None = None
        self._again_after = float("inf")
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._prepared = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._prepare, photo, name="face-actor-prepare")

    def _start(self, target: Callable[..., None], *args: object, name: str) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name=name)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Wait for the actor's threads before the process exits: one still inside OpenCV while the
        interpreter shuts down aborts the process ("terminate called without an active exception")."""
        self._closing.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def wait_prepared(self, timeout_s: float | None = None) -> bool:
        return self._prepared.wait(timeout_s)

    def _prepare(self, photo: np.ndarray) -> None:
        try:
            detector = _default_detector()
            self.view = view = kiosk_view(photo, detector)
            with self._lock:
                self._rest = neutral(view, self.REST_FRAMES, seed=0)
            self._camera.show(self._rest, loop=True)  # type: ignore[attr-defined]
            for challenge in Challenge:
                if self._closing.is_set():
                    return
                self._movements[challenge] = Movement.calibrated(view, challenge, detector)
        except ValueError as err:  # a photo the detector cannot use: the citizen stays still
            log.warning("simulated citizen: %s", err)
        finally:
            self._prepared.set()

    def reset(self) -> None:
        """A new check: challenges may repeat, and the face is back at rest."""
        with self._lock:
            self._asked, self._again_after = None, float("inf")
            rest = self._rest
        if rest is not None:  # else the preparation shows it when it has made it
            self._camera.show(rest, loop=True)  # type: ignore[attr-defined]

    def observe(self, update: object) -> None:
        challenge = getattr(update, "challenge", None)
        if challenge is None or getattr(update, "phase", "") != "challenge":
            return
        with self._lock:
            # Asked again well after the movement was played (a loaded machine missed its frames):
            # move again, as a citizen would.
            if str(challenge) == self._asked and time.monotonic() < self._again_after:
                return
            self._asked = str(challenge)
            self._again_after = float("inf")  # until this movement is on the camera
        self._start(self._move, Challenge(challenge), name="face-actor")

    def _move(self, challenge: Challenge) -> None:
        while not self._prepared.wait(0.5):
            if self._closing.is_set():
                return
        movement = self._movements.get(challenge)
        if movement is None or self._rest is None:
            return  # the preparation failed (logged)
        moving = movement.play(12, seed=len(str(challenge)))
        # Then rest "for ever" (an hour): show_sequence stops at its end.
        segments = [(moving, len(moving) / self._fps), (self._rest, 3600.0)]
        self._camera.show_sequence(segments)  # type: ignore[attr-defined]
        with self._lock:
            self._again_after = time.monotonic() + len(moving) / self._fps + REPEAT_AFTER_S
