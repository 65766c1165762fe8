"""The virtual ESC/POS printer, spoken to with raw bytes over a real TCP socket and a real pty."""

from __future__ import annotations

import os
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFont

from devices.fonts import find_cjk_font, find_cjk_font_face
from devices.printer import VirtualEscposPrinter
from devices.printer.sim_parser import Block, StreamParser

INIT_CN = b"\x1b@\x1c&"
CUT = b"\x1dV\x00"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[VirtualEscposPrinter]:
    with VirtualEscposPrinter(tmp_path) as printer:
        yield printer


@pytest.fixture
def conn(sim: VirtualEscposPrinter) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", sim.start_tcp()), timeout=2) as s:
        yield s


def ask(conn: socket.socket, n: int, timeout: float = 1.0) -> bytes:
    conn.settimeout(timeout)
    conn.sendall(b"\x10\x04" + bytes([n]))
    try:
        return conn.recv(16)
    except TimeoutError:
        return b""


def qr_store_and_print(data: bytes, size: int = 6) -> bytes:
    def gs_k(fn: int, params: bytes) -> bytes:
        n = len(params) + 2
        return b"\x1d(k" + bytes([n & 0xFF, n >> 8, 49, fn]) + params

    return gs_k(67, bytes([size])) + gs_k(69, b"0") + gs_k(80, b"0" + data) + gs_k(81, b"0")


def test_text_styles_and_chinese_mode(sim: VirtualEscposPrinter, conn: socket.socket) -> None:
    conn.sendall(
        INIT_CN
        + b"\x1ba\x01\x1bE\x01\x1d!\x11"
        + "标题".encode("gb18030")
        + b"\n\x1ba\x00\x1bE\x00\x1d!\x00"
        + "姓名：李四 abc".encode("gb18030")
        + b"\n\x1c.caf\x82\n"  # Chinese mode off: CP437 (0x82 is é)
        + CUT
    )
    job = sim.wait_for_job(5)
    assert job.lines == ["标题", "姓名：李四 abc", "café"]
    assert job.png_path is not None
    with Image.open(job.png_path) as png:
        image = png.convert("L")
    assert image.width == 576
    # The bold, double-size, centred title leaves the left margin blank and inks the middle.
    title = image.crop((0, 16, 576, 16 + 48))
    assert title.crop((0, 0, 200, 48)).getextrema()[0] == 255
    assert title.crop((240, 0, 336, 48)).getextrema()[0] == 0


def test_status_bytes_follow_the_state(sim: VirtualEscposPrinter, conn: socket.socket) -> None:
    assert [ask(conn, n) for n in (1, 2, 3, 4)] == [b"\x12"] * 4
    sim.paper = "low"
    assert ask(conn, 4) == b"\x1e"
    sim.paper = "out"
    assert ask(conn, 4) == b"\x7e"
    assert ask(conn, 2)[0] & 0x20
    sim.paper = "full"
    sim.cover_open = True
    assert ask(conn, 2) == b"\x16"
    assert ask(conn, 1) == b"\x1a"  # offline while the cover is open
    sim.silent = True
    assert ask(conn, 1, timeout=0.2) == b""


def test_job_with_paper_out_is_not_printed(sim: VirtualEscposPrinter, conn: socket.socket) -> None:
    sim.paper = "out"
    conn.sendall(INIT_CN + "不应打印".encode("gb18030") + b"\n" + CUT)
    job = sim.wait_for_job(5)
    assert job.png_path is None and job.error == "paper out"
    assert sim.errors == ["paper out"]
    assert not list(sim.render_dir.glob("*.png"))


def test_unknown_sequences_are_skipped(sim: VirtualEscposPrinter, conn: socket.socket) -> None:
    conn.sendall(
        INIT_CN
        + b"\x1bZ\x1d\xf0\x1c\xf1"  # unknown commands
        + b"\x1b3\x40\x1d(L\x04\x000p\x01\x02"  # known ones with arguments, not rendered
        + b"\x1dk\x04123\x00"  # a barcode
        + b"ok\n"
        + CUT
    )
    job = sim.wait_for_job(5)
    assert job.lines == ["ok"]
    assert job.png_path is not None


def test_qr_and_raster_image(sim: VirtualEscposPrinter, conn: socket.socket) -> None:
    square = b"\x1dv0\x00" + bytes([4, 0, 32, 0]) + b"\xff" * (4 * 32)  # 32x32 black dots
    conn.sendall(INIT_CN + b"\x1ba\x01" + qr_store_and_print("二维码数据".encode()) + b"\n" + square + CUT)
    job = sim.wait_for_job(5)
    assert job.qr_data == ["二维码数据"]
    assert job.png_path is not None
    with Image.open(job.png_path) as png:
        image = png.convert("L")
    # The centred raster square sits in the middle of the last printed rows.
    assert image.getpixel((288, job_bottom(image) - 16)) == 0


def job_bottom(image: Image.Image) -> int:
    """The last inked row."""
    inverted = Image.eval(image, lambda v: 255 - v)
    box = inverted.getbbox()
    assert box is not None
    return box[3]


def test_accepts_a_new_client_after_a_disconnect(sim: VirtualEscposPrinter) -> None:
    port = sim.start_tcp()
    for text in (b"first", b"second"):
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"\x1b@" + text + b"\n" + CUT)
            assert sim.wait_for_job(5).lines == [text.decode()]
    assert sim.job_ready.is_set()
    assert [j.png_path.name for j in sim.jobs if j.png_path] == ["receipt-001.png", "receipt-002.png"]


def test_pty_transport(sim: VirtualEscposPrinter) -> None:
    path = sim.start_pty()
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"\x10\x04\x04")
        ready, _, _ = select.select([fd], [], [], 2)
        assert ready and os.read(fd, 16) == b"\x12"
        os.write(fd, INIT_CN + "串口打印".encode("gb18030") + b"\n" + CUT)
        assert sim.wait_for_job(5).lines == ["串口打印"]
    finally:
        os.close(fd)


def test_wait_for_job_times_out(sim: VirtualEscposPrinter) -> None:
    with pytest.raises(TimeoutError):
        sim.wait_for_job(0.05)


def test_numbering_continues_after_existing_renders(tmp_path: Path) -> None:
    (tmp_path / "receipt-007.png").write_bytes(b"")
    with VirtualEscposPrinter(tmp_path) as sim:
        with socket.create_connection(("127.0.0.1", sim.start_tcp()), timeout=2) as s:
            s.sendall(b"x\n" + CUT)
        job = sim.wait_for_job(5)
    assert job.png_path is not None and job.png_path.name == "receipt-008.png"


def parse(data: bytes, chunk: int) -> tuple[list[list[Block]], bytes]:
    jobs: list[list[Block]] = []
    parser = StreamParser(lambda n: 0x12, lambda blocks, raw: jobs.append(blocks))
    replies = b"".join(parser.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    return jobs, replies


def test_byte_by_byte_equals_all_at_once() -> None:
    data = (
        INIT_CN
        + "跨省通办".encode("gb18030")
        + b"\n\x10\x04\x01"
        + qr_store_and_print(b"abc")
        + b"\x1dv0\x00\x01\x00\x02\x00\xff\x00"
        + CUT
    )
    whole, whole_replies = parse(data, len(data))
    split, split_replies = parse(data, 1)
    assert whole == split and len(whole) == 1
    assert whole_replies == split_replies == b"\x12"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=17))
def test_parser_survives_garbage(data: bytes, chunk: int) -> None:
    parse(data + CUT, chunk)


def test_cjk_font_is_found_and_covers_chinese() -> None:
    path = find_cjk_font()
    assert Path(path).is_file()
    font = ImageFont.truetype(path, 24, index=find_cjk_font_face()[1])
    # A font without the glyph draws a notdef box the same for every missing character.
    assert font.getmask("中").getbbox() != font.getmask("\U0010fffd").getbbox()


def test_no_cjk_font_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = subprocess.CompletedProcess([], 0, stdout="/fonts/DejaVuSans.ttf\n0\nen|de|fr", stderr="")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: fake)
    find_cjk_font_face.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="install fonts-noto-cjk"):
            find_cjk_font()
    finally:
        find_cjk_font_face.cache_clear()
