"""Writing provisioned files: atomically (never half a config or secret on disk), with the mode set before
the content lands, and owned by the service user when we can."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

from kiosk.atomic_file import atomic_write

__all__ = ["SERVICE_USER", "atomic_write", "give_to_service_user", "service_ids"]

SERVICE_USER = "kiosk"


def service_ids(user: str = SERVICE_USER) -> tuple[int, int] | None:
    """(uid, gid) of the service user when it exists, else None."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def service_gid(group: str = SERVICE_USER) -> int | None:
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def give_to_service_user(path: Path, *, group_only: bool = False) -> str | None:
    """chown `path` to kiosk:kiosk (or root:kiosk with `group_only`) when running as root and the user
    exists. Returns a note for the technician when it could not, None when done."""
    if os.geteuid() != 0:
        return f"not root: {path} stays owned by uid {os.geteuid()}; run as root to give it to {SERVICE_USER}"
    ids = service_ids()
    if ids is None:
        return (
            f"user {SERVICE_USER} does not exist yet: {path} stays root's until `kiosk provision install` "
            "(its tmpfiles.d entry) hands it over"
        )
    uid, gid = ids
    os.chown(path, 0 if group_only else uid, gid)
    return None
