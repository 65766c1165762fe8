"""Arguments shared by the `kiosk` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from kiosk.ui_settings import DEFAULT_CONFIG_PATH


def config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="TOML config file")


def json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
