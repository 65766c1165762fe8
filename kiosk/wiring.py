"""Builds a running terminal from its config: simulators for `sim://` URLs, drivers, platform
client, outbox, catalog, and the controller the UI drives."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from devices.base import Action, DeviceError, DeviceState
from devices.camera import open_camera
from devices.idcard import IdCardReader
from devices.manager import DeviceManager, ManagedDevice
from devices.printer import A4Printer, ReceiptPrinter
from devices.scanner import open_scanner
from devices.simhost import SimHost
from kiosk.catalog import current_catalog
from kiosk.config import Config, ConfigError
from kiosk.controller import KioskController
from kiosk.face import FaceDetector
from kiosk.face_verify import FaceVerifier, make_verifier
from kiosk.outbox import Outbox, OutboxUnavailable
from kiosk.platform.client import PlatformClient
from kiosk.service import ServiceGuard
from kiosk.services import Services
from kiosk.state import StateDB, attach

log = logging.getLogger(__name__)
REQUIRED_DEVICES = ("idcard", "face_camera", "printer")


@dataclass
class Terminal:
    controller: KioskController
    sims: SimHost
    devices: DeviceManager
    state: StateDB


def _require_devices(config: Config) -> None:
    missing = [name for name in REQUIRED_DEVICES if name not in config.devices]
    if missing:
        raise ConfigError("config has no [devices." + "], [devices.".join(missing) + "] section")


def read_secret(config: Config) -> str:
    try:
        return config.platform.secret_file.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(
            f"platform.secret_file: cannot read {config.platform.secret_file}: {err.strerror}"
        ) from None


def open_device(name: str, url: str, options: dict[str, Any]) -> Any:
    """Open the driver for a device by its role; raises DeviceError when it cannot be opened."""
    driver: Any
    if name == "idcard":
        driver = IdCardReader(url)
    elif name == "printer":
        driver = ReceiptPrinter(url, paper_mm=int(options.get("paper_mm", 80)), name=name)
    elif name == "a4_printer":
        driver = A4Printer(url, server=options.get("server"), name=name)
    elif name.endswith("camera"):
        return open_camera(url, name=name, options=options)
    elif name == "scanner":
        return open_scanner(url, name=name)
    else:
        raise ConfigError(
            f"devices.{name}: unknown device role (idcard, printer, a4_printer, scanner, *camera)"
        )
    driver.open()
    return driver


def device_factories(config: Config, urls: dict[str, str]) -> dict[str, Callable[[], Any]]:
    """One factory per configured device (for `devices.manager.DeviceManager`): each call builds and
    opens the driver at its resolved URL, or raises DeviceError."""
    return {
        name: functools.partial(open_device, name, urls[name], dev.options)
        for name, dev in config.devices.items()
    }


@contextlib.contextmanager
def open_terminal(config: Config) -> Iterator[Terminal]:
    """Everything a kiosk process runs on (the UI opens it behind its home screen:
    kiosk.terminal_loader)."""
    _require_devices(config)
    sims = SimHost()
    stack = contextlib.ExitStack()
    stack.callback(sims.stop)
    with stack:
        urls = {name: sims.resolve(name, dev.url, dev.options) for name, dev in config.devices.items()}
        state_dir = config.storage.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        manager = DeviceManager(device_factories(config, urls)).start()
        stack.callback(manager.stop)
        state = StateDB(config.storage.state_db)
        stack.callback(state.close)
        attach(manager, state)
        for status in manager.wait_started():
            if status.state is not DeviceState.ONLINE:  # the kiosk starts anyway and recovers by itself
                log.warning("device %s is %s at start-up", status.name, status.state.value)
        outbox, guard = _open_outbox(config, state)
        if outbox is not None:
            stack.callback(outbox.close)
        platform = open_platform_client(config)
        stack.callback(platform.close)
        services = Services(
            config=config,
            catalog=current_catalog(config.storage.state_dir),  # the agent's last sync, or the seed
            idcard=ManagedDevice(manager, "idcard"),
            camera=ManagedDevice(manager, "face_camera"),
            face_detector=FaceDetector(config.face.detector_model),
            face_verifier=_make_verifier(config, platform),
            scanner=ManagedDevice(manager, "scanner") if "scanner" in config.devices else None,
            state=state,
            document_camera=(
                ManagedDevice(manager, "document_camera") if "document_camera" in config.devices else None
            ),
            printer=ManagedDevice(manager, "printer"),
            a4_printer=ManagedDevice(manager, "a4_printer") if "a4_printer" in config.devices else None,
            platform=platform,
            outbox=outbox,
            guard=guard,
        )
        yield Terminal(KioskController(services), sims, manager, state)


def _make_verifier(config: Config, platform: PlatformClient) -> FaceVerifier:
    try:
        return make_verifier(config, platform)
    except ValueError as err:  # a config problem ([face] match = "local" without its models)
        raise ConfigError(str(err)) from None


def open_platform_client(config: Config) -> PlatformClient:
    """The signed client as configured in `[platform]` (TLS always verified; mTLS when configured)."""
    p = config.platform
    return PlatformClient(
        p.base_url,
        p.terminal_id,
        read_secret(config),
        connect_timeout_s=p.connect_timeout_s,
        read_timeout_s=p.read_timeout_s,
        ca_file=p.ca_file,
        client_cert=p.client_cert_pair,
        resync_clock=True,  # on 40102: correct the clock from the platform's Date, send once more
    )


def _open_outbox(config: Config, state: StateDB) -> tuple[Outbox | None, ServiceGuard]:
    """The UI starts even when the outbox cannot open, to show 暂停服务 instead of crash-looping."""
    try:
        # recover_sending=False: records marked 'sending' may be the agent's, in flight right now;
        # stale claims are released by lease in deliver_pending instead.
        outbox = Outbox.open(config.storage, recover_sending=False)
    except OutboxUnavailable as err:
        log.error("out of service: %s", err)
        return None, ServiceGuard(config.storage, state, outbox_error=err.reason)
    return outbox, ServiceGuard(config.storage, state)


def device_statuses(config: Config) -> list[dict[str, Any]]:
    """One status snapshot per configured device (opened briefly, then released)."""
    sims = SimHost()
    results = []
    try:
        for name, dev in config.devices.items():
            try:
                driver = open_device(name, sims.resolve(name, dev.url, dev.options), dev.options)
            except DeviceError as err:
                results.append(
                    {
                        "name": name,
                        "kind": name,
                        "state": "offline",
                        "details": {"error": err.detail or err.message},
                        "action": (err.action or Action.MAINTENANCE).value,
                    }
                )
                continue
            try:
                results.append({**driver.status().as_dict(), "name": name})
            finally:
                driver.close()
    finally:
        sims.stop()
    return results
