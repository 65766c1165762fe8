"""A terminal config file for tests: the demo terminal's identity, the given platform and files."""

from __future__ import annotations

from pathlib import Path


def write_terminal_toml(
    directory: Path,
    *,
    base_url: str,
    secret_file: Path | str,
    detector_model: Path | str,
    platform_extra: str = "",
    extra: str = "",
) -> Path:
    """`<directory>/kiosk.toml` with state in `<directory>/state`; `platform_extra` lines go in
    `[platform]`, `extra` sections at the end."""
    path = directory / "kiosk.toml"
    path.write_text(
        f"""
[terminal]
id = "T4115020001"
region_code = "411502"
hall_name = "测试大厅"
[platform]
base_url = "{base_url}"
terminal_id = "T4115020001"
secret_file = "{secret_file}"
{platform_extra}
[storage]
state_dir = "{directory / "state"}"
[face]
detector_model = "{detector_model}"
{extra}""",
        encoding="utf-8",
    )
    return path
