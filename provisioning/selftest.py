"""`kiosk provision selftest`: every configured device really works (`check_health(EXTERNAL)`: the reader
reads its SAM id, the printer prints its test page, a camera delivers a non-blank frame, …), and a
provisioning receipt says so: terminal, versions, one line per device, a QR code with the terminal id.

The receipt goes to the configured receipt printer when that printer passed, and always to stdout; `--out`
writes it as a PNG (drawn as the thermal printer would print it) or as text. The devices are opened here,
so the kiosk (which claims them) must be stopped first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import platform as host
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import devices.camera  # noqa: F401 - before devices.simhost: importing camera_sim first is circular
from devices.base import Action, DeviceError, DeviceState, HealthLevel
from devices.printer.document import QR, Cut, Receipt, Rule, Text
from devices.simhost import SimHost
from kiosk.config import Config, ConfigError
from kiosk.wiring import open_device

QR_PREFIX = "KIOSK-TERMINAL:"


@dataclass
class DeviceResult:
    name: str
    kind: str
    ok: bool
    state: str
    action: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SelfTest:
    terminal_id: str
    hall_name: str
    region_code: str
    versions: dict[str, str]
    devices: list[DeviceResult]
    at: dt.datetime
    printed_on: str | None = None  # the printer the receipt went to
    print_error: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.devices) and all(d.ok for d in self.devices) and self.print_error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "terminal_id": self.terminal_id,
            "versions": self.versions,
            "at": self.at.isoformat(timespec="seconds"),
            "devices": [vars(d) for d in self.devices],
            "printed_on": self.printed_on,
            "print_error": self.print_error,
        }


def versions() -> dict[str, str]:
    found = {"kiosk": metadata.version("kiosk"), "python": host.python_version(), "os": _os_name()}
    for package in ("pyserial", "python-escpos", "opencv-python-headless"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "missing"
    return found


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return host.platform()


def _check(name: str, url: str, options: dict[str, Any], terminal_id: str) -> tuple[DeviceResult, Any]:
    """(result, the open driver or None)."""
    try:
        driver = open_device(name, url, options)
    except DeviceError as err:
        return DeviceResult(
            name,
            name,
            False,
            DeviceState.OFFLINE.value,
            (err.action or Action.MAINTENANCE).value,
            err.detail or err.message,
        ), None
    except (ConfigError, ValueError, OSError) as err:  # a bad URL or option in the config
        return DeviceResult(name, name, False, "config_error", Action.MAINTENANCE.value, str(err)), None
    if hasattr(driver, "terminal_id"):
        driver.terminal_id = terminal_id  # the printer's test page names the terminal
    status = driver.check_health(HealthLevel.EXTERNAL)
    details = dict(status.details)
    ok = details.get("health") == "ok"
    error = None if ok else str(details.get("error") or status.state.value)
    action = status.action.value if status.action else None
    return DeviceResult(name, status.kind, ok, status.state.value, action, error, details), driver


def run_selftest(config: Config, *, print_receipt: bool = True, now: dt.datetime | None = None) -> SelfTest:
    sims = SimHost()  # sim:// URLs (a demo or test terminal) get their simulators
    drivers: dict[str, Any] = {}
    results = []
    try:
        for name, dev in config.devices.items():
            try:
                url = sims.resolve(name, dev.url, dev.options)
            except (DeviceError, ValueError, OSError, KeyError) as err:
                results.append(DeviceResult(name, name, False, "config_error", "maintenance", str(err)))
                continue
            result, driver = _check(name, url, dev.options, config.terminal.id)
            results.append(result)
            if driver is not None:
                drivers[name] = driver
        test = SelfTest(
            config.terminal.id,
            config.terminal.hall_name,
            config.terminal.region_code,
            versions(),
            results,
            now or dt.datetime.now(dt.UTC),
        )
        printer = drivers.get("printer")
        if print_receipt and printer is not None and any(r.name == "printer" and r.ok for r in results):
            try:
                printer.print_receipt(receipt(test))
                test.printed_on = "printer"
            except DeviceError as err:
                test.print_error = err.detail or err.message
        return test
    finally:
        for driver in drivers.values():
            with contextlib.suppress(DeviceError):
                driver.close()
        sims.stop()


# -- the receipt -----------------------------------------------------------------------------------


def _local(at: dt.datetime) -> str:
    return at.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")  # Asia/Shanghai


def receipt(test: SelfTest) -> Receipt:
    """The provisioning receipt as a printer document (no personal data: only the terminal and devices)."""
    doc: Receipt = [
        Text("终端自检回执", align="center", bold=True, double=True),
        Text("PROVISIONING SELF-TEST", align="center"),
        Rule(),
        Text(f"终端编号：{test.terminal_id}"),
        Text(f"大厅：{test.hall_name}"),
        Text(f"区划代码：{test.region_code}"),
        Text(f"时间：{_local(test.at)}"),
        Text(f"软件：kiosk {test.versions['kiosk']}  Python {test.versions['python']}"),
        Text(f"系统：{test.versions['os']}"),
        Rule(),
    ]
    for d in test.devices:
        verdict = "通过 OK" if d.ok else "失败 FAIL"
        doc.append(Text(f"{d.name}: {verdict}", bold=not d.ok))
        if not d.ok:
            doc.append(Text(f"  {d.state} {d.error or ''} → {d.action or ''}".rstrip(" →")))
    doc += [
        Rule(),
        Text("结论：全部通过" if test.ok else "结论：未通过，请处理后重测", align="center", bold=True),
        QR(QR_PREFIX + test.terminal_id),
        Text(test.terminal_id, align="center"),
        Cut(),
    ]
    return doc


def receipt_text(test: SelfTest) -> str:
    lines = []
    for element in receipt(test):
        if isinstance(element, Text):
            lines.append(element.text)
        elif isinstance(element, Rule):
            lines.append("-" * 48)
        elif isinstance(element, QR):
            lines.append(_qr_ascii(element.data))
    return "\n".join(lines) + "\n"


def _qr_ascii(data: str) -> str:
    import qrcode

    qr = qrcode.QRCode(border=2)
    qr.add_data(data)
    qr.make(fit=True)
    rows = qr.get_matrix()
    return "\n".join("".join("██" if cell else "  " for cell in row) for row in rows)


def receipt_png(test: SelfTest, path: Path, paper_mm: int = 80) -> Path:
    """The receipt drawn from its ESC/POS bytes exactly as the virtual printer draws a job."""
    from devices.printer.document import columns
    from devices.printer.encode import encode_receipt
    from devices.printer.sim_parser import StreamParser
    from devices.printer.sim_render import Renderer

    jobs: list[Any] = []
    parser = StreamParser(lambda _n: None, lambda blocks, _raw: jobs.append(blocks))
    parser.feed(encode_receipt(receipt(test), paper_mm=paper_mm))
    if not jobs:
        raise ValueError("the receipt did not encode to a printable job")
    path.parent.mkdir(parents=True, exist_ok=True)
    Renderer(columns(paper_mm) * 12).render(jobs[0], path)
    return path
