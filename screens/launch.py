"""Starts the Kivy UI for a terminal: configure the window first, then import the app."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from kiosk.ui_settings import UiSettings
from screens.bootstrap import prepare_kivy

if TYPE_CHECKING:  # validated on the loader's thread: pydantic stays out of the window's start
    from kiosk.config import Config

log = logging.getLogger(__name__)


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


def font_for(settings: UiSettings) -> Path:
    """The configured font, else the system's CJK face prepared for Kivy (devices.ui_font); a
    RuntimeError that says what to install when the system has no CJK font."""
    from devices.ui_font import ui_font

    return settings.font or ui_font()


def open_window(settings: UiSettings, *, locked: bool) -> None:
    """Configure Kivy and open its window (importing kivy.core.window does); idempotent. The CJK font
    is looked up first (its preparation started if missing): without one the kiosk must fail clearly,
    before any window shows."""
    font_for(settings)
    prepare_kivy(
        settings.size, orientation=settings.orientation, fullscreen=settings.fullscreen, locked=locked
    )
    from kivy.core.window import Window  # noqa: F401  (the import opens it)


def run_ui(
    settings: UiSettings,
    read_config: Callable[[], Config],
    *,
    locked: bool,
    scenario: str | None = None,
    artifacts: Path | None = None,
    server: Any = None,
    on_start: Callable[[Any], None] | None = None,
    on_ready: Callable[[Any, Any], None] | None = None,
) -> int:
    """The kiosk: its window and home screen first (from `settings`), then its config (`read_config()`,
    validated) and terminal (kiosk.wiring.open_terminal) opened on a thread behind them
    (kiosk.terminal_loader), then every other screen. With `scenario`
    the UI is driven by simulated touches once the terminal is open. For benchmarks: `on_start(app)`
    when the app starts, `on_ready(app, terminal)` once the terminal is attached (main thread).
    A config that is invalid or a terminal that cannot be opened ends the UI with the loader's
    error, as a direct load_config or open_terminal would have raised it."""
    font = font_for(settings)  # fails clearly when no CJK font is installed
    open_window(settings, locked=locked)
    from kivy.clock import Clock
    from kivy.core.window import Window

    from kiosk.terminal_loader import TerminalLoader
    from screens.app import KioskApp

    app = KioskApp(settings, font_path=font)
    runners: list[Any] = []
    actors: list[Any] = []  # closed at the end, even if a scenario took it from the app (face_replay)

    def opened(loader: TerminalLoader) -> None:  # on the loader's thread
        if loader.terminal is not None:
            try:
                app.simulated_face = _simulated_citizen(loader.terminal, loader.config)
            except Exception:  # the demo goes on without one; the terminal must still attach
                log.exception("the demo's simulated citizen could not start")
            actors.append(app.simulated_face)
        Clock.schedule_once(lambda _dt: attach(loader))

    def attach(loader: TerminalLoader) -> None:
        if loader.terminal is None:
            app.stop()  # run_ui raises the loader's error
            return
        app.attach(loader.terminal.controller)
        if scenario is not None:
            from screens.scenario import ScenarioRunner

            runner = ScenarioRunner(
                app, loader.terminal, scenario, artifacts or Path("artifacts"), server=server
            )
            runners.append(runner)
            runner.start()
        if on_ready is not None:
            on_ready(app, loader.terminal)

    loader = TerminalLoader(read_config, opened)

    def first_frame(*_args: Any) -> None:
        # The loader starts once the home screen's first frame is drawn (on the next clock tick:
        # on_flip comes before the buffer swap): its imports would otherwise share the CPU and
        # the GIL with it.
        Window.unbind(on_flip=first_frame)
        Clock.schedule_once(lambda _dt: loader.start())

    Window.bind(on_flip=first_frame)
    if on_start is not None:
        app.bind(on_start=lambda *_: on_start(app))
    with loader:
        try:
            app.run()
        finally:
            for actor in filter(None, actors):
                actor.close()
    if loader.error is not None:
        raise loader.error
    return runners[0].exit_code if runners else 0
