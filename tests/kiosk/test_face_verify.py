"""Face verification backends: the platform simulator over real HTTP (its face-verify runs the real matcher
for the seeded person 王建国 against testdata/faces/obama2.jpg), and the local matcher in front of it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from kiosk.config import Config, parse_config
from kiosk.face_verify import (
    LocalVerifier,
    PlatformVerifier,
    VerifyResult,
    compare_report,
    face_report,
    make_verifier,
)
from kiosk.facematch import DEFAULT_THRESHOLD, FaceMatcher
from kiosk.paths import shared_dir
from kiosk.platform import PlatformClient, PlatformError
from kiosk.platform_sim import ServerThread
from kiosk.session import Identity, Proof

TERMINAL = "T4115020001"
SECRET = "c" * 64
WANG = Identity(name="王建国", id_number="411502195803120031", id_type="resident", source="idcard")
LIVENESS: dict[str, Any] = {"method": "presence", "passed": True, "score": 0.93}


@pytest.fixture(scope="module")
def shared() -> Path:
    try:
        return shared_dir()
    except FileNotFoundError as err:
        pytest.skip(f"face models not available: {err}")


@pytest.fixture(scope="module")
def faces(shared: Path) -> Path:
    return shared / "testdata" / "faces"


@pytest.fixture(scope="module")
def models(shared: Path) -> Path:
    return shared / "models"


def photo(faces: Path, name: str) -> bytes:
    return (faces / f"{name}.jpg").read_bytes()


def blank_jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((480, 640, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def sim(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    db = tmp_path_factory.mktemp("sim") / "platform.db"
    with ServerThread(db, {TERMINAL: SECRET}) as server:
        yield server


@pytest.fixture
def client(sim: ServerThread) -> Iterator[PlatformClient]:
    with PlatformClient(sim.base_url, TERMINAL, SECRET, read_timeout_s=30.0) as c:
        yield c


class Recording:
    """Passes face_verify through to a real client (or answers itself) and records each call's ID number."""

    def __init__(self, inner: PlatformClient | None = None, answer: dict[str, Any] | None = None) -> None:
        self.inner, self.answer = inner, answer
        self.calls: list[str] = []

    def face_verify(
        self, id_number: str, name: str, live_image_jpeg: bytes, liveness: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.calls.append(id_number)
        if self.inner is not None:
            return self.inner.face_verify(id_number, name, live_image_jpeg, liveness)
        assert self.answer is not None
        return self.answer


def config(models: Path, **face: Any) -> Config:
    return parse_config(
        {
            "terminal": {"id": TERMINAL, "region_code": "411502", "hall_name": "测试大厅"},
            "platform": {"base_url": "http://127.0.0.1:1", "terminal_id": TERMINAL, "secret_file": "/none"},
            "storage": {"state_dir": "/tmp/none"},
            "face": {"detector_model": str(models / "face_detection_yunet_2023mar.onnx"), **face},
        }
    )


@pytest.fixture(scope="module")
def local_config(models: Path, faces: Path) -> Config:
    return config(
        models,
        match="local",
        embedding_model=str(models / "mobilefacenet_128d.onnx"),
        reference_image=str(faces / "obama2.jpg"),
    )


# --- platform backend --------------------------------------------------------------------------------------


def test_platform_match_carries_the_platform_proof(client: PlatformClient, faces: Path) -> None:
    result = PlatformVerifier(client).verify(WANG, photo(faces, "obama"), LIVENESS)
    assert result.match and result.backend == "platform"
    assert result.threshold == pytest.approx(DEFAULT_THRESHOLD)
    assert result.score >= result.threshold
    assert isinstance(result.proof, Proof) and result.proof.proof_id and result.proof.expires_at


def test_platform_mismatch_has_no_proof(client: PlatformClient, faces: Path) -> None:
    result = PlatformVerifier(client).verify(WANG, photo(faces, "biden"), LIVENESS)
    assert result == VerifyResult(False, result.score, result.threshold, None, "platform")
    assert result.score < result.threshold


def test_platform_error_propagates(sim: ServerThread, faces: Path) -> None:
    with PlatformClient(sim.base_url, TERMINAL, "d" * 64) as wrong_secret, pytest.raises(PlatformError):
        PlatformVerifier(wrong_secret).verify(WANG, photo(faces, "obama"), LIVENESS)


def test_make_verifier_platform_is_the_default(models: Path) -> None:
    assert isinstance(make_verifier(config(models), Recording()), PlatformVerifier)


# --- local backend -----------------------------------------------------------------------------------------


def test_local_match_then_platform_proof(local_config: Config, client: PlatformClient, faces: Path) -> None:
    platform = Recording(client)
    verifier = make_verifier(local_config, platform)
    assert isinstance(verifier, LocalVerifier)
    result = verifier.verify(WANG, photo(faces, "obama"), LIVENESS)
    assert result.match and result.backend == "local" and result.proof is not None
    assert result.score >= result.threshold == pytest.approx(DEFAULT_THRESHOLD)
    assert platform.calls == [WANG.id_number]


@pytest.mark.parametrize(
    "live",
    ["biden", "two_people", "blank", "not_a_jpeg", "empty"],
    ids=["other_person", "two_same_size_faces", "no_face", "not_a_jpeg", "empty"],
)
def test_local_refusal_makes_no_platform_call(
    local_config: Config, faces: Path, live: str, caplog: pytest.LogCaptureFixture
) -> None:
    special = {"blank": blank_jpeg(), "not_a_jpeg": b"GIF89a not a jpeg", "empty": b""}
    data = special[live] if live in special else photo(faces, live)
    platform = Recording()  # would fail the test on any call: it has no answer
    caplog.set_level("INFO", logger="kiosk.face_verify")
    result = make_verifier(local_config, platform).verify(WANG, data, LIVENESS)
    assert result.match is False and result.proof is None and result.backend == "local"
    assert platform.calls == []
    assert "refused locally" in caplog.text
    # The log carries the decision and score, never the citizen's name or ID number.
    assert WANG.name not in caplog.text and WANG.id_number not in caplog.text


def test_local_match_but_platform_disagrees_is_refused(local_config: Config, faces: Path) -> None:
    platform = Recording(answer={"match": False, "score": 0.2, "threshold": 0.45, "proof": None})
    result = make_verifier(local_config, platform).verify(WANG, photo(faces, "obama"), LIVENESS)
    assert result.match is False and result.proof is None and result.backend == "local"
    assert platform.calls == [WANG.id_number]


def test_local_match_with_failed_liveness_gets_no_proof(
    local_config: Config, client: PlatformClient, faces: Path
) -> None:
    # The simulator refuses when liveness did not pass; the local match alone never yields a proof.
    result = make_verifier(local_config, Recording(client)).verify(
        WANG, photo(faces, "obama"), {**LIVENESS, "passed": False}
    )
    assert result.match is False and result.proof is None


def test_local_platform_error_propagates(local_config: Config, sim: ServerThread, faces: Path) -> None:
    with PlatformClient(sim.base_url, TERMINAL, "d" * 64) as wrong_secret, pytest.raises(PlatformError):
        make_verifier(local_config, wrong_secret).verify(WANG, photo(faces, "obama"), LIVENESS)


def test_chip_photo_is_preferred_and_none_refuses(local_config: Config, faces: Path) -> None:
    biden = cv2.imread(str(faces / "biden.jpg"))
    chips: dict[str, np.ndarray] = {WANG.id_number: biden}
    platform = Recording(answer={"match": True, "score": 0.7, "threshold": 0.45, "proof": None})
    verifier = make_verifier(local_config, platform, chip_photo=lambda ident: chips.get(ident.id_number))
    # Against the chip photo (biden), not reference_image (obama2): obama is refused locally.
    assert verifier.verify(WANG, photo(faces, "obama"), LIVENESS).match is False
    other = Identity(name="李四", id_number="110101199003074514", id_type="resident", source="idcard")
    assert verifier.verify(other, photo(faces, "biden"), LIVENESS).match is False  # no chip photo
    assert platform.calls == []


# --- make_verifier configuration errors ------------------------------------------------------------------


def test_local_needs_embedding_model(models: Path, faces: Path) -> None:
    cfg = config(models, match="local", reference_image=str(faces / "obama2.jpg"))
    with pytest.raises(ValueError, match=r"\[face\] embedding_model"):
        make_verifier(cfg, Recording())


def test_local_needs_a_reference(models: Path) -> None:
    cfg = config(models, match="local", embedding_model=str(models / "mobilefacenet_128d.onnx"))
    with pytest.raises(ValueError, match=r"\[face\] reference_image"):
        make_verifier(cfg, Recording())


def test_local_reference_image_must_exist_and_show_a_face(models: Path, tmp_path: Path) -> None:
    embedding = str(models / "mobilefacenet_128d.onnx")
    missing = config(
        models, match="local", embedding_model=embedding, reference_image=str(tmp_path / "x.jpg")
    )
    with pytest.raises(ValueError, match=r"\[face\] reference_image"):
        make_verifier(missing, Recording())
    (tmp_path / "blank.jpg").write_bytes(blank_jpeg())
    faceless = config(
        models, match="local", embedding_model=embedding, reference_image=str(tmp_path / "blank.jpg")
    )
    with pytest.raises(ValueError, match=r"\[face\] reference_image has no usable face"):
        make_verifier(faceless, Recording())


def test_local_embedding_model_file_missing(models: Path, faces: Path, tmp_path: Path) -> None:
    cfg = config(
        models,
        match="local",
        embedding_model=str(tmp_path / "none.onnx"),
        reference_image=str(faces / "obama2.jpg"),
    )
    with pytest.raises(ValueError, match=r"\[face\] embedding_model"):
        make_verifier(cfg, Recording())


# --- vision reports --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matcher(models: Path) -> FaceMatcher:
    return FaceMatcher(models / "face_detection_yunet_2023mar.onnx", models / "mobilefacenet_128d.onnx")


def test_compare_report(matcher: FaceMatcher, faces: Path) -> None:
    same = compare_report(faces / "obama.jpg", faces / "obama2.jpg", matcher)
    assert same["match"] is True and same["score"] >= same["threshold"] == DEFAULT_THRESHOLD
    other = compare_report(faces / "obama.jpg", faces / "biden.jpg", matcher)
    assert other["match"] is False and other["score"] < other["threshold"]
    assert set(other) == {"score", "match", "threshold"}
    two = compare_report(faces / "obama.jpg", faces / "two_people.jpg", matcher)
    assert two["match"] is False and "reason" in two


def test_face_report(matcher: FaceMatcher, faces: Path) -> None:
    one = face_report(faces / "obama.jpg", matcher)
    assert one["faces"] == 1 and one["usable"] is True
    two = face_report(faces / "two_people.jpg", matcher)
    assert two["faces"] == 2 and two["usable"] is False and len(two["boxes"]) == 2
