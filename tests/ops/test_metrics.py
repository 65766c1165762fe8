"""The agent's /metrics: served on 127.0.0.1, scraped over HTTP, values read from the state DB and the
outbox at scrape time (so they survive restarts of the UI and the agent)."""

from __future__ import annotations

import os
import socket
import threading
from importlib import metadata
from types import SimpleNamespace

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from devices.base import Action, DeviceState, DeviceStatus
from kiosk import metrics, metrics_export
from kiosk.agent import Agent
from kiosk.config import AgentConfig
from kiosk.controller import KioskController
from kiosk.demo import demo_config
from kiosk.help_request import request_help
from kiosk.outbox import Outbox
from kiosk.platform.client import PlatformClient
from kiosk.platform_sim import ServerThread
from kiosk.session import Session
from kiosk.state import StateDB

TERMINAL = "T4115020001"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = requests.get(url, timeout=5)
    assert answer.status_code == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def names(samples) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture
def terminal(tmp_path):
    """An agent over a fresh state DB and outbox; the platform is not needed to serve metrics."""
    clock = Clock(T0)
    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    secret = config.platform.secret_file.read_text().strip()
    outbox = Outbox(config.storage.outbox_db, os.urandom(32), clock=clock)
    state = StateDB(config.storage.state_db)
    client = PlatformClient(config.platform.base_url, TERMINAL, secret)
    agent = Agent(config, outbox, client, state, secret, clock=clock)
    server = agent.serve_metrics(port=0)
    assert server is not None
    yield SimpleNamespace(agent=agent, outbox=outbox, state=state, clock=clock, server=server, config=config)
    server.close()
    outbox.close()
    state.close()


def test_scrape_reflects_devices_outbox_and_help(terminal):
    t = terminal
    assert t.server.url.startswith("http://127.0.0.1:")
    t.state.record_status(
        DeviceStatus(
            "printer",
            "receipt_printer",
            DeviceState.USER_ERROR,
            {"paper": "out", "cover_open": False},
            Action.CLEAR,
        )
    )
    t.state.record_status(
        DeviceStatus("idcard", "idcard_reader", DeviceState.NO_DEVICE, {}, Action.MAINTENANCE)
    )
    t.state.record_status(DeviceStatus("face_camera", "camera", DeviceState.ONLINE, {}, None))
    t.state.bump("printer", "prints", 7)
    for n in range(3):
        t.outbox.enqueue("rating", b"{}", session_ref=f"s{n}")
        t.clock.now += 100  # the first record is the oldest: 300 s at scrape time
    request_help(t.state, "form", now=t.clock.now - 42)

    s = scrape(t.server.url)
    assert value(s, "kiosk_device_state", device="printer", kind="receipt_printer", state="user_error") == 1
    assert value(s, "kiosk_device_state", device="printer", kind="receipt_printer", state="online") == 0
    assert value(s, "kiosk_device_state", device="idcard", kind="idcard_reader", state="no_device") == 1
    assert value(s, "kiosk_device_state", device="face_camera", kind="camera", state="online") == 1
    assert value(s, "kiosk_device_action", device="printer", kind="receipt_printer", action="clear") == 1
    assert value(s, "kiosk_device_action", device="idcard", kind="idcard_reader", action="maintenance") == 1
    assert value(s, "kiosk_device_action", device="idcard", kind="idcard_reader", action="clear") == 0
    assert (
        sum(v for (n, lab), v in s.items() if n == "kiosk_device_action" and ("device", "face_camera") in lab)
        == 0
    )
    assert value(s, "kiosk_printer_paper", device="printer", paper="out") == 1
    assert value(s, "kiosk_printer_paper", device="printer", paper="low") == 0
    assert not any(n == "kiosk_printer_paper" and ("device", "idcard") in lab for n, lab in s)  # no paper
    assert value(s, "kiosk_device_operations_total", device="printer", counter="prints") == 7
    assert value(s, "kiosk_outbox_records", state="pending") == 3
    assert value(s, "kiosk_outbox_records", state="failed") == 0
    assert value(s, "kiosk_outbox_oldest_pending_age_seconds") == 300
    assert value(s, "kiosk_outbox_available") == 1
    assert value(s, "kiosk_help_request_waiting") == 1
    assert value(s, "kiosk_help_request_waiting_seconds") == 42
    assert value(s, "kiosk_in_service") == 0  # every item needs the reader: 暂停服务, as on the screen
    assert value(s, "kiosk_terminal_info", terminal_id=TERMINAL, version=metadata.version("kiosk")) == 1
    assert value(s, "kiosk_disk_free_bytes") > 0
    assert value(s, "kiosk_last_heartbeat_success_timestamp_seconds") == 0  # none accepted yet: alerts

    # The paper is loaded, the call answered, the backlog delivered: the next scrape says so.
    t.state.record_status(
        DeviceStatus("printer", "receipt_printer", DeviceState.ONLINE, {"paper": "low"}, Action.CLEAR)
    )
    t.state.set_flag("help_request", "")
    t.clock.now += metrics.DEFAULT_PORT  # any later time
    s = scrape(t.server.url)
    assert value(s, "kiosk_printer_paper", device="printer", paper="low") == 1
    assert value(s, "kiosk_device_state", device="printer", kind="receipt_printer", state="online") == 1
    assert value(s, "kiosk_help_request_waiting") == 0
    assert value(s, "kiosk_in_service") == 0
    t.state.record_status(DeviceStatus("idcard", "idcard_reader", DeviceState.ONLINE, {}, None))
    assert value(scrape(t.server.url), "kiosk_in_service") == 1  # the reader is back: so is the kiosk


def test_every_exported_name_is_declared(terminal):
    """Dashboards and alerts are checked against `metrics.sample_names()`; it must match a real scrape."""
    t = terminal
    t.state.record_status(
        DeviceStatus("printer", "receipt_printer", DeviceState.ONLINE, {"paper": "full"}, None)
    )
    metrics.record_session(t.state, "submitted")
    metrics.record_submission(t.state, "delivered")
    metrics.observe_face_verify(t.state, 1.2, "match")
    metrics.observe_upload(t.state, "application", 0.3, "ok")
    metrics.record_heartbeat(t.state, True, -1500, now=T0)
    request_help(t.state, "home", now=T0)
    scraped = {n for n in names(scrape(t.server.url)) if n.startswith("kiosk_")}
    declared = metrics.sample_names()
    assert scraped == declared - {"kiosk_device_operations_total"}  # no counters recorded in this test
    assert all(n.startswith("kiosk_") for n in declared)


def test_ui_side_counts_and_histograms_survive_restarts(tmp_path):
    """The UI writes through its own connection; a new agent (new collector) reads the same values."""
    path = tmp_path / "state.db"
    with StateDB(path) as ui_state:
        for result in ("submitted", "submitted", "timeout", "abandoned"):
            metrics.record_session(ui_state, result)
        metrics.record_submission(ui_state, "queued")
        metrics.record_session(ui_state, "王建国 411502195803120031")  # never a label value
        for seconds, result in ((0.3, "match"), (1.5, "match"), (30.0, "match"), (0.9, "mismatch")):
            metrics.observe_face_verify(ui_state, seconds, result)
    with StateDB(path) as agent_state:  # "restarted": nothing carried in memory
        families = {
            f.name: f
            for f in metrics_export.KioskCollector(agent_state).collect()
            if f.name.startswith("kiosk_")
        }
    sessions = {s.labels["result"]: s.value for s in families["kiosk_sessions"].samples}
    assert sessions == {"submitted": 2, "timeout": 1, "abandoned": 1, "other": 1}
    face = {
        (s.name, s.labels.get("le")): s.value
        for s in families["kiosk_face_verify_duration_seconds"].samples
        if s.labels["result"] == "match"
    }
    assert face[("kiosk_face_verify_duration_seconds_bucket", "0.25")] == 0
    assert face[("kiosk_face_verify_duration_seconds_bucket", "0.5")] == 1
    assert face[("kiosk_face_verify_duration_seconds_bucket", "2.0")] == 2
    assert face[("kiosk_face_verify_duration_seconds_bucket", "20.0")] == 2
    assert face[("kiosk_face_verify_duration_seconds_bucket", "+Inf")] == 3
    assert face[("kiosk_face_verify_duration_seconds_count", None)] == 3
    assert face[("kiosk_face_verify_duration_seconds_sum", None)] == pytest.approx(31.8)


def test_controller_counts_sessions_and_submissions(tmp_path):
    """The controller records each session's end (before the wipe) and times the face verifier."""
    config = demo_config(tmp_path / "state", "http://127.0.0.1:1")
    answers = [SimpleNamespace(match=True), SimpleNamespace(match=False)]
    verifier = SimpleNamespace(verify=lambda identity, jpeg, liveness: answers.pop(0), backend="fake")
    with StateDB(config.storage.state_db) as state:
        services = SimpleNamespace(
            config=config, state=state, face_verifier=verifier, guard=None, face_detector=None
        )
        controller = KioskController(services)  # type: ignore[arg-type]
        assert services.face_verifier.backend == "fake"  # wrapped, still the same verifier
        services.face_verifier.verify(None, b"", {})
        services.face_verifier.verify(None, b"", {})

        def end(reason: str, **flow: object) -> None:
            controller.session = Session()
            if flow:
                controller.session.terminal_ref = "T4115020001-REF"
                controller.flow = SimpleNamespace(
                    **{"submitted_at": T0, "refused": False, "step": "receipt", **flow}
                )
            controller.end_session(reason)

        end("finished", step="done")  # delivered: the session holds a case number
        controller.session = Session()
        controller.session.terminal_ref = "T4115020001-REF2"
        controller.session.case = {"case_no": "KS1"}
        controller.flow = SimpleNamespace(submitted_at=T0, refused=False, step="done")
        controller.end_session("finished")
        end("home", refused=True)
        end("idle timeout")
        end("home")
        families = {f.name: f for f in metrics_export.KioskCollector(state).collect()}
    sessions = {s.labels["result"]: s.value for s in families["kiosk_sessions"].samples}
    submissions = {s.labels["result"]: s.value for s in families["kiosk_submissions"].samples}
    assert sessions == {"submitted": 3, "timeout": 1, "abandoned": 1}
    assert submissions == {"queued": 1, "delivered": 1, "refused": 1}
    counts = {
        s.labels["result"]: s.value
        for s in families["kiosk_face_verify_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert counts == {"match": 1, "mismatch": 1}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_agent_loop_serves_heartbeat_and_upload_metrics(tmp_path):
    """`Agent.run` against the platform simulator: /metrics on the configured port while it runs,
    the accepted heartbeat, the clock offset and the delivery latency; the port is closed after."""
    state_dir = tmp_path / "state"
    secret = demo_config(state_dir, "http://127.0.0.1:1").platform.secret_file.read_text().strip()
    with ServerThread(tmp_path / "sim.db", {TERMINAL: secret}) as sim:
        config = demo_config(state_dir, sim.base_url)
        port = free_port()
        config = config.model_copy(update={"agent": AgentConfig(metrics_port=port)})
        with Outbox.open(config.storage) as outbox, StateDB(config.storage.state_db) as state:
            client = PlatformClient(sim.base_url, TERMINAL, secret)
            client.clock_offset_ms = 2500
            outbox.enqueue("application", b"{}", session_ref="broken")  # refused: counted as an upload
            agent = Agent(config, outbox, client, state, secret)
            cycled, stop = threading.Event(), threading.Event()
            real_run_once = agent.run_once

            def run_once():
                report = real_run_once()
                cycled.set()
                return report

            agent.run_once = run_once  # type: ignore[method-assign]
            loop = threading.Thread(target=agent.run, args=(stop,), daemon=True)
            loop.start()
            try:
                assert cycled.wait(30)
                s = scrape(f"http://127.0.0.1:{port}/metrics")
            finally:
                stop.set()
                loop.join(10)
            assert value(s, "kiosk_heartbeats_total", result="ok") >= 1
            assert value(s, "kiosk_last_heartbeat_success_timestamp_seconds") > 0
            assert value(s, "kiosk_upload_duration_seconds_count", kind="application", result="error") == 1
            assert value(s, "kiosk_outbox_failed_unacknowledged") == 1
            assert value(s, "kiosk_outbox_records", state="failed") == 1
            assert abs(value(s, "kiosk_clock_offset_seconds")) < 2  # learnt anew from the simulator
            with pytest.raises(requests.ConnectionError):
                requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_port_zero_turns_metrics_off_and_a_taken_port_does_not_stop_the_agent(terminal):
    t = terminal
    off = t.config.model_copy(update={"agent": AgentConfig(metrics_port=0)})
    agent = Agent(off, t.outbox, t.agent.client, t.state, "x" * 64)
    assert agent.serve_metrics() is None
    assert metrics_export.serve(metrics_export.KioskCollector(t.state), t.server.port) is None


def test_metrics_port_is_validated_and_defaults_on(tmp_path):
    from kiosk.config import ConfigError, parse_config

    base = demo_config(tmp_path / "state", "http://127.0.0.1:1").model_dump(mode="json")
    assert parse_config(base).agent.metrics_port == metrics.DEFAULT_PORT
    assert parse_config(base | {"agent": {"metrics_port": 0}}).agent.metrics_port == 0
    with pytest.raises(ConfigError, match=r"agent\.metrics_port"):
        parse_config(base | {"agent": {"metrics_port": 70000}})
    with pytest.raises(ConfigError, match=r"agent\.listen: unknown key"):
        parse_config(base | {"agent": {"listen": "0.0.0.0"}})  # the address is not configurable
