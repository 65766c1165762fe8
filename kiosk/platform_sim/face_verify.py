"""§5.3 `POST /terminal/v1/identity/face-verify`: the live photo against the person's reference photo.

Which rule applies, per request:

- Real matcher: when the ID number is one of the seeded demo people that has a reference photo (王建国 →
  testdata/faces/obama2.jpg, 李秀兰 → biden.jpg, in the shared dir of `kiosk.paths`: `$KIOSK_SHARED_DIR`
  or ../shared, never copied into the repository), and both model files are in `<shared>/models/`.
  `score` is the cosine similarity (rounded to 4 places) of the live photo's face and the reference face
  (`kiosk.facematch`; 0.0 when the live image is not a JPEG of at least 64×64 pixels or holds no usable
  face: none, or two faces of about the same size), `threshold` is `facematch.DEFAULT_THRESHOLD` (0.45),
  and the result is a match when `score >= threshold` and `liveness.passed` is true.
- Deterministic stand-in, in every other case (models or reference photo missing, or an ID number that is
  not a seeded person): a match when the live image decodes as a JPEG of at least 64×64 pixels,
  `liveness.passed` is true and the ID number passes the GB 11643 check. Score 0.9 on a match, else 0.1;
  threshold 0.6.

The `threshold` in the response is the one applied. A proof is valid for 15 minutes and only for that ID
number. The name is not checked. The matcher is loaded on the first request that needs it, once per app,
and runs in a worker thread (CPU work must not block the event loop); reference embeddings are cached.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from kiosk.facematch import FaceMatcher, MatchResult
from kiosk.idnumber import is_valid_id_number
from kiosk.paths import shared_dir
from kiosk.platform_sim import validation as v
from kiosk.platform_sim.core import SimContext, invalid, issue_proof, ok
from kiosk.platform_sim.people import DemoPerson

log = logging.getLogger(__name__)

__all__ = ["DETERMINISTIC_THRESHOLD", "MIN_FACE_PX", "REFERENCE_PHOTOS", "register"]

DETERMINISTIC_THRESHOLD = 0.6
MIN_FACE_PX = 64
DETECTOR_MODEL = "face_detection_yunet_2023mar.onnx"
EMBEDDING_MODEL = "mobilefacenet_128d.onnx"
MODELS = (DETECTOR_MODEL, EMBEDDING_MODEL)
# Seeded demo person (ID number) → reference photo under <shared>/testdata/faces/ (the "ID photo").
REFERENCE_PHOTOS = {"411502195803120031": "obama2.jpg", "510107199007081247": "biden.jpg"}


def _jpeg_at_least(data: bytes, min_px: int) -> bool:
    from PIL import Image  # local: only face-verify decodes images

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "JPEG":
                return False
            img.load()  # decode fully: a truncated file is not a photo
            return min(img.size) >= min_px
    except Exception:  # any decoder complaint means "not a usable JPEG"
        return False


class _RealMatcher:
    """The FaceMatcher and reference embeddings of one app, loaded on first use."""

    def __init__(self, people: dict[str, DemoPerson]) -> None:
        self._people = people
        self._lock = threading.Lock()
        self._loaded = False
        self._matcher: FaceMatcher | None = None
        self._faces_dir: Path | None = None
        self._references: dict[str, np.ndarray] = {}

    def _load(self) -> FaceMatcher | None:
        with self._lock:
            if not self._loaded:
                self._loaded = True
                self._matcher, self._faces_dir = self._open()
            return self._matcher

    @staticmethod
    def _open() -> tuple[FaceMatcher | None, Path | None]:
        try:
            shared = shared_dir()
        except FileNotFoundError:
            shared = None
        models = shared / "models" if shared else None
        if shared is None or models is None or not all((models / m).is_file() for m in MODELS):
            log.info("simulator: face models not found, face-verify uses the deterministic rule")
            return None, None
        started = time.perf_counter()
        matcher = FaceMatcher(models / DETECTOR_MODEL, models / EMBEDDING_MODEL)
        log.info("simulator: face matcher loaded in %.0f ms", (time.perf_counter() - started) * 1000)
        return matcher, shared / "testdata" / "faces"

    def applies_to(self, id_number: str) -> bool:
        """Whether the real matcher decides for this ID number (see the module docstring)."""
        if id_number not in self._people or id_number not in REFERENCE_PHOTOS:
            return False
        if self._load() is None:
            return False
        assert self._faces_dir is not None
        return (self._faces_dir / REFERENCE_PHOTOS[id_number]).is_file()

    def verify(self, id_number: str, live_jpeg: bytes | None) -> MatchResult:
        """The live photo (None: not a usable JPEG) against the person's reference photo."""
        matcher = self._load()
        assert matcher is not None  # applies_to() said so
        reference = self._reference(matcher, id_number)
        live = (
            None if live_jpeg is None else cv2.imdecode(np.frombuffer(live_jpeg, np.uint8), cv2.IMREAD_COLOR)
        )
        return matcher.compare(reference, None if live is None else matcher.embed(live))

    def _reference(self, matcher: FaceMatcher, id_number: str) -> np.ndarray:
        with self._lock:
            cached = self._references.get(id_number)
        if cached is not None:
            return cached
        assert self._faces_dir is not None
        image = cv2.imread(str(self._faces_dir / REFERENCE_PHOTOS[id_number]), cv2.IMREAD_COLOR)
        embedding = None if image is None else matcher.embed(image)
        if embedding is None:  # a broken test-data file, not a citizen's problem: fail loudly
            raise RuntimeError(f"reference photo {REFERENCE_PHOTOS[id_number]} has no usable face")
        with self._lock:
            self._references[id_number] = embedding
        return embedding


def register(app: FastAPI, ctx: SimContext, people: dict[str, DemoPerson]) -> None:
    store = ctx.store
    real = _RealMatcher(people)
    ctx.extra["face_matcher"] = real

    @app.post("/terminal/v1/identity/face-verify")
    async def face_verify(request: Request) -> JSONResponse:
        terminal_id, body = await ctx.authenticate(request)
        req, errors = v.parse(v.FaceVerifyRequest, body)
        if req is None:
            raise invalid(errors)
        try:
            image = base64.b64decode(req.live_image, validate=True)
        except (binascii.Error, ValueError):
            raise invalid([{"field": "live_image", "reason": "not base64"}]) from None
        is_jpeg = _jpeg_at_least(image, MIN_FACE_PX)
        started = time.perf_counter()
        if await run_in_threadpool(real.applies_to, req.id_number):  # may load the models
            rule = "matcher"
            result = await run_in_threadpool(real.verify, req.id_number, image if is_jpeg else None)
            score, threshold = result.score, result.threshold
            match = result.match and req.liveness.passed
        else:
            rule = "deterministic"
            match = is_jpeg and req.liveness.passed and is_valid_id_number(req.id_number)
            score, threshold = (0.9 if match else 0.1), DETERMINISTIC_THRESHOLD
        proof = issue_proof(store, terminal_id, req.id_number, ctx.clock()) if match else None
        log.info(
            "simulator: face-verify rule=%s match=%s score=%.3f threshold=%.2f image=%dB %.0f ms",
            rule,
            match,
            score,
            threshold,
            len(image),
            (time.perf_counter() - started) * 1000,
        )
        return ok({"match": match, "score": round(score, 4), "threshold": threshold, "proof": proof})
