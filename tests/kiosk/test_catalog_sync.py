"""A catalog the platform publishes reaches the citizen: the agent fetches it by version (§5.2
since_version) into the state directory, and the UI's controller takes it up between two citizens. A
synced file that is damaged, or a catalog that does not validate, never replaces a working one."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kiosk.agent import CATALOG_SYNC_S, Agent
from kiosk.catalog import SEED_CATALOG, current_catalog, load_catalog, synced_catalog_file
from kiosk.demo import demo_config
from kiosk.platform.client import PlatformClient
from kiosk.platform_sim import ServerThread
from kiosk.state import StateDB

TERMINAL = "T4115020001"
NEW_VERSION = "2026-12-07.2"
NEW_NAME = "失业登记（新版）"


def published(tmp_path: Path) -> tuple[Path, str]:
    """The seed catalog as the platform publishes it later: a new version with one item renamed."""
    data = json.loads(SEED_CATALOG.read_text(encoding="utf-8"))
    data["version"] = NEW_VERSION
    data["items"][0]["name"] = NEW_NAME
    path = tmp_path / "published.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path, data["items"][0]["code"]


@pytest.fixture
def agent(tmp_path):
    state_dir = tmp_path / "state"
    probe = demo_config(state_dir, "http://127.0.0.1:1")
    secret = probe.platform.secret_file.read_text().strip()
    catalog_path, _code = published(tmp_path)
    now = [1_000_000.0]
    with ServerThread(tmp_path / "sim.db", {TERMINAL: secret}, catalog_path) as server:
        config = demo_config(state_dir, server.base_url)
        state = StateDB(config.storage.state_db)
        client = PlatformClient(server.base_url, TERMINAL, secret)
        agent = Agent(config, None, client, state, secret, clock=lambda: now[0])
        agent.now = now
        yield agent
        state.close()


def test_the_agent_fetches_a_newer_catalog_then_checks_hourly(agent, tmp_path):
    state_dir = agent.config.storage.state_dir
    assert current_catalog(state_dir).version == load_catalog().version  # the seed, before any sync
    assert agent.run_once().catalog == f"catalog {NEW_VERSION}"
    synced = current_catalog(state_dir)
    assert synced.version == NEW_VERSION and synced.items[0].name == NEW_NAME
    stamp = synced_catalog_file(state_dir).stat().st_mtime_ns
    assert agent.run_once().catalog is None  # not due again for an hour
    agent.now[0] += CATALOG_SYNC_S
    assert agent.run_once().catalog == f"catalog {NEW_VERSION} unchanged"  # asked with since_version
    assert synced_catalog_file(state_dir).stat().st_mtime_ns == stamp  # not rewritten


def test_a_catalog_that_does_not_validate_is_not_stored(agent, monkeypatch, caplog):
    broken = {"version": "2026-12-07.3", "unchanged": False, "items": [{"code": "X"}]}
    monkeypatch.setattr(agent.client, "get_catalog", lambda region, since_version=None: broken)
    with caplog.at_level(logging.ERROR):
        assert agent.run_once().catalog == "catalog 2026-12-07.3 invalid"
    assert not synced_catalog_file(agent.config.storage.state_dir).exists()
    assert "does not validate" in caplog.text


def test_a_damaged_synced_file_falls_back_to_the_seed(tmp_path, caplog):
    synced_catalog_file(tmp_path).write_text('{"version": "x", "items": [', encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert current_catalog(tmp_path).version == load_catalog().version
    assert "unusable (JSONDecodeError)" in caplog.text


def test_the_controller_takes_a_synced_catalog_up_between_citizens(kiosk, tmp_path):
    controller = kiosk.controller
    state_dir = controller.services.config.storage.state_dir
    assert controller.refresh_catalog() is False  # nothing synced yet
    source, code = published(tmp_path)
    controller.start(controller.services.catalog.get(code))  # a citizen is at work: not now
    synced_catalog_file(state_dir).write_bytes(source.read_bytes())
    assert controller.refresh_catalog() is False
    controller.end_session("home")
    assert controller.refresh_catalog() is True
    assert controller.services.catalog.version == NEW_VERSION
    assert controller.services.catalog.get(code).name == NEW_NAME
    assert controller.refresh_catalog() is False  # the same file: not parsed again
