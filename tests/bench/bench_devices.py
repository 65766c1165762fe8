"""Device benchmarks (`kiosk bench devices`): figures and ratios against baselines measured or
computed in the same run, never absolute thresholds (these machines are noisy)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import serial

from devices.idcard import CardWatcher, IdCardReader, SamSimulator
from devices.idcard import protocol as p
from devices.printer.document import QR, Cut, Feed, Rule, Text
from devices.printer.encode import encode_receipt

BAUD = 115200
BITS_PER_BYTE = 10  # 8N1
READS = 8
IDENTITY = {
    "card_type": "resident",
    "name": "测试人",
    "gender": "男",
    "nation": "汉",
    "birth_date": "1980-01-01",
    "address": "河南省信阳市浉河区测试路1号",
    "id_number": "11010519491231002X",
    "issuer": "测试公安局",
    "valid_from": "2020-01-01",
    "valid_to": "长期",
}
# (command, reply length) of one find + select + read text/photo exchange (idcard-protocol.md §2.1)
EXCHANGE = [(p.FIND_CARD, 15), (p.SELECT_CARD, 19), (p.READ_BASE, 1295)]


def _wire_s(n_bytes: int) -> float:
    return n_bytes * BITS_PER_BYTE / BAUD


def _median(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_idcard_read() -> list[str]:
    sim = SamSimulator([IDENTITY], baudrate=BAUD, rf_delay_s=0.3, pace=True).start()
    try:
        sim.insert(0)
        limit = sum(_wire_s(len(p.build_command(*cmd)) + reply) for cmd, reply in EXCHANGE) + sim.rf_delay_s

        def raw_exchange() -> None:  # the least any host code can do: write, read the exact reply
            with serial.Serial(sim.port, BAUD, timeout=3) as port:
                for cmd, reply in EXCHANGE:
                    port.write(p.build_command(*cmd))
                    if len(port.read(reply)) != reply:
                        raise RuntimeError("short reply from the simulator")

        raw = _median(raw_exchange, READS)
        with IdCardReader(sim.port, baudrate=BAUD) as reader:
            driver = _median(lambda: reader.read_card(read_append=False), READS)
    finally:
        sim.stop()
    return [
        f"idcard find+select+read at {BAUD} bps: driver {driver * 1000:.0f} ms (median of {READS})",
        f"  wire-time limit (bytes on the wire + the reader's 300 ms RF time): {limit * 1000:.0f} ms "
        f"→ driver/limit = {driver / limit:.3f} (target ≤ 1.15)",
        f"  raw write/read loop on the same pty: {raw * 1000:.0f} ms → driver/raw = {driver / raw:.3f}",
    ]


def bench_idle_polling() -> list[str]:
    """CPU of watching for a card while nobody uses the kiosk, against the simulator alone."""
    sim = SamSimulator([IDENTITY], baudrate=BAUD, pace=True).start()
    seconds = 5.0
    try:
        start = time.process_time()
        time.sleep(seconds)
        baseline = time.process_time() - start  # the simulator thread idling in this process
        with (
            IdCardReader(sim.port, baudrate=BAUD) as reader,
            CardWatcher(reader, lambda card: None, lambda: None) as watcher,
        ):
            start = time.process_time()
            time.sleep(seconds)
            watching = time.process_time() - start
            polls = watcher.polls
    finally:
        sim.stop()
    share = (watching - baseline) / seconds * 100
    return [
        f"idle card polling: {share:.2f}% of one core ({polls} polls in {seconds:.0f} s; "
        f"process {watching / seconds * 100:.2f}% with the simulator, {baseline / seconds * 100:.2f}% "
        f"without polling) (target ≤ 1%)"
    ]


def sample_receipt() -> list:
    return [
        Text("政务服务办件回执", align="center", bold=True, double=True),
        Text("信阳市浉河区政务服务中心", align="center"),
        Rule(),
        Text("事项：失业登记"),
        Text("申请人：王*国"),
        Text("证件号码：4115**********0031"),
        Text("提交时间：2026-11-22 09:30"),
        Text("办件编号：KS2026112290253950", bold=True),
        Text("查询码：111192", bold=True),
        Rule(),
        Text("扫描下方二维码或凭办件编号和查询码查询办理进度", align="center"),
        QR("kiosk-receipt:v1?case_no=KS2026112290253950&query_code=111192"),
        Rule(),
        Text("终端 T4115020001", align="center"),
        Feed(3),
        Cut(),
    ]


def bench_receipt_size() -> list[str]:
    doc = sample_receipt()
    native = encode_receipt(doc, chinese_mode=True, native_qr=True)
    native_ms = _wire_s(len(native)) * 1000
    lines = [f"receipt, GB18030 text + native QR: {len(native)} bytes, {native_ms:.0f} ms at {BAUD}"]
    for label, kwargs in [
        ("image QR", {"chinese_mode": True, "native_qr": False}),
        ("image text + image QR", {"chinese_mode": False, "native_qr": False}),
    ]:
        try:
            image = encode_receipt(doc, **kwargs)
        except Exception as err:  # a mode this build cannot encode is reported, not fatal
            lines.append(f"  {label}: not available ({err})")
            continue
        lines.append(
            f"  {label}: {len(image)} bytes, {_wire_s(len(image)) * 1000:.0f} ms "
            f"→ {len(image) / len(native):.1f}× larger (target ≥ 10×)"
        )
    return lines


def main() -> None:
    for bench in (bench_idcard_read, bench_idle_polling, bench_receipt_size):
        for line in bench():
            print(line, flush=True)
