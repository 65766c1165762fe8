"""`kiosk devices …` and `kiosk sim …`: technicians' tools for one device, and the simulators as
standalone processes (so another program, or a second kiosk, can talk to them)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from pathlib import Path

from devices.base import DeviceError

# The drivers and simulators are imported by the commands that use them: `kiosk run` parses its
# arguments with this module, and the UI draws its home screen before the drivers are loaded.


def add_device_commands(dsub: argparse._SubParsersAction, sub: argparse._SubParsersAction) -> None:
    read_id = dsub.add_parser("read-id", help="read one ID card from a reader and print it")
    read_id.add_argument(
        "--port", required=True, help="reader URL: /dev/ttyUSB0, serial://…?baud=, socket://…"
    )
    read_id.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a card")
    read_id.add_argument("--json", action="store_true")
    read_id.add_argument("--show", action="store_true", help="print name, number and address unmasked")
    read_id.set_defaults(handler=cmd_read_id)

    test_page = dsub.add_parser("print-test", help="print a test receipt")
    test_page.add_argument(
        "--printer", required=True, help="tcp://IP:9100, serial:///dev/ttyS1?baud=, file://…"
    )
    test_page.add_argument("--paper-mm", type=int, choices=(58, 80), default=80)
    test_page.add_argument("--terminal-id", default="T0000000000")
    test_page.set_defaults(handler=cmd_print_test)

    sim = sub.add_parser("sim", help="run a device simulator until Ctrl-C")
    ssub = sim.add_subparsers(dest="sim_command", required=True, metavar="DEVICE")
    idcard = ssub.add_parser("idcard", help="SAM ID card reader on a pty (prints the pty path)")
    idcard.add_argument("--identities", type=Path, required=True, help="JSON file of identities")
    idcard.add_argument("--insert", type=int, default=None, help="put identity N on the reader at start")
    idcard.set_defaults(handler=cmd_sim_idcard)
    printer = ssub.add_parser("printer", help="virtual ESC/POS printer rendering each job to a PNG")
    where = printer.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT")
    where.add_argument("--pty", action="store_true", help="serve on a pty (prints its path)")
    printer.add_argument("--render", type=Path, required=True, help="folder for receipt-NNN.png")
    printer.add_argument("--paper-mm", type=int, choices=(58, 80), default=80)
    printer.set_defaults(handler=cmd_sim_printer)


def cmd_read_id(args: argparse.Namespace) -> int:
    from devices.idcard import IdCardReader
    from kiosk.idnumber import mask_id_number
    from kiosk.receipt import mask_name

    try:
        with IdCardReader(args.port) as reader:
            card = reader.wait_for_card(timeout_s=args.timeout)
    except DeviceError as err:
        print(f"kiosk: {err.message} ({err.completion.value}: {err.detail})")
        return 1
    data = card.to_json()
    if not args.show:  # terminal output ends up in journals and screenshots: mask by default
        data.update(
            name=mask_name(data["name"] or ""),
            id_number=mask_id_number(data["id_number"] or ""),
            address="*" * len(data["address"] or "") or None,
        )
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        for key, value in data.items():
            if value is not None:
                print(f"{key:<18} {value}")
    return 0


def cmd_print_test(args: argparse.Namespace) -> int:
    from devices.printer import ReceiptPrinter

    try:
        with ReceiptPrinter(args.printer, paper_mm=args.paper_mm) as printer:
            printer.print_test_page(args.terminal_id)
    except DeviceError as err:
        print(f"kiosk: {err.message} ({err.completion.value}: {err.detail})")
        return 1
    print("test page printed")
    return 0


def _until_interrupted() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


def cmd_sim_idcard(args: argparse.Namespace) -> int:
    from devices.idcard import SamSimulator
    from devices.idcard.simulator import load_identities

    with SamSimulator(load_identities(args.identities)) as sim:
        if args.insert is not None:
            sim.insert(args.insert)
        print(sim.port, flush=True)
        _until_interrupted()
    return 0


def cmd_sim_printer(args: argparse.Namespace) -> int:
    from devices.printer import VirtualEscposPrinter

    args.render.mkdir(parents=True, exist_ok=True)
    with VirtualEscposPrinter(args.render, paper_mm=args.paper_mm) as printer:
        where = printer.start_pty() if args.pty else f"tcp://127.0.0.1:{printer.start_tcp(port=args.tcp)}"
        print(where, flush=True)
        _until_interrupted()
    return 0
