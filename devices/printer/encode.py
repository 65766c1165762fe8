"""Turn a Receipt into one ESC/POS job with python-escpos, before anything reaches the printer.

Building the whole job first means a bad element (an oversized QR, say) fails before half a receipt
is printed, and the job goes out in a single write.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

from escpos import exceptions as escpos_errors
from escpos.printer import Dummy

from devices.base import N_, Action, Completion, DeviceError
from devices.printer.document import QR, Cut, Element, Feed, Rule, Text, columns
from devices.printer.raster import NoFontError, gs_v0, render_line

FS_CHINESE_ON = b"\x1c\x26"  # FS &: double-byte GB18030 characters
FS_CHINESE_OFF = b"\x1c\x2e"  # FS .: single-byte code page
DOTS_PER_MM = 8
QR_MAX_BYTES = 2953  # version 40 at error level L, byte mode

_ALIGN = {"left": 0, "center": 1, "right": 2}  # ESC a n

# Receipt text can carry citizen-typed strings: a stray ESC or GS in them would be a printer command.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def printable_dots(paper_mm: int) -> int:
    """Printable width in dots: 48 or 32 columns of 12-dot characters."""
    return columns(paper_mm) * 12


def encode_receipt(
    doc: Sequence[Element], *, paper_mm: int = 80, chinese_mode: bool = True, native_qr: bool = True
) -> bytes:
    """Return the ESC/POS bytes of one receipt; it always ends with a cut."""
    try:
        p = _dummy(paper_mm)
        p.hw("INIT")
        # Sent once per job because ESC @ may drop the printer back to its default code page.
        p._raw(FS_CHINESE_ON if chinese_mode else FS_CHINESE_OFF)
        for element in doc:
            _encode(p, element, paper_mm, chinese_mode, native_qr)
        if not doc or not isinstance(doc[-1], Cut):
            p.cut()  # a kiosk receipt must always come off the roll
        return p.output
    except (ValueError, TypeError, escpos_errors.Error) as exc:
        raise DeviceError(
            Completion.INVALID_DATA,
            N_("凭条内容有误，无法打印，请联系工作人员。"),
            detail=f"cannot encode receipt: {type(exc).__name__}",  # the message may quote receipt data
            action=Action.MAINTENANCE,
        ) from exc
    except NoFontError as exc:
        raise DeviceError(
            Completion.UNSUPPORTED,
            N_("打印机配置有误，请联系工作人员。"),
            detail=f"no CJK font for image text: {exc}",
            action=Action.MAINTENANCE,
        ) from exc


def _dummy(paper_mm: int) -> Dummy:
    p = Dummy()
    # The profile data is shared by every escpos instance: copy it before setting our paper width.
    p.profile.profile_data = copy.deepcopy(p.profile.profile_data)
    media = p.profile.profile_data["media"]
    media["width"] = {"mm": paper_mm, "pixels": printable_dots(paper_mm)}
    media["dpi"] = 203
    return p


def _encode(p: Dummy, element: Element, paper_mm: int, chinese_mode: bool, native_qr: bool) -> None:
    match element:
        case Text():
            _text(p, element, chinese_mode, paper_mm)
        case Rule():
            _text(p, Text("-" * columns(paper_mm)), chinese_mode, paper_mm)
        case QR(data=data, size=size):
            _qr(p, data, size, native_qr)
        case Feed(lines=lines):
            p.print_and_feed(lines)
        case Cut():
            p.cut()
        case _:
            raise TypeError(f"not a receipt element: {type(element).__name__}")


def _text(p: Dummy, element: Text, chinese_mode: bool, paper_mm: int) -> None:
    scale = 2 if element.double else 1
    # GS ! (custom size) rather than ESC !: Chinese printers apply ESC ! to ASCII characters only.
    p.set(align=element.align, bold=element.bold, custom_size=True, width=scale, height=scale)
    for line in element.text.split("\n"):
        clean = _CONTROL_CHARS.sub(" ", line)
        if not chinese_mode and not clean.isascii():
            # No Chinese font in the printer: draw the line and send it as a raster image. The
            # image carries its own alignment, so the printer's is reset to the left margin.
            image = render_line(
                clean, printable_dots(paper_mm), align=element.align, bold=element.bold, double=element.double
            )
            p._raw(b"\x1ba\x00" + gs_v0(image) + b"\x1ba" + bytes([_ALIGN[element.align]]))
        elif chinese_mode:
            # python-escpos's own encoder knows no GB18030, so the bytes go out raw.
            p._raw(clean.encode("gb18030") + b"\n")
        else:
            p.text(clean + "\n")


def _qr(p: Dummy, data: str, size: int, native_qr: bool) -> None:
    if not data or len(data.encode("utf-8")) > QR_MAX_BYTES:
        raise ValueError("QR data empty or too long")
    p.set(align="center")
    if native_qr:
        # Blank lines above and below keep the quiet zone scanners need.
        p._raw(b"\n")
        p.qr(data, native=True, size=size)
        p._raw(b"\n")
    else:
        p.qr(data, native=False, size=size)  # adds its own blank lines and a 1-module border
    p.set(align="left")
