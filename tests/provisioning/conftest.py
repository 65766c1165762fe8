"""Shared helpers for the provisioning tests: a terminal config written by `kiosk provision configure`
itself, the demo identities for the SAM simulator, a still image for a simulated camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from provision_args import IDENTITIES_FILE

from devices.idcard.simulator import load_identities


@pytest.fixture
def identities() -> list[dict]:
    return load_identities(IDENTITIES_FILE)


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """A textured (not blank) 640x480 still for sim://camera."""
    import cv2

    rng = np.random.default_rng(7)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image)
    return path
