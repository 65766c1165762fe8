"""`kiosk maintenance …`: the technician PIN of maintenance mode on the kiosk screen.

`set-pin` reads the PIN twice (from the terminal without echo, or two lines on stdin), or once from
`--pin-file`; never from the command line, where `ps` and the shell history would keep it. Only the
scrypt hash is written (`[maintenance] pin_file`, default `<state_dir>/secrets/maintenance_pin`).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from kiosk.cli_common import config_arg, json_arg


def add_maintenance_commands(sub: argparse._SubParsersAction) -> None:
    maintenance = sub.add_parser("maintenance", help="maintenance mode: the technician PIN")
    msub = maintenance.add_subparsers(dest="maintenance_command", required=True, metavar="ACTION")
    # allow_abbrev=False: `--pin 123456` must be refused, not taken as `--pin-file 123456`
    set_pin = msub.add_parser(
        "set-pin", help="set the technician PIN (asked twice; 6–12 digits)", allow_abbrev=False
    )
    config_arg(set_pin)
    set_pin.add_argument("--pin-file", type=Path, help="read the PIN from this file (first line)")
    set_pin.set_defaults(handler=cmd_set_pin)
    status = msub.add_parser("status", help="whether a PIN is set and whether it is locked")
    config_arg(status)
    json_arg(status)
    status.set_defaults(handler=cmd_status)


def _read_pin(args: argparse.Namespace) -> str | None:
    if args.pin_file is not None:
        lines = args.pin_file.read_text(encoding="utf-8").splitlines()
        return lines[0].strip() if lines else ""
    if sys.stdin.isatty():
        first = getpass.getpass("维护密码 (6–12 位数字): ")
        second = getpass.getpass("再输入一次: ")
    else:
        first, second = sys.stdin.readline().strip(), sys.stdin.readline().strip()
    return first if first == second else None


def cmd_set_pin(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.maintenance_pin import PinError, check_pin_rules, pin_path, write_pin_file

    config = load_config(args.config)
    pin = _read_pin(args)
    if pin is None:
        print("kiosk: the two PINs differ; nothing was changed", file=sys.stderr)
        return 2
    try:
        check_pin_rules(pin)
    except PinError as err:
        print(f"kiosk: {err}", file=sys.stderr)
        return 2
    path = pin_path(config)
    write_pin_file(path, pin)
    note = _give_to_service_group(path)
    print(f"maintenance PIN set (scrypt hash in {path})")
    if note:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _give_to_service_group(path: Path) -> str | None:
    """root:kiosk 0640: the kiosk reads the hash, only root changes it."""
    from provisioning.files import give_to_service_user

    return give_to_service_user(path, group_only=True)


def cmd_status(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.maintenance_pin import PinGuard, pin_path
    from kiosk.state import StateDB

    config = load_config(args.config)
    with StateDB(config.storage.state_db) as state:
        status = PinGuard(pin_path(config), state).status()
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
    else:
        locked = f"locked for {status['locked_for_s']} s" if status["locked_for_s"] else "not locked"
        print(f"PIN {'set' if status['pin_set'] else 'NOT set'} ({status['pin_file']}); {locked}; "
              f"{status['failures']} failed tries")  # fmt: skip
    return 0
