"""Shared fixtures: the SAM reader simulator on a pty (behind a stable symlink) and a reader on it.
Printer test modules define their own `sim` (the virtual ESC/POS printer), which overrides this one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_idcard_reader import IDENTITIES

from devices.idcard import IdCardReader, SamSimulator


@pytest.fixture
def sim() -> Iterator[SamSimulator]:
    with SamSimulator(IDENTITIES, pace=False, stable_port=True) as simulator:
        yield simulator


@pytest.fixture
def reader(sim: SamSimulator) -> Iterator[IdCardReader]:
    assert sim.port is not None
    with IdCardReader(sim.port) as r:
        yield r
