"""Pinyin data for the keyboard (kiosk.pinyin_ime) and catalog search, computed out of the UI process.

pypinyin keeps ~50 MB of dictionaries once imported, and the keyboard's lexicon built from them ~25 MB
more: a quarter of the UI's memory budget (300 MB), for tables that never change. So a child process
(`python -m kiosk.pinyin_data FILE`) imports pypinyin, builds the lexicon once per pypinyin/jieba
version into a SQLite file in the user's cache, and adds the readings of texts it is given (item
names, departments, themes), kept there for the next catalog. The UI reads rows, never pypinyin.

Pure Python, no kivy.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from devices.user_cache import user_cache_dir
from kiosk.paths import REPO

log = logging.getLogger(__name__)
FORMAT = 1  # bump when the tables change shape or content
CHILD_TIMEOUT_S = 120.0  # building takes ~3 s on a 2-core terminal; far more means it is stuck
_READINGS = "CREATE TABLE IF NOT EXISTS readings (text TEXT PRIMARY KEY, syllables TEXT) WITHOUT ROWID"


class PinyinDataError(RuntimeError):
    """The child process could not build or extend the file (the detail is in the message)."""


def data_file() -> Path:
    versions = "-".join(metadata.version(name) for name in ("pypinyin", "jieba"))
    return user_cache_dir("pinyin") / f"pinyin-{FORMAT}-{versions}.sqlite"


def lexicon_file() -> Path:
    """The file with the keyboard's lexicon (built now in a child process if there is none)."""
    path = data_file()
    if not path.exists():
        _run_child(path, [])
    return path


def readings(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Lower-case toneless pinyin of each character of each text (phrase-aware: 重庆 → chong qing),
    Latin letters and digits one by one, punctuation dropped. Texts not yet in the file are read by
    the child process, once; if it fails, by pypinyin in this process."""
    wanted = set(texts)
    try:
        path = data_file()
        found = _stored(path, wanted) if path.exists() else {}
        missing = wanted - found.keys()
        if missing:
            _run_child(path, sorted(missing))
            found.update(_stored(path, missing))
        if found.keys() == wanted:
            return found
        raise PinyinDataError(f"{len(wanted - found.keys())} readings missing after the child ran")
    except (PinyinDataError, sqlite3.Error, OSError) as err:
        log.warning("pinyin readings computed in this process: %s", err)
        return compute_readings(wanted)


def _stored(path: Path, texts: set[str]) -> dict[str, tuple[str, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        found: dict[str, tuple[str, ...]] = {}
        ordered = list(texts)
        for start in range(0, len(ordered), 500):  # SQLite's limit on host parameters
            chunk = ordered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for text, syllables in db.execute(
                f"SELECT text, syllables FROM readings WHERE text IN ({marks})", chunk
            ):
                found[text] = tuple(syllables.split())
        return found
    finally:
        db.close()


def _run_child(path: Path, texts: list[str]) -> None:
    path_list = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path_list}  # the child imports this checkout's kiosk
    try:
        done = subprocess.run(
            [sys.executable, "-m", "kiosk.pinyin_data", str(path)],
            input=json.dumps(texts, ensure_ascii=False),
            capture_output=True,
            text=True,
            env=env,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise PinyinDataError(f"pinyin child did not run: {err}") from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise PinyinDataError(f"pinyin child exited {done.returncode}: {tail[0]}")


def compute_readings(texts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The readings, from pypinyin in this process (the child's work, and the fallback)."""
    from pypinyin import lazy_pinyin

    def by_character(text: str) -> list[str]:  # non-Chinese runs become one token per character
        return list(text)

    return {
        text: tuple(t.lower() for t in lazy_pinyin(text, errors=by_character) if t.isascii() and t.isalnum())
        for text in texts
    }


def _build(path: Path) -> None:
    """Write the lexicon to a new file beside `path`, then move it in place (a reader never sees a
    half-built file; two children building at once both end with a whole one)."""
    from kiosk.pinyin_ime import build_lexicon

    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial)
    try:
        build_lexicon().save(db)
        db.execute(_READINGS)
        db.commit()
    finally:
        db.close()
    os.replace(partial, path)


def main(argv: list[str]) -> int:
    """Child: `python -m kiosk.pinyin_data FILE` with a JSON list of texts on stdin."""
    path = Path(argv[0])
    texts = json.load(sys.stdin)
    if not path.exists():
        _build(path)
    if texts:
        db = sqlite3.connect(path, timeout=30)
        try:
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO readings VALUES (?, ?)",
                    [(text, " ".join(syllables)) for text, syllables in compute_readings(texts).items()],
                )
        finally:
            db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
