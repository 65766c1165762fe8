"""Remote commands run only with a valid signature and before expiry (platform-api §5.11), end to end:
the real platform simulator delivers them in heartbeat answers over HTTP, the agent verifies and acks.

Forged, tampered, replayed and expired commands are planted in the simulator's own command table, as
a compromised or buggy platform (or a man in the middle) would serve them; the agent must refuse them
and must not act on them.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from types import SimpleNamespace

import pytest
import requests

from kiosk.agent import Agent
from kiosk.demo import demo_config
from kiosk.outbox import Outbox
from kiosk.platform.client import PlatformClient
from kiosk.platform.commands import command_signature
from kiosk.platform_sim import ServerThread
from kiosk.platform_sim.core import rfc3339
from kiosk.platform_sim.store import SimStore
from kiosk.state import StateDB

TERMINAL = "T4115020001"


@pytest.fixture
def terminal(tmp_path):
    state_dir = tmp_path / "state"
    secret = demo_config(state_dir, "http://127.0.0.1:1").platform.secret_file.read_text().strip()
    sim_db = tmp_path / "sim.db"
    with ServerThread(sim_db, {TERMINAL: secret}) as server:
        config = demo_config(state_dir, server.base_url)
        client = PlatformClient(server.base_url, TERMINAL, secret)
        with Outbox.open(config.storage) as outbox, StateDB(config.storage.state_db) as state:
            agent = Agent(config, outbox, client, state, secret)
            store = SimStore(sim_db)
            yield SimpleNamespace(
                agent=agent,
                state=state,
                server=server,
                secret=secret,
                store=store,
                sim_db=sim_db,
                config=config,
            )


def plant(
    t, name: str, *, key: str | None = None, expires_in_s: float = 300.0, tamper: dict | None = None
) -> dict:
    """Put a command in the simulator's queue as the platform would, signed with `key` (default: this
    terminal's secret); `tamper` replaces fields after signing (tampering). The simulator serves it
    while its own expiry (`expires_ts`, kept 10 minutes ahead) has not passed, whatever `expires_at` says."""
    now = time.time()
    cmd = {
        "command_id": "CMD" + secrets.token_hex(8),
        "name": name,
        "args": {},
        "expires_at": rfc3339(now + expires_in_s),
    }
    cmd["signature"] = command_signature(
        key or t.secret, cmd["command_id"], name, cmd["args"], cmd["expires_at"]
    )
    cmd |= tamper or {}
    t.store.add_command(cmd, TERMINAL, now + 600, now)
    return cmd


def platform_view(t, command_id: str) -> dict:
    answer = requests.get(f"{t.server.base_url}/admin/commands/{command_id}", timeout=5).json()
    return answer["data"]


def test_a_genuine_command_runs(terminal):
    t = terminal
    cmd = plant(t, "out_of_service")
    report = t.agent.run_once()
    assert report.heartbeat and [c["result"] for c in report.commands] == ["done"]
    assert t.state.flag("in_service") == "false"
    assert platform_view(t, cmd["command_id"])["result"] == "done"


@pytest.mark.parametrize(
    "forgery",
    [
        pytest.param({"key": "0" * 64}, id="wrong-key"),
        pytest.param({"key": secrets.token_hex(32)}, id="another-terminals-key"),
        pytest.param({"tamper": {"signature": "0" * 64}}, id="zero-signature"),
        pytest.param({"tamper": {"signature": ""}}, id="empty-signature"),
        pytest.param({"tamper": {"signature": "A" * 64}}, id="not-hex"),
        pytest.param({"tamper": {"args": {"reason": "x"}}}, id="args-changed-after-signing"),
        pytest.param({"tamper": {"name": "in_service"}}, id="name-changed-after-signing"),
        pytest.param({"tamper": {"command_id": "CMD-other"}}, id="id-changed-after-signing"),
    ],
)
def test_forged_or_tampered_commands_are_rejected_and_not_run(terminal, forgery):
    t = terminal
    t.state.set_flag("in_service", "false")
    # signed as out_of_service, served as in_service: either way nothing may change
    signed_as = "out_of_service" if "name" in forgery.get("tamper", {}) else "in_service"
    cmd = plant(t, signed_as, **forgery)
    report = t.agent.run_once()
    assert report.heartbeat
    assert [(c["command_id"], c["result"]) for c in report.commands] == [(cmd["command_id"], "rejected")]
    assert t.state.flag("in_service") == "false"  # the terminal did nothing
    seen = platform_view(t, cmd["command_id"])
    assert seen["result"] == "rejected" and seen["acked_at"] is not None  # the operator sees the refusal


def test_expired_command_is_rejected(terminal):
    t = terminal
    t.state.set_flag("in_service", "false")
    cmd = plant(t, "in_service", expires_in_s=-5)  # correctly signed, but its time is up
    report = t.agent.run_once()
    assert [(c["command_id"], c["result"]) for c in report.commands] == [(cmd["command_id"], "rejected")]
    assert t.state.flag("in_service") == "false"


def test_expiry_is_judged_on_the_platforms_clock_not_a_slow_local_one(terminal):
    """A terminal whose clock is 10 minutes slow must not take an expired command for a live one: the
    agent checks expiry on the platform-corrected clock the client learnt from the heartbeat."""
    t = terminal
    slow = PlatformClient(
        t.server.base_url, TERMINAL, t.secret, clock=lambda: time.time() - 600, resync_clock=True
    )
    agent = Agent(t.config, None, slow, t.state, t.secret)
    t.state.set_flag("in_service", "false")
    cmd = plant(t, "in_service", expires_in_s=-60)  # still "in the future" by the slow local clock
    reports = [agent.run_once() for _ in range(2)]  # the first may only teach the client the clock
    assert any(r.heartbeat for r in reports)
    results = [(c["command_id"], c["result"]) for r in reports for c in r.commands]
    assert results == [(cmd["command_id"], "rejected")]
    assert t.state.flag("in_service") == "false"
    assert abs(slow.clock_offset_ms - 600_000) < 5_000


def test_replayed_command_runs_once(terminal):
    """The same signed command served again (a replay, or a platform that lost the ack) is not run again;
    a copy under a new id does not verify (the signature covers the id)."""
    t = terminal
    cmd = plant(t, "out_of_service")
    assert [c["result"] for c in t.agent.run_once().commands] == ["done"]
    t.state.set_flag("in_service", "true")  # staff put the kiosk back in service since
    with sqlite3.connect(t.sim_db) as db:  # replay: the platform serves the acked command again
        db.execute("UPDATE commands SET acked_at=NULL WHERE command_id=?", (cmd["command_id"],))
    t.agent.run_once()
    assert t.state.flag("in_service") == "true"  # not closed a second time
    copy = plant(
        t,
        "out_of_service",
        tamper={"command_id": "CMD" + secrets.token_hex(8), "signature": cmd["signature"]},
    )
    report = t.agent.run_once()
    assert (copy["command_id"], "rejected") in [(c["command_id"], c["result"]) for c in report.commands]
    assert t.state.flag("in_service") == "true"
