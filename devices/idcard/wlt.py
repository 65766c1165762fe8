"""WLT photo decoding, only through the reader vendor's licensed library (protocol doc §4f).

WLT is a proprietary format; no open decoder exists and we do not guess one. The kiosk is
configured with the path of the vendor's shared library (e.g. `libwlt2bmp.so`) and its licence
"magic" number; the library is called through ctypes with the common signature

    int unpack(char *wlt /* 1024 bytes */, char *bmp_out /* 38 862 bytes */, int magic);

and must return `success` (1 for libwlt2bmp) and fill a 102 x 126 24-bit BMP. With no library
configured, `decode()` raises DeviceError(UNSUPPORTED): the text fields never need the photo.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from pathlib import Path

from devices.base import N_, Action, Completion, DeviceError
from devices.idcard.card import PHOTO_LEN

log = logging.getLogger(__name__)

BMP_LEN = 38862  # 54-byte header + 126 rows x 308 bytes (102 px x 3, padded to 4)
WLT_MAGIC = b"WL"
MSG_NOT_CONFIGURED = N_("本终端未配置证件照片解码")
MSG_DECODER_BROKEN = N_("证件照片解码组件不可用，请联系工作人员。")
MSG_BAD_PHOTO = N_("证件照片无法解码。")


class WltDecoder:
    """Thread-safe (vendor decoders usually are not, so calls are serialised); loads lazily."""

    def __init__(
        self,
        library_path: Path | str | None = None,
        entry: str = "unpack",
        *,
        magic: int = 0,
        success: int = 1,
    ) -> None:
        self.library_path = Path(library_path) if library_path else None
        self.entry = entry
        self.magic = magic
        self.success = success
        self._lock = threading.Lock()
        self._func: ctypes._CFuncPtr | None = None  # type: ignore[name-defined]

    @property
    def configured(self) -> bool:
        return self.library_path is not None

    def check(self) -> None:
        """Load the library now (for a health check at start-up); raises DeviceError if unusable."""
        with self._lock:
            self._load_locked()

    def decode(self, wlt: bytes) -> bytes:
        """The 1024-byte WLT photo as a 38 862-byte BMP."""
        if self.library_path is None:
            raise DeviceError(
                Completion.UNSUPPORTED,
                MSG_NOT_CONFIGURED,
                detail="no licensed WLT decoder library configured",
                action=None,
            )
        if len(wlt) != PHOTO_LEN or not wlt.startswith(WLT_MAGIC):
            raise DeviceError(
                Completion.INVALID_DATA,
                MSG_BAD_PHOTO,
                detail=f"not a WLT photo ({len(wlt)} bytes, header {wlt[:2].hex()})",
                action=Action.AUTO,
            )
        src = ctypes.create_string_buffer(bytes(wlt), PHOTO_LEN)
        out = ctypes.create_string_buffer(BMP_LEN)
        with self._lock:
            func = self._load_locked()
            try:
                rc = func(src, out, self.magic)
            except (OSError, ctypes.ArgumentError) as exc:  # a crash inside C cannot be caught; this can
                raise self._broken(f"{self.entry}() failed: {type(exc).__name__}: {exc}") from exc
        if rc != self.success:
            raise DeviceError(
                Completion.INVALID_DATA,
                MSG_BAD_PHOTO,
                detail=f"{self.entry}() returned {rc} (licence magic {self.magic} wrong, or bad photo)",
                action=Action.MAINTENANCE,
            )
        bmp = out.raw
        if not bmp.startswith(b"BM") or int.from_bytes(bmp[2:6], "little") not in (0, BMP_LEN):
            raise self._broken(f"{self.entry}() did not produce a {BMP_LEN}-byte BMP")
        return bmp

    def _load_locked(self) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
        if self._func is not None:
            return self._func
        if self.library_path is None:
            raise DeviceError(Completion.UNSUPPORTED, MSG_NOT_CONFIGURED, detail="no WLT decoder configured")
        if not self.library_path.is_file():
            raise self._unusable(f"WLT decoder library {self.library_path} does not exist")
        try:
            lib = ctypes.CDLL(str(self.library_path))
            func = getattr(lib, self.entry)
        except (OSError, AttributeError) as exc:
            raise self._unusable(
                f"cannot load {self.entry}() from {self.library_path}: {type(exc).__name__}: {exc}"
            ) from exc
        func.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)
        func.restype = ctypes.c_int
        self._func = func
        log.info("WLT decoder loaded from %s", self.library_path)
        return func

    @staticmethod
    def _unusable(detail: str) -> DeviceError:
        """Configured but not loadable: a deployment problem for a technician."""
        return DeviceError(
            Completion.UNSUPPORTED, MSG_DECODER_BROKEN, detail=detail, action=Action.MAINTENANCE
        )

    @staticmethod
    def _broken(detail: str) -> DeviceError:
        return DeviceError(
            Completion.HARDWARE_ERROR, MSG_DECODER_BROKEN, detail=detail, action=Action.MAINTENANCE
        )
