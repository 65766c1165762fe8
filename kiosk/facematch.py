"""1:1 face matching: YuNet finds the face and its five landmarks, the face is aligned to the standard
112×112 ArcFace template, and MobileFaceNet turns it into a 128-d embedding compared by cosine.

Used by the platform simulator's face-verify; the model paths come from the caller (config or
`kiosk.paths`), never from this module. Nothing here logs or keeps images or personal data: only the
score, the decision and the timing are logged.

Several faces in one image: the largest one is used when it clearly dominates (at least twice the area
of any other), because a much smaller face is a bystander in the background or a face on a poster and the
person at the terminal is the closest one. When two faces are about the same size there is no telling who
is being verified, so `embed` returns None instead of guessing (on testdata two_people.jpg the two boxes
differ by 0.1 % in area: "the largest" would be an arbitrary pick). The kiosk's own `FaceDetector.check`
already refuses frames with more than one face before anything is sent.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from kiosk.face import FaceDetector

log = logging.getLogger(__name__)

__all__ = ["ARCFACE_TEMPLATE", "DEFAULT_THRESHOLD", "FaceMatcher", "MatchResult"]

# Cosine scores with these models on shared/testdata/faces: same person in different photos 0.72–0.76
# (the models' README: 0.64–0.72), different people at most 0.10 (README: at most 0.24). 0.45 sits about
# midway between the README's worst cases, so neither side is near it. A false match (someone passing as
# the card holder) costs more than a retry, hence not lower than the midpoint.
DEFAULT_THRESHOLD = 0.45

# Where the eyes, nose tip and mouth corners sit in a 112×112 ArcFace crop (the order of YuNet's landmarks).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)
_SIZE = 112
_DOMINANT_AREA = 2.0  # the chosen face must be this many times larger than the next one
_DETECT_MAX_SIDE = 640  # detection cost grows with pixels; a face to verify is large in the frame
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)  # ImageNet statistics, as the model was trained
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class MatchResult:
    score: float  # cosine similarity in [-1, 1]; 0.0 when there was nothing to compare
    match: bool
    threshold: float
    reason: str | None = None  # None when two faces were compared, else why not


class FaceMatcher:
    def __init__(
        self, detector_model: Path, embedding_model: Path, threshold: float = DEFAULT_THRESHOLD
    ) -> None:
        if not embedding_model.is_file():
            raise FileNotFoundError(f"face embedding model not found: {embedding_model}")
        self.threshold = threshold
        self._detector = FaceDetector(detector_model)
        self._net = cv2.dnn.readNetFromONNX(str(embedding_model))
        # cv2 nets keep per-call state (input size, blobs): one caller at a time.
        self._lock = threading.Lock()

    def embed(self, image_bgr: np.ndarray) -> np.ndarray | None:
        """The unit-length embedding of the face to verify (the largest, when it clearly dominates), or
        None when there is no usable face or two faces of about the same size."""
        started = time.perf_counter()
        with self._lock:
            face = self._pick_face(image_bgr)
            crop = None if face is None else self._align(image_bgr, face[4:14].reshape(5, 2))
            if crop is None:
                log.info("facematch: no usable face (%.0f ms)", (time.perf_counter() - started) * 1000)
                return None
            out = self._forward(crop)
        log.debug("facematch: embedded in %.0f ms", (time.perf_counter() - started) * 1000)
        return out

    def embed_aligned(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The unit-length embedding of an already aligned 112×112 crop (`aligned_crop`): the network alone,
        for benchmarks."""
        with self._lock:
            return self._forward(crop_bgr)

    def _forward(self, crop: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        blob = ((rgb - _MEAN) / _STD).transpose(2, 0, 1)[np.newaxis]
        self._net.setInput(np.ascontiguousarray(blob))
        out = self._net.forward().reshape(-1).astype(np.float32)
        return out / max(float(np.linalg.norm(out)), 1e-12)

    @staticmethod
    def similarity(e1: np.ndarray, e2: np.ndarray) -> float:
        """Cosine similarity (the embeddings need not be normalised)."""
        denom = float(np.linalg.norm(e1) * np.linalg.norm(e2))
        return float(np.dot(e1, e2)) / denom if denom > 0 else 0.0

    def compare(self, a: np.ndarray | None, b: np.ndarray | None) -> MatchResult:
        """Decide on two embeddings from `embed`; None (no face) never matches."""
        if a is None or b is None:
            reason = (
                "no usable face in the first image" if a is None else "no usable face in the second image"
            )
            log.info("facematch: match=False (%s)", reason)
            return MatchResult(0.0, False, self.threshold, reason)
        score = self.similarity(a, b)
        match = score >= self.threshold
        log.info("facematch: score=%.3f threshold=%.2f match=%s", score, self.threshold, match)
        return MatchResult(score, match, self.threshold)

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        """Every face the detector finds, as `FaceDetector.detect` rows in full-image coordinates, found
        on the same downscaled copy `embed` uses (for reports and benchmarks)."""
        with self._lock:
            return self._detect(image_bgr)

    def aligned_crop(self, image_bgr: np.ndarray) -> np.ndarray | None:
        """The 112×112 aligned BGR crop `embed` feeds the network, or None (as `embed`); for baselines."""
        with self._lock:
            face = self._pick_face(image_bgr)
            return None if face is None else self._align(image_bgr, face[4:14].reshape(5, 2))

    def _detect(self, image_bgr: np.ndarray) -> np.ndarray:
        scale = min(1.0, _DETECT_MAX_SIDE / max(image_bgr.shape[:2]))
        small = (
            image_bgr
            if scale == 1.0
            else cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        faces = self._detector.detect(small).copy()
        faces[:, :14] /= scale  # boxes and landmarks back to the full image, which the crop is taken from
        return faces

    def _pick_face(self, image_bgr: np.ndarray) -> np.ndarray | None:
        """The detector row of the face to verify, in full-image coordinates (see the module docstring)."""
        faces = self._detect(image_bgr)
        if len(faces) == 0:
            return None
        areas = faces[:, 2] * faces[:, 3]
        order = np.argsort(areas)[::-1]
        if len(faces) > 1 and areas[order[0]] < _DOMINANT_AREA * areas[order[1]]:
            return None
        return faces[order[0]]

    @staticmethod
    def _align(image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        # Similarity transform (rotation, uniform scale, shift) only: a full affine would distort the face.
        matrix, _ = cv2.estimateAffinePartial2D(
            landmarks.astype(np.float32), ARCFACE_TEMPLATE, method=cv2.LMEDS
        )
        if matrix is None:  # degenerate landmarks (e.g. all on one point): no usable face
            return None
        return cv2.warpAffine(image_bgr, matrix, (_SIZE, _SIZE), borderValue=0)
