"""When to send a failed platform request again (platform-api.md §4).

The client sends every request once (plus at most one clock-resync retry for 40102). Callers that can
wait decide about retries with `RetryPolicy`: the outbox and the agent schedule the next attempt with
`next_delay`; a citizen-facing call that may retry a couple of times quickly uses `call_with_retry`
with a small `max_attempts` and a `deadline_s`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from kiosk.platform.errors import PlatformError

__all__ = ["RETRY_AFTER_CODES", "RetryPolicy", "call_with_retry"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Codes whose `Retry-After` header says when to come back (§4: 42901 rate limited, 50301 maintenance).
RETRY_AFTER_CODES = frozenset({42901, 50301})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, `Retry-After` honoured.

    `attempt` counts the attempts already made (1 after the first failure). Without `Retry-After` the
    delay is `min(max_s, base_s * 2**(attempt-1))` scaled by a random factor in `[1-jitter, 1+jitter]`
    and never above `max_s`. With `Retry-After` (429/503) the delay is at least the platform's value
    (up to `retry_after_cap_s`) plus up to `jitter` of it, so a fleet told the same second spreads out.
    """

    base_s: float = 1.0
    max_s: float = 300.0
    jitter: float = 0.2
    retry_after_cap_s: float = 3600.0
    rng: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.max_s < self.base_s:
            raise ValueError("need 0 < base_s <= max_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def next_delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait before the next attempt, or None when the error is not worth retrying."""
        if not isinstance(error, PlatformError) or not error.retryable:
            return None
        if error.code in RETRY_AFTER_CODES and error.retry_after_s is not None:
            wait = min(max(0.0, error.retry_after_s), self.retry_after_cap_s)
            return wait * (1.0 + self.jitter * self.rng())
        exponent = min(max(attempt, 1) - 1, 64)  # 2**64 s is already far past any cap
        raw = min(self.max_s, self.base_s * (2.0**exponent))
        spread = 1.0 + self.jitter * (2.0 * self.rng() - 1.0)
        return min(self.max_s, raw * spread)


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
    deadline_s: float | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:
    """Call `fn` until it succeeds, at most `max_attempts` times, sleeping `policy.next_delay` between.

    Raises the last `PlatformError` when it is not retryable, attempts are used up, or waiting would end
    past `deadline_s` seconds from the start. Other exceptions are not retried.
    Only for reads, or for writes whose body and idempotency key `fn` keeps identical on every call.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    started = monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except PlatformError as err:
            delay = policy.next_delay(attempt, err)
            if delay is None or attempt >= max_attempts:
                raise
            if deadline_s is not None and monotonic() - started + delay > deadline_s:
                raise
            log.info("platform call failed with code %d; retry %d in %.2fs", err.code, attempt, delay)
            sleep(delay)
