"""The agent against the platform simulator over HTTP: outbox delivery, heartbeat, signed commands."""

from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

import pytest
import requests

from devices.base import Action, DeviceState, DeviceStatus
from kiosk import metrics
from kiosk.agent import Agent
from kiosk.application import canonical_json
from kiosk.demo import demo_config
from kiosk.outbox import Outbox
from kiosk.platform.client import PlatformClient
from kiosk.platform.models import Command, HeartbeatResult
from kiosk.platform_sim import ServerThread
from kiosk.service import ServiceGuard
from kiosk.state import StateDB

TERMINAL = "T4115020001"


@pytest.fixture
def terminal(tmp_path):
    state_dir = tmp_path / "state"
    probe = demo_config(state_dir, "http://127.0.0.1:1")
    secret = probe.platform.secret_file.read_text().strip()
    with ServerThread(tmp_path / "sim.db", {TERMINAL: secret}) as server:
        config = demo_config(state_dir, server.base_url)
        client = PlatformClient(server.base_url, TERMINAL, secret)
        outbox = Outbox.open(config.storage)
        state = StateDB(config.storage.state_db)
        agent = Agent(config, outbox, client, state, secret)
        yield SimpleNamespace(agent=agent, client=client, outbox=outbox, state=state, server=server)
        outbox.close()
        state.close()


def admin(server, path, body=None):
    return requests.post(server.base_url + path, json=body or {}, timeout=5).json()["data"]


def test_cycle_delivers_the_outbox_and_reports_health(terminal):
    t = terminal
    t.state.record_status(
        DeviceStatus("printer", "receipt_printer", DeviceState.USER_ERROR, {"paper": "out"}, Action.CLEAR)
    )
    t.outbox.enqueue("application", b"{}", session_ref="broken")  # refused for good: reported, not retried
    t.outbox.enqueue(
        "rating",
        canonical_json(
            {
                "case_no": "KS-none",
                "item_code": "x",
                "satisfaction": 5,
                "reasons": [],
                "comment": None,
                "channel": 5,
                "rated_at": "2026-11-22T09:00:00+08:00",
            }
        ),
        session_ref="r",
    )
    report = t.agent.run_once()
    assert report.heartbeat and report.failed + report.delivered == 2 and report.failed >= 1
    assert t.outbox.counts()["pending"] == 0
    fleet = requests.get(t.server.base_url + "/ops/terminals", timeout=5).json()["terminals"]
    mine = next(x for x in fleet if x["terminal_id"] == TERMINAL)
    needing = {d["name"]: d for d in mine["devices_needing_action"]}
    assert mine["online"] is True and set(needing) == {"printer", "outbox"}
    assert needing["outbox"]["action"] == "clear"  # hall staff: a citizen holds a receipt for it
    body = t.agent.heartbeat_body()
    devices = {d["name"]: d for d in body["devices"]}
    assert devices["printer"]["details"] == {"paper": "out"} and body["in_service"] is True
    assert devices["outbox"]["details"]["failed"] == report.failed
    assert body["outbox"]["pending"] == 0 and body["disk_free_mb"] > 0
    assert t.outbox.acknowledge_failed() == report.failed  # staff followed the refusals up
    assert "outbox" not in {d["name"] for d in t.agent.heartbeat_body()["devices"]}


def test_signed_command_runs_once_and_is_acked(terminal):
    t = terminal
    command = admin(t.server, f"/admin/terminals/{TERMINAL}/commands", {"name": "out_of_service", "args": {}})
    report = t.agent.run_once()
    assert [c["result"] for c in report.commands] == ["done"]
    assert t.state.flag("in_service") == "false"
    status = requests.get(f"{t.server.base_url}/admin/commands/{command['command_id']}", timeout=5).json()[
        "data"
    ]
    assert status["result"] == "done" and status["acked_at"] is not None
    assert t.agent.run_once().commands == []  # acked: not delivered again, not run again


def test_forged_and_expired_commands_are_rejected(terminal, monkeypatch):
    t = terminal
    now = dt.datetime.now(dt.UTC)
    good = {
        "command_id": "CMD-forged",
        "name": "in_service",
        "args": {},
        "expires_at": (now + dt.timedelta(minutes=5)).isoformat(timespec="seconds"),
        "signature": "0" * 64,
    }
    expired = dict(good, command_id="CMD-expired", expires_at=(now - dt.timedelta(minutes=1)).isoformat())
    acks = []
    monkeypatch.setattr(
        t.client,
        "heartbeat",
        lambda body: HeartbeatResult(
            server_time=now.isoformat(timespec="seconds"), commands=[Command(**good), Command(**expired)]
        ),
    )
    monkeypatch.setattr(t.client, "ack_command", lambda cid, result, detail=None: acks.append((cid, result)))
    t.state.set_flag("in_service", "false")
    t.agent.run_once()
    assert sorted(acks) == [("CMD-expired", "rejected"), ("CMD-forged", "rejected")]
    assert t.state.flag("in_service") == "false"  # nothing was executed


def test_agent_without_an_outbox_still_tells_operators(terminal):
    t = terminal
    guard = ServiceGuard(t.agent.config.storage, t.state, outbox_error="corrupt")
    agent = Agent(t.agent.config, None, t.client, t.state, t.agent._secret, guard=guard)
    report = agent.run_once()
    assert report.heartbeat and report.delivered == 0
    fleet = requests.get(t.server.base_url + "/ops/terminals", timeout=5).json()["terminals"]
    mine = next(x for x in fleet if x["terminal_id"] == TERMINAL)
    assert mine["in_service"] is False
    storage = mine["devices_needing_action"][0]
    assert storage["name"] == "storage" and storage["action"] == "maintenance"


def test_a_citizen_calling_for_staff_reaches_the_fleet_page(terminal):
    from kiosk.help_request import request_help

    t = terminal
    request_help(t.state, "face")
    assert t.agent.run_once().heartbeat
    fleet = requests.get(t.server.base_url + "/ops/terminals", timeout=5).json()["terminals"]
    mine = next(x for x in fleet if x["terminal_id"] == TERMINAL)
    (call,) = [d for d in mine["devices_needing_action"] if d["name"] == "help"]
    assert call["action"] == "clear"


def test_heartbeat_says_out_of_service_when_a_device_every_item_needs_is_down(terminal):
    t = terminal
    t.state.record_status(
        DeviceStatus("idcard", "idcard_reader", DeviceState.NO_DEVICE, {}, Action.MAINTENANCE)
    )
    assert t.agent.heartbeat_body()["in_service"] is False  # the screen says 暂停服务: so do operators
    t.state.record_status(
        DeviceStatus("document_camera", "camera", DeviceState.NO_DEVICE, {}, Action.MAINTENANCE)
    )
    t.state.record_status(DeviceStatus("idcard", "idcard_reader", DeviceState.ONLINE, {}, None))
    assert t.agent.heartbeat_body()["in_service"] is True  # only some items need the document camera


def test_heartbeat_counts_the_sessions_started_today(terminal):
    t = terminal
    now = time.time()
    for at in (now - 86_400, now, now):  # yesterday's session is not today's
        metrics.record_session_start(t.state, at)
    assert t.agent.heartbeat_body()["sessions_today"] == 2
