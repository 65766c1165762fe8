"""Incremental ESC/POS parser for the virtual printer: bytes in, printed blocks and finished jobs out.

It understands the subset the driver emits and skips other ESC / GS / FS sequences by their known
argument lengths, so a stray command never crashes the simulator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
LF, EOT = 0x0A, 0x04


def _arg_table(groups: dict[int, bytes]) -> dict[int, int]:
    return {command: n for n, commands in groups.items() for command in commands}


# Commands skipped by a fixed number of argument bytes.
_ESC_ARGS = _arg_table({0: b"2<LS", 1: b"tRM-3GV{r= %?UTe", 2: b"$\\Bc", 3: b"p"})
_GS_ARGS = _arg_table({1: b"BbHhwfarIE|/T", 2: b"LWP$\\"})
_FS_ARGS = _arg_table({0: b"4", 1: b"!-WC", 2: b"Sp?"})
_QR_LEVELS = {48: "L", 49: "M", 50: "Q", 51: "H"}
_ALIGNS = {0: "left", 48: "left", 1: "center", 49: "center", 2: "right", 50: "right"}


@dataclass(frozen=True)
class Style:
    bold: bool = False
    width: int = 1  # character scale, 1..8
    height: int = 1


@dataclass(frozen=True)
class Segment:
    text: str
    style: Style
    wide: bool  # double-byte characters print full width (two columns) in Chinese mode


@dataclass
class TextLine:
    segments: list[Segment]
    align: str

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)


@dataclass
class Blank:
    dots: int


@dataclass
class QrBlock:
    data: bytes
    module: int
    level: str
    align: str


@dataclass
class RasterBlock:
    image: Image.Image
    align: str


Block = TextLine | Blank | QrBlock | RasterBlock


class _Incomplete(Exception):
    """The buffer ends inside a command: wait for more bytes."""


@dataclass
class _Pending:
    """Text received for the current line, not yet printed."""

    runs: list[tuple[Style, bool, bytearray]] = field(default_factory=list)
    align: str = "left"


class StreamParser:
    """Feed it bytes as they arrive; it answers real-time status queries and reports each cut job."""

    def __init__(
        self,
        status_byte: Callable[[int], int | None],
        on_job: Callable[[list[Block], bytes], None],
        *,
        chinese_default: bool = True,
        on_line: Callable[[TextLine], None] | None = None,
    ) -> None:
        self._status_byte = status_byte
        self._on_job = on_job
        self._on_line = on_line  # called as each text line of a job is complete, while parsing
        self._chinese_default = chinese_default
        self._buf = bytearray()
        self._pos = 0
        self._raw = bytearray()
        self._blocks: list[Block] = []
        self._cut_done = False
        self.skipped: list[bytes] = []  # unknown command prefixes, for tests and debugging
        self._reset()

    def _reset(self) -> None:
        self.chinese = self._chinese_default
        self.align = "left"
        self.style = Style()
        self._line = _Pending()
        self._qr_data = b""
        self._qr_module = 3
        self._qr_level = "L"

    def feed(self, data: bytes) -> bytes:
        """Consume bytes; return what the printer answers (status bytes)."""
        self._buf += data
        replies = bytearray()
        while self._pos < len(self._buf):
            start = self._pos
            try:
                reply = self._step()
            except _Incomplete:
                self._pos = start
                break
            except Exception:  # a malformed argument must never kill the printer: drop one byte
                self._pos = start + 1
                self.skipped.append(bytes(self._buf[start : start + 2]))
            if self._buf[start] == DLE:
                replies += reply or b""  # real-time commands are not part of the job
            else:
                self._raw += self._buf[start : self._pos]
            if self._cut_done:
                self._end_job()
        del self._buf[: self._pos]
        self._pos = 0
        return bytes(replies)

    # -- reading ---------------------------------------------------------------------------------

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._buf):
            raise _Incomplete
        chunk = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        return chunk

    def _byte(self) -> int:
        return self._take(1)[0]

    def _word(self) -> int:
        low, high = self._take(2)
        return low | high << 8

    # -- dispatch ------------------------------------------------------------------------------

    def _step(self) -> bytes | None:
        b = self._byte()
        if b == ESC:
            self._esc()
        elif b == GS:
            self._gs()
        elif b == FS:
            self._fs()
        elif b == DLE:
            return self._dle()
        elif b == LF:
            self._newline()
        elif b == 0x09:
            self._text(b" ")
        elif b >= 0x20:
            end = self._pos
            while end < len(self._buf) and self._buf[end] >= 0x20:
                end += 1
            self._text(bytes(self._buf[self._pos - 1 : end]))
            self._pos = end
        return None  # CR, NUL and other C0 controls are ignored

    def _esc(self) -> None:
        c = self._byte()
        if c == ord("@"):
            self._reset()
        elif c == ord("a"):
            self.align = _ALIGNS.get(self._byte(), "left")
        elif c == ord("E"):
            self.style = Style(bool(self._byte() & 1), self.style.width, self.style.height)
        elif c == ord("!"):
            n = self._byte()
            self.style = Style(bool(n & 0x08), 2 if n & 0x20 else 1, 2 if n & 0x10 else 1)
        elif c == ord("d"):
            self._feed_lines(self._byte())
        elif c == ord("J"):
            self._flush_line()
            self._blocks.append(Blank(self._byte()))
        elif c == ord("*"):
            m, width = self._byte(), self._word()
            self._take(width * (3 if m in (32, 33) else 1))
        elif c == ord("D"):
            while self._byte() != 0:
                pass
        elif c in (ord("i"), ord("m")):
            self._cut()
        elif c in _ESC_ARGS:
            self._take(_ESC_ARGS[c])
        else:
            self.skipped.append(bytes([ESC, c]))

    def _gs(self) -> None:
        c = self._byte()
        if c == ord("!"):
            n = self._byte()
            self.style = Style(self.style.bold, min((n >> 4) + 1, 8), min((n & 0x0F) + 1, 8))
        elif c == ord("V"):
            if self._byte() in (65, 66, 97, 98, 103, 104):
                self._byte()
            self._cut()
        elif c == ord("v"):
            self._raster()
        elif c == ord("("):
            fn_class = self._byte()
            payload = self._take(self._word())
            if fn_class == ord("k"):
                self._symbol(payload)
        elif c == ord("8"):
            self._byte()
            size = int.from_bytes(self._take(4), "little")
            self._take(size)
        elif c == ord("k"):
            self._barcode()
        elif c == ord("*"):
            x, y = self._take(2)
            self._take(x * y * 8)
        elif c in _GS_ARGS:
            self._take(_GS_ARGS[c])
        else:
            self.skipped.append(bytes([GS, c]))

    def _fs(self) -> None:
        c = self._byte()
        if c == ord("&"):
            self.chinese = True
        elif c == ord("."):
            self.chinese = False
        elif c == ord("2"):
            self._take(74)  # FS 2 c1 c2 + a 24x24 user-defined character
        elif c in _FS_ARGS:
            self._take(_FS_ARGS[c])
        else:
            self.skipped.append(bytes([FS, c]))

    def _dle(self) -> bytes | None:
        c = self._byte()
        if c == EOT:
            value = self._status_byte(self._byte())
            return None if value is None else bytes([value])
        if c == 0x05:  # DLE ENQ n
            self._byte()
        elif c == 0x14:  # DLE DC4 fn m t
            self._take(3)
        return None

    # -- commands with payloads ------------------------------------------------------------------

    def _raster(self) -> None:
        if self._byte() != ord("0"):
            return
        mode, width_bytes, height = self._byte(), self._word(), self._word()
        data = self._take(width_bytes * height)
        self._flush_line()
        if width_bytes == 0 or height == 0:
            return
        # ESC/POS sets a bit for a black dot; Pillow's "1" mode reads a set bit as white.
        image = Image.frombytes("1", (width_bytes * 8, height), bytes(b ^ 0xFF for b in data))
        if mode & 3:
            image = image.resize(
                (image.width * (2 if mode & 1 else 1), image.height * (2 if mode & 2 else 1))
            )
        self._blocks.append(RasterBlock(image, self.align))

    def _symbol(self, payload: bytes) -> None:
        if len(payload) < 2 or payload[0] != 49:  # cn 49: QR code; other symbols are ignored
            return
        fn, params = payload[1], payload[2:]
        if fn == 67 and params:
            self._qr_module = max(1, min(params[0], 16))
        elif fn == 69 and params:
            self._qr_level = _QR_LEVELS.get(params[0], "L")
        elif fn == 80 and params:
            self._qr_data = bytes(params[1:])  # params[0] is m (48)
        elif fn == 81 and self._qr_data:
            self._flush_line()
            self._blocks.append(QrBlock(self._qr_data, self._qr_module, self._qr_level, self.align))

    def _barcode(self) -> None:
        m = self._byte()
        if m <= 6:
            while self._byte() != 0:
                pass
        else:
            self._take(self._byte())

    # -- text and paper ---------------------------------------------------------------------------

    def _text(self, data: bytes) -> None:
        runs = self._line.runs
        if not runs:
            self._line.align = self.align  # ESC a counts at the start of a line
        if runs and runs[-1][0] == self.style and runs[-1][1] == self.chinese:
            runs[-1][2].extend(data)
        else:
            runs.append((self.style, self.chinese, bytearray(data)))

    def _newline(self) -> None:
        if self._line.runs:
            self._flush_line()
        else:
            self._blocks.append(Blank(max(30, 24 * self.style.height + 6)))

    def _flush_line(self) -> None:
        if not self._line.runs:
            return
        segments: list[Segment] = []
        for style, chinese, data in self._line.runs:
            if chinese:
                text = data.decode("gb18030", errors="replace")
                segments.extend(Segment(ch, style, ord(ch) > 0x7F) for ch in text)
            else:
                segments.append(Segment(data.decode("cp437"), style, False))
        line = TextLine(_merge(segments), self._line.align)
        self._blocks.append(line)
        self._line = _Pending()
        if self._on_line is not None:
            self._on_line(line)

    def _feed_lines(self, n: int) -> None:
        if self._line.runs:
            self._flush_line()
            n -= 1
        if n > 0:
            self._blocks.append(Blank(30 * n))

    def _cut(self) -> None:
        self._flush_line()
        self._cut_done = True  # the job ends once the cut's own bytes are in its raw record

    def _end_job(self) -> None:
        blocks, raw = self._blocks, bytes(self._raw)
        self._blocks, self._raw, self._cut_done = [], bytearray(), False
        self._on_job(blocks, raw)


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbouring characters of the same style and width class."""
    merged: list[Segment] = []
    for s in segments:
        if merged and merged[-1].style == s.style and merged[-1].wide == s.wide:
            merged[-1] = Segment(merged[-1].text + s.text, s.style, s.wide)
        else:
            merged.append(s)
    return merged
