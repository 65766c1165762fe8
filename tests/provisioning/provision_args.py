"""argv and constants shared by the provisioning tests (a module of its own: `conftest` is not importable
by name once several test folders have one)."""

from __future__ import annotations

from pathlib import Path

from kiosk.paths import ASSETS

TERMINAL = "T4115020001"
IDENTITIES_FILE = ASSETS / "demo" / "identities.json"


def configure_argv(directory: Path, platform_url: str, devices: dict[str, str], **extra: str) -> list[str]:
    """argv for `kiosk provision configure` writing `<directory>/kiosk.toml` with state in the directory."""
    argv = [
        "provision",
        "configure",
        "--config",
        str(directory / "kiosk.toml"),
        "--terminal-id",
        TERMINAL,
        "--region-code",
        "411502",
        "--hall-name",
        "信阳市浉河区政务服务中心",
        "--platform-url",
        platform_url,
        "--secret-file",
        str(directory / "secrets" / "app_secret"),
        "--state-dir",
        str(directory / "state"),
        "--detector-model",
        str(directory / "models" / "yunet.onnx"),
    ]
    for name, url in devices.items():
        argv += ["--device", f"{name}={url}"]
    for flag, value in extra.items():
        argv += [f"--{flag.replace('_', '-')}", value]
    return argv
