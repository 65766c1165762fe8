"""The A4 driver against the simulated IPP printer that `sim://a4printer` starts (the demo's A4 printer).

Same expectations as tests/devices/test_a4_printer.py has of a real cupsd, without one.
"""

from __future__ import annotations

import http.client
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import img2pdf
import pytest
from PIL import Image, ImageDraw

from devices.base import Action, Completion, DeviceError, DeviceState, HealthLevel
from devices.printer import ipp
from devices.printer.a4 import A4Printer
from devices.printer.ipp_sim import ABORTED, CANCELED, COMPLETED, PROCESSING, IppPrinterSimulator
from devices.simhost import SimHost

A4_PT = (img2pdf.mm_to_pt(210), img2pdf.mm_to_pt(297))


def make_pdf() -> bytes:
    """A one-page A4 PDF as the platform's certificates come: a page image wrapped by img2pdf."""
    page = Image.new("L", (620, 877), 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle((40, 40, 580, 837), outline=0, width=4)
    draw.text((80, 80), "Certificate of social insurance", fill=0)
    buf = io.BytesIO()
    page.save(buf, "PNG")
    return img2pdf.convert(buf.getvalue(), layout_fun=img2pdf.get_layout_fun(A4_PT))


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimHost]:
    sims = SimHost()
    try:
        yield sims
    finally:
        sims.stop()


@pytest.fixture
def url(host: SimHost, tmp_path: Path) -> str:
    return host.resolve("a4_printer", f"sim://a4printer?out={tmp_path / 'a4'}")


@pytest.fixture
def sim(host: SimHost, url: str) -> IppPrinterSimulator:
    assert host.a4printer is not None
    return host.a4printer


def printer(url: str, **kw: object) -> A4Printer:
    return A4Printer(url, timeout_s=20, **kw)  # type: ignore[arg-type]


def test_sim_url_resolves_to_a_cups_url_with_the_simulators_server(
    url: str, sim: IppPrinterSimulator
) -> None:
    assert url == f"cups://kioskA4?server=127.0.0.1:{sim.port}"
    p = printer(url)
    assert (p.queue, p.server) == ("kioskA4", f"127.0.0.1:{sim.port}")


def test_prints_a_pdf_byte_identical_and_renders_it(url: str, sim: IppPrinterSimulator) -> None:
    pdf = make_pdf()
    with printer(url) as p:
        p.open()
        job = p.print_pdf(pdf, "社保参保证明")
        assert job == "kioskA4-1"
        p.wait_job(job, 20)
        assert p.counters["jobs_completed"] == 1
        st = p.status()
    printed = sim.wait_for_job()
    assert printed.state == COMPLETED and printed.name == "社保参保证明"
    assert printed.pdf_path is not None and printed.pdf_path.read_bytes() == pdf
    assert printed.data == pdf  # what the demo's scenario runner reads (jobs[-1].data)
    assert [p.name for p in printed.png_paths] == ["a4-001-p1.png"]
    with Image.open(printed.png_paths[0]) as png:
        assert abs(png.height / png.width - 297 / 210) < 0.01  # an A4 page
    assert (st.state, st.action) == (DeviceState.ONLINE, None)
    assert st.details | {"reasons": None} == {
        "queue": "idle",
        "accepting": True,
        "reasons": None,
        "paper": "ok",
        "cover_open": False,
        "jobs": 0,
        "error": None,
    }


def test_numbering_goes_on_after_the_files_already_there(tmp_path: Path) -> None:
    pdf = make_pdf()
    for expected in ("a4-001.pdf", "a4-002.pdf"):
        with IppPrinterSimulator(tmp_path, render=False) as sim:
            p = printer(sim.url)
            p.wait_job(p.print_pdf(pdf, "t"), 20)
            assert sim.wait_for_job().pdf_path == tmp_path / expected
    assert sorted(f.name for f in tmp_path.iterdir()) == ["a4-001.pdf", "a4-002.pdf"]


def test_paper_out_refuses_the_job_until_paper_is_back(url: str, sim: IppPrinterSimulator) -> None:
    sim.paper = "out"
    p = printer(url)
    st = p.status()
    assert (st.state, st.action) == (DeviceState.USER_ERROR, Action.CLEAR)
    assert st.details["paper"] == "out"
    assert st.details["reasons"] == ["media-empty-error"]
    assert st.details["queue"] == "stopped"
    with pytest.raises(DeviceError) as err:
        p.print_pdf(make_pdf(), "t")
    assert err.value.completion == Completion.DEVICE_NOT_READY
    assert err.value.action == Action.CLEAR
    assert err.value.message == "打印机缺纸，请联系工作人员。"
    assert sim.jobs == []
    sim.paper = "ok"  # staff loads paper
    assert p.status().state == DeviceState.ONLINE
    p.wait_job(p.print_pdf(make_pdf(), "t"), 20)


@pytest.mark.parametrize(
    ("fault", "reason", "paper", "cover"),
    [
        ("media-empty", "media-empty-error", "out", False),
        ("media-jam", "media-jam-error", "jammed", False),
        ("door-open", "door-open-error", "ok", True),
    ],
)
def test_printer_faults_mid_job_need_staff_and_fail_the_job(
    url: str, sim: IppPrinterSimulator, fault: str, reason: str, paper: str, cover: bool
) -> None:
    # As test_a4_printer's cupsd backend: the queue looks fine, the fault comes when the job prints.
    sim.fail_next_job = fault  # type: ignore[assignment]
    p = printer(url)
    job = p.print_pdf(make_pdf(), "t")
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 20)
    assert err.value.action == Action.CLEAR
    assert err.value.completion == Completion.DEVICE_NOT_READY
    st = p.status()
    assert reason in st.details["reasons"]
    assert st.state == DeviceState.USER_ERROR
    assert st.action == Action.CLEAR
    assert st.details["paper"] == paper
    assert st.details["cover_open"] is cover
    assert st.details["queue"] == "stopped"
    # The failed job was canceled, so it cannot come out after the citizen has left.
    assert st.details["jobs"] == 0
    assert sim.jobs[-1].state == CANCELED and sim.jobs[-1].pdf_path is None
    assert list(sim.out_dir.iterdir()) == []
    with pytest.raises(DeviceError):
        p.print_pdf(make_pdf(), "t")
    assert p.counters["errors"] == 2


def test_paper_running_out_while_a_slow_job_prints(url: str, sim: IppPrinterSimulator) -> None:
    sim.job_delay_s = 30
    p = printer(url)
    job = p.print_pdf(make_pdf(), "t")
    sim.wait_until(1, (PROCESSING,))
    assert p.status().details["queue"] == "processing"
    sim.paper = "out"
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 20)
    assert (err.value.completion, err.value.action) == (Completion.DEVICE_NOT_READY, Action.CLEAR)
    assert sim.jobs[0].state == CANCELED


def test_stopped_queue_is_offline_and_refuses_jobs(url: str, sim: IppPrinterSimulator) -> None:
    sim.online = False
    p = printer(url)
    st = p.status()
    assert (st.state, st.action) == (DeviceState.OFFLINE, Action.MAINTENANCE)
    assert st.details["queue"] == "stopped" and st.details["error"] == "queue_stopped"
    with pytest.raises(DeviceError) as err:
        p.print_pdf(make_pdf(), "t")
    assert err.value.completion == Completion.DEVICE_NOT_READY


def test_queue_not_accepting_refuses_jobs(url: str, sim: IppPrinterSimulator) -> None:
    sim.accepting = False
    p = printer(url)
    assert p.status().details["accepting"] is False
    with pytest.raises(DeviceError):
        p.print_pdf(make_pdf(), "t")
    # Even past the driver's own check (a race with cupsreject), the server refuses it.
    client = ipp.IppClient(sim.server, 5)
    with pytest.raises(ipp.IppError) as err:
        client.request(
            ipp.PRINT_JOB,
            "/printers/kioskA4",
            [*ipp.operation_attributes(sim.printer_uri), ipp.mime("document-format", "application/pdf")],
            make_pdf(),
        )
    assert err.value.status == ipp.STATUS_NOT_ACCEPTING_JOBS


def test_slow_job_times_out_and_is_canceled(url: str, sim: IppPrinterSimulator) -> None:
    sim.job_delay_s = 60
    p = printer(url)
    job = p.print_pdf(make_pdf(), "t")
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 0.3)
    assert err.value.completion == Completion.TIMEOUT
    assert sim.wait_until(1, (CANCELED,)).pdf_path is None
    assert p.status().details["jobs"] == 0


def test_wait_job_can_be_cancelled(url: str, sim: IppPrinterSimulator) -> None:
    sim.job_delay_s = 60
    p = printer(url)
    job = p.print_pdf(make_pdf(), "t")
    stop = threading.Event()
    stop.set()  # the citizen pressed 取消 while the job was out
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 20, stop)
    assert err.value.completion == Completion.CANCELED
    assert sim.jobs[0].state == CANCELED
    assert p.counters["errors"] == 0  # a cancel is not a fault


def test_unreadable_document_aborts_the_job(url: str, sim: IppPrinterSimulator) -> None:
    # The driver refuses non-PDFs itself; a raw client gets the job aborted, which the driver reports.
    client = ipp.IppClient(sim.server, 5)
    reply = client.request(
        ipp.PRINT_JOB,
        "/printers/kioskA4",
        [*ipp.operation_attributes(sim.printer_uri), ipp.mime("document-format", "application/pdf")],
        b"not a pdf",
    )
    assert reply.first("job-state") == ABORTED
    with pytest.raises(DeviceError) as err:
        printer(url).wait_job(f"kioskA4-{reply.first('job-id')}", 5)
    assert (err.value.completion, err.value.action) == (Completion.HARDWARE_ERROR, Action.MAINTENANCE)


def test_health_checks(url: str, sim: IppPrinterSimulator) -> None:
    with printer(url) as p:
        p.open()
        internal = p.check_health(HealthLevel.INTERNAL)
        assert internal.details["health"] == "ok" and sim.jobs == []
        external = p.check_health(HealthLevel.EXTERNAL)
        assert external.state == DeviceState.ONLINE
        assert external.details["health"] == "ok"
        assert external.details["test_job"] == "kioskA4-1"
        test_page = sim.wait_for_job()
        assert test_page.state == COMPLETED and test_page.data.startswith(b"%PDF-")
        sim.paper = "out"
        failed = p.check_health(HealthLevel.EXTERNAL)
        assert failed.details["health"] == "failed"
        assert (failed.state, failed.action) == (DeviceState.USER_ERROR, Action.CLEAR)
        assert len(sim.jobs) == 1  # nothing was sent to a printer without paper


def test_simulator_gone_is_offline_and_comes_back_on_the_same_url(url: str, sim: IppPrinterSimulator) -> None:
    p = printer(url)
    assert p.status().state == DeviceState.ONLINE
    sim.stop()
    st = p.status()
    assert (st.state, st.details["paper"]) == (DeviceState.OFFLINE, "unknown")
    with pytest.raises(DeviceError) as err:
        p.print_pdf(make_pdf(), "t")
    assert err.value.completion == Completion.DEVICE_NOT_READY
    sim.start()  # switched back on: same port, so the configured URL works again
    assert p.status().state == DeviceState.ONLINE
    p.wait_job(p.print_pdf(make_pdf(), "t"), 20)


def test_unknown_queue_and_unknown_job(url: str, sim: IppPrinterSimulator) -> None:
    other = A4Printer(f"cups://nosuch?server={sim.server}", timeout_s=5)
    assert other.status().state == DeviceState.OFFLINE
    with pytest.raises(DeviceError):
        other.open()
    with pytest.raises(DeviceError) as err:
        printer(url).wait_job("kioskA4-99", 2)
    assert err.value.completion == Completion.DEVICE_NOT_READY
    with pytest.raises(DeviceError):
        printer(url).cancel_job("kioskA4-99")


def test_ipp_request_and_response_round_trip() -> None:
    attrs = [*ipp.operation_attributes("ipp://h/printers/q"), ipp.integer("job-id", 7)]
    request = ipp.decode_request(ipp._encode(ipp.GET_JOB_ATTRIBUTES, 42, attrs) + b"%PDF-doc")
    assert (request.operation, request.request_id, request.data) == (ipp.GET_JOB_ATTRIBUTES, 42, b"%PDF-doc")
    assert request.first("job-id") == 7 and request.first("printer-uri") == "ipp://h/printers/q"
    payload = ipp.encode_response(
        ipp.STATUS_OK,
        42,
        [
            (ipp.OPERATION_GROUP, ipp.response_attributes("ok")),
            (
                ipp.PRINTER_GROUP,
                [
                    ipp.enum("printer-state", 5),
                    ipp.keywords("printer-state-reasons", ["a", "b"]),
                    ipp.boolean("printer-is-accepting-jobs", False),
                ],
            ),
        ],
    )
    response = ipp._decode(payload)
    assert response.status == ipp.STATUS_OK and len(response.groups) == 2
    assert response.first("status-message") == "ok"
    assert response.all("printer-state-reasons") == ["a", "b"]
    assert response.first("printer-is-accepting-jobs") is False
    with pytest.raises(ipp.IppError):
        ipp.decode_request(ipp._encode(ipp.PRINT_JOB, 1, attrs)[:-1])  # no end-of-attributes


def test_malformed_posts_get_http_or_ipp_errors(sim: IppPrinterSimulator) -> None:
    def post(body: bytes, content_type: str = "application/ipp") -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
        try:
            conn.request("POST", "/printers/kioskA4", body=body, headers={"Content-Type": content_type})
            reply = conn.getresponse()
            return reply.status, reply.read()
        finally:
            conn.close()

    assert post(b"hello", "text/plain")[0] == 400
    status, body = post(b"\x01\x01")
    assert status == 200 and ipp._decode(body).status == ipp.STATUS_BAD_REQUEST
    unsupported = ipp._encode(0x0005, 3, ipp.operation_attributes(sim.printer_uri))  # Create-Job
    assert ipp._decode(post(unsupported)[1]).status == ipp.STATUS_OPERATION_NOT_SUPPORTED
    get = ipp._encode(ipp.GET_PRINTER_ATTRIBUTES, 4, ipp.operation_attributes(sim.printer_uri))
    answer = post(b"\x02\x00" + get[2:])[1]  # an IPP/2.0 client is answered in 2.0
    assert answer[:2] == b"\x02\x00" and ipp._decode(answer).status == ipp.STATUS_OK
    assert ipp._decode(post(b"\x09\x00" + get[2:])[1]).status == ipp.STATUS_VERSION_NOT_SUPPORTED


def test_chunked_request_body(sim: IppPrinterSimulator) -> None:
    # CUPS's own clients (lp -h, ipptool) send chunked bodies.
    body = ipp._encode(ipp.GET_PRINTER_ATTRIBUTES, 5, ipp.operation_attributes(sim.printer_uri))
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        headers = {"Content-Type": "application/ipp"}
        conn.request("POST", "/printers/kioskA4", iter([body[:10], body[10:]]), headers, encode_chunked=True)
        response = ipp._decode(conn.getresponse().read())
    finally:
        conn.close()
    assert response.first("printer-state") == 3 and response.first("printer-name") == "kioskA4"
