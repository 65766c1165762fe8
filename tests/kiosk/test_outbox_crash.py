"""Crash test (issue 4 §5): the agent is killed with SIGKILL at random moments while the platform
simulator injects faults (503 with Retry-After 0, dropped connections, latency); after the faults are
cleared and the outbox drained, every case reached the platform exactly once.

Bounded: a fixed number of kill cycles with seeded random delays; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from terminal_toml import write_terminal_toml

from kiosk.demo import demo_application, demo_config, demo_proof
from kiosk.outbox import Outbox, load_or_create_key
from kiosk.platform import PlatformClient
from kiosk.platform_sim import ServerThread

TERMINAL = "T4115020001"
N_CASES = 30
KILL_CYCLES = 12
SEED = 20261122
FAULTS = {
    "latency_ms": 30,
    "error_rate": 0.3,
    "status": 503,
    "retry_after_s": 0,
    "drop_rate": 0.15,
    "maintenance": False,
}


def _config_file(tmp_path: Path, base_url: str, secret_file: Path, model: Path) -> Path:
    timeouts = "connect_timeout_s = 1.0\nread_timeout_s = 5.0"
    return write_terminal_toml(
        tmp_path, base_url=base_url, secret_file=secret_file, detector_model=model, platform_extra=timeouts
    )


def _sending_ids(db: Path) -> list[str]:
    with sqlite3.connect(db, timeout=10.0) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM outbox WHERE state='sending'").fetchall()]


def _states(db: Path) -> dict[str, int]:
    """Counts per state, read without the Outbox class (so nothing is recovered by looking)."""
    with sqlite3.connect(db, timeout=10.0) as conn:
        return dict(conn.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())


def _agent(config: Path, *extra: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, KIOSK_LOG_LEVEL="WARNING")
    return subprocess.Popen(
        [sys.executable, "-m", "kiosk", "agent", "--config", str(config), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **kwargs,
    )


@pytest.mark.timeout(180)
def test_agent_killed_at_random_delivers_every_case_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    state_dir = tmp_path / "state"
    probe = demo_config(state_dir, "http://127.0.0.1:1")
    secret = probe.platform.secret_file.read_text().strip()
    db = probe.storage.outbox_db
    with ServerThread(tmp_path / "sim.db", {TERMINAL: secret}) as server:
        config = _config_file(
            tmp_path, server.base_url, probe.platform.secret_file, probe.face.detector_model
        )
        key = load_or_create_key(probe.storage.outbox_key_file)
        with PlatformClient(server.base_url, TERMINAL, secret) as client:
            proof_id = demo_proof(client)  # before the faults: face-verify is faulted too
        refs: dict[str, str] = {}  # outbox record id -> terminal_ref
        with Outbox(db, key) as outbox:
            for _ in range(N_CASES):
                ref = f"{TERMINAL}-crash-{uuid.uuid4().hex[:12]}"
                record = outbox.enqueue("application", demo_application(proof_id, ref), session_ref=ref)
                refs[record.id] = ref

        server.app.fault_random = random.Random(SEED)  # which requests fault; kill timing still varies
        requests.post(server.base_url + "/admin/faults", json=FAULTS, timeout=5).raise_for_status()
        left_sending = []  # records found in 'sending' right after each kill
        stored_before_commit = set()  # of those, the ones the platform had already stored
        for _ in range(KILL_CYCLES):
            proc = _agent(config, "--interval", "0.05")
            try:
                proc.wait(timeout=rng.uniform(0.4, 2.5))
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL, "the looping agent exited on its own"
            states = _states(db)
            left_sending.append(states.get("sending", 0))
            stored = {
                c["terminal_ref"] for c in requests.get(server.base_url + "/ops/cases", timeout=5).json()
            }
            stored_before_commit |= {rid for rid in _sending_ids(db) if refs[rid] in stored}
            if states.get("pending", 0) + states.get("sending", 0) == 0:
                break
        requests.delete(server.base_url + "/admin/faults", timeout=5).raise_for_status()

        # Drain with the faults gone. `kiosk agent` opens the outbox with recover_sending=True, so a
        # record the kills left in 'sending' goes back to pending and is re-sent with its original key.
        for _ in range(3):
            proc = _agent(config, "--once", "--json")
            assert proc.wait(timeout=60) == 0
            if _states(db).get("pending", 0) + _states(db).get("sending", 0) == 0:
                break
        after_agent = _states(db)
        with Outbox(db, key) as outbox, PlatformClient(server.base_url, TERMINAL, secret) as client:
            # Records still pending are waiting out the backoff the faults earned them; send them now
            # (deliver ignores the backoff) instead of sleeping until they are due.
            for record_id in refs:
                if outbox.get(record_id).state == "pending":
                    outbox.deliver(client, record_id)
            counts = outbox.counts()
            records = {rid: outbox.get(rid) for rid in refs}
            responses = {rid: outbox.response(rid) for rid in refs}

        cases = requests.get(server.base_url + "/ops/cases", timeout=5).json()

    print(
        f"\ncrash test: {len(left_sending)} kills, records in 'sending' after each: {left_sending}; "
        f"{len(stored_before_commit)} of them already stored by the platform (re-sent, answered by replay); "
        f"after `kiosk agent --once`: {after_agent}; "
        f"attempts per record: {sorted(collections.Counter(r.attempts for r in records.values()).items())}"
    )
    per_ref = collections.Counter(c["terminal_ref"] for c in cases)
    assert set(per_ref) == set(refs.values()), (
        "a case is missing on the platform (or an unknown one is there)"
    )
    assert all(n == 1 for n in per_ref.values()), (
        f"duplicated cases: {[r for r, n in per_ref.items() if n > 1]}"
    )
    assert not [r for r in records.values() if r.state == "failed" and r.last_code == 40901]
    assert counts["delivered"] == N_CASES and counts["failed"] == 0
    assert counts["pending"] == counts["sending"] == 0
    # The outbox holds the platform's original answer for each record (a replay returns the same case).
    case_by_ref = {c["terminal_ref"]: c["case_no"] for c in cases}
    assert all(responses[rid]["case_no"] == case_by_ref[ref] for rid, ref in refs.items())
