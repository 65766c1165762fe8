"""The built-in demo configuration: every device simulated, the platform simulator on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

from kiosk.config import Config, parse_config
from kiosk.paths import ASSETS, shared_dir
from kiosk.session import Identity, Proof, Session

DEMO_TERMINAL_ID = "T4115020001"
# Cases move on within seconds in the demo, so a query right after submitting shows progress.
DEMO_CASE_SCHEDULE = (("accepted", 3.0), ("processing", 3.0), ("approved", 3600.0))


def demo_config(
    state_dir: Path,
    platform_url: str,
    *,
    window: tuple[int, int] = (540, 960),
    camera_source: Path | None = None,
    auto_card: bool = False,
) -> Config:
    """A complete config for the demo; writes the terminal's secret under `state_dir/secrets`.

    `auto_card` lets a simulated hand put the demo card on the reader (interactive demo); scripted
    scenarios and tests insert cards themselves.
    """
    data = demo_config_data(
        state_dir, platform_url, window=window, camera_source=camera_source, auto_card=auto_card
    )
    return parse_config(data, source="built-in demo config")


def write_demo_config(path: Path, state_dir: Path, platform_url: str, *, window: tuple[int, int]) -> Path:
    """demo_config as a kiosk.toml, to start the demo terminal as `kiosk run --config FILE` starts one."""
    from provisioning.configure import render_toml

    data = demo_config_data(state_dir, platform_url, window=window)
    path.write_text(render_toml(data, header="The demo terminal (kiosk.demo.write_demo_config)"), "utf-8")
    return path


def demo_config_data(
    state_dir: Path,
    platform_url: str,
    *,
    window: tuple[int, int] = (540, 960),
    camera_source: Path | None = None,
    auto_card: bool = False,
) -> dict[str, Any]:
    """demo_config's sections, unvalidated (write_demo_config); writes the secret as demo_config does."""
    shared = shared_dir()
    camera_source = camera_source or shared / "testdata" / "faces" / "obama.jpg"
    identities = ASSETS / "demo" / "identities.json"
    secret_file = state_dir / "secrets" / "app_secret"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    data = {
        "terminal": {
            "id": DEMO_TERMINAL_ID,
            "region_code": "411502",
            "hall_name": "信阳市浉河区政务服务中心",
        },
        "platform": {
            "base_url": platform_url,
            "terminal_id": DEMO_TERMINAL_ID,
            "secret_file": str(secret_file),
        },
        "storage": {"state_dir": str(state_dir)},
        "devices": {
            "idcard": {"url": f"sim://idcard?identities={identities}" + ("&auto=1" if auto_card else "")},
            "face_camera": {"url": f"sim://camera?source={camera_source}"},
            "printer": {"url": f"sim://printer?render={state_dir / 'printed'}", "paper_mm": 80},
            "scanner": {"url": "sim://scanner"},
            "document_camera": {"url": f"sim://camera?source={demo_page_scene()}&fps=4"},
            "a4_printer": {"url": f"sim://a4printer?out={state_dir / 'a4'}"},  # certificates
        },
        "face": {"detector_model": str(shared / "models" / "face_detection_yunet_2023mar.onnx")},
        "ui": {"size": list(window), "fullscreen": False},
    }
    return data


def demo_page_scene() -> Path:
    """A 12 MP document-camera frame of a page on a desk (synthetic, made once per machine)."""
    import tempfile

    path = Path(tempfile.gettempdir()) / "kiosk-demo-page-v1.jpg"
    if not path.exists():
        from kiosk.document_synth import encode_frame, make_scene

        partial = path.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(encode_frame(make_scene("good").frame))
        partial.replace(path)  # atomic: parallel tests never read half a file
    return path


DEMO_ITEM = "KS-SAMPLE-JY-SY-0007"  # 失业登记: 全程网办, a phone number and no paper materials
DEMO_PERSON = Identity(name="王建国", id_number="411502195803120031", id_type="resident", source="idcard")


def demo_proof(client: Any) -> str:
    """An identity proof for the demo person from the platform simulator's face-verify, with the photo
    the demo camera plays (the simulator matches it against the person's reference photo)."""
    image = (shared_dir() / "testdata" / "faces" / "obama.jpg").read_bytes()
    liveness = {"method": "presence", "passed": True, "score": 0.9}
    result = client.face_verify(DEMO_PERSON.id_number, DEMO_PERSON.name, image, liveness)
    return result["proof"]["proof_id"]


def demo_application(proof_id: str, terminal_ref: str, submitted_at: dt.datetime | None = None) -> bytes:
    """The exact bytes of a 全程网办 application by the demo person (benchmarks, soak and crash tests),
    submitted now unless said otherwise (the platform judges the proof at that time)."""
    # Imported here: `kiosk demo` builds its config with this module before the kiosk draws its home
    # screen, and the catalog's models are ~0.15 s of imports that can come after it.
    from kiosk.application import application_body
    from kiosk.catalog import load_catalog

    session = Session(
        identity=DEMO_PERSON,
        proof=Proof(proof_id, ""),
        mode="online",
        terminal_ref=terminal_ref,
        form={"phone": "13800138000"},
    )
    submitted_at = submitted_at or dt.datetime.now(dt.UTC)
    return application_body(session, load_catalog().get(DEMO_ITEM), submitted_at=submitted_at)


def receipt_photo(case_no: str, query_code: str, size: tuple[int, int] = (1280, 720)) -> Any:
    """A camera frame of a printed receipt's QR code held up to the camera (scenario and tests)."""
    import cv2
    import numpy as np
    import qrcode

    from kiosk.receipt import receipt_qr_payload

    code = qrcode.QRCode(border=4, box_size=6)
    code.add_data(receipt_qr_payload(case_no, query_code))
    qr = np.asarray(code.make_image().convert("L"), dtype=np.uint8)
    width, height = size
    frame = np.full((height, width, 3), (96, 104, 112), np.uint8)  # a grey hall behind the paper
    y, x = (height - qr.shape[0]) // 2, (width - qr.shape[1]) // 2
    frame[y : y + qr.shape[0], x : x + qr.shape[1]] = cv2.cvtColor(qr, cv2.COLOR_GRAY2BGR)
    return frame
