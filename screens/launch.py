"""Starts the Kivy UI for a terminal: configure the window first, then import the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk.config import Config
from screens.bootstrap import prepare_kivy


def run_ui(
    terminal: Any,
    config: Config,
    *,
    locked: bool,
    scenario: str | None = None,
    artifacts: Path | None = None,
    server: Any = None,
) -> int:
    """`terminal` is kiosk.wiring.Terminal; with `scenario` the UI is driven by simulated touches."""
    from devices.fonts import find_cjk_font

    font = config.ui.font or Path(find_cjk_font())  # fails clearly when no CJK font is installed
    prepare_kivy(
        config.ui.size, orientation=config.ui.orientation, fullscreen=config.ui.fullscreen, locked=locked
    )
    from screens.app import KioskApp

    app = KioskApp(terminal.controller, font_path=font)
    if scenario is None:
        app.run()
        return 0
    from screens.scenario import ScenarioRunner

    runner = ScenarioRunner(app, terminal, scenario, artifacts or Path("artifacts"), server=server)
    app.bind(on_start=lambda *_: runner.start())
    app.run()
    return runner.exit_code
