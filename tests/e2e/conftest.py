"""Runs `kiosk demo --headless --scenario NAME` in a subprocess (the real Kivy UI under Xvfb)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="module")
def run_scenario(tmp_path_factory) -> Callable[[str], SimpleNamespace]:
    def run(name: str) -> SimpleNamespace:
        root: Path = tmp_path_factory.mktemp(name)
        artifacts, state = root / "artifacts", root / "state"
        command = [sys.executable, "-m", "kiosk", "demo", "--headless", "--scenario", name]
        result = subprocess.run(
            [*command, "--artifacts", str(artifacts), "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, "KIOSK_LOG_LEVEL": "DEBUG"},
        )
        return SimpleNamespace(
            result=result, artifacts=artifacts, state=state, diagnostics=_diagnostics(result.stderr)
        )

    return run


def _diagnostics(stderr: str) -> str:
    """For a failed run's assertion message: every warning and error (the debug lines of the device
    polls would push them out of a plain tail), then the end of the log."""
    problems = [
        line for line in stderr.splitlines() if '"level": "warning"' in line or '"level": "error"' in line
    ]
    return "\n".join(problems[-40:]) + "\n--- last lines ---\n" + stderr[-1500:]
