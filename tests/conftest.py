"""tests/ itself on sys.path: its helper modules (kivy_child) serve test files in several folders."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
