"""`kiosk` command line: the composition root of the terminal software.

It is the one place in kiosk/ that reaches up to screens/, lazily and only to start the UI, so
that `kiosk platform-sim` or `kiosk devices` never load Kivy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devices.base import DeviceError
from kiosk.cli_common import config_arg, json_arg
from kiosk.cli_devices import add_device_commands
from kiosk.cli_maintenance import add_maintenance_commands
from kiosk.cli_outbox import add_outbox_commands
from kiosk.cli_provision import add_provision_commands
from kiosk.cli_vision import add_vision_commands
from kiosk.logs import setup_logging
from kiosk.outbox_terms import OutboxUnavailable
from kiosk.ui_settings import ConfigError, UiSettings, from_file

if TYPE_CHECKING:
    from kiosk.config import Config

log = logging.getLogger("kiosk.cli")
SCENARIOS = (
    "online",
    "online_scan",
    "license",
    "commitment",
    "proxy",
    "proxy_incomplete",
    "mail_delivery",
    "joint",
    "certificate",
    "qr_login",
    "elderly",
    "english",
    "disk_full",
    "query",
    "query_qr",
    "query_code",
    "face_replay",
    "timeout",
)


class _Version(argparse.Action):
    """--version, looked up only when asked: importlib.metadata would add ~40 ms to every start."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any) -> None:
        from importlib import metadata

        print(f"kiosk {metadata.version('kiosk')}")  # on stdout, as argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kiosk", description="政务服务自助终端 (跨省通办 self-service terminal)"
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the kiosk UI on this terminal (locked-down)")
    config_arg(run)

    demo = sub.add_parser("demo", help="run the kiosk with simulated devices and the platform simulator")
    demo.add_argument("--config", type=Path, default=None, help="ignored: the demo has a built-in config")
    demo.add_argument("--headless", action="store_true", help="play a scripted scenario (Xvfb if no display)")
    demo.add_argument("--scenario", choices=SCENARIOS, default="online")
    demo.add_argument(
        "--artifacts",
        type=Path,
        default=Path("artifacts/demo"),
        help="where a headless run writes screenshots, receipt.png and summary.json",
    )
    demo.add_argument("--window", default=None, help="window size WxH (default 540x960; 720x1280 headless)")
    demo.add_argument(
        "--state-dir", type=Path, default=None, help="keep demo state here (default: temporary)"
    )

    sim = sub.add_parser("platform-sim", help="run the provincial platform simulator")
    config_arg(sim)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8780)
    sim.add_argument("--db", type=Path, default=Path("platform-sim.db"))
    sim.add_argument(
        "--terminal",
        action="append",
        default=[],
        metavar="ID:SECRET_FILE",
        help="a terminal the simulator knows (repeatable)",
    )
    sim.add_argument(
        "--enrollment-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="a single-use enrollment token (repeatable)",
    )
    sim.add_argument(
        "--heartbeat-interval-s", type=_positive_int, default=None, help="told to terminals at enrollment"
    )
    faults = sim.add_argument_group("fault injection on /terminal/v1/* (also POST /admin/faults)")
    faults.add_argument("--fault-latency-ms", type=_non_negative_int, default=None, metavar="MS")
    faults.add_argument("--fault-error-rate", type=_rate, default=None, metavar="0..1")
    faults.add_argument("--fault-status", type=int, choices=(500, 503, 429), default=None)
    faults.add_argument("--fault-retry-after-s", type=_non_negative_int, default=None, metavar="S")
    faults.add_argument("--fault-drop-rate", type=_rate, default=None, metavar="0..1")
    faults.add_argument("--maintenance", action="store_true", help="answer 50301 maintenance from the start")

    bench = sub.add_parser("bench", help="run benchmarks from tests/bench and print their figures")
    config_arg(bench)
    bench.add_argument("names", nargs="*", metavar="NAME", help="e.g. devices (default: all)")
    bench.set_defaults(handler=cmd_bench)

    agent = sub.add_parser("agent", help="deliver the outbox, send heartbeats, run signed remote commands")
    config_arg(agent)
    json_arg(agent)
    agent.add_argument("--once", action="store_true", help="run one cycle and exit (tests, technicians)")
    agent.add_argument("--interval", type=float, default=60.0, help="seconds between cycles")
    agent.set_defaults(handler=cmd_agent)

    add_outbox_commands(sub)
    add_vision_commands(sub)
    add_provision_commands(sub)
    add_maintenance_commands(sub)
    voice = sub.add_parser("voice", help="voice prompts for 长者模式")
    vsub = voice.add_subparsers(dest="voice_command", required=True, metavar="ACTION")
    voice_build = vsub.add_parser("build", help="render every prompt with espeak-ng (at setup, offline)")
    config_arg(voice_build)
    voice_build.set_defaults(handler=cmd_voice_build)
    font = sub.add_parser("font", help="the UI font")
    fsub = font.add_subparsers(dest="font_command", required=True, metavar="ACTION")
    font_build = fsub.add_parser("build", help="prepare the UI font from the system's CJK font (at setup)")
    font_build.set_defaults(handler=cmd_font_build)

    devices = sub.add_parser("devices", help="device tools")
    dsub = devices.add_subparsers(dest="devices_command", required=True, metavar="ACTION")
    status = dsub.add_parser("status", help="state of every configured device")
    config_arg(status)
    json_arg(status)
    status.set_defaults(handler=cmd_devices)
    add_device_commands(dsub, sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(os.environ.get("KIOSK_LOG_LEVEL", "INFO"))
    handlers = {"run": cmd_run, "demo": cmd_demo, "platform-sim": cmd_platform_sim}
    try:
        return (getattr(args, "handler", None) or handlers[args.command])(args)
    except ConfigError as err:
        print(f"kiosk: {err}", file=sys.stderr)
        return 2
    except DeviceError as err:  # a device that cannot be opened at start-up
        print(f"kiosk: {err.message} ({err.completion.value}: {err.detail})", file=sys.stderr)
        return 2
    except OutboxUnavailable as err:  # full disk, damaged file: the technician must act
        print(f"kiosk: {err}", file=sys.stderr)
        return 3
    except (OSError, ValueError) as err:  # missing model or secret file, bad key file, …
        print(f"kiosk: cannot start: {err}", file=sys.stderr)
        return 2


# -- commands ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    settings, read_config = from_file(args.config)  # the whole config is validated behind the window
    return _run_ui(settings, read_config, locked=True)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.headless and not os.environ.get("DISPLAY"):
        return _reexec_under_xvfb()
    from kiosk.demo import DEMO_CASE_SCHEDULE, demo_config
    from kiosk.platform_sim import ServerThread
    from kiosk.platform_sim.app import create_app

    default_window = "720x1280" if args.headless else "540x960"
    width, height = (int(v) for v in (args.window or default_window).lower().split("x"))
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="kiosk-demo-"))
    state_dir.mkdir(parents=True, exist_ok=True)
    probe = demo_config(state_dir, "http://127.0.0.1:1", window=(width, height))  # writes the secret
    secret = probe.platform.secret_file.read_text().strip()
    terminals = {probe.platform.terminal_id: secret}
    app = create_app(state_dir / "platform-sim.db", terminals, case_schedule=DEMO_CASE_SCHEDULE)
    server = ServerThread(app=app)
    server.start()
    try:
        config = demo_config(state_dir, server.base_url, window=(width, height), auto_card=not args.headless)
        settings = UiSettings.of(config)
        if args.headless:
            return _run_ui(
                settings,
                lambda: config,
                locked=False,
                scenario=args.scenario,
                artifacts=args.artifacts,
                server=server,
            )
        return _run_ui(settings, lambda: config, locked=False)
    finally:
        server.stop()
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)


def cmd_bench(args: argparse.Namespace) -> int:
    from kiosk import bench

    return bench.run(args.names)


def cmd_agent(args: argparse.Namespace) -> int:
    import signal
    import threading

    from kiosk.agent import Agent
    from kiosk.config import load_config
    from kiosk.service import ServiceGuard
    from kiosk.state import StateDB
    from kiosk.wiring import open_platform_client, read_secret

    config = load_config(args.config)
    secret = read_secret(config)  # also for verifying the platform's commands
    config.storage.state_dir.mkdir(parents=True, exist_ok=True)
    with (
        _outbox_or_none(config) as (outbox, outbox_error),
        StateDB(config.storage.state_db) as state,
        open_platform_client(config) as client,
    ):
        guard = ServiceGuard(config.storage, state, outbox_error=outbox_error)
        agent = Agent(config, outbox, client, state, secret, guard=guard)
        agent.interval_s = args.interval
        if args.once:
            report = agent.run_once()
            print(json.dumps(report.as_dict(), ensure_ascii=False) if args.json else report.as_dict())
            return 0 if report.heartbeat else 1
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # systemd stop: finish the cycle, then exit
        with contextlib.suppress(KeyboardInterrupt):
            agent.run(stop)
    return 0


@contextlib.contextmanager
def _outbox_or_none(config: Config) -> Iterator[tuple[Any, str | None]]:
    """(outbox, None), or (None, why) when it cannot open: the agent then still sends heartbeats,
    which tell operators."""
    from kiosk.outbox import Outbox

    try:
        outbox = Outbox.open(config.storage)
    except OutboxUnavailable as err:
        log.error("outbox unavailable, heartbeats only: %s", err)
        yield None, err.reason
        return
    with outbox:
        yield outbox, None


def cmd_voice_build(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.voice import build

    directory = load_config(args.config).storage.state_dir / "voice"
    print(f"{build(directory)} voice prompts ready in {directory}")
    return 0


def cmd_font_build(_args: argparse.Namespace) -> int:
    from devices.ui_font import prepare

    started = time.monotonic()
    try:
        path, derived = prepare()
    except RuntimeError as err:  # no CJK font installed, or deriving failed: says which
        print(f"kiosk: {err}", file=sys.stderr)
        return 2
    how = f"prepared in {time.monotonic() - started:.0f} s" if derived else "already prepared"
    print(f"UI font: {path} ({how})")
    return 0


def cmd_platform_sim(args: argparse.Namespace) -> int:
    from kiosk.platform_sim import serve

    terminals = {}
    for spec in args.terminal:
        terminal_id, _, secret_file = spec.partition(":")
        terminals[terminal_id] = Path(secret_file).read_text().strip()
    serve(args.host, args.port, args.db, terminals, **platform_sim_options(args))
    return 0


_FAULT_FLAGS = {
    "fault_latency_ms": "latency_ms",
    "fault_error_rate": "error_rate",
    "fault_status": "status",
    "fault_retry_after_s": "retry_after_s",
    "fault_drop_rate": "drop_rate",
}


def platform_sim_options(args: argparse.Namespace) -> dict:
    """`kiosk platform-sim` flags → keyword arguments for `create_app` (via `serve`)."""
    options: dict = {}
    if args.enrollment_token:
        options["enrollment_tokens"] = tuple(args.enrollment_token)
    if args.heartbeat_interval_s is not None:
        options["heartbeat_interval_s"] = args.heartbeat_interval_s
    faults = {key: getattr(args, flag) for flag, key in _FAULT_FLAGS.items()}
    faults = {key: value for key, value in faults.items() if value is not None}
    if args.maintenance:
        faults["maintenance"] = True
    if faults:
        options["initial_faults"] = faults
    return options


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be ≥ 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def cmd_devices(args: argparse.Namespace) -> int:
    from kiosk.config import load_config
    from kiosk.wiring import device_statuses

    statuses = device_statuses(load_config(args.config))
    if args.json:
        print(json.dumps(statuses, ensure_ascii=False))
    else:
        for s in statuses:
            action = f"  → {s['action']}" if s["action"] else ""
            print(f"{s['name']:<14} {s['kind']:<16} {s['state']:<15} {s['details']}{action}")
    return 0 if all(s["state"] == "online" for s in statuses) else 1


# -- helpers ----------------------------------------------------------------------------------


def _run_ui(settings: UiSettings, read_config: Callable[[], Config], *, locked: bool, **scenario_args) -> int:
    from kiosk.memory import tune_allocator
    from screens.launch import run_ui  # Kivy is loaded only by this

    tune_allocator()  # before the device threads start: the UI runs for months
    return run_ui(settings, read_config, locked=locked, **scenario_args)


def _reexec_under_xvfb() -> int:
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        print("kiosk: no display and no xvfb-run (apt-get install xvfb)", file=sys.stderr)
        return 2
    argv = [xvfb, "-a", "-s", "-screen 0 1080x1920x24", sys.executable, "-m", "kiosk", *sys.argv[1:]]
    os.execv(xvfb, argv)
    return 0  # not reached
