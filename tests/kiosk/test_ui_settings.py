"""kiosk.ui_settings: the window's and home screen's settings read from kiosk.toml without pydantic
are the ones full validation gives; anything not plainly right sends the start to full validation,
whose error names the key, before any window opens."""

from pathlib import Path
from typing import get_args

import pytest
from test_config import GOOD, write

from kiosk.config import ConfigError, UiConfig, load_config
from kiosk.demo import write_demo_config
from kiosk.ui_settings import DEFAULT_SIZE, ORIENTATIONS, UI_KEYS, UiSettings, from_file, read_ui_settings

UI = """
[ui]
size = [1920, 1080]
orientation = "landscape"
fullscreen = false
font = "fonts/ui.ttf"
"""


def _same_as_validated(path: Path) -> UiSettings:
    read = read_ui_settings(path)
    assert read is not None
    assert read == UiSettings.of(load_config(path))
    return read


def test_defaults_are_the_validated_ones(tmp_path: Path) -> None:
    read = _same_as_validated(write(tmp_path, GOOD))
    assert read.size == DEFAULT_SIZE and read.font is None and read.state_dir == Path("/var/lib/kiosk")
    assert get_args(UiConfig.model_fields["orientation"].annotation) == ORIENTATIONS
    assert set(UiConfig.model_fields) == UI_KEYS


def test_set_values_and_relative_paths_are_the_validated_ones(tmp_path: Path) -> None:
    text = GOOD.replace('state_dir = "/var/lib/kiosk"', 'state_dir = "state"') + UI
    read = _same_as_validated(write(tmp_path, text))
    assert read == UiSettings(
        "信阳市浉河区政务服务中心",
        tmp_path.resolve() / "state",
        (1920, 1080),
        "landscape",
        False,
        tmp_path.resolve() / "fonts" / "ui.ttf",
    )


def test_the_demo_terminals_file_reads_plainly(tmp_path: Path) -> None:
    path = write_demo_config(
        tmp_path / "kiosk.toml", tmp_path / "state", "http://127.0.0.1:1", window=(720, 1280)
    )
    assert _same_as_validated(path).size == (720, 1280)


@pytest.mark.parametrize(
    ("change", "named_key"),
    [
        (('orientation = "landscape"', 'orientation = "sideways"'), "ui.orientation"),
        (("size = [1920, 1080]", 'size = ["wide", 1080]'), "ui.size"),
        (("fullscreen = false", 'fullscreen = "perhaps"'), "ui.fullscreen"),
        (('hall_name = "信阳市浉河区政务服务中心"', 'hall_name = ""'), "terminal.hall_name"),
        (("fullscreen = false", "fulscreen = false"), "ui.fulscreen"),
    ],
)
def test_what_is_not_plainly_right_is_validated_at_once(
    tmp_path: Path, change: tuple[str, str], named_key: str
) -> None:
    path = write(tmp_path, (GOOD + UI).replace(*change))
    assert read_ui_settings(path) is None
    with pytest.raises(ConfigError, match=named_key.replace(".", r"\.")):
        from_file(path)


def test_a_missing_or_malformed_file_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        from_file(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        from_file(write(tmp_path, "[ui\nsize = 1"))


def test_the_rest_of_the_file_is_validated_when_the_loader_reads_it(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('id = "T4115020001"', 'id = "bad"'))
    settings, read_config = from_file(path)  # the window can open: its settings are plain
    assert settings.hall_name == "信阳市浉河区政务服务中心"
    with pytest.raises(ConfigError, match=r"terminal\.id"):
        read_config()
    good = write(tmp_path, GOOD)
    assert from_file(good)[1]() == load_config(good)
