"""The pinyin tables kept out of the UI process (kiosk.pinyin_data): built by a child process into the
user's cache, read back identical to the lexicon built in memory, readings kept for the next catalog,
pypinyin never imported by the reader, and a working keyboard and search when the child cannot run."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk import catalog_search, pinyin_data, pinyin_ime
from kiosk.paths import REPO
from kiosk.pinyin_ime import Lexicon, PinyinIME, StoredLexicon, build_lexicon

INPUTS = ["beijingshi", "zhangsan", "lujiedao", "xiaoqu", "renminlu", "xian", "lvse", "zh", "yinhang"]
TEXTS = ["重庆市", "长沙", "提前还清住房公积金贷款", "社保卡(A4)", "银行", "Ⅱ型", ""]


def candidates(lex: Lexicon, letters: str) -> list[list[str]]:
    """The candidate list after each letter, and after choosing the first one each time."""
    ime, seen = PinyinIME(lex), []
    for letter in letters:
        ime.type(letter)
        seen.append(ime.candidates(limit=20))
    while ime.buffer:
        seen.append([ime.choose(0), *ime.candidates(limit=20)])
    return seen


def test_stored_tables_give_the_candidates_of_the_lexicon_built_in_memory() -> None:
    stored, memory = StoredLexicon(pinyin_data.lexicon_file()), build_lexicon()
    assert stored.syllables == memory.syllables and stored.total == memory.total
    for letters in INPUTS:
        assert candidates(stored, letters) == candidates(memory, letters), letters
    for prefix, exact in [("lu", True), ("l", False), ("zh", False), ("xian", True)]:
        assert stored.chars_for(prefix, exact) == memory.chars_for(prefix, exact)


def test_a_small_lexicon_saved_and_opened(tmp_path: Path) -> None:
    readings = {"六": ["liu", "lu"], "路": ["lu"], "大": ["da"]}
    small = Lexicon(readings, {"六": 1000, "路": 100, "大": 500}, [("大路", ["da", "lu"], 40)])
    db = sqlite3.connect(tmp_path / "small.sqlite")
    small.save(db)
    db.commit()
    db.close()
    opened = StoredLexicon(tmp_path / "small.sqlite")
    assert opened.char_entries("lu") == tuple(small.char_entries("lu"))
    assert [c for c, _ in opened.chars_for("lu", exact=True)] == ["路", "六"]
    assert opened.words_for(["da"], "l", exact=False) == [("大路", 40)]
    assert opened.word_entries(("nope",)) == ()
    assert candidates(opened, "dal") == candidates(small, "dal")


def test_a_fresh_cache_is_built_by_the_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = pinyin_data.lexicon_file()
    assert path.parent == tmp_path / "kiosk" / "pinyin" and path.is_file()
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no partial file left behind
    assert "北京" in [w for w, _ in StoredLexicon(path).words_for(["bei"], "jing", exact=True)]


def test_readings_are_pypinyins_and_kept_for_the_next_catalog(monkeypatch: pytest.MonkeyPatch) -> None:
    first = pinyin_data.readings(TEXTS)
    assert first == pinyin_data.compute_readings(TEXTS)
    assert first["重庆市"] == ("chong", "qing", "shi")
    assert first["社保卡(A4)"] == ("she", "bao", "ka", "a", "4")

    def no_child(*_args: object) -> None:
        raise AssertionError("the child ran for texts it had already read")

    monkeypatch.setattr(pinyin_data, "_run_child", no_child)
    assert pinyin_data.readings(TEXTS) == first
    assert catalog_search.pinyin_syllables("长沙") == ("chang", "sha")


def test_the_reader_never_imports_pypinyin() -> None:
    code = (
        "import sys\n"
        "from kiosk.catalog import load_catalog\n"
        "from kiosk.catalog_search import CatalogIndex\n"
        "from kiosk.pinyin_ime import PinyinIME, lexicon\n"
        "ime = PinyinIME(lexicon())\n"
        "[ime.type(c) for c in 'beijing']\n"
        "assert ime.candidates()[0] == '北京', ime.candidates()\n"
        "assert CatalogIndex(load_catalog().items).search('sbk')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pypinyin', 'jieba'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_a_child_that_fails_says_why(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "pinyin.sqlite"  # the child cannot create its file there
    with pytest.raises(pinyin_data.PinyinDataError, match=r"pinyin child exited 1: .*unable to open"):
        pinyin_data._run_child(target, [])


def test_without_the_child_the_keyboard_and_search_still_work(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: the child would be needed

    def broken(*_args: object) -> None:
        raise pinyin_data.PinyinDataError("pinyin child exited 1: disk full")

    monkeypatch.setattr(pinyin_data, "_run_child", broken)
    monkeypatch.setattr(pinyin_ime, "_lexicon", None)
    with caplog.at_level(logging.WARNING):
        lex = pinyin_ime.lexicon()
        found = pinyin_data.readings(["重庆"])
    assert not isinstance(lex, StoredLexicon)
    assert candidates(lex, "beijing")[-1][0] == "北京"
    assert found == {"重庆": ("chong", "qing")}
    assert sum("disk full" in r.getMessage() for r in caplog.records) == 2
    monkeypatch.setattr(pinyin_ime, "_lexicon", None)  # the next test gets the stored tables again
    assert not os.listdir(tmp_path / "kiosk" / "pinyin")
