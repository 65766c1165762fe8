"""RetryPolicy delays and call_with_retry (platform-api.md §4)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from kiosk.platform import (
    PlatformError,
    PlatformProtocolError,
    PlatformTransportError,
    RetryPolicy,
    call_with_retry,
)


def err(code: int, retry_after: float | None = None) -> PlatformError:
    status = {
        42901: 429,
        50301: 503,
        50001: 500,
        40001: 400,
        40101: 401,
        40102: 401,
        40103: 401,
        40301: 403,
        40302: 403,
        40401: 404,
        40901: 409,
        41301: 413,
    }[code]
    return PlatformError(code, "x", http_status=status, retry_after_s=retry_after)


def fixed(u: float) -> Callable[[], float]:
    return lambda: u


@pytest.mark.parametrize("code", [40001, 40101, 40301, 40302, 40401, 40901, 41301])
def test_non_retryable_codes_give_none(code: int) -> None:
    assert RetryPolicy().next_delay(1, err(code)) is None


def test_unknown_exceptions_are_not_retried() -> None:
    assert RetryPolicy().next_delay(1, ValueError("boom")) is None
    assert RetryPolicy().next_delay(1, PlatformProtocolError("bad", retryable=False)) is None


@pytest.mark.parametrize("code", [42901, 50301])
def test_retry_after_is_honoured(code: int) -> None:
    for u in (0.0, 0.5, 1.0):
        delay = RetryPolicy(jitter=0.2, rng=fixed(u)).next_delay(1, err(code, retry_after=30))
        assert delay is not None and 30 <= delay <= 36
    # Honoured even above max_s (the platform knows when it is back), within the safety cap.
    assert RetryPolicy(max_s=10, jitter=0, retry_after_cap_s=3600).next_delay(1, err(code, 600)) == 600
    assert RetryPolicy(jitter=0, retry_after_cap_s=3600).next_delay(1, err(code, 10**9)) == 3600


def test_429_without_retry_after_backs_off_exponentially() -> None:
    p = RetryPolicy(base_s=1, max_s=300, jitter=0)
    assert [p.next_delay(n, err(42901)) for n in (1, 2, 3)] == [1, 2, 4]


@pytest.mark.parametrize(
    "error",
    [err(50001), err(40102), err(40103), PlatformTransportError("timeout"), PlatformProtocolError("?")],
)
def test_exponential_growth_capped(error: PlatformError) -> None:
    p = RetryPolicy(base_s=1, max_s=300, jitter=0)
    delays = [p.next_delay(n, error) for n in range(1, 13)]
    assert delays[:9] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert delays[9:] == [300, 300, 300]
    assert p.next_delay(10_000, error) == 300  # no overflow


def test_jitter_is_bounded() -> None:
    error = err(50001)
    low = RetryPolicy(base_s=1, max_s=300, jitter=0.2, rng=fixed(0.0))
    high = RetryPolicy(base_s=1, max_s=300, jitter=0.2, rng=fixed(1.0))
    assert low.next_delay(4, error) == pytest.approx(8 * 0.8)
    assert high.next_delay(4, error) == pytest.approx(8 * 1.2)
    assert high.next_delay(20, error) == 300  # jitter never pushes past the cap
    real = RetryPolicy(base_s=1, max_s=300, jitter=0.2)
    samples = [real.next_delay(3, error) for _ in range(500)]
    assert all(s is not None and 3.2 <= s <= 4.8 for s in samples)
    assert len(set(samples)) > 1


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base_s=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_s=10, max_s=1)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)


# -- call_with_retry ---------------------------------------------------------------------------


class Flaky:
    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        out = self.outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out


def test_retries_until_success() -> None:
    slept: list[float] = []
    fn = Flaky(err(50001), PlatformTransportError("reset"), "ok")
    policy = RetryPolicy(base_s=0.5, max_s=5, jitter=0)
    assert call_with_retry(fn, policy, max_attempts=3, sleep=slept.append) == "ok"
    assert fn.calls == 3 and slept == [0.5, 1.0]


def test_non_retryable_raises_at_once() -> None:
    slept: list[float] = []
    fn = Flaky(err(40001), "ok")
    with pytest.raises(PlatformError) as e:
        call_with_retry(fn, RetryPolicy(), max_attempts=5, sleep=slept.append)
    assert e.value.code == 40001 and fn.calls == 1 and slept == []


def test_attempts_are_bounded() -> None:
    slept: list[float] = []
    fn = Flaky(*[err(50301)] * 10)
    with pytest.raises(PlatformError) as e:
        call_with_retry(fn, RetryPolicy(jitter=0), max_attempts=3, sleep=slept.append)
    assert e.value.code == 50301 and fn.calls == 3 and len(slept) == 2


def test_deadline_stops_a_long_retry_after() -> None:
    slept: list[float] = []
    fn = Flaky(err(42901, retry_after=1), err(42901, retry_after=60), "ok")
    ticks = itertools.count()
    with pytest.raises(PlatformError) as e:
        call_with_retry(
            fn,
            RetryPolicy(jitter=0),
            max_attempts=5,
            sleep=slept.append,
            deadline_s=10,
            monotonic=lambda: float(next(ticks)),
        )
    assert e.value.code == 42901 and fn.calls == 2 and slept == [1]


def test_other_exceptions_propagate_without_retry() -> None:
    fn = Flaky(KeyError("bug"), "ok")
    with pytest.raises(KeyError):
        call_with_retry(fn, RetryPolicy(), max_attempts=3, sleep=lambda s: None)
    assert fn.calls == 1
    with pytest.raises(ValueError):
        call_with_retry(fn, RetryPolicy(), max_attempts=0)
