"""呼叫工作人员: a citizen's call for help, from any screen, to the hall staff and the operators.

The UI records the call in the state DB; the agent reports it in every heartbeat (as an entry needing
hall staff, like a printer out of paper) until it is answered: the session it came from ends (staff
helped, or the citizen left) or it is older than `EXPIRES_S`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

FLAG = "help_request"
EXPIRES_S = 15 * 60


def request_help(state: Any, screen: str, now: float | None = None) -> None:
    """`screen` is the screen's name (no personal data)."""
    state.set_flag(FLAG, json.dumps({"at": time.time() if now is None else now, "screen": screen}))
    log.warning("help requested on screen %s", screen)


def clear_help(state: Any) -> None:
    if state.flag(FLAG):
        state.set_flag(FLAG, "")
        log.info("help request answered")


def pending_help(state: Any, now: float | None = None) -> dict[str, Any] | None:
    """The heartbeat entry for a waiting call, or None."""
    raw = state.flag(FLAG)
    if not raw:
        return None
    call = json.loads(raw)
    waited = (time.time() if now is None else now) - float(call["at"])
    if waited > EXPIRES_S:
        return None
    return {
        "name": "help",
        "kind": "help_request",
        "state": "user_error",
        "details": {"screen": call["screen"], "waiting_s": int(max(0, waited))},
        "action": "clear",
    }
