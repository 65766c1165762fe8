"""`kiosk vision face|compare|qr|document IMG --json`: the JSON shapes of the issue, on real images."""

from __future__ import annotations

import json

import cv2
import pytest

from kiosk.cli import main
from kiosk.demo import receipt_photo
from kiosk.document_synth import make_scene
from kiosk.paths import shared_dir

FACES = shared_dir() / "testdata" / "faces"


def run(capsys, *argv: str) -> dict:
    assert main(["vision", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_face_reports_boxes_landmarks_and_the_quality_verdict(capsys):
    report = run(capsys, "face", str(FACES / "obama.jpg"))
    (face,) = report["faces"]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and face["score"] > 0.8
    assert report["quality"]["problem"] == "off_centre" and report["quality"]["prompt"] == "请移到画面中间。"
    two = run(capsys, "face", str(FACES / "two_people.jpg"))
    assert len(two["faces"]) == 2 and two["quality"]["problem"] == "multiple_faces"


@pytest.mark.parametrize(("other", "match"), [("obama2.jpg", True), ("biden.jpg", False)])
def test_compare_with_the_local_matcher(capsys, other, match):
    report = run(capsys, "compare", str(FACES / "obama.jpg"), str(FACES / other))
    assert report["match"] is match and report["threshold"] == 0.45
    assert (report["score"] >= 0.45) is match


def test_qr_classifies_a_receipt_and_refuses_a_web_address(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "receipt.png"), receipt_photo("KS2026112212345678", "123456"))
    (code,) = run(capsys, "qr", str(tmp_path / "receipt.png"))["codes"]
    assert code["kind"] == "receipt" and code["type"] == "QRCODE" and code["valid"] is True

    import qrcode

    qrcode.make("https://evil.example/login").save(tmp_path / "url.png")
    (hostile,) = run(capsys, "qr", str(tmp_path / "url.png"))["codes"]
    assert hostile["valid"] is False and hostile["kind"] == "unknown" and hostile["refusal"]


def test_document_finds_rectifies_and_writes_the_page(tmp_path, capsys):
    scene = make_scene("good")
    cv2.imwrite(str(tmp_path / "desk.jpg"), scene.frame)
    out = tmp_path / "page.jpg"
    report = run(capsys, "document", str(tmp_path / "desk.jpg"), "--out", str(out), "--mode", "grey")
    assert len(report["corners"]) == 4 and report["quality"]["ok"] is True
    assert out.stat().st_size == report["bytes"] <= 350_000
    assert abs(report["height"] / report["width"] - 297 / 210) < 0.02  # A4
