"""Face check before the platform's 1:1 match: one clearly visible face, found with YuNet.

This is the walking-skeleton depth: detection and a one-face gate. Active liveness (head-movement
challenges) and a local matcher come with the camera issue; until then the liveness we report to the
platform says honestly that only face presence was checked (`method: "presence"`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

MIN_FACE_FRACTION = 0.12  # a face narrower than this share of the frame is too far away


@dataclass(frozen=True)
class FaceCheck:
    ok: bool
    message: str  # short Chinese guidance for the citizen ("" when ok)
    score: float = 0.0
    box: tuple[int, int, int, int] | None = None


class FaceDetector:
    def __init__(self, model_path: Path, score_threshold: float = 0.8) -> None:
        if not model_path.is_file():
            raise FileNotFoundError(
                f"face detector model not found: {model_path} (config [face] detector_model)"
            )
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), score_threshold, 0.3, 50)

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Rows of [x, y, w, h, 5 landmarks (x, y), score]; empty when no face."""
        height, width = frame.shape[:2]
        self._net.setInputSize((width, height))
        _, faces = self._net.detect(frame)
        return faces if faces is not None else np.empty((0, 15), np.float32)

    def check(self, frame: np.ndarray) -> FaceCheck:
        faces = self.detect(frame)
        if len(faces) == 0:
            return FaceCheck(False, "没有看到您的脸，请正对屏幕。")
        if len(faces) > 1:
            return FaceCheck(False, "镜头前只能有一个人，请其他人稍微离开。")
        x, y, w, h = (int(v) for v in faces[0][:4])
        score = float(faces[0][-1])
        if w < MIN_FACE_FRACTION * frame.shape[1]:
            return FaceCheck(False, "请靠近一点。", score, (x, y, w, h))
        log.info("face found score=%.2f size=%dpx", score, w)
        return FaceCheck(True, "", score, (x, y, w, h))


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the camera frame as JPEG")
    return buf.tobytes()
