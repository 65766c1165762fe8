import json
import subprocess
import sys

import pytest
from terminal_toml import write_terminal_toml

from kiosk.cli import build_parser, main
from kiosk.demo import demo_config


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "demo", "platform-sim", "devices"):
        assert command in out


def test_version():
    result = subprocess.run([sys.executable, "-m", "kiosk", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("kiosk ")


def write_config(tmp_path, text):
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_config_exits_2_naming_the_key(tmp_path, capsys):
    path = write_config(tmp_path, '[terminal]\nid = "T1"\n')
    assert main(["devices", "status", "--config", str(path), "--json"]) == 2
    assert "terminal.id" in capsys.readouterr().err


def terminal_config(tmp_path, config, extra="", base_url="http://127.0.0.1:1"):
    """A config file for the demo terminal's state dir, secret and model, plus `extra` sections."""
    return write_terminal_toml(
        tmp_path,
        base_url=base_url,
        secret_file=config.platform.secret_file,
        detector_model=config.face.detector_model,
        extra=extra,
    )


def test_devices_status_json_reports_each_simulated_device(tmp_path, capsys):
    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    devices = "".join(f'[devices.{n}]\nurl = "{d.url}"\n' for n, d in config.devices.items())
    path = terminal_config(tmp_path, config, devices)
    assert main(["devices", "status", "--config", str(path), "--json"]) == 0
    statuses = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(statuses) == {"idcard", "face_camera", "printer", "scanner", "document_camera", "a4_printer"}
    assert all(s["state"] == "online" for s in statuses.values())
    assert statuses["printer"]["details"]["paper"] == "full"


def test_bench_lists_and_refuses_unknown_names(capsys):
    from kiosk import bench

    assert "devices" in bench.available()
    assert main(["bench", "no-such-bench"]) == 2
    assert "available: " in capsys.readouterr().out


def test_outbox_status_json_counts_records(tmp_path, capsys):
    from kiosk.outbox import Outbox

    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    with Outbox.open(config.storage) as outbox:
        outbox.enqueue("application", b'{"x":1}', session_ref="s1")
    path = terminal_config(tmp_path, config)
    assert main(["outbox", "status", "--config", str(path), "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["pending"] == 1 and counts["delivered"] == 0 and counts["oldest_pending_age_s"] >= 0
    assert set(counts) == {"pending", "sending", "delivered", "failed", "oldest_pending_age_s"}


def test_agent_once_sends_a_heartbeat_to_the_platform(tmp_path):
    from kiosk.platform_sim import ServerThread

    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    secret = config.platform.secret_file.read_text().strip()
    with ServerThread(tmp_path / "sim.db", {"T4115020001": secret}) as server:
        path = terminal_config(tmp_path, config)
        path.write_text(path.read_text().replace("http://127.0.0.1:1", server.base_url))
        result = subprocess.run(
            [sys.executable, "-m", "kiosk", "agent", "--once", "--json", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["heartbeat"] is True
        import requests

        fleet = requests.get(server.base_url + "/ops/terminals", timeout=5).json()["terminals"]
        assert fleet[0]["terminal_id"] == "T4115020001" and fleet[0]["online"] is True


# -- kiosk submit / outbox list --------------------------------------------------------------------

RETIREMENT = {
    "item_code": "KS-SAMPLE-GJJ-TQ-0001",
    "mode": "online",
    "form": {"phone": "13900000000", "bank_account": "6222020000000000", "reason": "正常退休"},
    "commitment": None,
    "delivery": {"method": "online", "address": None},
}


def jpeg_page(path, shade):
    from PIL import Image

    Image.new("RGB", (400, 560), (shade, shade, shade)).save(path, "JPEG")
    return path


def submission_file(tmp_path, proof_id, attachments):
    from kiosk.demo import DEMO_PERSON

    applicant = {
        "name": DEMO_PERSON.name,
        "id_type": "resident",
        "id_number": DEMO_PERSON.id_number,
        "phone": "13900000000",
    }
    doc = {
        "application": RETIREMENT | {"applicant": applicant, "proof_id": proof_id},
        "attachments": attachments,
    }
    path = tmp_path / "case.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_submit_uploads_attachments_then_the_application(tmp_path, capsys):
    from kiosk.demo import DEMO_PERSON, demo_proof
    from kiosk.platform import PlatformClient
    from kiosk.platform_sim import ServerThread

    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    secret = config.platform.secret_file.read_text().strip()
    with ServerThread(tmp_path / "sim.db", {config.terminal.id: secret}) as server:
        with PlatformClient(server.base_url, config.terminal.id, secret) as client:
            proof_id = demo_proof(client)
        (tmp_path / "pages").mkdir()
        first = jpeg_page(tmp_path / "pages" / "p1.jpg", 200)
        second = jpeg_page(tmp_path / "p2.jpg", 120)
        case = submission_file(tmp_path, proof_id, {"M01": ["pages/p1.jpg", str(second)]})
        path = terminal_config(tmp_path, config, base_url=server.base_url)

        assert main(["submit", "--config", str(path), "--json", "--file", str(case)]) == 0
        queued = json.loads(capsys.readouterr().out)
        assert queued["materials"] == 2 and queued["terminal_ref"].startswith(config.terminal.id)
        assert main(["agent", "--once", "--config", str(path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["delivered"] == 3

        cases = requests_get(server.base_url + "/ops/cases")
        assert [c["terminal_ref"] for c in cases] == [queued["terminal_ref"]]
        (m01,) = cases[0]["application"]["materials"]
        with PlatformClient(server.base_url, config.terminal.id, secret) as client:
            uploaded = [
                client.upload_material(p.read_bytes(), "image/jpeg")["material_id"] for p in (first, second)
            ]
        assert m01 == {"code": "M01", "source": "scan", "license_id": None, "material_ids": uploaded}

        assert main(["outbox", "list", "--config", str(path)]) == 0
        listing = capsys.readouterr().out
        assert listing.count("delivered") == 3 and "material" in listing and "application" in listing
        assert DEMO_PERSON.name not in listing and DEMO_PERSON.id_number not in listing


def requests_get(url):
    import requests

    return requests.get(url, timeout=5).json()


@pytest.mark.parametrize(
    ("attachments", "expected"),
    [
        ({"M01": ["missing.jpg"]}, "missing.jpg"),
        ({"M01": ["notes.txt"]}, "not a JPEG, PNG or PDF"),
        ({"M01": []}, "material M01 lists no file"),
        ({"M01": "p.jpg"}, '"attachments" maps a material code'),
    ],
)
def test_submit_refuses_a_bad_file_and_queues_nothing(tmp_path, capsys, attachments, expected):
    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    (tmp_path / "notes.txt").write_text("hello")
    case = submission_file(tmp_path, "proof", attachments)
    path = terminal_config(tmp_path, config)
    assert main(["submit", "--config", str(path), "--file", str(case)]) == 2
    assert expected in capsys.readouterr().err
    assert not config.storage.outbox_db.exists()


def test_submit_names_missing_application_fields(tmp_path, capsys):
    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"application": {"item_code": "X"}}))
    path = terminal_config(tmp_path, config)
    assert main(["submit", "--config", str(path), "--file", str(case)]) == 2
    assert "application lacks mode, applicant, proof_id, form, delivery" in capsys.readouterr().err


def test_outbox_ack_marks_failed_records_by_listed_id(tmp_path, capsys):
    from kiosk.outbox import Outbox
    from kiosk.platform import PlatformError

    class Refusing:
        def submit_rating(self, body, key):
            raise PlatformError(40001, "invalid parameter", http_status=400)

    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    with Outbox.open(config.storage) as outbox:
        first, second = (outbox.enqueue("rating", b"{}", session_ref=s) for s in ("a", "b"))
        outbox.deliver_pending(Refusing())
        assert outbox.unreviewed_failures()[0] == 2
    path = terminal_config(tmp_path, config)
    assert main(["outbox", "ack", "--config", str(path), first.id[:12]]) == 0
    assert "1 failed record(s)" in capsys.readouterr().out
    assert main(["outbox", "ack", "--config", str(path), "ffffffffffff"]) == 2
    assert "no failed record has this id" in capsys.readouterr().err
    with Outbox.open(config.storage) as outbox:
        assert outbox.unreviewed_failures()[0] == 1
        assert outbox.acknowledge_failed() == 1 and outbox.get(second.id).state == "failed"
