"""`kiosk provision …`: the technician's commands, in the order a terminal is provisioned:
detect → configure → install → enroll → selftest. The work is done in provisioning/ (loaded lazily, so
`kiosk --help` stays light); this module only parses flags and prints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kiosk.cli_common import config_arg, json_arg
from kiosk.ui_settings import DEFAULT_CONFIG_PATH


def add_provision_commands(sub: argparse._SubParsersAction) -> None:
    provision = sub.add_parser("provision", help="turn a fresh PC into an enrolled, self-tested terminal")
    psub = provision.add_subparsers(dest="provision_command", required=True, metavar="ACTION")

    detect = psub.add_parser("detect", help="find serial devices, cameras and CUPS queues; propose config")
    detect.add_argument("--port", action="append", default=[], help="also probe this port (e.g. a pty)")
    detect.add_argument("--timeout", type=float, default=0.3, help="seconds to wait for each probe's reply")
    detect.add_argument("--baud", type=int, action="append", default=None, help="only these line speeds")
    detect.add_argument("--v4l-dir", type=Path, default=Path("/dev/v4l/by-id"), help=argparse.SUPPRESS)
    json_arg(detect)
    detect.set_defaults(handler=cmd_detect)

    configure = psub.add_parser("configure", help="write kiosk.toml from flags and validate it")
    configure.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="file to write")
    configure.add_argument("--terminal-id", required=True, help="e.g. T4115020001")
    configure.add_argument("--region-code", required=True, help="GB/T 2260, 6 digits, e.g. 411502")
    configure.add_argument("--hall-name", required=True)
    configure.add_argument("--platform-url", required=True, help="https://… (http only on loopback)")
    configure.add_argument(
        "--device", action="append", default=[], metavar="NAME=URL", help="repeatable: idcard=serial://…"
    )
    configure.add_argument(
        "--device-option",
        action="append",
        default=[],
        metavar="NAME.KEY=VALUE",
        help="e.g. printer.paper_mm=58",
    )
    configure.add_argument("--secret-file", type=Path, default=Path("/etc/kiosk/secrets/app_secret"))
    configure.add_argument("--state-dir", type=Path, default=Path("/var/lib/kiosk"))
    configure.add_argument("--detector-model", type=Path, default=None)
    configure.add_argument("--orientation", choices=("portrait", "landscape"), default="portrait")
    configure.add_argument("--size", default="1080x1920", help="screen size WxH")
    configure.add_argument(
        "--allow-unlisted-region", action="store_true", help="accept a code newer than the GB/T 2260 table"
    )
    configure.set_defaults(handler=cmd_configure)

    enroll = psub.add_parser("enroll", help="enrol with the platform (§5.1); store the secret and outbox key")
    config_arg(enroll)
    enroll.add_argument("--token", required=True, help="the single-use enrolment token from the platform")
    enroll.add_argument("--force", action="store_true", help="enrol again, replacing the stored secret")
    enroll.add_argument("--model", default=None, help="hardware model (default: DMI product name)")
    enroll.add_argument("--serial", default=None, help="hardware serial (default: DMI serial, machine id)")
    json_arg(enroll)
    enroll.set_defaults(handler=cmd_enroll)

    selftest = psub.add_parser("selftest", help="test every device for real and print a provisioning receipt")
    config_arg(selftest)
    selftest.add_argument("--out", type=Path, default=None, help="also write the receipt (.png or text)")
    selftest.add_argument("--no-print", action="store_true", help="do not print the receipt on the printer")
    json_arg(selftest)
    selftest.set_defaults(handler=cmd_selftest)

    install = psub.add_parser("install", help="user, directories, units, udev rules, kiosk session")
    install.add_argument("--root", type=Path, default=Path("/"), help="stage into this directory")
    install.add_argument("--kiosk-bin", default=None, help="the kiosk executable (default: from PATH)")
    install.add_argument(
        "--udev", action="append", default=[], metavar="ROLE=VID:PID[:SERIAL]", help="stable /dev/kiosk-ROLE"
    )
    install.add_argument("--detect", action="store_true", help="udev rules for the USB devices detect finds")
    install.add_argument("--config", type=Path, default=None, help="kiosk.toml for [ui] orientation")
    install.add_argument(
        "--panel",
        choices=("landscape", "portrait"),
        default="landscape",
        help="the panel's native orientation",
    )
    install.add_argument("--rotation", type=int, default=None, help="degrees clockwise (overrides config)")
    install.set_defaults(handler=cmd_install)


def _fail(message: str, code: int = 2) -> int:
    print(f"kiosk provision: {message}", file=sys.stderr)
    return code


def cmd_detect(args: argparse.Namespace) -> int:
    from provisioning.detect import detect, proposal_toml, report_lines

    findings = detect(args.port, timeout_s=args.timeout, bauds=args.baud, v4l_dir=args.v4l_dir)
    if args.json:
        print(json.dumps(findings.as_dict(), ensure_ascii=False))
    else:
        print("\n".join(report_lines(findings)))
        print()
        print(proposal_toml(findings), end="")
    return 0


def cmd_configure(args: argparse.Namespace) -> int:
    from kiosk.config import ConfigError
    from provisioning.configure import (
        DEFAULT_DETECTOR,
        Answers,
        ConfigureError,
        parse_device_flag,
        parse_option_flag,
        write,
    )

    try:
        devices: dict[str, dict[str, Any]] = {}
        for text in args.device:
            name, url = parse_device_flag(text)
            devices[name] = {"url": url}
        for text in args.device_option:
            name, key, value = parse_option_flag(text)
            if name not in devices:
                raise ConfigureError(f"--device-option {text!r}: no --device {name}=URL given")
            devices[name][key] = value
        try:
            width, height = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise ConfigureError(f"--size {args.size!r}: expected WxH, e.g. 1080x1920") from None
        answers = Answers(
            terminal_id=args.terminal_id,
            region_code=args.region_code,
            hall_name=args.hall_name,
            platform_url=args.platform_url,
            devices=devices,
            secret_file=args.secret_file,
            state_dir=args.state_dir,
            detector_model=args.detector_model or DEFAULT_DETECTOR,
            orientation=args.orientation,
            size=(width, height),
            allow_unlisted_region=args.allow_unlisted_region,
        )
        config, notes, changed = write(answers, args.config)
    except (ConfigureError, ConfigError) as err:
        return _fail(f"nothing written: {err}")
    from provisioning.regions import full_name

    print(
        f"{'wrote' if changed else 'unchanged:'} {args.config} (mode 0640): terminal {config.terminal.id}, "
        f"{full_name(config.terminal.region_code) or config.terminal.region_code}, "
        f"devices {', '.join(config.devices)}"
    )
    for note in notes:
        print(f"note: {note}")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from provisioning.enroll import EnrollError, enroll

    config = load_config(args.config)
    try:
        done = enroll(config, args.token, force=args.force, model=args.model, serial=args.serial)
    except EnrollError as err:
        return _fail(str(err))
    report = {
        "terminal_id": config.terminal.id,
        "secret_file": str(done.secret_file),
        "outbox_key_file": str(done.key_file),
        "heartbeat_interval_s": done.heartbeat_interval_s,
        "catalog_version": done.catalog_version,
        "notes": done.notes,
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(
            f"enrolled {config.terminal.id}: secret in {done.secret_file} (0600), outbox key in "
            f"{done.key_file} (0600); heartbeat every {done.heartbeat_interval_s} s, "
            f"catalog {done.catalog_version}"
        )
        for note in done.notes:
            print(f"note: {note}")
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from provisioning.selftest import receipt_png, receipt_text, run_selftest

    config = load_config(args.config)
    test = run_selftest(config, print_receipt=not args.no_print)
    text = receipt_text(test)
    if args.out is not None:
        if args.out.suffix.lower() == ".png":
            paper = (
                int(config.devices["printer"].options.get("paper_mm", 80))
                if "printer" in config.devices
                else 80
            )
            receipt_png(test, args.out, paper_mm=paper)
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
    if args.json:
        print(json.dumps(test.as_dict(), ensure_ascii=False))
    else:
        print(text, end="")
        if test.printed_on:
            print(f"receipt printed on {test.printed_on}")
        elif test.print_error:
            print(f"receipt NOT printed: {test.print_error}")
    return 0 if test.ok else 1


def cmd_install(args: argparse.Namespace) -> int:
    from provisioning.install import InstallError, UdevDevice, install

    try:
        udev = [UdevDevice.parse(text) for text in args.udev]
        if args.detect:
            udev += _detected_udev(udev)
        result = install(
            args.root,
            kiosk_bin=args.kiosk_bin,
            udev=udev,
            config=args.config,
            panel=args.panel,
            rotation=args.rotation,
        )
    except InstallError as err:
        return _fail(str(err))
    print(
        f"install into {args.root}: {len(result.changed)} changed, {len(result.unchanged)} already in place"
    )
    for path in result.changed:
        print(f"  wrote {path}")
    for note in result.notes:
        print(f"note: {note}")
    return 0


def _detected_udev(given: list[Any]) -> list[Any]:
    """udev entries for USB serial devices that detect identified and that no --udev flag names."""
    from provisioning.detect import detect_serial
    from provisioning.install import UdevDevice

    roles = {d.role for d in given}
    found = []
    for f in detect_serial():
        if f.kind in ("idcard", "printer") and f.kind not in roles and f.vid_pid:
            vid, pid = f.vid_pid.split(":")
            found.append(UdevDevice(f.kind, vid, pid, f.serial_number))
            roles.add(f.kind)
    return found
