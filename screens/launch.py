"""Starts the Kivy UI for a terminal: configure the window first, then import the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kiosk.config import Config
from screens.bootstrap import prepare_kivy


def _simulated_citizen(terminal: Any, config: Config) -> Any:
    """With a simulated face camera, someone must turn their head when asked: a CameraActor playing
    the camera's photo (the demo and the scenarios; never with a real camera)."""
    feed = getattr(terminal.sims, "cameras", {}).get("face_camera")
    if feed is None:
        return None
    import cv2

    from kiosk.facepose_sim import CameraActor

    source = parse_qs(urlsplit(config.devices["face_camera"].url).query).get("source", [""])[0]
    photo = cv2.imread(source) if source else None
    return None if photo is None else CameraActor(feed, photo)


def font_for(config: Config) -> Path:
    """The configured font, else the system's CJK face prepared for Kivy (devices.ui_font); a
    RuntimeError that says what to install when the system has no CJK font."""
    from devices.ui_font import ui_font

    return config.ui.font or ui_font()


def open_window(config: Config, *, locked: bool) -> None:
    """Configure Kivy and open its window (importing kivy.core.window does); idempotent. The CJK font
    is looked up first (its preparation started if missing): without one the kiosk must fail clearly,
    before any window shows."""
    font_for(config)
    prepare_kivy(
        config.ui.size, orientation=config.ui.orientation, fullscreen=config.ui.fullscreen, locked=locked
    )
    from kivy.core.window import Window  # noqa: F401  (the import opens it)


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
    font = font_for(config)  # fails clearly when no CJK font is installed
    open_window(config, locked=locked)  # done already when kiosk.cli opened it while devices started
    from screens.app import KioskApp

    app = KioskApp(terminal.controller, font_path=font)
    app.simulated_face = actor = _simulated_citizen(terminal, config)
    try:
        if scenario is None:
            app.run()
            return 0
        from screens.scenario import ScenarioRunner

        runner = ScenarioRunner(app, terminal, scenario, artifacts or Path("artifacts"), server=server)
        app.bind(on_start=lambda *_: runner.start())
        app.run()
        return runner.exit_code
    finally:
        if actor is not None:  # a scenario may have taken it from the app (face_replay)
            actor.close()
