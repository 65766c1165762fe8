"""The kiosk draws its home screen before its terminal is open (screens.launch.run_ui with
kiosk.terminal_loader), in a real Kivy window under Xvfb.

The terminal's opening is held at a gate the script opens, so "before" and "after" are states the
test sets, not timings: the home screen is drawn and answers touches while the terminal is not
there; a tile tapped meanwhile asks the citizen to wait and is carried out once it is; systemd hears
READY=1 only then; and a terminal that cannot be opened ends the UI with its error, as before.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kivy_child import kiosk_report

WAIT_NOTICE = "正在准备，请稍候。"
ITEM = "KS-SAMPLE-JY-SY-0007"  # 失业登记, in 跨省通办专区


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return kiosk_report(__file__, tmp_path_factory, "_run", timeout=240)["checks"]


@pytest.fixture(scope="module")
def failed_start(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return kiosk_report(__file__, tmp_path_factory, "_run_failing", timeout=240)


@pytest.fixture(scope="module")
def bad_config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return kiosk_report(__file__, tmp_path_factory, "_run_bad_config", timeout=240)


@pytest.mark.ui
def test_home_is_drawn_and_answers_touches_before_the_terminal_opens(checks: dict[str, Any]) -> None:
    assert checks["home_drawn"] == {"terminal_ready": False, "tiles": 4}
    assert checks["english_home"] == {"terminal_ready": False, "switch": "lang:zh"}


@pytest.mark.ui
def test_a_tile_tapped_before_waits_then_opens_once_the_terminal_is_there(checks: dict[str, Any]) -> None:
    assert checks["tapped_early"] == {"screen": "home", "notice": [WAIT_NOTICE]}
    assert checks["after_terminal"] == {"screen": "catalog", "notice": [], "items": True}


@pytest.mark.ui
def test_systemd_hears_ready_only_once_the_terminal_is_open(checks: dict[str, Any]) -> None:
    assert checks["ready_before"] == []
    assert len(checks["ready_after"]) == 1


@pytest.mark.ui
def test_a_terminal_that_cannot_open_ends_the_ui_with_its_error(failed_start: dict[str, Any]) -> None:
    assert failed_start["home_drawn"] is True
    assert failed_start["raised"] == "ConfigError: devices.idcard: no such port (test)"


@pytest.mark.ui
def test_the_window_opens_from_the_files_ui_settings_which_are_the_validated_ones(
    checks: dict[str, Any],
) -> None:
    assert checks["settings"] == {"plain": True, "same": True}


@pytest.mark.ui
def test_a_config_invalid_beyond_its_ui_settings_ends_the_ui_with_load_configs_error(
    bad_config: dict[str, Any],
) -> None:
    # The window opened from the file's UI settings; validating the rest, behind it, failed.
    assert bad_config["home_drawn"] is True
    assert (
        bad_config["raised"].startswith("ConfigError: invalid config ")
        and "terminal.id" in bad_config["raised"]
    )


def _gate_terminal(gate: threading.Event | None, error: Exception | None = None) -> None:
    """kiosk.wiring.open_terminal (which the loader imports when it runs) waits for `gate`, or raises."""
    import kiosk.wiring

    real = kiosk.wiring.open_terminal

    @contextlib.contextmanager
    def gated(config: Any) -> Iterator[Any]:
        if error is not None:
            raise error
        assert gate is not None
        gate.wait(120)
        with real(config) as terminal:
            yield terminal

    kiosk.wiring.open_terminal = gated


def _notices() -> list[str]:
    """The texts of the modal views open over the window."""
    from kivy.core.window import Window
    from kivy.uix.label import Label
    from kivy.uix.modalview import ModalView

    views = [child for child in Window.children if isinstance(child, ModalView)]
    return [w.text for view in views for w in view.walk() if isinstance(w, Label) and w.text]


def _ready_received(sock: socket.socket) -> list[str]:
    """The READY=1 datagrams received so far (not the watchdog's pings)."""
    messages = []
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(sock.recv(4096).decode())
    return [message for message in messages if message.startswith("READY=1")]


def _run(report_path: Path, state_dir: Path) -> int:
    import os

    from kivy_child import WINDOW, Driver, Steps, demo_terminal_config, screenshot, shots_dir

    from kiosk.demo import write_demo_config
    from kiosk.logs import setup_logging
    from kiosk.ui_settings import UiSettings, from_file, read_ui_settings
    from screens.launch import run_ui

    setup_logging("WARNING")
    report: dict[str, Any] = {"checks": {}, "error": None}
    checks = report["checks"]
    gate = threading.Event()
    _gate_terminal(gate)
    state_dir.mkdir(parents=True)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(state_dir / "notify.sock"))
    notify.setblocking(False)
    os.environ["NOTIFY_SOCKET"] = str(state_dir / "notify.sock")

    def script(driver: Driver) -> Steps:
        app = driver.app
        yield from driver.on("home")
        tiles = [tid for tid in ("all", "query", "kuasheng", "elderly") if driver.find(f"tile:{tid}")]
        checks["home_drawn"] = {"terminal_ready": app.terminal_ready, "tiles": len(tiles)}
        yield from driver.tap("lang:en")
        yield from driver.wait(lambda: driver.find("lang:zh") is not None, "the English home")
        checks["english_home"] = {"terminal_ready": app.terminal_ready, "switch": "lang:zh"}
        yield from driver.tap("lang:zh")
        yield from driver.tap("tile:kuasheng")
        yield from driver.frames(3)
        checks["tapped_early"] = {"screen": app.manager.current, "notice": _notices()}
        screenshot(shots_dir("HOME_FIRST_SHOTS"), "waiting")  # looked at by hand
        checks["ready_before"] = _ready_received(notify)
        gate.set()  # the terminal may open now
        yield from driver.on("catalog")
        listed = driver.find(f"item:{ITEM}") is not None
        checks["after_terminal"] = {"screen": app.manager.current, "notice": _notices(), "items": listed}
        yield from driver.frames(3)
        checks["ready_after"] = _ready_received(notify)

    def started(app: Any) -> None:
        app.bind(on_stop=lambda *_: gate.set())  # a failed script must not leave the loader waiting
        driver = Driver(app, scroll_padding=40)
        driver.play(script(driver), report, report_path, step_timeout_s=60)

    with demo_terminal_config(state_dir) as config:  # started as `kiosk run --config FILE` is
        path = write_demo_config(
            state_dir.parent / "kiosk.toml", state_dir, config.platform.base_url, window=WINDOW
        )
        settings, read_config = from_file(path)
        # The window was made from the file's UI settings read without pydantic, and they are the
        # validated config's.
        checks["settings"] = {
            "plain": read_ui_settings(path) == settings,
            "same": settings == UiSettings.of(config),
        }
        run_ui(settings, read_config, locked=False, on_start=started)
    return 0


def _run_failing(report_path: Path, state_dir: Path) -> int:
    """open_terminal raises (a device that cannot open)."""
    from kivy_child import demo_terminal_config

    from kiosk.config import ConfigError
    from kiosk.ui_settings import UiSettings

    _gate_terminal(None, ConfigError("devices.idcard: no such port (test)"))
    with demo_terminal_config(state_dir) as config:
        return _failing_start(report_path, UiSettings.of(config), lambda: config)


def _run_bad_config(report_path: Path, state_dir: Path) -> int:
    """A kiosk.toml whose UI settings read plainly, but with an invalid terminal id elsewhere."""
    from kiosk.demo import write_demo_config
    from kiosk.ui_settings import from_file

    path = write_demo_config(
        state_dir.parent / "kiosk.toml", state_dir, "http://127.0.0.1:1", window=(540, 960)
    )
    path.write_text(path.read_text("utf-8").replace('id = "T', 'id = "X', 1), "utf-8")
    return _failing_start(report_path, *from_file(path))


def _failing_start(report_path: Path, settings: Any, read_config: Any) -> int:
    from kivy_child import write_report

    from kiosk.config import ConfigError
    from kiosk.logs import setup_logging
    from screens.launch import run_ui

    setup_logging("CRITICAL")  # the failure below is the point
    report: dict[str, Any] = {"error": None, "home_drawn": False, "raised": None}

    def started(app: Any) -> None:
        from kivy.core.window import Window

        def drawn(*_args: Any) -> None:
            report["home_drawn"] = app.manager.current == "home"
            Window.unbind(on_flip=drawn)

        Window.bind(on_flip=drawn)

    try:
        run_ui(settings, read_config, locked=False, on_start=started)
        report["error"] = "run_ui returned without raising the loader's error"
    except ConfigError as err:
        report["raised"] = f"{type(err).__name__}: {err}"
    write_report(report_path, report)
    return 0
