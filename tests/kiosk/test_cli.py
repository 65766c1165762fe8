import json
import subprocess
import sys

import pytest

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


def terminal_config(tmp_path, config, extra=""):
    """A config file for the demo terminal's state dir, secret and model, plus `extra` sections."""
    return write_config(
        tmp_path,
        f"""
[terminal]
id = "T4115020001"
region_code = "411502"
hall_name = "测试大厅"
[platform]
base_url = "http://127.0.0.1:1"
terminal_id = "T4115020001"
secret_file = "{config.platform.secret_file}"
[storage]
state_dir = "{tmp_path / "state"}"
[face]
detector_model = "{config.face.detector_model}"
{extra}""",
    )


def test_devices_status_json_reports_each_simulated_device(tmp_path, capsys):
    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    devices = "".join(f'[devices.{n}]\nurl = "{d.url}"\n' for n, d in config.devices.items())
    path = terminal_config(tmp_path, config, devices)
    assert main(["devices", "status", "--config", str(path), "--json"]) == 0
    statuses = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(statuses) == {"idcard", "face_camera", "printer"}
    assert all(s["state"] == "online" for s in statuses.values())
    assert statuses["printer"]["details"]["paper"] == "full"


def test_bench_lists_and_refuses_unknown_names(capsys):
    from kiosk import bench

    assert "devices" in bench.available()
    assert main(["bench", "no-such-bench"]) == 2
    assert "available: " in capsys.readouterr().out


def test_outbox_status_json_counts_records(tmp_path, capsys):
    from kiosk.outbox import Outbox, load_or_create_key

    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    with Outbox(
        tmp_path / "state" / "state.db", load_or_create_key(config.storage.outbox_key_file)
    ) as outbox:
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
