"""`kiosk vision …`: the camera functions on one image, for technicians, tests and benchmarks.

Models come from `--models DIR` or the shared data (`$KIOSK_SHARED_DIR`, ../shared/models).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from kiosk.cli_common import json_arg

DETECTOR = "face_detection_yunet_2023mar.onnx"
EMBEDDING = "mobilefacenet_128d.onnx"


def add_vision_commands(sub: argparse._SubParsersAction) -> None:
    vision = sub.add_parser("vision", help="face, QR code and document functions on one image")
    vsub = vision.add_subparsers(dest="vision_command", required=True, metavar="ACTION")

    face = vsub.add_parser("face", help="faces with box, landmarks, score, and the quality verdict")
    face.add_argument("image", type=Path)
    compare = vsub.add_parser("compare", help="1:1 match of two photos with the local matcher")
    compare.add_argument("image", type=Path)
    compare.add_argument("other", type=Path)
    qr = vsub.add_parser("qr", help="codes in the image, decoded, classified and validated")
    qr.add_argument("image", type=Path)
    document = vsub.add_parser("document", help="find the page, rectify it, check its quality")
    document.add_argument("image", type=Path)
    document.add_argument("--out", type=Path, help="write the page as a JPEG sized for upload")
    document.add_argument("--mode", choices=("colour", "grey", "bw"), default="colour")
    for parser, handler in ((face, _face), (compare, _compare), (qr, _qr), (document, _document)):
        json_arg(parser)
        parser.add_argument("--models", type=Path, help="models directory (default: shared data)")
        parser.set_defaults(handler=lambda args, h=handler: _print(h(args), args.json))


def _print(report: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for key, value in report.items():
            print(f"{key}: {json.dumps(value, ensure_ascii=False)}")
    return 0


def _models(args: argparse.Namespace) -> Path:
    from kiosk.paths import shared_dir

    return args.models or shared_dir() / "models"


def read_image(path: Path) -> Any:
    import cv2  # here, not at the top: `kiosk --help` need not load OpenCV

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can read")
    return image


def _face(args: argparse.Namespace) -> dict[str, Any]:
    from kiosk.face import FaceDetector

    detector = FaceDetector(_models(args) / DETECTOR)
    image = read_image(args.image)
    faces = [
        {
            "box": [round(float(v), 1) for v in row[:4]],
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in row[4:14].reshape(5, 2)],
            "score": round(float(row[14]), 3),
        }
        for row in detector.detect(image)
    ]
    q = detector.assess(image)
    quality = {
        "ok": q.ok,
        "problem": q.problem,
        "prompt": q.prompt,
        "pose": None if q.pose is None else {k: round(v, 1) for k, v in dataclasses.asdict(q.pose).items()},
        "sharpness": round(q.sharpness, 1),
        "brightness": round(q.brightness, 1),
    }
    return {"faces": faces, "quality": quality}


def _compare(args: argparse.Namespace) -> dict[str, Any]:
    from kiosk.facematch import FaceMatcher

    models = _models(args)
    matcher = FaceMatcher(models / DETECTOR, models / EMBEDDING)
    result = matcher.compare(matcher.embed(read_image(args.image)), matcher.embed(read_image(args.other)))
    report: dict[str, Any] = {
        "score": round(result.score, 4),
        "match": result.match,
        "threshold": result.threshold,
    }
    if result.reason:
        report["reason"] = result.reason
    return report


def _qr(args: argparse.Namespace) -> dict[str, Any]:
    from kiosk.qr import qr_report

    return qr_report(args.image)


def _document(args: argparse.Namespace) -> dict[str, Any]:
    from kiosk.document import document_report

    return document_report(args.image, args.out, args.mode)
