"""The terminal's secrets (the enrolment `app_secret` that signs every request and verifies commands,
and the outbox key that seals citizens' cases) never appear in logs, metrics or diagnostics.

Everything that talks runs for real against the platform simulator with logging at DEBUG: outbox
delivery, heartbeats (accepted, and refused for a bad signature), a forged command, the /metrics scrape,
the heartbeat body sent to operators, and the operator commands `kiosk agent --once --json`,
`kiosk outbox status --json` and `kiosk outbox list` (stdout and their log on stderr).
"""

from __future__ import annotations

import base64
import logging
import time

import requests

from kiosk import cli
from kiosk.agent import Agent
from kiosk.application import canonical_json
from kiosk.demo import demo_config
from kiosk.outbox import Outbox, load_or_create_key
from kiosk.platform.client import PlatformClient
from kiosk.platform_sim import ServerThread
from kiosk.platform_sim.core import rfc3339
from kiosk.platform_sim.store import SimStore
from kiosk.state import StateDB

TERMINAL = "T4115020001"


def forms(secret: bytes) -> dict[str, bytes]:
    """A secret as it could be leaked: raw, hex either case, base64."""
    out = {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": base64.b64encode(secret),
    }
    try:  # the app_secret is itself a hex string: its text form, and the bytes it stands for
        out["text"] = secret.decode("ascii").encode()
        out["decoded"] = bytes.fromhex(secret.decode("ascii"))
        out["decoded hex upper"] = secret.decode("ascii").upper().encode()
    except ValueError:
        pass
    return {k: v for k, v in out.items() if len(v) >= 16}


def write_config(directory, base_url: str, secret_file) -> str:
    path = directory / "kiosk.toml"
    path.write_text(
        f"""
[terminal]
id = "{TERMINAL}"
region_code = "411502"
hall_name = "测试大厅"
[platform]
base_url = "{base_url}"
terminal_id = "{TERMINAL}"
secret_file = "{secret_file}"
[storage]
state_dir = "{directory / "state"}"
[face]
detector_model = "unused.onnx"
[agent]
metrics_port = 0
""",
        encoding="utf-8",
    )
    return str(path)


def test_secrets_stay_out_of_logs_metrics_and_diagnostics(tmp_path, caplog, capsys):
    state_dir = tmp_path / "state"
    probe = demo_config(state_dir, "http://127.0.0.1:1")
    app_secret = probe.platform.secret_file.read_text().strip()
    outbox_key = load_or_create_key(probe.storage.outbox_key_file)
    caplog.set_level(logging.DEBUG)
    texts: dict[str, str] = {}
    with ServerThread(tmp_path / "sim.db", {TERMINAL: app_secret}) as sim:
        config = demo_config(state_dir, sim.base_url)
        client = PlatformClient(sim.base_url, TERMINAL, app_secret)
        with Outbox.open(config.storage) as outbox, StateDB(config.storage.state_db) as state:
            outbox.enqueue("application", b"{}", session_ref="refused")  # refused: logged with its reason
            rating = {
                "case_no": "KS-none",
                "item_code": "x",
                "satisfaction": 5,
                "reasons": [],
                "comment": None,
                "channel": 5,
                "rated_at": "2026-11-22T09:00:00+08:00",
            }
            outbox.enqueue("rating", canonical_json(rating), session_ref="r")
            now = time.time()
            SimStore(tmp_path / "sim.db").add_command(
                {
                    "command_id": "CMD-forged",
                    "name": "in_service",
                    "args": {},
                    "expires_at": rfc3339(now + 300),
                    "signature": "0" * 64,
                },
                TERMINAL,
                now + 300,
                now,
            )
            agent = Agent(config, outbox, client, state, app_secret)
            report = agent.run_once()
            assert report.heartbeat and report.commands  # delivered, refused, rejected: all logged
            wrong = PlatformClient(sim.base_url, TERMINAL, "f" * 64)  # a bad signature: refused and logged
            assert not Agent(config, outbox, wrong, state, "f" * 64).run_once().heartbeat
            server = agent.serve_metrics(port=0)
            assert server is not None
            try:
                texts["metrics"] = requests.get(server.url, timeout=5).text
            finally:
                server.close()
            texts["heartbeat body"] = repr(agent.heartbeat_body())
            texts["cycle report"] = repr(report.as_dict())
        texts["logs"] = "\n".join(
            f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
        )
        assert "heartbeat failed" in texts["logs"]

        # The operator's commands, as a technician runs them on the terminal (they set up logging).
        config_file = write_config(tmp_path, sim.base_url, probe.platform.secret_file)
        root = logging.getLogger()
        saved = (root.handlers[:], root.level)
        try:
            for argv in (
                ["agent", "--once", "--json", "--config", config_file],
                ["outbox", "status", "--json", "--config", config_file],
                ["outbox", "list", "--config", config_file],
                ["outbox", "list", "--state", "failed", "--config", config_file],
            ):
                cli.main(argv)
                out = capsys.readouterr()
                texts[" ".join(argv[:3])] = out.out + out.err
        finally:
            root.handlers[:], _ = saved
            root.setLevel(saved[1])
    assert '"heartbeat": true' in texts["agent --once --json"]
    assert "failed" in texts["outbox status --json"]

    leaks = [
        f"{where}: {name} {form}"
        for where, text in texts.items()
        for name, secret in (("app_secret", app_secret.encode()), ("outbox key", outbox_key))
        for form, needle in forms(secret).items()
        if needle in text.encode("utf-8", "surrogateescape") or needle.decode("latin-1") in text
    ]
    assert leaks == []


def test_the_check_would_find_a_leaked_secret():
    secret = bytes(range(32))
    text = f"debug: signing with key {secret.hex()}"
    assert forms(secret)["hex"] in text.encode()
    app_secret = "ab" * 32
    assert forms(app_secret.encode())["text"] in f"secret={app_secret}".encode()
