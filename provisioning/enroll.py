"""`kiosk provision enroll --token T`: platform-api §5.1 once per terminal, then the two secrets on disk.

The `app_secret` signs every request and verifies the platform's commands: it goes to
`[platform] secret_file`, one line of hex, mode 0600, owned by the service user, and is never printed or
logged. The outbox key (32 random bytes, `[storage] key_file`) is created the same way, before the first
citizen's case needs it. A terminal that already has a secret is not re-enrolled without `--force`: the
token is single use, and a new secret silently replacing a working one would cut the terminal off.
"""

from __future__ import annotations

import os
import platform as host
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from kiosk.config import Config
from kiosk.outbox import KEY_BYTES, load_or_create_key
from kiosk.platform.client import PlatformClient
from kiosk.platform.errors import PlatformError
from provisioning.files import atomic_write, give_to_service_user

SECRET_MODE = 0o600
SECRETS_DIR_MODE = 0o700
_NO_SECRET_YET = "0" * 64  # §5.1 is unsigned; the client wants a secret to exist


class EnrollError(RuntimeError):
    """Enrolment did not happen (or the secret could not be stored); the message says what to do."""


@dataclass
class Enrolment:
    heartbeat_interval_s: int
    catalog_version: str
    secret_file: Path
    key_file: Path
    notes: list[str] = field(default_factory=list)


def _read_first(*paths: str) -> str | None:
    for path in paths:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if value:
            return value
    return None


def hardware(config: Config, model: str | None = None, serial: str | None = None) -> dict[str, object]:
    """§5.1 `hardware`: the PC's model and serial from DMI (serial needs root), else the machine id."""
    return {
        "model": model or _read_first("/sys/class/dmi/id/product_name") or host.machine(),
        "serial": serial or _read_first("/sys/class/dmi/id/product_serial", "/etc/machine-id") or host.node(),
        "devices": sorted(config.devices),
    }


def enroll(
    config: Config,
    token: str,
    *,
    force: bool = False,
    model: str | None = None,
    serial: str | None = None,
    client: PlatformClient | None = None,
) -> Enrolment:
    secret_file = config.platform.secret_file
    if secret_file.exists() and not force:
        raise EnrollError(
            f"{secret_file} already holds a secret: this terminal is enrolled. Use --force to enrol again "
            "with a new token (the old secret stops working)"
        )
    p = config.platform
    client = client or PlatformClient(
        p.base_url,
        p.terminal_id,
        _NO_SECRET_YET,
        connect_timeout_s=p.connect_timeout_s,
        read_timeout_s=p.read_timeout_s,
        ca_file=p.ca_file,
        client_cert=p.client_cert_pair,
    )
    try:
        result = client.enroll(
            token,
            p.terminal_id,
            config.terminal.hall_name,
            config.terminal.region_code,
            hardware(config, model, serial),
            metadata.version("kiosk"),
        )
    except PlatformError as err:
        hint = " (token unknown or already used: ask the platform for a new one)" if err.code == 40302 else ""
        raise EnrollError(f"enrolment refused: {err.code} {err.message}{hint}") from None
    finally:
        client.close()

    notes = _store_secret(secret_file, result.app_secret)
    key_file = config.storage.outbox_key_file
    _prepare_dir(key_file.parent, notes)
    try:
        key = load_or_create_key(key_file)  # the outbox's own routine: same mode, same checks
    except (OSError, ValueError) as err:
        raise EnrollError(f"enrolled, but the outbox key {key_file} could not be created: {err}") from None
    if len(key) != KEY_BYTES:  # pragma: no cover - load_or_create_key checks this already
        raise EnrollError(f"outbox key {key_file} has the wrong size")
    notes += [n for n in [give_to_service_user(key_file)] if n]
    return Enrolment(result.heartbeat_interval_s, result.catalog_version, secret_file, key_file, notes)


def _prepare_dir(directory: Path, notes: list[str]) -> None:
    if not directory.exists():
        directory.mkdir(parents=True, mode=SECRETS_DIR_MODE)
        note = give_to_service_user(directory)
        if note and note not in notes:
            notes.append(note)


def _store_secret(path: Path, secret: str) -> list[str]:
    notes: list[str] = []
    _prepare_dir(path.parent, notes)
    try:
        atomic_write(path, (secret + "\n").encode("ascii"), SECRET_MODE)
    except OSError as err:
        raise EnrollError(
            f"enrolled, but {path} could not be written ({err.strerror}): the secret is lost; "
            "ask the platform for a new token"
        ) from None
    note = give_to_service_user(path)
    if note:
        notes.append(note)
    if os.stat(path).st_mode & 0o077:  # pragma: no cover - atomic_write sets 0600
        raise EnrollError(f"{path} is readable by others")
    return notes
