"""UPOS lifecycle, check_health levels and usage counters of every driver, against the simulators."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_a4_printer import QUEUE, Cups, cups, make_pdf, needs_cupsd  # noqa: F401 - cups is a fixture
from test_idcard_reader import IDENTITIES

from devices.base import Action, Completion, Device, DeviceError, DeviceState, HealthLevel
from devices.camera import Camera, SimulatedCamera
from devices.idcard import IdCardReader, SamSimulator
from devices.idcard import protocol as p
from devices.lifecycle import LifecycleState
from devices.printer import QR, Cut, ReceiptPrinter, Text, VirtualEscposPrinter
from devices.printer.a4 import A4Printer, a4_test_page_pdf

EXTERNAL_LEVELS = [HealthLevel.EXTERNAL, HealthLevel.INTERACTIVE]


@pytest.fixture
def sam() -> Iterator[SamSimulator]:
    with SamSimulator(IDENTITIES, pace=False) as simulator:
        yield simulator


@pytest.fixture
def escpos(tmp_path: Path) -> Iterator[VirtualEscposPrinter]:
    with VirtualEscposPrinter(tmp_path / "renders") as printer:
        yield printer


@pytest.fixture
def escpos_url(escpos: VirtualEscposPrinter) -> str:
    return f"tcp://127.0.0.1:{escpos.start_tcp()}"


def noise_image(path: Path) -> Path:
    rng = np.random.default_rng(0)
    cv2.imwrite(str(path), rng.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    return path


@pytest.fixture
def camera_image(tmp_path: Path) -> Path:
    return noise_image(tmp_path / "face.png")


def sequence_error(call: object) -> DeviceError:
    with pytest.raises(DeviceError) as info:
        call()  # type: ignore[operator]
    assert info.value.completion is Completion.SEQUENCE_ERROR
    assert info.value.message  # a short Chinese sentence for the screen
    return info.value


# -- the protocol ----------------------------------------------------------------------------------


def test_every_driver_satisfies_the_device_protocol(tmp_path: Path) -> None:
    drivers = [
        IdCardReader("/dev/null-reader"),
        ReceiptPrinter("tcp://127.0.0.1:9"),
        A4Printer("cups://q", server="127.0.0.1:9"),
        Camera("v4l2:///dev/null-camera"),
        SimulatedCamera(tmp_path / "none.png"),
    ]
    for driver in drivers:
        assert isinstance(driver, Device), type(driver).__name__
        assert isinstance(driver.counters, Counter)
        assert driver.lifecycle_state is LifecycleState.CLOSED


# -- lifecycle order (the state machine is shared, shown on the reader and the camera) --------------


def test_open_implies_claim_and_enable(sam: SamSimulator) -> None:
    assert sam.port is not None
    reader = IdCardReader(sam.port)
    reader.open()
    try:
        assert reader.lifecycle_state is LifecycleState.ENABLED
        reader.claim(0.1)  # a UPOS caller's claim + enable after open are no-ops
        reader.enable()
        assert reader.find_card() is False
    finally:
        reader.close()
    assert reader.lifecycle_state is LifecycleState.CLOSED


def test_lifecycle_order_is_enforced(sam: SamSimulator) -> None:
    assert sam.port is not None
    reader = IdCardReader(sam.port)
    sequence_error(lambda: reader.claim(0.1))  # not open
    sequence_error(reader.enable)
    sequence_error(reader.disable)
    sequence_error(reader.release)
    reader.open()
    try:
        reader.release()
        assert reader.lifecycle_state is LifecycleState.OPEN
        sequence_error(reader.enable)  # not claimed
        sequence_error(reader.release)
        sequence_error(reader.find_card)
        reader.claim(0.1)
        assert reader.lifecycle_state is LifecycleState.CLAIMED
        sequence_error(reader.find_card)  # claimed but not enabled
        reader.enable()
        sam.insert(0)
        assert reader.read_card().card_type == "resident"
    finally:
        reader.close()
    sequence_error(reader.find_card)  # closed: the reader's old "not open" refusal


def test_disabled_reader_refuses_every_card_operation(sam: SamSimulator) -> None:
    assert sam.port is not None
    sam.insert(0)
    with IdCardReader(sam.port) as reader:
        reader.disable()
        error = sequence_error(reader.read_card)
        assert "wait_for_card" not in error.detail
        sequence_error(lambda: reader.wait_for_card(0.1))
        sequence_error(reader.find_card)
        sequence_error(reader.sam_id)
        sequence_error(lambda: reader.set_baud_rate(57600))
        assert reader.status().state is DeviceState.ONLINE  # status still works
        assert reader.counters["errors"] == 0  # a refusal is the caller's mistake, not a fault
        reader.enable()
        assert reader.read_card().card_type == "resident"


def test_claim_is_exclusive_within_the_process(camera_image: Path) -> None:
    first, second = SimulatedCamera(camera_image, fps=1000), SimulatedCamera(camera_image, fps=1000)
    first.open()
    try:
        error = sequence_error(second.open)
        assert "claimed" in error.detail
        assert second.lifecycle_state is LifecycleState.CLOSED
        first.release()
        second.open()  # free now
        sequence_error(lambda: first.claim(0.05))  # waits, then gives up
        second.close()
        first.claim(0.05)
        first.enable()
        assert first.read_frame().shape == (120, 160, 3)
    finally:
        first.close()
        second.close()


def test_claim_waits_for_the_holder(camera_image: Path) -> None:
    first, second = SimulatedCamera(camera_image, fps=1000), SimulatedCamera(camera_image, fps=1000)
    first.open()
    try:
        first.release()
        second.open()
        timer = threading.Timer(0.2, second.close)
        timer.start()
        first.claim(5.0)  # returns once the other instance closes
        timer.join()
        assert first.lifecycle_state is LifecycleState.CLAIMED
    finally:
        first.close()
        second.close()


def test_close_and_reopen_resets_to_enabled(camera_image: Path) -> None:
    camera = SimulatedCamera(camera_image, fps=1000)
    camera.open()
    camera.disable()
    camera.close()
    camera.open()
    try:
        assert camera.lifecycle_state is LifecycleState.ENABLED
        camera.read_frame()
    finally:
        camera.close()


# -- ID card reader ---------------------------------------------------------------------------------


def test_reader_health_levels(sam: SamSimulator) -> None:
    assert sam.port is not None
    with IdCardReader(sam.port) as reader:
        internal = reader.check_health(HealthLevel.INTERNAL)
        assert internal.state is DeviceState.ONLINE
        assert internal.details["health"] == "ok" and internal.details["sam_ok"] is True
        assert "sam_id" not in internal.details
        for level in EXTERNAL_LEVELS:
            external = reader.check_health(level)
            assert external.state is DeviceState.ONLINE
            assert external.details["health"] == "ok"
            assert external.details["health_level"] == level.value
            assert external.details["sam_id"] == reader.sam_id()
        reader.disable()  # a technician disables the reader, then tests it
        assert reader.check_health(HealthLevel.EXTERNAL).details["health"] == "ok"


def test_reader_health_failures_are_statuses(sam: SamSimulator) -> None:
    assert sam.port is not None
    with IdCardReader(sam.port) as reader:
        sam.inject("silence", on=p.READ_SAM_ID)
        failed = reader.check_health(HealthLevel.EXTERNAL)
        assert failed.state is not DeviceState.ONLINE
        assert failed.details["health"] == "failed" and "read_sam_id" in failed.details["error"]
        assert failed.action is not None  # the action the error carries
        assert reader.counters["errors"] == 1
        sam.unplug()
        gone = reader.check_health(HealthLevel.INTERNAL)
        assert gone.state is DeviceState.NO_DEVICE
        assert gone.details["health"] == "failed" and gone.action is Action.MAINTENANCE
        reader.release()
        released = reader.check_health(HealthLevel.INTERNAL)
        assert released.details["health"] == "failed" and "released" in released.details["error"]
    closed = IdCardReader(sam.port).check_health(HealthLevel.EXTERNAL)
    assert closed.state is DeviceState.OFFLINE and closed.details["health"] == "failed"


def test_reader_counters(sam: SamSimulator) -> None:
    assert sam.port is not None
    with IdCardReader(sam.port) as reader:
        sam.insert(0)
        reader.read_card()
        reader.wait_for_card(1.0)
        assert reader.counters["reads"] == 2
        sam.remove()
        with pytest.raises(DeviceError):
            reader.wait_for_card(0.05)  # nobody came: not a fault
        with pytest.raises(DeviceError):
            reader.read_card()  # no card
        assert reader.counters["errors"] == 1
        assert reader.counters["reads"] == 2


# -- receipt printer --------------------------------------------------------------------------------


def test_receipt_printer_lifecycle_and_counters(escpos: VirtualEscposPrinter, escpos_url: str) -> None:
    with ReceiptPrinter(escpos_url, timeout_s=2) as printer:
        printer.print_receipt([Text("未打开也能打印")])  # never opened: works as before
        escpos.wait_for_job()
        printer.open()
        printer.print_receipt([Text("一"), Cut(), Text("二"), Cut()])
        escpos.wait_for_job()
        printer.disable()
        sequence_error(lambda: printer.print_receipt([Text("停用")]))
        sequence_error(lambda: printer.print_test_page("T-1"))
        printer.enable()
        printer.print_test_page("T-1")
        escpos.wait_for_job()
        assert printer.counters["prints"] == 3
        assert printer.counters["cuts"] == 4  # 1 added + 2 + the test page's
        escpos.paper = "out"  # type: ignore[assignment]
        with pytest.raises(DeviceError):
            printer.print_receipt([QR("x")])
        assert printer.counters["errors"] == 1
        assert printer.counters["prints"] == 3


def test_receipt_printer_health_levels(escpos: VirtualEscposPrinter, escpos_url: str) -> None:
    with ReceiptPrinter(escpos_url, timeout_s=2, name="printer") as printer:
        printer.open()
        internal = printer.check_health(HealthLevel.INTERNAL)
        assert internal.state is DeviceState.ONLINE and internal.details["health"] == "ok"
        assert printer.counters["prints"] == 0  # INTERNAL moves nothing
        for level in EXTERNAL_LEVELS:
            printer.terminal_id = "ZW-0042"
            external = printer.check_health(level)
            assert external.details["health"] == "ok", external
            job = escpos.wait_for_job()
            assert job.png_path is not None and any("ZW-0042" in line for line in job.lines)
        assert printer.counters["prints"] == 2 and printer.counters["cuts"] == 2
        escpos.paper = "out"  # type: ignore[assignment]
        failed = printer.check_health(HealthLevel.EXTERNAL)
        assert failed.state is DeviceState.USER_ERROR
        assert failed.details["health"] == "failed" and failed.details["paper"] == "out"
        assert failed.action is Action.CLEAR
        escpos.paper = "ok"  # type: ignore[assignment]
        escpos.silent = True
        silent = printer.check_health(HealthLevel.INTERNAL)
        assert silent.state is DeviceState.OFFLINE and silent.details["health"] == "failed"


# -- A4 printer (real cupsd) ------------------------------------------------------------------------


def a4(env: Cups) -> A4Printer:
    return A4Printer(f"cups://{QUEUE}", server=env.server, timeout_s=20)


def test_test_page_pdf_is_one_page() -> None:
    pdf = a4_test_page_pdf("a4")
    assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 1


@needs_cupsd
def test_a4_lifecycle_counters_and_health(cups: Cups) -> None:  # noqa: F811 - the imported fixture
    with a4(cups) as printer:
        printer.open()
        assert printer.check_health(HealthLevel.INTERNAL).details["health"] == "ok"
        assert printer.counters["jobs"] == 0
        job = printer.print_pdf(make_pdf(), "t")
        printer.wait_job(job, 20)
        assert printer.counters["jobs"] == 1 and printer.counters["pages"] == 1
        assert printer.counters["jobs_completed"] == 1
        printer.disable()
        sequence_error(lambda: printer.print_pdf(make_pdf(), "t"))
        external = printer.check_health(HealthLevel.EXTERNAL)  # allowed while disabled
        assert external.details["health"] == "ok", external
        assert external.details["test_job"].startswith(f"{QUEUE}-")
        assert cups.out.read_bytes().startswith(b"%PDF-")  # the test page came out
        assert printer.counters["jobs"] == 2 and printer.counters["jobs_completed"] == 2
        cups.fault("media-empty-error")
        failed = printer.check_health(HealthLevel.INTERACTIVE)
        assert failed.state is not DeviceState.ONLINE
        assert failed.details["health"] == "failed" and failed.details["error"]
        assert failed.action in (Action.CLEAR, Action.MAINTENANCE)
        assert printer.counters["errors"] >= 1


def test_a4_without_cupsd_fails_health_not_raises() -> None:
    printer = A4Printer("cups://nothere", server="127.0.0.1:9", timeout_s=1)
    status = printer.check_health(HealthLevel.EXTERNAL)
    assert status.state is DeviceState.OFFLINE
    assert status.details["health"] == "failed" and status.action is Action.MAINTENANCE


# -- camera ------------------------------------------------------------------------------------------


def test_camera_lifecycle_counters_and_health(camera_image: Path) -> None:
    camera = SimulatedCamera(camera_image, fps=1000)
    camera.open()
    try:
        camera.read_frame()
        camera.read_frame()
        assert camera.counters["frames"] == 2
        internal = camera.check_health(HealthLevel.INTERNAL)
        assert internal.details["health"] == "ok" and camera.counters["frames"] == 2
        for level in EXTERNAL_LEVELS:
            external = camera.check_health(level)
            assert external.details["health"] == "ok"
            assert external.details["frame"] == "160x120"
        assert camera.counters["frames"] == 4
        camera.disable()
        sequence_error(camera.read_frame)
    finally:
        camera.close()
    sequence_error(camera.read_frame)  # closed
    assert camera.counters["errors"] == 1  # the closed read; the disabled refusal is not counted


def test_blank_camera_fails_external_health(tmp_path: Path) -> None:
    blank = tmp_path / "capped.png"
    cv2.imwrite(str(blank), np.zeros((120, 160, 3), dtype=np.uint8))
    camera = SimulatedCamera(blank, fps=1000)
    camera.open()
    try:
        assert camera.check_health(HealthLevel.INTERNAL).details["health"] == "ok"
        failed = camera.check_health(HealthLevel.EXTERNAL)
        assert failed.state is DeviceState.HARDWARE_ERROR
        assert failed.details["health"] == "failed" and "blank" in failed.details["error"]
        assert failed.action is Action.MAINTENANCE
        assert camera.counters["errors"] == 1
    finally:
        camera.close()


def test_unopenable_camera_fails_health() -> None:
    camera = Camera("v4l2:///dev/null-camera")
    sequence_error(camera.read_frame)
    status = camera.check_health(HealthLevel.EXTERNAL)
    assert status.state is DeviceState.OFFLINE and status.details["health"] == "failed"
    with pytest.raises(DeviceError) as info:
        camera.open()
    assert info.value.completion is Completion.DEVICE_NOT_READY
    assert camera.lifecycle_state is LifecycleState.CLOSED
