"""Outbox benchmarks (`kiosk bench outbox`): drain rate of a backlog to the local platform simulator,
without and with a 200 KB scanned page per case, and the signing overhead per request, each with a
ratio against a baseline measured in the same run.

KIOSK_BENCH_CASES sets the backlog size (default 2,000).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

import requests

from kiosk.demo import demo_application, demo_proof
from kiosk.outbox import Outbox, load_or_create_key
from kiosk.platform import PlatformClient
from kiosk.platform_sim import ServerThread
from kiosk.signing import sign_request, sm3_hex
from kiosk.submission import Attachment, enqueue_submission

TERMINAL = "T4115020001"
SECRET = "b" * 64
SIGN_CALLS = 1000
PAGE_BYTES = 200 * 1024
# 退休提取公积金: its M01 (退休证明) may be a scan.
SCAN_ITEM = "KS-SAMPLE-GJJ-TQ-0001"
SCAN_FORM = {"phone": "13800138000", "bank_account": "6222020000000000", "reason": "正常退休"}


def _cases() -> int:
    return max(1, int(os.environ.get("KIOSK_BENCH_CASES", "2000")))


def _scan_case(proof_id: str, ref: str) -> tuple[dict, list[Attachment]]:
    application = json.loads(demo_application(proof_id, ref)) | {"item_code": SCAN_ITEM, "form": SCAN_FORM}
    page = b"\xff\xd8\xff\xe0" + os.urandom(PAGE_BYTES - 4)  # every citizen's scan differs
    return application, [Attachment("M01", page, "image/jpeg")]


def _drain(tmp: Path, client: PlatformClient, enqueue_all) -> dict:
    with Outbox(tmp / "outbox.db", load_or_create_key(tmp / "secrets" / "outbox.key")) as outbox:
        start = time.perf_counter()
        enqueue_all(outbox)
        enqueue_s = time.perf_counter() - start
        start = time.perf_counter()
        while outbox.counts()["pending"]:
            if not outbox.deliver_pending(client, limit=10_000):
                break  # nothing due: would only spin
        drain_s = time.perf_counter() - start
        counts = outbox.counts()
    (tmp / "outbox.db").unlink()
    return {"enqueue_s": enqueue_s, "drain_s": drain_s, **counts}


def bench_drain(tmp: Path) -> tuple[list[str], float]:
    """Lines to print, and the drain time per case (without attachments) in µs."""
    n = _cases()
    with ServerThread(tmp / "sim.db", {TERMINAL: SECRET}) as server:
        with PlatformClient(server.base_url, TERMINAL, SECRET) as client:
            proof_id = demo_proof(client)  # valid 15 min, for every case of this applicant
            bodies = [demo_application(proof_id, f"{TERMINAL}-bench-{i:06d}") for i in range(n)]

            def plain(outbox: Outbox) -> None:
                for body in bodies:
                    outbox.enqueue("application", body, session_ref=uuid.uuid4().hex)

            def scanned(outbox: Outbox) -> None:
                for i in range(n):
                    enqueue_submission(outbox, TERMINAL, *_scan_case(proof_id, f"{TERMINAL}-scan-{i:06d}"))

            small = _drain(tmp, client, plain)
            big = _drain(tmp, client, scanned)

        # Baseline: the same number of unsigned POSTs over one keep-alive session (as PlatformClient
        # uses) to a trivial endpoint of the same server: no signature, no validation, no storage.
        with requests.Session() as session:
            start = time.perf_counter()
            for _ in range(n):
                session.post(server.base_url + "/admin/faults", data=b"{}", timeout=10).raise_for_status()
            plain_s = time.perf_counter() - start
            session.delete(server.base_url + "/admin/faults", timeout=10)
        stored = len(requests.get(server.base_url + "/ops/cases", timeout=30).json())

    rate, big_rate, plain_rate = n / small["drain_s"], n / big["drain_s"], n / plain_s

    def outcome(d: dict) -> str:
        return f"delivered {d['delivered']} records, failed {d['failed']}, pending {d['pending']}"

    lines = [
        f"outbox drain, {n} applications (~{len(bodies[0])} B each, no attachments) to the simulator on "
        f"127.0.0.1: {rate:.0f} cases/s ({small['drain_s'] * 1000 / n:.1f} ms/case; {outcome(small)})",
        f"outbox drain, {n} cases each with one {PAGE_BYTES // 1024} KB scanned page (upload §5.6, then the "
        f"application §5.7): {big_rate:.0f} cases/s ({big['drain_s'] * 1000 / n:.1f} ms/case; "
        f"{outcome(big)}) (target ≥ 50 cases/s) → with/without attachment = {big_rate / rate:.3f}",
        f"  platform stored {stored} cases in all (expected {2 * n})",
        f"  baseline, {n} unsigned requests.Session POSTs to a trivial endpoint of the same server: "
        f"{plain_rate:.0f} req/s ({plain_s * 1000 / n:.2f} ms/req) "
        f"→ drain/baseline = {rate / plain_rate:.3f} without, {big_rate / plain_rate:.3f} with attachment",
        f"  enqueue (seal + WAL commit, synchronous=FULL): {n / small['enqueue_s']:.0f} cases/s without, "
        f"{n / big['enqueue_s']:.0f} cases/s with the {PAGE_BYTES // 1024} KB page",
    ]
    return lines, small["drain_s"] / n * 1e6


def bench_signing(case_us: float) -> list[str]:
    body = demo_application("0" * 32, f"{TERMINAL}-bench-signing")
    path = "/terminal/v1/applications"

    start = time.perf_counter()
    for _ in range(SIGN_CALLS):
        sign_request(SECRET, TERMINAL, "POST", path, "", body)
    sign_s = time.perf_counter() - start

    start = time.perf_counter()
    for _ in range(SIGN_CALLS):
        sm3_hex(body)
    sm3_s = time.perf_counter() - start

    sign_us, sm3_us = sign_s / SIGN_CALLS * 1e6, sm3_s / SIGN_CALLS * 1e6
    return [
        f"signing (sign_request: SM3 of the body, canonical string, HMAC-SM3, nonce), {len(body)} B body: "
        f"{sign_us:.1f} µs/request over {SIGN_CALLS} calls",
        f"  baseline, SM3 of the body alone: {sm3_us:.1f} µs → sign/sm3 = {sign_us / sm3_us:.1f}×",
        f"  signing share of one drained case: {sign_us / case_us * 100:.2f}%",
    ]


def main() -> None:
    # Per-record INFO lines (client, outbox, simulator) would time the log handler, on both sides.
    kiosk_log = logging.getLogger("kiosk")
    level = kiosk_log.level
    kiosk_log.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-outbox-") as tmp:
            lines, case_us = bench_drain(Path(tmp))
    finally:
        kiosk_log.setLevel(level)
    print("(kiosk INFO logging off during the drain and its baseline)", flush=True)
    for line in lines:
        print(line, flush=True)
    for line in bench_signing(case_us):
        print(line, flush=True)
