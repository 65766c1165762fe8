"""The 1:1 face matcher on the shared test faces (obama*, biden, two_people) with the shared models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.facematch import DEFAULT_THRESHOLD, FaceMatcher, MatchResult
from kiosk.paths import shared_dir


@pytest.fixture(scope="module")
def shared() -> Path:
    try:
        return shared_dir()
    except FileNotFoundError as err:
        pytest.skip(f"face models not available: {err}")


@pytest.fixture(scope="module")
def matcher(shared: Path) -> FaceMatcher:
    models = shared / "models"
    return FaceMatcher(models / "face_detection_yunet_2023mar.onnx", models / "mobilefacenet_128d.onnx")


@pytest.fixture(scope="module")
def photo(shared: Path):
    def load(name: str) -> np.ndarray:
        image = cv2.imread(str(shared / "testdata" / "faces" / f"{name}.jpg"))
        assert image is not None, name
        return image

    return load


@pytest.fixture(scope="module")
def emb(matcher: FaceMatcher, photo) -> dict[str, np.ndarray]:
    out = {}
    for name in ("obama", "obama2", "obama-480p", "biden"):
        e = matcher.embed(photo(name))
        assert e is not None, name
        out[name] = e
    return out


def test_embedding_is_unit_length_128d(emb: dict[str, np.ndarray], matcher: FaceMatcher) -> None:
    e = emb["obama"]
    assert e.shape == (128,) and e.dtype == np.float32
    assert np.linalg.norm(e) == pytest.approx(1.0, abs=1e-5)
    assert matcher.similarity(e, e) == pytest.approx(1.0, abs=1e-5)
    assert matcher.similarity(e, emb["biden"]) == pytest.approx(matcher.similarity(emb["biden"], e))


@pytest.mark.parametrize(("a", "b"), [("obama", "obama2"), ("obama", "obama-480p"), ("obama2", "obama-480p")])
def test_same_person_matches(matcher: FaceMatcher, emb: dict[str, np.ndarray], a: str, b: str) -> None:
    result = matcher.compare(emb[a], emb[b])
    assert result.match and result.reason is None
    assert result.score >= 0.6 and result.threshold == DEFAULT_THRESHOLD == 0.45


@pytest.mark.parametrize("a", ["obama", "obama2", "obama-480p"])
def test_different_people_do_not_match(matcher: FaceMatcher, emb: dict[str, np.ndarray], a: str) -> None:
    result = matcher.compare(emb[a], emb["biden"])
    assert not result.match and result.score < 0.3


def test_no_face_gives_none_and_a_clear_no_match(matcher: FaceMatcher, emb: dict[str, np.ndarray]) -> None:
    blank = np.full((480, 640, 3), (90, 80, 70), np.uint8)
    assert matcher.embed(blank) is None
    assert matcher.compare(emb["obama"], None) == MatchResult(
        0.0, False, 0.45, "no usable face in the second image"
    )
    assert matcher.compare(None, emb["obama"]).reason == "no usable face in the first image"


def test_two_faces_of_the_same_size_are_refused(matcher: FaceMatcher, photo) -> None:
    """two_people.jpg: Obama and Biden, boxes within 0.1 % in area — no telling who is verified."""
    assert matcher.embed(photo("two_people")) is None


def test_a_clearly_larger_face_is_the_one_used(
    matcher: FaceMatcher, photo, emb: dict[str, np.ndarray]
) -> None:
    canvas = photo("obama2").copy()
    bystander = cv2.resize(photo("biden"), None, fx=0.3, fy=0.3)  # a small face in the background
    h, w = bystander.shape[:2]
    canvas[-h:, -w:] = bystander
    e = matcher.embed(canvas)
    assert e is not None
    assert matcher.compare(e, emb["obama"]).match
    assert not matcher.compare(e, emb["biden"]).match


def test_the_face_alone_from_two_people_matches_its_own_person(
    matcher: FaceMatcher, photo, emb: dict[str, np.ndarray]
) -> None:
    image = photo("two_people")
    half = image.shape[1] // 2
    left, right = matcher.embed(image[:, :half]), matcher.embed(image[:, half:])
    assert matcher.compare(left, emb["obama"]).match and not matcher.compare(left, emb["biden"]).match
    assert matcher.compare(right, emb["biden"]).match and not matcher.compare(right, emb["obama"]).match


def test_missing_model_is_reported(shared: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="embedding model"):
        FaceMatcher(shared / "models" / "face_detection_yunet_2023mar.onnx", tmp_path / "none.onnx")
