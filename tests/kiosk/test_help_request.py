"""呼叫工作人员: recorded by the UI, reported by the agent's heartbeat, ended with the session."""

from __future__ import annotations

from kiosk.help_request import EXPIRES_S, clear_help, pending_help, request_help
from kiosk.state import StateDB


def test_a_call_is_reported_until_answered_or_stale(tmp_path):
    with StateDB(tmp_path / "state.db") as state:
        assert pending_help(state) is None
        request_help(state, "form", now=1000.0)
        entry = pending_help(state, now=1030.0)
        assert entry == {
            "name": "help",
            "kind": "help_request",
            "state": "user_error",
            "details": {"screen": "form", "waiting_s": 30},
            "action": "clear",
        }
        assert pending_help(state, now=1000.0 + EXPIRES_S + 1) is None  # nobody left waiting by now
        clear_help(state)
        assert pending_help(state, now=1030.0) is None
