"""`kiosk provision install [--root DIR]`: the service user, directories, units, udev rules, tmpfiles and
the cage session, laid out from the files in systemd/.

Everything is first computed as a list of entries (file, symlink, directory), then applied; applying the
same list twice changes nothing (a file is rewritten only when its bytes or mode differ), so install is
idempotent and `--root` stages the very tree a terminal gets (tests, image building). On the live system
(`--root /` as root) it then runs systemd-sysusers, systemd-tmpfiles, udevadm and systemctl daemon-reload;
staged, it only says what it left for first boot (sysusers.d and tmpfiles.d do the rest there).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SYSTEMD_SRC = Path(__file__).resolve().parent.parent / "systemd"
KIOSK_BIN = "/usr/local/bin/kiosk"  # what the units and the session run; a wrapper when kiosk is elsewhere
UNIT_DIR = "usr/lib/systemd/system"

# Stable names (/dev/kiosk-…) and the udev subsystem each role's device node is in.
UDEV_ROLES: dict[str, tuple[str, str]] = {
    "idcard": ("tty", "kiosk-idcard"),
    "printer": ("tty", "kiosk-printer"),
    "scanner": ("tty", "kiosk-scanner"),
    "face_camera": ("video4linux", "kiosk-face-camera"),
    "document_camera": ("video4linux", "kiosk-document-camera"),
    "usb_printer": ("usbmisc", "kiosk-usb-printer"),  # /dev/usb/lp* (file://) and the usb device (usb://)
}


class InstallError(ValueError):
    pass


@dataclass(frozen=True)
class UdevDevice:
    role: str
    vid: str
    pid: str
    serial: str | None = None

    @classmethod
    def parse(cls, text: str) -> UdevDevice:
        """`ROLE=VID:PID[:SERIAL]`, e.g. `idcard=1a86:7523` or `printer=0416:5011:A1234`."""
        m = re.fullmatch(r"([a-z_]+)=([0-9a-fA-F]{4}):([0-9a-fA-F]{4})(?::([\w.-]+))?", text.strip())
        if not m:
            raise InstallError(f"--udev {text!r}: expected ROLE=VID:PID[:SERIAL], e.g. idcard=1a86:7523")
        role, vid, pid, serial = m.groups()
        if role not in UDEV_ROLES:
            raise InstallError(f"--udev {text!r}: role must be one of {', '.join(UDEV_ROLES)}")
        return cls(role, vid.lower(), pid.lower(), serial)


@dataclass
class Entry:
    path: str  # relative to the root
    kind: str  # "file", "symlink", "dir"
    content: bytes = b""
    target: str = ""
    mode: int = 0o644


@dataclass
class Result:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- what goes where -------------------------------------------------------------------------------


def udev_rules(devices: list[UdevDevice]) -> str:
    """Stable symlinks owned by group kiosk, so config names /dev/kiosk-idcard whatever ttyUSBn it got."""
    lines = [
        "# Stable names for the kiosk's devices (written by `kiosk provision install`).",
        "# Config then names them: serial:///dev/kiosk-idcard?baud=115200, v4l2:///dev/kiosk-face-camera, …",
    ]
    seen: dict[tuple[str, str, str], str] = {}
    for dev in sorted(devices, key=lambda d: d.role):
        subsystem, name = UDEV_ROLES[dev.role]
        match = f'ATTRS{{idVendor}}=="{dev.vid}", ATTRS{{idProduct}}=="{dev.pid}"'
        if dev.serial:
            match += f', ATTRS{{serial}}=="{dev.serial}"'
        key = (subsystem, f"{dev.vid}:{dev.pid}", dev.serial or "")
        if key in seen:
            raise InstallError(
                f"{dev.role} and {seen[key]} are both {dev.vid}:{dev.pid} on {subsystem}: add the USB serial "
                f"number (ROLE=VID:PID:SERIAL, see `udevadm info /dev/ttyUSB0`) so udev can tell them apart"
            )
        seen[key] = dev.role
        own = 'OWNER="kiosk", GROUP="kiosk", MODE="0660"'
        if subsystem == "video4linux":  # index0 is the capture node; index1 is UVC metadata
            lines.append(f'SUBSYSTEM=="video4linux", {match}, ATTR{{index}}=="0", SYMLINK+="{name}", {own}')
        elif subsystem == "usbmisc":
            lines.append(f'SUBSYSTEM=="usbmisc", KERNEL=="lp*", {match}, SYMLINK+="{name}", {own}')
            lines.append(
                f'SUBSYSTEM=="usb", ENV{{DEVTYPE}}=="usb_device", ATTR{{idVendor}}=="{dev.vid}", '
                f'ATTR{{idProduct}}=="{dev.pid}", {own}'
            )
        else:
            lines.append(f'SUBSYSTEM=="tty", {match}, SYMLINK+="{name}", {own}')
    if not devices:
        lines.append("# No device given (--udev ROLE=VID:PID or --detect): nothing to rename yet.")
    return "\n".join(lines) + "\n"


def rotation_for(config_path: Path | None, panel: str, rotation: int | None) -> int:
    """Degrees clockwise: given, or 90 when [ui] orientation differs from the panel's native one."""
    if rotation is not None:
        if rotation not in (0, 90, 180, 270):
            raise InstallError("--rotation must be 0, 90, 180 or 270")
        return rotation
    if config_path is None or not config_path.is_file():
        return 0
    try:
        ui = tomllib.loads(config_path.read_text(encoding="utf-8")).get("ui", {})
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InstallError(f"cannot read [ui] from {config_path}: {err}") from None
    return 0 if ui.get("orientation", "portrait") == panel else 90


def cage_has_rotate_flag(cage: str | None = None) -> bool:
    """cage 0.1.4 (Debian 12) rotates with -r; 0.1.5 (Ubuntu 24.04) dropped it for wlr-randr."""
    cage = cage or shutil.which("cage")
    if cage is None:
        return False
    try:
        out = subprocess.run([cage, "-h"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(re.search(r"^\s*-r\b", out.stdout + out.stderr, re.MULTILINE))


def session_env(rotation: int, rotate_flag: bool) -> str:
    lines = [
        "# Screen rotation for the kiosk session (written by `kiosk provision install`, see kiosk.service).",
        f"KIOSK_ROTATION={rotation}",
        f"KIOSK_CAGE_ARGS={' '.join(['-r'] * (rotation // 90)) if rotate_flag else ''}",
    ]
    return "\n".join(lines) + "\n"


def plan(
    *,
    kiosk_bin: str,
    udev: list[UdevDevice],
    rotation: int,
    rotate_flag: bool,
    write_wrapper: bool,
) -> list[Entry]:
    src = SYSTEMD_SRC
    entries = [
        Entry("etc/kiosk", "dir", mode=0o750),
        Entry("etc/kiosk/secrets", "dir", mode=0o700),
        Entry("var/lib/kiosk", "dir", mode=0o750),
        Entry("var/lib/kiosk/secrets", "dir", mode=0o700),
        Entry("var/log/kiosk", "dir", mode=0o750),
        Entry("usr/lib/sysusers.d/kiosk.conf", "file", (src / "kiosk.sysusers").read_bytes()),
        Entry("usr/lib/tmpfiles.d/kiosk.conf", "file", (src / "kiosk.tmpfiles").read_bytes()),
        Entry(f"{UNIT_DIR}/kiosk.service", "file", (src / "kiosk.service").read_bytes()),
        Entry(f"{UNIT_DIR}/kiosk-agent.service", "file", (src / "kiosk-agent.service").read_bytes()),
        Entry("usr/lib/kiosk/kiosk-session", "file", (src / "kiosk-session").read_bytes(), mode=0o755),
        Entry("etc/kiosk/session.env", "file", session_env(rotation, rotate_flag).encode(), mode=0o644),
        Entry("etc/udev/rules.d/70-kiosk.rules", "file", udev_rules(udev).encode()),
        # Enabled the way `systemctl enable` would, so a staged image boots into the kiosk.
        Entry(
            "etc/systemd/system/multi-user.target.wants/kiosk-agent.service",
            "symlink",
            target=f"/{UNIT_DIR}/kiosk-agent.service",
        ),
        Entry(
            "etc/systemd/system/graphical.target.wants/kiosk.service",
            "symlink",
            target=f"/{UNIT_DIR}/kiosk.service",
        ),
        Entry("etc/systemd/system/default.target", "symlink", target=f"/{UNIT_DIR}/graphical.target"),
        # No login prompt behind the kiosk on tty1.
        Entry("etc/systemd/system/getty@tty1.service", "symlink", target="/dev/null"),
    ]
    if write_wrapper:
        wrapper = (
            f'#!/bin/sh\n# kiosk as installed (written by `kiosk provision install`)\nexec {kiosk_bin} "$@"\n'
        )
        entries.append(Entry(KIOSK_BIN.lstrip("/"), "file", wrapper.encode(), mode=0o755))
    return entries


# -- applying it -----------------------------------------------------------------------------------


def _apply(root: Path, entry: Entry) -> bool:
    """True when something changed."""
    path = root / entry.path
    if entry.kind == "dir":
        if path.is_dir() and not path.is_symlink() and (path.stat().st_mode & 0o7777) == entry.mode:
            return False
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(entry.mode)
        return True
    path.parent.mkdir(parents=True, exist_ok=True)
    if entry.kind == "symlink":
        if path.is_symlink() and os.readlink(path) == entry.target:
            return False
        tmp = path.with_name(f".{path.name}.new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(entry.target, tmp)
        os.replace(tmp, path)
        return True
    if (
        path.is_file()
        and not path.is_symlink()
        and path.read_bytes() == entry.content
        and (path.stat().st_mode & 0o7777) == entry.mode
    ):
        return False
    from provisioning.files import atomic_write

    atomic_write(path, entry.content, entry.mode)
    return True


def _run(cmd: list[str], notes: list[str]) -> None:
    if shutil.which(cmd[0]) is None:
        notes.append(f"{cmd[0]} not found: skipped `{' '.join(cmd)}`")
        return
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    if out.returncode != 0:
        notes.append(f"`{' '.join(cmd)}` failed: {out.stderr.strip()[:200]}")


def _activate_live(result: Result) -> None:
    """On the running system: the user (with its groups), directories, udev, systemd."""
    notes = result.notes
    if shutil.which("systemd-sysusers"):
        _run(["systemd-sysusers", "/usr/lib/sysusers.d/kiosk.conf"], notes)
    else:  # minimal images without systemd-sysusers
        _run(
            [
                "useradd",
                "--system",
                "--home-dir",
                "/var/lib/kiosk",
                "--shell",
                "/usr/sbin/nologin",
                "--groups",
                "dialout,video,input,lp",
                "kiosk",
            ],
            notes,
        )
    _run(["systemd-tmpfiles", "--create", "/usr/lib/tmpfiles.d/kiosk.conf"], notes)
    _run(["udevadm", "control", "--reload"], notes)
    _run(["udevadm", "trigger", "--action=add"], notes)
    _run(["systemctl", "daemon-reload"], notes)
    notes.append("start now with: systemctl start kiosk-agent kiosk (or reboot)")


def install(
    root: Path,
    *,
    kiosk_bin: str | None = None,
    udev: list[UdevDevice] | None = None,
    config: Path | None = None,
    panel: str = "landscape",
    rotation: int | None = None,
    rotate_flag: bool | None = None,
) -> Result:
    root = root.resolve()
    live = root == Path("/")
    kiosk_bin = kiosk_bin or shutil.which("kiosk") or KIOSK_BIN
    config_path = config if config is not None else root / "etc/kiosk/kiosk.toml"
    degrees = rotation_for(config_path, panel, rotation)
    rotate_flag = cage_has_rotate_flag() if rotate_flag is None else rotate_flag
    # A wrapper at /usr/local/bin/kiosk when kiosk lives elsewhere (a venv); never one that calls itself.
    write_wrapper = Path(kiosk_bin).resolve() != (root / KIOSK_BIN.lstrip("/")).resolve()
    result = Result()
    for entry in plan(
        kiosk_bin=kiosk_bin,
        udev=udev or [],
        rotation=degrees,
        rotate_flag=rotate_flag,
        write_wrapper=write_wrapper,
    ):
        (result.changed if _apply(root, entry) else result.unchanged).append(entry.path)
    if live and os.geteuid() == 0:
        _activate_live(result)
    elif live:
        result.notes.append(
            "not root: files only; run again as root to create user kiosk and reload udev/systemd"
        )
    else:
        result.notes.append(
            f"staged into {root}: user kiosk comes from usr/lib/sysusers.d/kiosk.conf and the directories' "
            "owners from usr/lib/tmpfiles.d/kiosk.conf at first boot (systemd-sysusers, systemd-tmpfiles)"
        )
    return result
