"""Where the repository's assets and the shared test data (models, faces) are found."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"


def shared_dir() -> Path:
    """`$KIOSK_SHARED_DIR`, else the `shared/` folder beside the checkout (models and test faces live
    there and are never copied into the repository)."""
    configured = os.environ.get("KIOSK_SHARED_DIR")
    path = Path(configured) if configured else REPO.parent / "shared"
    if not (path / "models").is_dir():
        raise FileNotFoundError(f"shared data not found at {path} (set KIOSK_SHARED_DIR)")
    return path
