"""WltDecoder: only a configured vendor library decodes photos; a fake one proves the ctypes path."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from devices.base import Action, Completion, DeviceError
from devices.idcard.simulator import WLT_HEADER
from devices.idcard.wlt import BMP_LEN, MSG_NOT_CONFIGURED, WltDecoder

PHOTO = WLT_HEADER + bytes(1024 - len(WLT_HEADER))

# Stands in for a vendor libwlt2bmp.so: checks its licence magic and the WLT header, writes a fixed
# BMP (header + a pixel value derived from the photo, so we can tell the input went through).
FAKE_LIB = r"""
#include <string.h>
#include <stdint.h>
static void le32(unsigned char *p, uint32_t v) { p[0]=v; p[1]=v>>8; p[2]=v>>16; p[3]=v>>24; }
int unpack(char *wlt, char *out, int magic) {
    if (magic != 708) return -3;
    if (wlt[0] != 'W' || wlt[1] != 'L') return -2;
    unsigned char *b = (unsigned char *)out;
    memset(b, 0, 38862);
    b[0] = 'B'; b[1] = 'M'; le32(b + 2, 38862); le32(b + 10, 54);
    le32(b + 14, 40); le32(b + 18, 102); le32(b + 22, 126); b[26] = 1; b[28] = 24;
    memset(b + 54, (unsigned char)wlt[100], 308 * 126);
    return 1;
}
int broken(char *wlt, char *out, int magic) { (void)wlt; (void)magic; memset(out, 0, 38862); return 1; }
"""


@pytest.fixture(scope="module")
def fake_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler to build the fake vendor library")
    work = tmp_path_factory.mktemp("wlt")
    source = work / "fakewlt.c"
    source.write_text(FAKE_LIB)
    lib = work / "libfakewlt.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(lib), str(source)], check=True, timeout=60)
    return lib


def test_not_configured_is_unsupported() -> None:
    decoder = WltDecoder(None)
    assert not decoder.configured
    with pytest.raises(DeviceError) as info:
        decoder.decode(PHOTO)
    assert info.value.completion is Completion.UNSUPPORTED
    assert info.value.message == MSG_NOT_CONFIGURED == "本终端未配置证件照片解码"


def test_missing_library_is_a_clear_maintenance_error(tmp_path: Path) -> None:
    missing = tmp_path / "libwlt2bmp.so"
    decoder = WltDecoder(missing, magic=708)
    for call in (decoder.check, lambda: decoder.decode(PHOTO)):
        with pytest.raises(DeviceError) as info:
            call()
        assert info.value.completion is Completion.UNSUPPORTED
        assert info.value.action is Action.MAINTENANCE
        assert "联系工作人员" in info.value.message
        assert str(missing) in info.value.detail and "does not exist" in info.value.detail


def test_not_a_shared_library(tmp_path: Path) -> None:
    junk = tmp_path / "libjunk.so"
    junk.write_bytes(b"not an ELF file")
    with pytest.raises(DeviceError) as info:
        WltDecoder(junk, magic=708).decode(PHOTO)
    assert info.value.completion is Completion.UNSUPPORTED
    assert "cannot load" in info.value.detail


def test_decodes_through_the_vendor_library(fake_lib: Path) -> None:
    photo = bytearray(PHOTO)
    photo[100] = 0x5A
    decoder = WltDecoder(fake_lib, "unpack", magic=708)
    decoder.check()
    bmp = decoder.decode(bytes(photo))
    assert len(bmp) == BMP_LEN and bmp[:2] == b"BM"
    assert int.from_bytes(bmp[18:22], "little") == 102 and int.from_bytes(bmp[22:26], "little") == 126
    assert bmp[54] == 0x5A and bmp[-1] == 0x5A  # the library really saw our bytes
    assert decoder.decode(bytes(photo)) == bmp  # reusable


def test_wrong_licence_magic_is_reported(fake_lib: Path) -> None:
    with pytest.raises(DeviceError) as info:
        WltDecoder(fake_lib, magic=1).decode(PHOTO)
    assert info.value.completion is Completion.INVALID_DATA
    assert "returned -3" in info.value.detail


def test_missing_entry_point(fake_lib: Path) -> None:
    with pytest.raises(DeviceError) as info:
        WltDecoder(fake_lib, "GetBmp", magic=708).decode(PHOTO)
    assert info.value.completion is Completion.UNSUPPORTED
    assert "GetBmp" in info.value.detail


def test_library_output_that_is_not_a_bmp(fake_lib: Path) -> None:
    with pytest.raises(DeviceError) as info:
        WltDecoder(fake_lib, "broken", magic=708).decode(PHOTO)
    assert info.value.completion is Completion.HARDWARE_ERROR


@pytest.mark.parametrize("photo", [b"", PHOTO[:512], b"XX" + PHOTO[2:]])
def test_rejects_what_is_not_a_wlt_photo(fake_lib: Path, photo: bytes) -> None:
    with pytest.raises(DeviceError) as info:
        WltDecoder(fake_lib, magic=708).decode(photo)
    assert info.value.completion is Completion.INVALID_DATA
