"""1:1 face verification of the citizen at the terminal against their identity, and who decides it.

Two backends, chosen by `[face] match`:

- `PlatformVerifier` ("platform", the default): the platform matches the live photo against its own
  reference (platform-api §5.3) and, on a match, issues the identity proof. Nothing is decided here.
- `LocalVerifier` ("local"): this terminal's `FaceMatcher` compares the live photo with a reference photo
  first: the chip photo of the ID card when a licensed WLT decoder is configured, else the configured
  `[face] reference_image`. A mismatch, an unusable live photo or a missing/unusable reference is refused
  here, *without any platform call*: the citizen gets an answer in a few tens of ms and no photo of a
  non-matching person leaves the terminal. On a local match the platform is still asked (§5.3), because
  the proof that every application carries only ever comes from the platform; the result is a match only
  when the platform agrees too (a local match can never produce a proof on its own). If the platform
  disagrees, the platform wins: `match` False, no proof, and the disagreement is logged.

`PlatformError` from the client propagates unchanged from both backends (the caller shows the citizen
message and may retry). Only the decision, the scores, the backend, the reason and timings are logged:
never images, names or ID numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from kiosk.facematch import FaceMatcher
from kiosk.session import Identity, Proof

if TYPE_CHECKING:
    from kiosk.config import Config

log = logging.getLogger(__name__)

__all__ = [
    "FacePlatform",
    "FaceVerifier",
    "LocalVerifier",
    "PlatformVerifier",
    "ReferenceSource",
    "VerifyResult",
    "compare_report",
    "face_report",
    "image_reference",
    "make_verifier",
]

# Only for checking a fixed reference image at start-up (it ignores the identity).
_NOBODY = Identity(name="", id_number="", id_type="resident", source="config")

# The reference photo (BGR) of an identity, or None when there is none for it.
ReferenceSource = Callable[[Identity], "np.ndarray | None"]


@dataclass(frozen=True)
class VerifyResult:
    match: bool
    score: float  # cosine similarity of the deciding backend (local score when refused locally)
    threshold: float  # the threshold that score was held against
    proof: Proof | None  # from the platform only, and only when match is True
    backend: str  # "platform" or "local"


class FaceVerifier(Protocol):
    def verify(self, identity: Identity, live_jpeg: bytes, liveness: dict[str, Any]) -> VerifyResult: ...


class FacePlatform(Protocol):
    """The part of `PlatformClient` face verification needs (a stand-in in tests)."""

    def face_verify(
        self, id_number: str, name: str, live_image_jpeg: bytes, liveness: Mapping[str, Any]
    ) -> dict[str, Any]: ...


def _proof(data: Mapping[str, Any] | None) -> Proof | None:
    return None if data is None else Proof(proof_id=data["proof_id"], expires_at=data["expires_at"])


class PlatformVerifier:
    """The platform decides (§5.3); `PlatformError` propagates."""

    def __init__(self, platform: FacePlatform) -> None:
        self._platform = platform

    def verify(self, identity: Identity, live_jpeg: bytes, liveness: dict[str, Any]) -> VerifyResult:
        started = time.perf_counter()
        data = self._platform.face_verify(identity.id_number, identity.name, live_jpeg, liveness)
        proof = _proof(data.get("proof")) if data["match"] else None
        result = VerifyResult(
            bool(data["match"]), float(data["score"]), float(data["threshold"]), proof, "platform"
        )
        log.info(
            "face verify backend=platform match=%s score=%.3f threshold=%.2f (%.0f ms)",
            result.match,
            result.score,
            result.threshold,
            (time.perf_counter() - started) * 1000,
        )
        return result


class LocalVerifier:
    """This terminal's matcher decides first; the platform confirms and issues the proof (module doc)."""

    def __init__(self, matcher: FaceMatcher, reference: ReferenceSource, platform: FacePlatform) -> None:
        self._matcher = matcher
        self._reference = reference
        self._platform = platform
        # `[face] reference_image` hands back the same array every time: embed it once, not per citizen.
        self._last: tuple[np.ndarray, np.ndarray | None] | None = None

    def _reference_embedding(self, reference: np.ndarray) -> np.ndarray | None:
        if self._last is not None and self._last[0] is reference:
            return self._last[1]
        emb = self._matcher.embed(reference)
        self._last = (reference, emb)
        return emb

    def verify(self, identity: Identity, live_jpeg: bytes, liveness: dict[str, Any]) -> VerifyResult:
        started = time.perf_counter()
        threshold = self._matcher.threshold

        def refuse(reason: str, score: float = 0.0) -> VerifyResult:
            log.info(
                "face verify backend=local match=False score=%.3f threshold=%.2f refused locally, "
                "no platform call: %s (%.0f ms)",
                score,
                threshold,
                reason,
                (time.perf_counter() - started) * 1000,
            )
            return VerifyResult(False, score, threshold, None, "local")

        reference = self._reference(identity)
        if reference is None:
            return refuse("no reference photo for this identity")
        ref_emb = self._reference_embedding(reference)
        if ref_emb is None:
            return refuse("no usable face in the reference photo")
        live = _decode_jpeg(live_jpeg)
        if live is None:
            return refuse("live image is not a decodable JPEG")
        live_emb = self._matcher.embed(live)
        if live_emb is None:
            return refuse("no usable face in the live photo")
        local = self._matcher.compare(live_emb, ref_emb)
        local_ms = (time.perf_counter() - started) * 1000
        if not local.match:
            return refuse("local mismatch", local.score)

        # Local match: only the platform can issue the proof, and it re-checks against its own reference.
        data = self._platform.face_verify(identity.id_number, identity.name, live_jpeg, liveness)
        agreed = bool(data["match"])
        proof = _proof(data.get("proof")) if agreed else None
        log.info(
            "face verify backend=local match=%s score=%.3f threshold=%.2f (local %.0f ms); platform "
            "match=%s score=%.3f threshold=%.2f%s (%.0f ms in all)",
            agreed,
            local.score,
            threshold,
            local_ms,
            agreed,
            float(data["score"]),
            float(data["threshold"]),
            "" if agreed else " - platform disagrees, refused",
            (time.perf_counter() - started) * 1000,
        )
        return VerifyResult(agreed, local.score, threshold, proof, "local")


def _decode_jpeg(data: bytes) -> np.ndarray | None:
    if not data:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def image_reference(path: Path) -> ReferenceSource:
    """The same reference photo for every identity (`[face] reference_image`: demos and terminals without a
    WLT decoder). Read once; a missing or unreadable file is an error at start-up, not per citizen."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"[face] reference_image: cannot read an image from {path}")

    def reference(_identity: Identity) -> np.ndarray:
        return image

    return reference


def make_verifier(
    config: Config, platform: FacePlatform, *, chip_photo: ReferenceSource | None = None
) -> FaceVerifier:
    """The verifier `[face] match` asks for.

    `chip_photo` is the ID card's chip photo (decoded BGR) of an identity; the wiring passes it only when a
    licensed WLT decoder is configured, and then it is the local reference in preference to
    `[face] reference_image`. "local" needs `[face] embedding_model` and one of the two reference sources;
    a ValueError naming the key says what is missing.
    """
    face = config.face
    if face.match == "platform":
        return PlatformVerifier(platform)
    if face.match != "local":  # the config model already restricts it; a clear message all the same
        raise ValueError(f'[face] match must be "platform" or "local", not {face.match!r}')
    if face.embedding_model is None:
        raise ValueError('[face] embedding_model is required when [face] match = "local"')
    if chip_photo is not None:
        reference = chip_photo
    elif face.reference_image is not None:
        if not Path(face.reference_image).is_file():
            raise ValueError(f"[face] reference_image not found: {face.reference_image}")
        reference = image_reference(Path(face.reference_image))
    else:
        raise ValueError(
            '[face] reference_image is required when [face] match = "local" and no WLT decoder '
            "(chip photo) is configured"
        )
    try:
        matcher = FaceMatcher(Path(face.detector_model), Path(face.embedding_model), face.match_threshold)
    except FileNotFoundError as err:
        key = "embedding_model" if "embedding" in str(err) else "detector_model"
        raise ValueError(f"[face] {key}: {err}") from None
    if chip_photo is None and matcher.embed(reference(_NOBODY)) is None:
        # Every citizen would be refused: better to say so at start-up.
        raise ValueError(f"[face] reference_image has no usable face: {face.reference_image}")
    log.info(
        "face verify: backend=local threshold=%.2f reference=%s",
        face.match_threshold,
        "chip photo" if chip_photo is not None else "reference_image",
    )
    return LocalVerifier(matcher, reference, platform)


# --- `kiosk vision face` / `kiosk vision compare` (the CLI formats these dicts) ---------------------------


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read an image from {path}")
    return image


def face_report(image: Path, matcher: FaceMatcher) -> dict[str, Any]:
    """What the detector and matcher see in one image: face count, the chosen face's detector score and
    box, whether it is usable for matching, and timings. No image data in the result."""
    frame = _read(image)
    started = time.perf_counter()
    faces = matcher.detect(frame)
    detect_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    emb = matcher.embed(frame)
    embed_ms = (time.perf_counter() - started) * 1000
    return {
        "width": int(frame.shape[1]),
        "height": int(frame.shape[0]),
        "faces": len(faces),
        "boxes": [[round(float(v)) for v in f[:4]] + [round(float(f[-1]), 3)] for f in faces],
        "usable": emb is not None,
        "detect_ms": round(detect_ms, 1),
        "embed_ms": round(embed_ms, 1),
    }


def compare_report(img1: Path, img2: Path, matcher: FaceMatcher) -> dict[str, Any]:
    """Cosine score and decision of two images' faces at the matcher's threshold; `reason` is set (and the
    score 0.0) when one has no usable face."""
    result = matcher.compare(matcher.embed(_read(img1)), matcher.embed(_read(img2)))
    out: dict[str, Any] = {
        "score": round(result.score, 4),
        "match": result.match,
        "threshold": result.threshold,
    }
    if result.reason is not None:
        out["reason"] = result.reason
    return out
