"""`kiosk provision configure`: the terminal's kiosk.toml from a technician's flags, validated by the very
loader `kiosk run` uses before it replaces anything on disk."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiosk.config import Config, ConfigError, load_config, parse_config
from kiosk.wiring import REQUIRED_DEVICES
from provisioning.files import atomic_write, give_to_service_user
from provisioning.regions import check_region

CONFIG_MODE = 0o640  # root:kiosk — the service reads it, nobody else; it names the secret's path
DEFAULT_DETECTOR = Path("/usr/share/kiosk/models/face_detection_yunet_2023mar.onnx")
KNOWN_ROLES = ("idcard", "printer", "a4_printer", "scanner")  # plus any name ending in "camera"


class ConfigureError(ValueError):
    """Refused input; the message names the flag and what to do."""


@dataclass
class Answers:
    """What the technician gives; everything else takes the documented defaults."""

    terminal_id: str
    region_code: str
    hall_name: str
    platform_url: str
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    secret_file: Path = Path("/etc/kiosk/secrets/app_secret")
    state_dir: Path = Path("/var/lib/kiosk")
    detector_model: Path = DEFAULT_DETECTOR
    orientation: str = "portrait"
    size: tuple[int, int] = (1080, 1920)
    allow_unlisted_region: bool = False


def parse_device_flag(text: str) -> tuple[str, str]:
    """`NAME=URL` (e.g. `printer=tcp://192.168.1.50:9100`)."""
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise ConfigureError(f"--device {text!r}: expected NAME=URL, e.g. idcard=serial:///dev/kiosk-idcard")
    return name.strip(), url.strip()


def parse_option_flag(text: str) -> tuple[str, str, Any]:
    """`NAME.KEY=VALUE` (e.g. `printer.paper_mm=58`); numbers and true/false are typed."""
    m = re.fullmatch(r"([a-z0-9_]+)\.([a-z0-9_]+)=(.*)", text)
    if not m:
        raise ConfigureError(f"--device-option {text!r}: expected NAME.KEY=VALUE, e.g. printer.paper_mm=58")
    name, key, raw = m.groups()
    value: Any = raw
    if raw in ("true", "false"):
        value = raw == "true"
    elif re.fullmatch(r"-?\d+", raw):
        value = int(raw)
    elif re.fullmatch(r"-?\d+\.\d+", raw):
        value = float(raw)
    return name, key, value


def _check_roles(devices: Mapping[str, Any]) -> None:
    unknown = [n for n in devices if n not in KNOWN_ROLES and not n.endswith("camera")]
    if unknown:
        raise ConfigureError(
            f"unknown device name(s) {', '.join(unknown)}: use idcard, printer, a4_printer, scanner, "
            "face_camera, document_camera"
        )
    missing = [n for n in REQUIRED_DEVICES if n not in devices]
    if missing:
        raise ConfigureError(
            "the kiosk needs "
            + ", ".join(missing)
            + ": add --device "
            + " --device ".join(f"{n}=URL" for n in missing)
            + " (see `kiosk provision detect`)"
        )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # JSON string escapes are valid TOML basic-string escapes; Chinese stays readable.
    return json.dumps(str(value), ensure_ascii=False)


def render_toml(
    data: Mapping[str, Mapping[str, Any]],
    header: str = "Written by `kiosk provision configure`; see README.md, Configuration.",
) -> str:
    """Two levels (`[section]` and `[devices.name]`) are all kiosk.toml has."""
    out = [f"# {header}", ""]
    for section, values in data.items():
        nested = {k: v for k, v in values.items() if isinstance(v, Mapping)}
        flat = {k: v for k, v in values.items() if not isinstance(v, Mapping)}
        if flat or not nested:
            out.append(f"[{section}]")
            out += [f"{key} = {_toml_value(value)}" for key, value in flat.items()]
            out.append("")
        for name, sub in nested.items():
            out.append(f"[{section}.{name}]")
            out += [f"{key} = {_toml_value(value)}" for key, value in sub.items()]
            out.append("")
    return "\n".join(out)


def build(answers: Answers) -> tuple[str, str]:
    """(TOML text, region's full name); ConfigureError / ConfigError on bad input."""
    try:
        region_name = check_region(answers.region_code, allow_unlisted=answers.allow_unlisted_region)
    except ValueError as err:
        raise ConfigureError(f"--region-code: {err}") from None
    _check_roles(answers.devices)
    data: dict[str, dict[str, Any]] = {
        "terminal": {
            "id": answers.terminal_id,
            "region_code": answers.region_code,
            "hall_name": answers.hall_name,
        },
        "platform": {
            "base_url": answers.platform_url,
            "terminal_id": answers.terminal_id,
            "secret_file": str(answers.secret_file),
        },
        "storage": {"state_dir": str(answers.state_dir)},
        "devices": {name: dict(dev) for name, dev in answers.devices.items()},
        "face": {"detector_model": str(answers.detector_model)},
        "ui": {"size": list(answers.size), "orientation": answers.orientation, "fullscreen": True},
    }
    text = render_toml(data)
    parse_config(tomllib.loads(text), source="(flags)")  # the real schema, before anything is written
    return text, region_name


def write(answers: Answers, path: Path) -> tuple[Config, list[str], bool]:
    """Validate, write atomically (0640), load it back with the real loader. Returns the config, notes for
    the technician (ownership that could not be set, …) and whether the file changed (a rerun with the
    same answers leaves it alone: Ansible reports "ok", nothing restarts)."""
    text, _ = build(answers)
    data = text.encode("utf-8")
    same = path.is_file() and path.read_bytes() == data and (path.stat().st_mode & 0o777) == CONFIG_MODE
    if not same:
        atomic_write(path, data, CONFIG_MODE)
    notes = [n for n in [give_to_service_user(path, group_only=True)] if n]
    try:
        config = load_config(path)
    except ConfigError as err:  # cannot happen after build() unless the disk lies; say so plainly
        raise ConfigureError(f"wrote {path} but it does not load back: {err}") from None
    return config, notes, not same
