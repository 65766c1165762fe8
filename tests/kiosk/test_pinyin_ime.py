"""The pinyin input method behind the kiosk's own keyboard: segmentation, candidates for the words of
addresses and names, committing, deleting, Latin letters and digits (the time a key press takes is a
benchmark: `kiosk bench ime`)."""

from __future__ import annotations

import pytest

from kiosk.pinyin_ime import Lexicon, PinyinIME, lexicon


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return lexicon()  # the stored tables the UI uses (built by a child process the first time)


def typed(lex: Lexicon, letters: str) -> PinyinIME:
    ime = PinyinIME(lex)
    for letter in letters:
        assert ime.type(letter) == ""
    return ime


@pytest.mark.parametrize(
    ("letters", "syllables"),
    [
        ("beijingshi", ["bei", "jing", "shi"]),
        ("beij", ["bei", "j"]),  # an unfinished last syllable
        ("shanghai", ["shang", "hai"]),
        ("xiaoqu", ["xiao", "qu"]),
        ("lvse", ["lv", "se"]),  # v stands for ü
        ("zh", ["zh"]),
        ("xian", ["xian"]),  # fewest syllables wins; 西安 is still offered (below)
        ("fangan", ["fang", "an"]),  # on a tie, longer syllables first
    ],
)
def test_segmentation(lex: Lexicon, letters: str, syllables: list[str]) -> None:
    assert typed(lex, letters).syllables() == syllables


def test_letters_that_are_no_pinyin_stay_visible(lex: Lexicon) -> None:
    ime = typed(lex, "luv")
    assert ime.syllables() == ["lu", "v"]
    assert typed(lex, "v").candidates() == []
    assert ime.commit_best() == "路v"


def test_a_buffer_of_no_pinyin_is_bounded(lex: Lexicon) -> None:
    ime = typed(lex, "v" * 30)  # MAX_BUFFER letters at most, so the segmentation stays small
    assert ime.candidates() == [] and ime.syllables() == ["v" * 24]


@pytest.mark.parametrize(
    ("letters", "word", "top"),
    [
        ("beijing", "北京", 1),
        ("shanghai", "上海", 1),
        ("xiaoqu", "小区", 1),
        ("jiedao", "街道", 1),
        ("shequ", "社区", 1),
        ("danyuan", "单元", 1),
        ("renminlu", "人民路", 1),
        ("beijingshi", "北京市", 1),
        ("lu", "路", 1),
        ("jie", "街", 1),
        ("dao", "道", 3),
        ("hao", "号", 3),
        ("lou", "楼", 2),
        ("dong", "栋", 3),
        ("wang", "王", 1),
        ("zhang", "张", 3),
        ("li", "李", 8),
        ("liu", "刘", 8),
        ("chen", "陈", 8),
        ("xian", "西安", 400),
        ("beij", "北京", 1),  # bei j: the word before the last syllable is finished
        ("bj", None, 0),  # initials alone: characters, no crash
    ],
)
def test_candidates_for_address_and_name_words(lex: Lexicon, letters: str, word: str | None, top: int):
    found = typed(lex, letters).candidates(limit=max(top, 8))
    assert found, letters
    if word is not None:
        assert word in found[:top], (letters, found[:top])


def test_lu_jie_dao_one_at_a_time_and_as_one_input(lex: Lexicon) -> None:
    text = ""
    for syllable, char in (("lu", "路"), ("jie", "街"), ("dao", "道")):
        ime = typed(lex, syllable)
        text += ime.choose(ime.candidates().index(char))
        assert ime.buffer == ""
    assert text == "路街道"
    assert typed(lex, "lujiedao").candidates()[0] == "路街道"  # no single word: word by word


def test_choosing_a_word_keeps_the_rest_of_the_buffer(lex: Lexicon) -> None:
    ime = typed(lex, "beijingshi")
    assert ime.choose(ime.candidates(limit=20).index("北京")) == "北京"
    assert ime.buffer == "shi"
    assert ime.choose(ime.candidates().index("市")) == "市"
    assert ime.buffer == ""


def test_choose_out_of_range_commits_nothing(lex: Lexicon) -> None:
    ime = typed(lex, "lu")
    assert ime.choose(10_000) == ""
    assert ime.buffer == "lu"


def test_backspace(lex: Lexicon) -> None:
    ime = typed(lex, "beij")
    assert ime.backspace() is True
    assert ime.buffer == "bei"
    assert ime.candidates()[0] in {"被", "北", "背"}
    for _ in range(3):
        assert ime.backspace() is True
    assert ime.backspace() is False  # empty: the keyboard deletes from the field instead
    assert ime.candidates() == []


def test_latin_fallback_commits_the_raw_letters(lex: Lexicon) -> None:
    ime = typed(lex, "abc")
    assert ime.commit_latin() == "abc"
    assert ime.buffer == ""
    assert ime.commit_latin() == ""


def test_digits_and_symbols_pass_through(lex: Lexicon) -> None:
    ime = PinyinIME(lex)
    assert ime.type("3") == "3"
    assert ime.type("号") == "号"
    assert ime.type("-") == "-"
    for letter in "lou":
        ime.type(letter)
    assert ime.type("5") == "楼5"  # a digit first commits the letters typed before it
    assert ime.buffer == ""


def test_upper_case_letters_are_pinyin_too(lex: Lexicon) -> None:
    assert typed(lex, "BEIJING").candidates()[0] == "北京"


def test_commit_best_and_reset(lex: Lexicon) -> None:
    assert typed(lex, "xiaoqu").commit_best() == "小区"
    ime = typed(lex, "luxyz")
    assert ime.commit_best().startswith("路")
    assert ime.buffer == ""
    ime = typed(lex, "lu")
    ime.reset()
    assert ime.buffer == "" and ime.candidates() == []


def test_buffer_is_bounded(lex: Lexicon) -> None:
    ime = typed(lex, "zhong" * 10)
    assert len(ime.buffer) == 24
    assert ime.candidates()


def test_paging_offsets(lex: Lexicon) -> None:
    ime = typed(lex, "shi")
    first, second = ime.candidates(limit=6), ime.candidates(limit=6, offset=6)
    assert len(second) == 6 and not set(first) & set(second)
    assert ime.candidate_count() > 12


def test_small_lexicon_ranks_readings_by_the_words_that_use_them() -> None:
    readings = {"六": ["liu", "lu"], "路": ["lu"], "大": ["da"]}
    words = [("六路", ["liu", "lu"], 50), ("大路", ["da", "lu"], 40)]
    small = Lexicon(readings, {"六": 1000, "路": 100, "大": 500}, words)
    assert [c for c, _ in small.chars_for("lu", exact=True)] == ["路", "六"]  # 六 is liu in every word
    ime = PinyinIME(small)
    for letter in "dal":
        ime.type(letter)
    assert ime.candidates()[0] == "大路"
