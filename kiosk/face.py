"""Face detection (YuNet) and the per-frame quality gate that guides the citizen before matching.

`FaceDetector.assess(frame)` answers, for one camera frame: is there exactly one face, close enough,
in the middle, facing the screen, sharp and well lit? Each problem has a stable code (for logs, tests
and the screen) and one short Chinese prompt (shown, and spoken in 长者模式).

Head pose comes from YuNet's five landmarks only (no 3D model): cheap, and good enough to tell
"facing the screen" from "turned away" and to follow head movements for liveness (kiosk.liveness).

Image convention: frames are the camera's own, unmirrored image (the screen may show a mirrored
preview; that does not change anything here). In that image the citizen's left is the image's right.
`Pose.yaw` is positive when the citizen turns to their own left; `Pose.pitch` is positive when they
raise their head. Nothing here logs images or anything personal.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.i18n import N_

log = logging.getLogger(__name__)

# Nose tip depth in front of the eye/mouth plane as a share of the eye distance (adult average ≈ 35 mm
# over 63 mm), and of the eye-to-mouth height: turns a landmark offset into an angle.
_NOSE_DEPTH_X = 0.55
_NOSE_DEPTH_Y = 0.5
_NEUTRAL_NOSE_RATIO = 0.57  # nose tip between eye line (0) and mouth line (1) on a frontal face (testdata)
DETECT_MAX_WIDTH = 640  # larger frames are scaled down first: speed, and landmarks are precise enough


@dataclass(frozen=True)
class Pose:
    """Rough head angles in degrees from the five landmarks (see module doc for signs)."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class QualityThresholds:
    # Face width as a share of the frame width: below, too far for a good match crop (≥ ~96 px at
    # 640); above, the chin or forehead leaves the frame while turning the head.
    min_face_fraction: float = 0.15
    max_face_fraction: float = 0.65
    # Face centre offset from the frame centre, as a share of width / height: leaves room to turn.
    max_offset: float = 0.22
    # Frontal: within these angles the match crop is good; real turns for liveness go further.
    max_yaw: float = 20.0
    max_pitch: float = 20.0
    max_roll: float = 20.0
    # Variance of the Laplacian on the face crop scaled to 128 px wide (scale-independent): a sharp
    # face at 640×480 gives several hundred; motion blur or a defocused lens drops below ~60.
    min_sharpness: float = 60.0
    # Mean grey level of the face crop.
    min_brightness: float = 60.0
    max_brightness: float = 200.0


# code -> the one short prompt for it (a Chinese msgid: the screen shows it translated). Codes are
# stable: screens, logs and tests use them.
PROMPTS: dict[str, str] = {
    "no_face": N_("没有看到您的脸，请正对屏幕。"),
    "multiple_faces": N_("镜头前只能有一个人，请其他人稍微离开。"),
    "too_far": N_("请靠近一点。"),
    "too_close": N_("请离远一点。"),
    "off_centre": N_("请移到画面中间。"),
    "too_dark": N_("光线太暗，请靠近屏幕或打开灯光。"),
    "too_bright": N_("光线太亮，请避开强光。"),
    "blurry": N_("请不要晃动。"),
    "not_frontal": N_("请正对屏幕。"),
}


@dataclass(frozen=True)
class Quality:
    problem: str | None  # a PROMPTS code, None when the frame is good
    faces: int
    box: tuple[int, int, int, int] | None = None  # x, y, w, h of the face (when exactly one)
    landmarks: np.ndarray | None = None  # (5, 2): right eye, left eye, nose tip, right/left mouth corner
    pose: Pose | None = None
    score: float = 0.0  # detector confidence
    sharpness: float = 0.0
    brightness: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def prompt(self) -> str:
        return PROMPTS[self.problem] if self.problem else ""


def estimate_pose(landmarks: np.ndarray) -> Pose:
    """Yaw from the nose tip's sideways offset from the eyes/mouth midline, pitch from where the nose
    tip sits between the eye line and the mouth line, roll from the eye line. Ratios of landmark
    distances, so moving, scaling or squeezing a flat photo does not change them."""
    lm = np.asarray(landmarks, np.float64).reshape(5, 2)
    right_eye, left_eye, nose, right_mouth, left_mouth = lm
    eyes, mouth = (right_eye + left_eye) / 2, (right_mouth + left_mouth) / 2
    eye_dist = max(float(np.linalg.norm(left_eye - right_eye)), 1e-6)
    midline_x = (eyes[0] + mouth[0]) / 2
    yaw = math.degrees(math.atan((nose[0] - midline_x) / (_NOSE_DEPTH_X * eye_dist)))
    height = max(float(mouth[1] - eyes[1]), 1e-6)
    ratio = (nose[1] - eyes[1]) / height
    pitch = math.degrees(math.atan((_NEUTRAL_NOSE_RATIO - ratio) / _NOSE_DEPTH_Y))
    roll = math.degrees(math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
    return Pose(yaw, pitch, roll)


def sharpness(grey_crop: np.ndarray) -> float:
    """Variance of the Laplacian of the crop scaled to 128 px wide (so near and far faces compare)."""
    if grey_crop.size == 0:
        return 0.0
    h, w = grey_crop.shape[:2]
    scaled = cv2.resize(grey_crop, (128, max(1, round(h * 128 / w))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(scaled, cv2.CV_32F).var())


class FaceDetector:
    def __init__(
        self,
        model_path: Path,
        score_threshold: float = 0.8,
        thresholds: QualityThresholds | None = None,
    ) -> None:
        if not model_path.is_file():
            raise FileNotFoundError(
                f"face detector model not found: {model_path} (config [face] detector_model)"
            )
        self._model, self._score_threshold = model_path, score_threshold
        self._net: cv2.FaceDetectorYN | None = None
        self._size: tuple[int, int] | None = None
        self.thresholds = thresholds or QualityThresholds()

    def release(self) -> None:
        """Let the net go until the next detection builds it again. The kiosk's detector works for a
        few seconds per session; at 640×480 its net holds ~20 MB that the home screen has no use for."""
        self._net, self._size = None, None

    def _ready_net(self, size: tuple[int, int]) -> cv2.FaceDetectorYN:
        net = self._net
        if net is None:  # built here, not at start: ~15 ms, once per session
            net = cv2.FaceDetectorYN.create(str(self._model), "", size, self._score_threshold, 0.3, 50)
            self._net, self._size = net, size
        elif size != self._size:  # re-sizing the net costs more than a detection
            net.setInputSize(size)
            self._size = size
        return net

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Rows of [x, y, w, h, 5 landmarks (x, y), score] in frame coordinates; empty when no face."""
        height, width = frame.shape[:2]
        scale = min(1.0, DETECT_MAX_WIDTH / width)
        small = frame
        if scale < 1.0:
            small = cv2.resize(
                frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
        _, faces = self._ready_net((small.shape[1], small.shape[0])).detect(small)
        if faces is None:
            return np.empty((0, 15), np.float32)
        if scale < 1.0:
            faces = faces.copy()
            faces[:, :14] /= scale
        return faces

    def assess(self, frame: np.ndarray) -> Quality:
        """The quality gate for one frame; the first problem found wins (most actionable first)."""
        t = self.thresholds
        faces = self.detect(frame)
        if len(faces) == 0:
            return Quality("no_face", 0)
        if len(faces) > 1:
            return Quality("multiple_faces", len(faces))
        row = faces[0]
        frame_h, frame_w = frame.shape[:2]
        x, y, w, h = (round(float(v)) for v in row[:4])
        landmarks = row[4:14].reshape(5, 2).astype(np.float32)
        pose = estimate_pose(landmarks)
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        x0, y0 = max(0, x), max(0, y)
        crop = grey[y0 : min(frame_h, y + h), x0 : min(frame_w, x + w)]
        sharp = sharpness(crop)
        bright = float(crop.mean()) if crop.size else 0.0
        found = {
            "faces": 1,
            "box": (x, y, w, h),
            "landmarks": landmarks,
            "pose": pose,
            "score": float(row[14]),
            "sharpness": sharp,
            "brightness": bright,
        }
        if w < t.min_face_fraction * frame_w:
            return Quality("too_far", **found)
        if w > t.max_face_fraction * frame_w or h > 0.95 * frame_h:
            return Quality("too_close", **found)
        cx, cy = x + w / 2, y + h / 2
        if abs(cx - frame_w / 2) > t.max_offset * frame_w or abs(cy - frame_h / 2) > t.max_offset * frame_h:
            return Quality("off_centre", **found)
        if bright < t.min_brightness:
            return Quality("too_dark", **found)
        if bright > t.max_brightness:
            return Quality("too_bright", **found)
        if sharp < t.min_sharpness:
            return Quality("blurry", **found)
        if abs(pose.yaw) > t.max_yaw or abs(pose.pitch) > t.max_pitch or abs(pose.roll) > t.max_roll:
            return Quality("not_frontal", **found)
        return Quality(None, **found)


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the camera frame as JPEG")
    return buf.tobytes()
