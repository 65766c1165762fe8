"""`kiosk provision enroll` against the platform simulator over HTTP (§5.1): the secret it stores signs
requests the platform accepts, it is 0600 and never printed; the outbox key is made; a used token or an
already-enrolled terminal is refused without touching the stored secret."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from provision_args import TERMINAL, configure_argv

from kiosk.cli import main
from kiosk.config import load_config
from kiosk.outbox import Outbox
from kiosk.platform.client import PlatformClient
from kiosk.platform.errors import PlatformError
from kiosk.platform_sim import ServerThread
from kiosk.platform_sim.app import create_app

DEVICES = {"idcard": "sim://idcard", "face_camera": "sim://camera", "printer": "sim://printer"}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[ServerThread]:
    app = create_app(tmp_path / "sim.db", {}, enrollment_tokens=("tok-1", "tok-2"))
    with ServerThread(app=app) as server:
        yield server


@pytest.fixture
def config_path(tmp_path: Path, platform: ServerThread) -> Path:
    terminal = tmp_path / "terminal"
    assert main(configure_argv(terminal, platform.base_url, DEVICES)) == 0
    return terminal / "kiosk.toml"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_enroll_stores_a_working_secret_and_the_outbox_key(config_path, platform, capsys):
    assert main(["provision", "enroll", "--config", str(config_path), "--token", "tok-1", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    config = load_config(config_path)
    secret = config.platform.secret_file.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert secret not in out  # the secret is never printed
    assert _mode(config.platform.secret_file) == 0o600
    assert _mode(config.platform.secret_file.parent) == 0o700
    key_file = config.storage.outbox_key_file
    assert report["outbox_key_file"] == str(key_file)
    assert len(key_file.read_bytes()) == 32 and _mode(key_file) == 0o600
    assert report["heartbeat_interval_s"] > 0 and report["catalog_version"]
    # The platform now knows this terminal by that secret: a signed call goes through …
    with PlatformClient(platform.base_url, TERMINAL, secret) as client:
        assert client.get_catalog("411502")["version"]
    # … and not with another secret.
    with PlatformClient(platform.base_url, TERMINAL, "ab" * 32) as client, pytest.raises(PlatformError):
        client.get_catalog("411502")
    # The outbox opens with the key enrollment made (same key, not a new one).
    with Outbox.open(config.storage) as outbox:
        assert outbox.counts()["pending"] == 0
    assert len(key_file.read_bytes()) == 32


def test_an_enrolled_terminal_is_not_enrolled_again_by_accident(config_path, capsys):
    assert main(["provision", "enroll", "--config", str(config_path), "--token", "tok-1"]) == 0
    config = load_config(config_path)
    secret = config.platform.secret_file.read_bytes()
    key = config.storage.outbox_key_file.read_bytes()
    capsys.readouterr()
    # Without --force the new token is not even spent.
    assert main(["provision", "enroll", "--config", str(config_path), "--token", "tok-2"]) == 2
    assert "already holds a secret" in capsys.readouterr().err
    # A used token is refused by the platform; the working secret stays.
    assert main(["provision", "enroll", "--config", str(config_path), "--token", "tok-1", "--force"]) == 2
    assert "40302" in capsys.readouterr().err
    assert config.platform.secret_file.read_bytes() == secret
    # --force with a fresh token replaces the secret; the outbox key (and so the queued cases) stays.
    assert main(["provision", "enroll", "--config", str(config_path), "--token", "tok-2", "--force"]) == 0
    assert config.platform.secret_file.read_bytes() != secret
    assert config.storage.outbox_key_file.read_bytes() == key


def test_unknown_token_leaves_no_secret(config_path, capsys):
    assert main(["provision", "enroll", "--config", str(config_path), "--token", "nope"]) == 2
    assert "ask the platform for a new one" in capsys.readouterr().err
    assert not load_config(config_path).platform.secret_file.exists()


def test_unreachable_platform_is_a_clear_error(tmp_path, capsys):
    terminal = tmp_path / "t"
    assert main(configure_argv(terminal, "http://127.0.0.1:1", DEVICES)) == 0
    assert main(["provision", "enroll", "--config", str(terminal / "kiosk.toml"), "--token", "x"]) == 2
    assert "enrolment refused" in capsys.readouterr().err
    assert not (terminal / "secrets" / "app_secret").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_as_root_the_secrets_go_to_the_service_user(config_path, monkeypatch):
    """Running as root with user kiosk present: secret and key owned by kiosk, the config root:kiosk."""
    from provisioning import files

    uid, gid = 43210, 43211  # stands in for user kiosk, which this test machine does not have
    monkeypatch.setattr(files, "service_ids", lambda user=files.SERVICE_USER: (uid, gid))
    assert main(["provision", "enroll", "--config", str(config_path), "--token", "tok-1"]) == 0
    config = load_config(config_path)
    for path in (config.platform.secret_file, config.storage.outbox_key_file):
        st = path.stat()
        assert (st.st_uid, st.st_gid, _mode(path)) == (uid, gid, 0o600), path
    assert (config.platform.secret_file.parent.stat().st_uid, _mode(config.platform.secret_file.parent)) == (
        uid,
        0o700,
    )
    # configure (run again now that "kiosk" exists) gives the config to root:kiosk, readable by the group.
    terminal = config_path.parent
    argv = configure_argv(terminal, config.platform.base_url, DEVICES)
    argv[argv.index("--hall-name") + 1] = "另一个大厅"  # a change, so the file is rewritten
    assert main(argv) == 0
    st = config_path.stat()
    assert (st.st_uid, st.st_gid, _mode(config_path)) == (0, gid, 0o640)
