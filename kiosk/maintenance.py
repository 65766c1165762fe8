"""Maintenance mode for the technician at the kiosk (issue 7 §3), without Kivy.

Plain functions over the services the kiosk already runs: device statuses and counters from the state
DB, a self-test per device (`check_health(EXTERNAL)` under the device manager's lock, so it never
races the poller or a citizen's card read), the printer's test page, the network and one signed
heartbeat to the platform, the last log lines (redacted like every log line), and taking the kiosk
in or out of service (the same `in_service` flag the operator's remote command sets).

Only device names, states, counters and fault descriptions pass through here, never personal data.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from devices.base import DeviceError, HealthLevel
from devices.manager import DeviceManager, ManagedDevice
from kiosk.logs import RedactingFilter, redact
from kiosk.maintenance_pin import PinGuard, pin_path
from kiosk.service import ServiceState
from kiosk.services import Services

log = logging.getLogger(__name__)

_STARTED = time.monotonic()  # uptime in the heartbeat this check sends, as the agent's would say
_SHANGHAI = timezone(timedelta(hours=8))
TAPS, TAP_WINDOW_S = 5, 3.0  # the hidden gesture: five taps in the top bar's corner within 3 s

DEVICE_LABELS = {
    "idcard": "身份证阅读器",
    "face_camera": "人脸摄像头",
    "document_camera": "高拍仪",
    "printer": "凭条打印机",
    "a4_printer": "A4 打印机",
    "scanner": "扫码器",
}
STATE_LABELS = {
    "online": "正常",
    "offline": "离线",
    "power_off": "未通电",
    "no_device": "未检测到设备",
    "hardware_error": "硬件故障",
    "user_error": "需处理",
    "busy": "忙",
    "starting": "启动中",
}
COUNTER_LABELS = {"reads": "读卡", "prints": "打印", "cuts": "切纸", "jobs_completed": "A4", "errors": "错误"}
# Services fields by device role (the DeviceManager's names are the config's).
_SERVICE_FIELD = {"idcard": "idcard", "face_camera": "camera", "printer": "printer"}


def fault_action(state: str, action: str | None, details: dict[str, Any]) -> str:
    """What a fault needs, in words for the person in front of the kiosk ("" when all is well)."""
    paper, error = details.get("paper"), details.get("error")
    if details.get("cover_open"):
        return "打印机盖未关好：请大厅工作人员关好机盖。"
    if paper == "out":
        return "打印纸用完：请大厅工作人员更换纸卷。"
    if paper == "jammed":
        return "卡纸：打开机盖，取出卡住的纸。"
    if state == "online" and paper == "low":
        return "纸将用完：请准备更换纸卷。"
    if state == "online" and action is None:
        return ""
    if action == "auto" or state in ("busy", "starting"):
        return "设备正在自动恢复，稍候再看。"
    if action == "clear":
        return "请大厅工作人员处理（纸张、卡纸、机盖）。"
    by_state = {
        "no_device": "未检测到设备：检查连线和电源，必要时重新插拔。",
        "offline": "设备离线：检查连线和电源，必要时重新插拔。",
        "power_off": "设备未通电：检查电源。",
        "hardware_error": "硬件故障：需技术人员检修或更换。",
    }
    if error in ("cutter", "mechanical", "unrecoverable"):
        return "打印机硬件故障：需技术人员检修或更换。"
    return by_state.get(state, "需技术人员检查。")


@dataclass
class DeviceRow:
    name: str
    label: str
    state: str
    state_label: str
    ok: bool
    action: str | None  # who must act: auto / clear / maintenance
    what_to_do: str
    counters: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def counters_text(self) -> str:
        order = list(COUNTER_LABELS)
        ranked = sorted(self.counters.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
        shown = [f"{COUNTER_LABELS.get(k, k)} {v}" for k, v in ranked]
        return " · ".join(shown) if shown else "无计数"


@dataclass
class Result:
    """The outcome of one action, as shown to the technician."""

    ok: bool
    title: str
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join([self.title, *self.lines])


class Maintenance:
    """The maintenance actions of one terminal. `manager` is the terminal's DeviceManager (self-tests
    go through it); without it a device is reached through the Services field for its role."""

    def __init__(
        self, services: Services, manager: Any = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.services, self.clock = services, clock
        self.manager = manager if manager is not None else find_manager(services)
        self.config = services.config
        # Without a state DB (a bare test harness) the lock lives in memory: it then resets on restart.
        flags = services.state if services.state is not None else _MemoryFlags()
        self.pin = PinGuard(pin_path(self.config), flags, clock=clock)

    # -- devices ---------------------------------------------------------------------------------
    def devices(self) -> list[DeviceRow]:
        """Every configured device with its latest recorded state and counters."""
        state = self.services.state
        recorded = {s["name"]: s for s in state.statuses()} if state is not None else {}
        rows = []
        for name in self.config.devices:
            snap = recorded.get(name) or self._live_status(name)
            details = snap.get("details") or {}
            st = str(snap.get("state", "starting"))
            action = snap.get("action")
            what = fault_action(st, action, details)
            rows.append(
                DeviceRow(
                    name=name,
                    label=DEVICE_LABELS.get(name, name),
                    state=st,
                    state_label=STATE_LABELS.get(st, st),
                    ok=st == "online" and not what,
                    action=action,
                    what_to_do=what,
                    counters=state.counters(name) if state is not None else {},
                    error=_short(details.get("error")),
                )
            )
        return rows

    def _live_status(self, name: str) -> dict[str, Any]:
        if self.manager is not None:
            with contextlib.suppress(KeyError):
                return self.manager.status(name).as_dict()
        return {"name": name, "state": "starting", "details": {}, "action": None}

    def self_test(self, name: str) -> Result:
        """`check_health(EXTERNAL)`: the reader reads its SAM id, the printer prints its test page, a
        camera delivers a frame, … Never raises; a device that is not there is a failed test."""
        label = DEVICE_LABELS.get(name, name)
        try:
            status = self._with_driver(name, lambda d: d.check_health(HealthLevel.EXTERNAL))
        except DeviceError as err:
            log.warning("maintenance: self-test %s failed: %s", name, err.completion.value)
            return Result(False, f"{label}自检失败", [err.message, *filter(None, [_short(err.detail)])])
        except KeyError:
            return Result(False, f"{label}未配置")
        details = dict(status.details)
        ok = details.get("health") == "ok"
        log.info("maintenance: self-test %s %s", name, "ok" if ok else "failed")
        if ok:
            extra = [f"{k}: {v}" for k, v in details.items() if k in ("sam_id", "test_page", "test_job")]
            return Result(True, f"{label}自检通过", extra, {"details": details})
        state = status.state.value
        action = status.action.value if status.action else None
        lines = [f"状态：{STATE_LABELS.get(state, state)}", fault_action(state, action, details)]
        if details.get("error"):
            lines.append(f"原因：{_short(details['error'])}")
        return Result(False, f"{label}自检失败", [line for line in lines if line], {"details": details})

    def print_test_page(self) -> Result:
        if "printer" not in self.config.devices:
            return Result(False, "本机没有凭条打印机")
        terminal_id = self.config.terminal.id
        try:
            self._with_driver("printer", lambda d: d.print_test_page(terminal_id))
        except DeviceError as err:
            log.warning("maintenance: test page failed: %s", err.completion.value)
            return Result(False, "测试页未打印", [err.message])
        log.info("maintenance: test page printed")
        return Result(True, "测试页已打印", ["请检查：中文清晰、二维码可扫、切纸正常。"])

    def _with_driver(self, name: str, work: Callable[[Any], Any]) -> Any:
        if self.manager is not None:
            with self.manager.use(name, timeout_s=10.0) as driver:
                return work(driver)
        device = getattr(self.services, _SERVICE_FIELD.get(name, name), None)
        if device is None:
            raise KeyError(name)
        return work(device)

    # -- network and platform --------------------------------------------------------------------
    def platform_check(self) -> Result:
        """Name lookup and TCP connect to the platform, then one signed heartbeat (§5.11): the same
        body the agent sends. Commands in the answer are left to the agent (they stay pending until
        acked)."""
        from kiosk.agent import Agent
        from kiosk.platform.errors import PlatformError

        url = urlsplit(self.config.platform.base_url)
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        lines: list[str] = []
        reachable = True
        try:
            started = time.monotonic()
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            lines.append(f"域名解析：{host} → {addresses[0][4][0]}")
            with socket.create_connection((host, port), timeout=self.config.platform.connect_timeout_s):
                lines.append(f"网络连接：正常（{(time.monotonic() - started) * 1000:.0f} ms）")
        except OSError as err:  # still try the heartbeat: a proxy may reach what this host cannot
            log.warning("maintenance: platform unreachable: %s", type(err).__name__)
            what = "域名解析失败" if isinstance(err, socket.gaierror) else "连接失败"
            lines += [f"{what}：{host}:{port}", "请检查网线、交换机、代理和防火墙。"]
            reachable = False
        platform = self.services.platform
        # The agent's body (devices, outbox, disk, in service); the secret is only for commands.
        agent = Agent(
            self.config, self.services.outbox, platform, self.services.state, "", guard=self.services.guard
        )
        body = agent.heartbeat_body()
        body["uptime_s"] = int(time.monotonic() - _STARTED)
        started = time.monotonic()
        try:
            answer = platform.heartbeat(body)
        except PlatformError as err:
            log.warning("maintenance: platform check failed: code=%s", err.code)
            lines += [f"平台拒绝或无应答：代码 {err.code}", _platform_hint(err.code)]
            return Result(False, "平台检查未通过" if reachable else "网络不通", lines, {"code": err.code})
        ms = (time.monotonic() - started) * 1000
        offset = getattr(platform, "clock_offset_ms", 0) or 0
        log.info("maintenance: platform check ok in %.0f ms", ms)
        lines += [f"签名心跳：已接受（{ms:.0f} ms）", f"时钟偏差：{offset / 1000:+.1f} 秒"]
        if answer.commands:
            lines.append(f"待执行的远程指令：{len(answer.commands)} 条（由后台服务执行）")
        return Result(True, "平台连接正常", lines, {"latency_ms": round(ms), "clock_offset_ms": offset})

    # -- in / out of service ---------------------------------------------------------------------
    def service_state(self) -> ServiceState:
        guard = self.services.guard
        return guard.check() if guard is not None else ServiceState(True)

    def set_in_service(self, on: bool) -> ServiceState:
        """The same flag as the operator's remote command; other reasons (storage) stay as they are."""
        if self.services.state is None:
            raise RuntimeError("no state DB: cannot change the service flag")
        self.services.state.set_flag("in_service", "true" if on else "false")
        log.warning("maintenance: technician took the kiosk %s service", "into" if on else "out of")
        return self.service_state()

    # -- logs ------------------------------------------------------------------------------------
    def recent_logs(self, count: int = 40) -> list[str]:
        return RECENT_LOGS.lines(count)


class _MemoryFlags:
    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def flag(self, name: str, default: str | None = None) -> str | None:
        return self._values.get(name, default)

    def set_flag(self, name: str, value: str) -> None:
        self._values[name] = value


def find_manager(services: Services) -> DeviceManager | None:
    """The DeviceManager behind the Services' managed devices: the UI is handed only the Services, and
    the self-tests must run under the manager's per-device lock."""
    device = services.idcard
    return device._manager if isinstance(device, ManagedDevice) else None


def _platform_hint(code: int) -> str:
    hints = {
        -1: "连不上平台：检查网络、代理和平台地址。",
        -2: "平台应答格式不对：联系平台运维。",
        40101: "签名被拒：终端密钥不对，需重新注册（kiosk provision enroll）。",
        40102: "时钟偏差过大：检查本机时间同步（NTP）。",
        40301: "终端未获授权：联系平台运维。",
        50301: "平台维护中：稍后再试。",
    }
    return hints.get(code, "请稍后再试；仍不行请联系平台运维。")


def _short(text: Any, limit: int = 80) -> str | None:
    if text is None:
        return None
    text = redact(str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the hidden gesture ----------------------------------------------------------------------------
class TapCounter:
    """`tap()` is True on the fifth tap within 3 s (then counting starts over)."""

    def __init__(
        self, taps: int = TAPS, window_s: float = TAP_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.taps, self.window_s, self._clock = taps, window_s, clock
        self._times: collections.deque[float] = collections.deque(maxlen=taps)

    def tap(self) -> bool:
        now = self._clock()
        self._times.append(now)
        if len(self._times) == self.taps and now - self._times[0] <= self.window_s:
            self._times.clear()
            return True
        return False

    def reset(self) -> None:
        self._times.clear()


# -- recent log lines ------------------------------------------------------------------------------
class RecentLogs(logging.Handler):
    """The last log lines of this process, kept in memory for the maintenance screen.

    Same redaction filter as the journal's handler, and `redact` again when read: what the screen
    shows is never more than what the log already says.
    """

    def __init__(self, capacity: int = 300) -> None:
        super().__init__(level=logging.INFO)
        self._lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self._lock_lines = threading.Lock()
        self.addFilter(RedactingFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            at = datetime.fromtimestamp(record.created, UTC).astimezone(_SHANGHAI).strftime("%H:%M:%S")
            message, source = record.getMessage(), record.name.rsplit(".", 1)[-1]
            if not message.startswith(f"{source}:") and not message.startswith("maintenance:"):
                message = f"{source}: {message}"
            line = f"{at} {record.levelname[:4]} {message}"
        except Exception:  # a bad format string must not break logging
            self.handleError(record)
            return
        with self._lock_lines:
            self._lines.append(redact(line))

    def lines(self, count: int = 40) -> list[str]:
        with self._lock_lines:
            return list(self._lines)[-count:]

    def install(self) -> RecentLogs:
        """Attach to the root logger (once; after `setup_logging`, which replaces every handler)."""
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)
        return self


RECENT_LOGS = RecentLogs()
