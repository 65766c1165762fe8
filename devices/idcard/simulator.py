"""A SAM reader simulator on a real pseudo-terminal, so the unchanged driver can be tested and demoed.

The driver opens `SamSimulator.port` exactly like /dev/ttyUSB0. With `stable_port=True` that is a
symlink the simulator owns in a temp directory (like /dev/serial/by-id/usb-…), pointing at the current
pty slave; otherwise it is the pty slave itself (e.g. /dev/pts/5). `unplug()` closes the pty (the
driver's open port then fails with EIO) and removes the link; `replug()` opens a new pty and re-points
the link, so a driver that reopens the same path finds the "device" again (devices/pty_sim.py).
Test-only tool: it holds sample identities, so it must never be pointed at real personal data logs.
"""

from __future__ import annotations

import json
import os
import random
import select
import termios
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from devices.idcard import protocol as p
from devices.idcard.card import PHOTO_LEN, encode_text
from devices.pty_sim import PtyPort, PtySimulator

FAULTS = ("garbage", "bad_checksum", "silence", "pull_mid_read", "sw3:0xNN")
_SW3_FAULT = "sw3:"  # "sw3:0x41": answer with that SW3 and no data (any byte; see protocol.SW3_TABLE)
_READS = (p.READ_BASE, p.READ_BASE_FP)
PORT_NAME = "usb-SIM_SAM_Reader-if00-port0"
WLT_HEADER = bytes.fromhex("574C66007E003200")  # "WL", 102 x 126, as seen on real photos (§4f)
DEFAULT_SAM_ID = (
    (5).to_bytes(2, "little")
    + (2).to_bytes(2, "little")
    + (20110721).to_bytes(4, "little")
    + (12345678).to_bytes(4, "little")
    + (123456789).to_bytes(4, "little")
)
_APPEND_LEN = 70
_CHUNK = 64  # bytes per paced write
_STALE_INPUT_S = 0.5  # drop a half-received command after this much silence, like a real UART parser
_BAUD_PARAS = {command.para: baud for baud, command in p.SET_BAUD.items()}
_SPEEDS = {getattr(termios, f"B{baud}"): baud for baud in p.SET_BAUD}


class _Card:
    """One identity pre-encoded into the bytes the SAM would send."""

    def __init__(self, identity: dict[str, Any], index: int) -> None:
        self.text = encode_text(identity)  # raises ValueError early for a malformed identity
        rng = random.Random(index)  # deterministic fake data per identity
        self.photo = bytes(
            identity.get("photo_wlt") or WLT_HEADER + rng.randbytes(PHOTO_LEN - len(WLT_HEADER))
        )
        if len(self.photo) != PHOTO_LEN:
            raise ValueError(f"identity {index}: photo_wlt must be {PHOTO_LEN} bytes")
        fingerprint = identity.get("fingerprint")
        if fingerprint is None and identity.get("fingerprint_bytes"):
            fingerprint = rng.randbytes(int(identity["fingerprint_bytes"]))
        self.fingerprint = bytes(fingerprint or b"")
        if len(self.fingerprint) not in (0, 512, 1024):
            raise ValueError(f"identity {index}: fingerprint must be 0, 512 or 1024 bytes")
        address = identity.get("appended_address")
        self.append: bytes | None = None
        if address:
            encoded = address.encode("utf-16-le")
            if len(encoded) > _APPEND_LEN:
                raise ValueError(f"identity {index}: appended_address longer than 35 characters")
            self.append = encoded + " ".encode("utf-16-le") * ((_APPEND_LEN - len(encoded)) // 2)


class SamSimulator(PtySimulator):
    """Serves the SAM protocol on the master side of a pty from a daemon thread."""

    def __init__(
        self,
        identities: list[dict[str, Any]],
        *,
        baudrate: int = 115200,
        rf_delay_s: float = 0.3,
        pace: bool = True,
        sam_id: bytes = DEFAULT_SAM_ID,
        seed: int = 0,
        stable_port: bool = False,
        strict_baud: bool = False,
    ) -> None:
        self._cards = [_Card(identity, i) for i, identity in enumerate(identities)]
        self.baudrate = baudrate
        self.rf_delay_s = rf_delay_s
        self.pace = pace  # False: no wire pacing and no RF delay, for fast tests
        self.sam_id = sam_id
        self.received: list[bytes] = []
        self.stable_port = stable_port
        self.strict_baud = strict_baud  # ignore a driver at another line speed, as a real UART would
        self._pty = PtyPort(PORT_NAME if stable_port else None, prefix="samsim-")
        self._pending_baud: int | None = None
        self._rng = random.Random(seed)
        self._faults: deque[tuple[str, p.Command | None]] = deque()
        self._state = threading.Lock()
        self._present: _Card | None = None
        self._selected = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------------

    def start(self) -> SamSimulator:
        if self._pty.started:
            return self
        self._pty.start()
        self.replug()
        return self

    def stop(self) -> None:
        if not self._pty.started:
            return
        self.unplug()
        self._pty.stop()

    @property
    def plugged(self) -> bool:
        return self._thread is not None

    def replug(self) -> None:
        """Plug the reader (back) in: a new pty, the stable `port` link re-pointed at it."""
        if self._thread is not None:
            return
        os.set_blocking(self._pty.plug(), False)  # plug(): RuntimeError before start()
        with self._state:
            self._selected = False
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="sam-simulator", daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        """Pull the USB cable: the pty closes (the driver sees EIO) and the `port` link disappears."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=3.0)
        self._thread = None
        self._pty.unplug()

    def insert(self, index: int = 0) -> None:
        card = self._cards[index]  # IndexError for a bad index is the right signal in a test
        with self._state:
            self._present, self._selected = card, False

    def remove(self) -> None:
        with self._state:
            self._present, self._selected = None, False

    def inject(self, fault: str, on: p.Command | None = None) -> None:
        """Queue a fault for the next reply (to command `on` only, if given); each fault hits one reply.

        `pull_mid_read` only ever hits a card read (30 01 / 30 10): the reply is cut off after a third
        and the card is gone from the reader. `sw3:0xNN` (e.g. "sw3:0x41", "sw3:0x60") replaces the
        reply with one carrying that SW3 and no data; the command itself is not carried out.
        """
        if fault.startswith(_SW3_FAULT):
            _parse_sw3_fault(fault)  # ValueError for a malformed code, at inject time
        elif fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        with self._state:
            self._faults.append((fault, on))

    def _take_fault(self, frame: bytes) -> str | None:
        command = p.Command(frame[7], frame[8]) if len(frame) > 8 else None
        with self._state:
            for i, (fault, on) in enumerate(self._faults):
                if fault == "pull_mid_read" and command not in _READS:
                    continue  # only a card read can be cut short by lifting the card
                if on is None or on == command:
                    del self._faults[i]
                    return fault
        return None

    # -- serving ---------------------------------------------------------------------------------

    def _serve(self) -> None:
        buf = bytearray()
        last_rx = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._pty.master], [], [], 0.05)
            if not ready:
                if buf and time.monotonic() - last_rx > _STALE_INPUT_S:
                    buf.clear()
                continue
            try:
                chunk = os.read(self._pty.master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:  # pty torn down under us
                return
            if self.strict_baud and self.line_speed() not in (None, self.baudrate):
                buf.clear()  # a real UART at another speed reads framing errors: nothing to answer
                continue
            buf += chunk
            last_rx = time.monotonic()
            for frame in _extract_frames(buf):
                self._respond(frame)

    def _respond(self, frame: bytes) -> None:
        self.received.append(frame)
        fault = self._take_fault(frame)
        if fault is not None and fault.startswith(_SW3_FAULT):
            reply, slow = p.build_response(_parse_sw3_fault(fault)), False
        else:
            reply, slow = self._answer(frame)
        if fault == "silence":
            self._switch_baud()
            return
        if fault == "bad_checksum":
            reply = reply[:-1] + bytes([reply[-1] ^ 0xFF])
        if fault == "garbage":
            reply = self._garbage() + reply
        if fault == "pull_mid_read":
            self.remove()  # the citizen lifts the card while the SAM is sending
            reply = reply[: max(p.HEADER_LEN + 3, len(reply) // 3)]
        if slow and self.pace:
            time.sleep(self.rf_delay_s)  # RF transfer + crypto before the first byte (§5.2)
        self._write(reply)
        self._switch_baud()

    def _switch_baud(self) -> None:
        if self._pending_baud is not None:  # 0x60 is answered at the old speed, then the UART switches
            self.baudrate, self._pending_baud = self._pending_baud, None

    def line_speed(self) -> int | None:
        """The speed the driver has set on the pty slave (Linux mirrors it on the master), if known."""
        if self._pty.master is None:
            return None
        try:
            return _SPEEDS.get(termios.tcgetattr(self._pty.master)[5])
        except termios.error:
            return None

    def _answer(self, frame: bytes) -> tuple[bytes, bool]:
        """(reply frame, is a slow card read)."""
        length = int.from_bytes(frame[5:7], "big")
        if length < 3 or len(frame) != p.HEADER_LEN + length:
            return p.build_response(p.SW3_BAD_LENGTH), False
        if p.xor(frame[5:-1]) != frame[-1]:
            return p.build_response(p.SW3_BAD_CHECKSUM), False
        command = p.Command(frame[7], frame[8])
        data = frame[9:-1]
        with self._state:
            return self._dispatch(command, data)

    def _dispatch(self, command: p.Command, data: bytes) -> tuple[bytes, bool]:
        card = self._present
        if command in (p.SAM_STATUS, p.RESET_SAM):
            self._selected = False
            return p.build_response(p.SW3_OK), False
        if command == p.READ_SAM_ID:
            return p.build_response(p.SW3_OK, self.sam_id), False
        if command == p.FIND_CARD:
            self._selected = False
            if card is None:
                return p.build_response(p.SW3_NO_CARD), False
            return p.build_response(p.SW3_FIND_OK, bytes(4)), False
        if command == p.SELECT_CARD:
            if card is None:
                return p.build_response(p.SW3_SELECT_FAILED), False
            self._selected = True
            return p.build_response(p.SW3_OK, bytes(8)), False
        if command in (p.READ_BASE, p.READ_BASE_FP, p.READ_APPEND):
            return self._read(command, card)
        if command.cmd == 0x60 and command.para in _BAUD_PARAS:
            self._pending_baud = _BAUD_PARAS[command.para]  # switched after the reply has been sent
            return p.build_response(p.SW3_OK), False
        if command == p.SET_RF_FRAME_SIZE and len(data) == 1:
            return p.build_response(p.SW3_OK), False
        return p.build_response(p.SW3_BAD_COMMAND), False

    def _read(self, command: p.Command, card: _Card | None) -> tuple[bytes, bool]:
        if card is None:
            return p.build_response(p.SW3_READ_FAILED), False
        if not self._selected:
            return p.build_response(0x23), False  # read before select: unauthorised operation
        if command == p.READ_APPEND:
            if card.append is None:
                return p.build_response(p.SW3_NO_CONTENT), False
            return p.build_response(p.SW3_OK, card.append), False
        lengths = len(card.text).to_bytes(2, "big") + len(card.photo).to_bytes(2, "big")
        if command == p.READ_BASE:
            return p.build_response(p.SW3_OK, lengths + card.text + card.photo), True
        fp_len = len(card.fingerprint).to_bytes(2, "big")
        return p.build_response(p.SW3_OK, lengths + fp_len + card.text + card.photo + card.fingerprint), True

    def _garbage(self) -> bytes:
        while True:
            junk = self._rng.randbytes(self._rng.randint(8, 48))
            if p.PREAMBLE not in junk:
                break
        return junk + p.PREAMBLE[:4]  # a false start right before the real preamble exercises resync

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        started = time.monotonic()
        sent = 0
        give_up = started + 2.0  # nobody reading the slave: drop the reply rather than hang the thread
        while sent < len(data) and not self._stop.is_set() and time.monotonic() < give_up:
            _, writable, _ = select.select([], [self._pty.master], [], 0.05)
            if not writable:
                continue
            try:
                sent += os.write(self._pty.master, view[sent : sent + _CHUNK])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            if self.pace:  # 8N1 = 10 bit times per byte
                delay = started + sent * 10 / self.baudrate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


def _parse_sw3_fault(fault: str) -> int:
    """ "sw3:0x41" -> 0x41; ValueError unless the code is one byte."""
    text = fault[len(_SW3_FAULT) :]
    try:
        code = int(text, 16)
    except ValueError:
        raise ValueError(f"bad SW3 fault {fault!r}; expected e.g. 'sw3:0x41'") from None
    if not 0 <= code <= 0xFF:
        raise ValueError(f"bad SW3 fault {fault!r}: SW3 is one byte")
    return code


def _extract_frames(buf: bytearray) -> list[bytes]:
    """Remove complete command frames from `buf`; junk before a preamble is dropped.

    A frame with an impossible length is returned as its 7-byte header so it gets SW3 0x11.
    """
    frames: list[bytes] = []
    while True:
        start = buf.find(p.PREAMBLE)
        if start < 0:
            del buf[: max(0, len(buf) - (len(p.PREAMBLE) - 1))]  # keep a possible partial preamble
            return frames
        del buf[:start]
        if len(buf) < p.HEADER_LEN:
            return frames
        length = int.from_bytes(buf[5:7], "big")
        if not 3 <= length <= p.MAX_FRAME_LEN:
            frames.append(bytes(buf[: p.HEADER_LEN]))
            del buf[: p.HEADER_LEN]
            continue
        if len(buf) < p.HEADER_LEN + length:
            return frames
        frames.append(bytes(buf[: p.HEADER_LEN + length]))
        del buf[: p.HEADER_LEN + length]


def load_identities(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Sample identities from JSON: a list of dicts (or {"identities": [...]}) with IdCard.to_json keys."""
    content = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(content, dict):
        content = content.get("identities")
    if not isinstance(content, list) or not all(isinstance(item, dict) for item in content):
        raise ValueError(f"{path}: expected a list of identity objects")
    return content
