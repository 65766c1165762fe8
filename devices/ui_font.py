"""The font file the UI draws text with, prepared once from the system's CJK font.

Kivy's SDL2 text provider opens font files itself, and two of its habits cost the kiosk:
- it always opens face 0 of a collection. In Noto Sans CJK (.ttc) that is the Japanese face, whose
  forms of ~8,600 common hanzi (返, 通, 骨 …) differ from the Simplified Chinese ones citizens read;
- it opens one FreeType face per (size, bold) and reads the file through a stream, so every face keeps
  its own heap copy of the CFF subroutines: ~2 MB per face for Noto Sans CJK, ~40 MB over the UI.

So the chosen face is written out as a font of its own, with its CFF desubroutinized (the subroutine
calls inlined: the same outlines, nothing for FreeType to copy) and without the vertical metrics Kivy
never uses, under the user's cache directory. That takes ~1 min and ~450 MB, so it runs in a child
process: at setup (`kiosk font build`, which waits for it), or in the background at a start that
finds it missing (that start draws with the system file). A plain TrueType file is used as it is.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from devices.fonts import find_cjk_font_face
from devices.user_cache import user_cache_dir

log = logging.getLogger(__name__)

RECIPE = "sc-face+desubroutinized+horizontal/1"  # part of the cache key: a new recipe derives the file again
DERIVE_TIMEOUT_S = 600.0
# Vertical metrics: Kivy lays text out horizontally only, and FreeType copies vmtx (~260 KB) per face.
VERTICAL_TABLES = ("vhea", "vmtx", "VORG")


def derived_path(file: str | Path, index: int, directory: Path | None = None) -> Path:
    """Where the face `index` of `file` goes once derived: named after its source and what it was."""
    source = Path(file).resolve()
    stat = source.stat()
    key = f"{source}|{stat.st_size}|{stat.st_mtime_ns}|{index}|{RECIPE}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return (directory or user_cache_dir("fonts")) / f"{source.stem}-{index}-{digest}.otf"


def needs_deriving(file: str | Path, index: int) -> bool:
    """A face other than the first can't be opened by Kivy, and a CFF face costs a copy per size."""
    from fontTools.ttLib import TTFont

    if index:
        return True
    with TTFont(file, fontNumber=0, lazy=True) as font:
        return "CFF " in font


def derive(file: str | Path, index: int, dest: Path) -> None:
    """Write face `index` of `file` to `dest` as a standalone font, its CFF desubroutinized and its
    vertical metrics left out."""
    from fontTools.ttLib import TTFont

    with TTFont(file, fontNumber=index) as font:
        if "CFF " in font:
            font["CFF "].cff.desubroutinize()
        for tag in VERTICAL_TABLES:
            if tag in font:
                del font[tag]
        partial = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
        font.save(partial)
    os.replace(partial, dest)  # a reader sees the whole file or none


def _command(file: str | Path, index: int, dest: Path) -> list[str]:
    return [sys.executable, "-m", "devices.ui_font", str(file), str(index), str(dest)]


def _to_derive(file: str | Path, index: int, directory: Path | None) -> tuple[Path, bool]:
    """(the file to draw with, whether it must be derived first): the derived file if it is there, or
    the source itself when it needs no deriving; else the derived file's path (its folder made)."""
    dest = derived_path(file, index, directory)
    if dest.is_file():
        return dest, False
    if not needs_deriving(file, index):
        return Path(file), False
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest, True


def prepare(face: tuple[str, int] | None = None, directory: Path | None = None) -> tuple[Path, bool]:
    """(the font file for the UI, whether it was derived now): the system's CJK face (or `face`),
    derived first if it needs to be and is not yet. RuntimeError when the system has no CJK font
    or deriving fails. For setup: it waits the minute deriving takes."""
    file, index = face or find_cjk_font_face()
    dest, missing = _to_derive(file, index, directory)
    if not missing:
        return dest, False
    try:
        subprocess.run(_command(file, index, dest), check=True, timeout=DERIVE_TIMEOUT_S, capture_output=True)
    except (OSError, subprocess.SubprocessError) as err:
        last = (getattr(err, "stderr", None) or str(err).encode()).decode(errors="replace").strip()
        raise RuntimeError(f"could not prepare the UI font from {file}: {last.splitlines()[-1:]}") from err
    return dest, True


_background: list[subprocess.Popen] = []  # kept, so that it is not reported as left running


@functools.cache  # once per process: one check, at most one background derivation
def ui_font() -> Path:
    """The font file for the UI, never waiting: the prepared one if it is there, else the system's
    file as it is while a child process prepares it for the next start (a first start must not wait a
    minute, nor outlast the service's start timeout on a slow terminal). RuntimeError when the system
    has no CJK font at all."""
    file, index = find_cjk_font_face()
    try:
        dest, missing = _to_derive(file, index, None)
        if not missing:
            return dest
        if _claim(dest):
            _background.append(subprocess.Popen(_command(file, index, dest), stderr=subprocess.DEVNULL))
        log.warning("UI font not prepared (kiosk font build): drawing with %s; preparing %s", file, dest)
    except (OSError, ValueError) as err:  # an unreadable font file or cache directory
        log.error("UI font: drawing with %s as it is: %s", file, err)
    return Path(file)


def _lock(dest: Path) -> Path:
    return dest.with_name(f"{dest.name}.lock")


def _claim(dest: Path) -> bool:
    """Whether this process may start deriving `dest`: not if another did less than the timeout ago
    (the tests start many UI processes in a row, and each derivation takes ~450 MB)."""
    lock = _lock(dest)
    with contextlib.suppress(FileNotFoundError):
        if time.time() - lock.stat().st_mtime < DERIVE_TIMEOUT_S:
            return False
        lock.unlink()  # left by a derivation that was killed
    try:
        os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:  # another process claimed it just now
        return False
    return True


def _remove_older(dest: Path) -> None:
    """Faces derived before from an older source file or recipe (same name up to the digest), and
    what a derivation that was killed left behind."""
    prefix = dest.name.rsplit("-", 1)[0] + "-"
    for old in dest.parent.glob(f"{prefix}*"):
        with contextlib.suppress(FileNotFoundError):  # another process may tidy up at the same time
            stale = old.suffix == ".partial" and time.time() - old.stat().st_mtime > DERIVE_TIMEOUT_S
            if stale or (old != dest and old.suffix == dest.suffix):
                old.unlink()


if __name__ == "__main__":  # the child process: python -m devices.ui_font FILE INDEX DEST
    target = Path(sys.argv[3])
    try:
        derive(sys.argv[1], int(sys.argv[2]), target)
        _remove_older(target)
    finally:
        _lock(target).unlink(missing_ok=True)
