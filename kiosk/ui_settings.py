"""What the window and the home screen need before the terminal opens, read without pydantic.

Validating the whole config imports pydantic and builds its models (~0.1 s on the 2-core reference
machine): the UI's cold start waited for it before opening its window. `from_file` reads the few
values the window and home need straight from the TOML and leaves the full validation to the
terminal's loader thread (screens.launch). When those values are not plainly right, it validates the
file at once instead, so a bad file is reported exactly as before, before any window opens.

kiosk.config takes its UI defaults from here: one place for them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiosk.config import Config

DEFAULT_CONFIG_PATH = Path("/etc/kiosk/kiosk.toml")
DEFAULT_SIZE = (1080, 1920)
ORIENTATIONS = ("portrait", "landscape")
DEFAULT_ORIENTATION = "portrait"
DEFAULT_FULLSCREEN = True
HALL_NAME_MAX = 60
UI_KEYS = frozenset({"size", "orientation", "fullscreen", "font"})  # kiosk.config.UiConfig's fields


class ConfigError(Exception):
    """The config file is missing, unreadable or invalid; the message names the file and the key."""


@dataclass(frozen=True)
class UiSettings:
    hall_name: str  # [terminal] hall_name, shown on home and 暂停服务
    state_dir: Path  # [storage] state_dir (the voice prompts live under it)
    size: tuple[int, int] = DEFAULT_SIZE
    orientation: str = DEFAULT_ORIENTATION
    fullscreen: bool = DEFAULT_FULLSCREEN
    font: Path | None = None

    @classmethod
    def of(cls, config: Config) -> UiSettings:
        ui = config.ui
        size = (ui.size[0], ui.size[1])
        return cls(
            config.terminal.hall_name, config.storage.state_dir, size, ui.orientation, ui.fullscreen, ui.font
        )


def read_ui_settings(path: Path) -> UiSettings | None:
    """The file's UI settings, or None when the file cannot be read or they are not plainly valid
    (full validation then says what is wrong). Relative paths are relative to the file's folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    base = path.parent.resolve()
    ui, hall, state_dir = (
        data.get("ui", {}),
        _get(data, "terminal", "hall_name"),
        _get(data, "storage", "state_dir"),
    )
    if not isinstance(ui, dict) or not isinstance(hall, str) or not isinstance(state_dir, str):
        return None
    size = ui.get("size", list(DEFAULT_SIZE))
    orientation = ui.get("orientation", DEFAULT_ORIENTATION)
    fullscreen = ui.get("fullscreen", DEFAULT_FULLSCREEN)
    font = ui.get("font")
    plain = (
        ui.keys() <= UI_KEYS  # a misspelt key: validation names it before the window opens
        and 0 < len(hall) <= HALL_NAME_MAX
        and state_dir != ""
        and isinstance(size, list)
        and len(size) == 2
        and all(type(v) is int and v > 0 for v in size)
        and orientation in ORIENTATIONS
        and isinstance(fullscreen, bool)
        and (font is None or (isinstance(font, str) and font != ""))
    )
    if not plain:
        return None
    return UiSettings(
        hall,
        base / state_dir,  # an absolute state_dir stays as it is
        (size[0], size[1]),
        orientation,
        fullscreen,
        None if font is None else base / font,
    )


def _get(data: dict[str, Any], section: str, key: str) -> Any:
    values = data.get(section)
    return values.get(key) if isinstance(values, dict) else None


def from_file(path: Path) -> tuple[UiSettings, Callable[[], Config]]:
    """The UI settings now, and how the terminal's loader gets the whole config later. Raises
    ConfigError now only when the settings themselves could not be read plainly."""
    from_toml = read_ui_settings(path)
    if from_toml is None:
        from kiosk.config import load_config

        config = load_config(path)  # the error names the file and the key
        return UiSettings.of(config), lambda: config

    def load() -> Config:
        from kiosk.config import load_config

        return load_config(path)

    return from_toml, load
