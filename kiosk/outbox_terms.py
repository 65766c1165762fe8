"""What the outbox's callers name without loading it (kiosk.outbox loads cryptography and the
platform client): its record states and its error. The command line uses them to build its parser
and to say why a start failed; `kiosk run` parses its arguments before the UI draws its home screen.
"""

from __future__ import annotations

STATES = ("pending", "sending", "delivered", "failed")


class OutboxUnavailable(Exception):
    """The outbox cannot store or read records: `reason` is "full", "corrupt" or "io"."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"outbox {reason}: {detail}")
        self.reason = reason
