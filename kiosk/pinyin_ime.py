"""Pinyin input method for the kiosk's own keyboard (no OS input method runs under the kiosk compositor).

The citizen types Latin letters; the engine splits them into syllables (``beijingshi`` → bei jing shi,
the last one may be unfinished: ``beij`` → bei j) and offers Chinese candidates, best first:

1. words covering every syllable (北京, 北京市);
2. the most probable reading of the whole input, word by word (``lujiedao`` → 路街道), like jieba's DAG;
3. words covering the first syllables, longest first (the rest stays in the buffer for the next
   choice, as in every phone IME);
4. single characters of the first syllable.

Data, no hand-written dictionary: readings come from pypinyin (``pinyin_dict``: code point → readings,
``phrases_dict``: words whose default readings are wrong, e.g. 银行), frequencies from jieba's ``dict.txt``
(349k words with counts, MIT). The tables are built once per pypinyin/jieba version by a child process
into a SQLite file (kiosk.pinyin_data), so the UI never holds pypinyin's ~50 MB of dictionaries nor the
tables' ~25 MB; a key press reads the rows it needs. ``warm_up()`` opens them ahead (building them the
first time), e.g. in a thread at start-up, so the first key press does not wait.

Pure Python, no kivy.
"""

from __future__ import annotations

import functools
import logging
import math
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from kiosk import pinyin_data

log = logging.getLogger(__name__)

MAX_BUFFER = 24  # letters; a name or an address part is far shorter, and it bounds the DP below
MAX_WORD_SYLLABLES = 4  # longer dictionary entries are idioms and slogans, not address parts or names
SECONDARY_READING = 100  # the share of a character's frequency that a reading no word uses keeps
SINGLE_CHAR_COST = 3.0  # log-probability cost of a lone character in a reading: words read better
MIN_WORD_FREQ = 10  # rarer jieba entries are mostly noise here, and would cost ~100 MB
# Words a citizen types on this kiosk (address detail, house numbers), floored to a frequency that keeps
# them near the top of their syllables; jieba counts them from news text, where they are rarer.
_DOMAIN = "路 街 号 楼 栋 幢 单元 室 层 区 县 市 省 镇 乡 村 组 巷 弄 小区 社区 街道 花园 新村 号楼"
DOMAIN_WORDS: Mapping[str, int] = dict.fromkeys(_DOMAIN.split(" "), 60_000)


@dataclass(frozen=True, slots=True)
class Candidate:
    text: str
    syllables: int  # how many syllables of the buffer it consumes
    letters: int  # how many letters of the buffer it consumes


class Lexicon:
    """Syllable → characters and syllables → words, ranked by frequency. Immutable once built."""

    def __init__(
        self,
        readings: Mapping[str, Sequence[str]],
        char_freq: Mapping[str, int],
        words: Iterable[tuple[str, Sequence[str], int]],
    ) -> None:
        """`readings`: character → toneless syllables, most usual first; `words`: (word, its
        syllables, frequency)."""
        # Words first: `words` may be a stream that fills `char_freq` as it goes.
        # Words are found by their full syllables except the last one, of which only the first letter
        # is in the key: so an unfinished last syllable (bei j → 北京) finds them too.
        buckets: dict[tuple[str, ...], list[tuple[int, str, str]]] = defaultdict(list)
        usage: dict[tuple[str, str], int] = defaultdict(int)  # (character, syllable) → word frequency
        for word, syllables, freq in words:
            buckets[(*syllables[:-1], syllables[-1][0])].append((freq, word, syllables[-1]))
            for char, syllable in zip(word, syllables, strict=True):
                usage[char, syllable] += freq
        self.words = {
            key: tuple((word, last, freq) for freq, word, last in sorted(entries, key=lambda e: -e[0]))
            for key, entries in buckets.items()
        }
        total = max(sum(char_freq.values()), 1)
        chars: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for char, char_readings in readings.items():
            freq = char_freq.get(char, 0)
            # jieba counts a character, not a reading: its frequency is shared among its readings as
            # the words containing it read it (六 is liu in every word, so "lu" offers 路 before 六;
            # 她 is never jie). A reading no word uses keeps a small share, the first one more.
            used = sum(usage.get((char, s), 0) for s in char_readings)
            for rank, syllable in enumerate(char_readings):
                if used:
                    share = max(usage.get((char, syllable), 0) / used, 1 / SECONDARY_READING)
                else:
                    share = 1.0 if rank == 0 else 1 / SECONDARY_READING
                chars[syllable].append((int(freq * share), char))
        self.chars: dict[str, list[tuple[str, int]]] = {
            syllable: [(c, f) for f, c in sorted(entries, key=lambda e: (_gb_rank(e[1]), -e[0], e[1]))]
            for syllable, entries in chars.items()
        }
        self._set_totals(frozenset(self.chars), total)

    def _set_totals(self, syllables: frozenset[str], total: int) -> None:
        self.syllables = syllables
        self.max_syllable = max(map(len, syllables))
        self.total = total

    def word_entries(self, key: tuple[str, ...]) -> Sequence[tuple[str, str, int]]:
        """(word, its last syllable, frequency), most frequent first, for a key of the words' full
        syllables but the last, and the last one's first letter."""
        return self.words.get(key, ())

    def char_entries(self, syllable: str) -> Sequence[tuple[str, int]]:
        """(character, frequency) read `syllable`, best first."""
        return self.chars.get(syllable, ())

    def words_for(self, full: list[str], last: str, exact: bool) -> list[tuple[str, int]]:
        """Words read `full` + `last` (`last` may be the start of a syllable unless `exact`)."""
        entries = self.word_entries((*full, last[0]))
        return [(w, f) for w, syl, f in entries if (syl == last if exact else syl.startswith(last))]

    @functools.lru_cache(maxsize=256)  # noqa: B019 — one lexicon lives as long as the process
    def chars_for(self, prefix: str, exact: bool) -> list[tuple[str, int]]:
        if exact:
            return list(self.char_entries(prefix))
        merged: dict[str, int] = {}
        for syllable in self.syllables:
            if syllable.startswith(prefix):
                for char, freq in self.char_entries(syllable):
                    merged[char] = max(merged.get(char, 0), freq)
        return sorted(merged.items(), key=lambda e: (_gb_rank(e[0]), -e[1], e[0]))

    def is_prefix(self, letters: str) -> bool:
        return letters in self._prefixes()

    @functools.cache  # noqa: B019
    def _prefixes(self) -> frozenset[str]:
        return frozenset(s[:i] for s in self.syllables for i in range(1, len(s) + 1))

    def segment(self, letters: str) -> tuple[list[str], str]:
        """Split into the fewest syllables, longer ones first on ties (fangan → fang an); the last one
        may be unfinished (beij → bei j).

        Returns (syllables, rest): `rest` are trailing letters that cannot be pinyin (kept in the
        buffer, committed only as Latin).
        """
        n = len(letters)
        # head[i]: the best split of letters[:i] into whole syllables (one pass, no backtracking)
        head: list[list[str] | None] = [None] * (n + 1)
        head[0] = []
        for j in range(1, n + 1):
            for i in range(max(0, j - self.max_syllable), j):
                split = head[i]
                if split is None or letters[i:j] not in self.syllables:
                    continue
                found = [*split, letters[i:j]]
                if head[j] is None or _split_key(found) < _split_key(head[j]):
                    head[j] = found
        best: list[str] | None = None
        for i in range(n + 1):  # whole syllables, then at most one unfinished one
            split, tail = head[i], letters[i:]
            if split is not None and (not tail or self.is_prefix(tail)):
                found = [*split, tail] if tail else split
                if best is None or _split_key(found) < _split_key(best):
                    best = found
        if best is not None:
            return best, ""
        # No reading covers every letter: the longest head, the start of a syllable, then the rest.
        i = max(k for k in range(n + 1) if head[k] is not None)
        start = next((letters[i:j] for j in range(n, i, -1) if self.is_prefix(letters[i:j])), "")
        return [*(head[i] or []), *([start] if start else [])], letters[i + len(start) :]

    def score(self, freq: int) -> float:
        return math.log(freq + 1) - math.log(self.total)

    def save(self, db: sqlite3.Connection) -> None:
        """Write the tables into `db` (empty) for StoredLexicon."""
        db.executescript(_SCHEMA)
        db.execute("INSERT INTO totals VALUES (?)", (self.total,))
        db.executemany(
            "INSERT INTO words VALUES (?, ?, ?, ?, ?)",
            (
                (" ".join(key), rank, word, last, freq)
                for key, entries in self.words.items()
                for rank, (word, last, freq) in enumerate(entries)
            ),
        )
        db.executemany(
            "INSERT INTO chars VALUES (?, ?, ?, ?)",
            (
                (syllable, rank, char, freq)
                for syllable, entries in self.chars.items()
                for rank, (char, freq) in enumerate(entries)
            ),
        )


_SCHEMA = """
CREATE TABLE totals (total INTEGER NOT NULL);
CREATE TABLE words (key TEXT, rank INTEGER, word TEXT, last TEXT, freq INTEGER, PRIMARY KEY (key, rank))
    WITHOUT ROWID;
CREATE TABLE chars (syllable TEXT, rank INTEGER, char TEXT, freq INTEGER, PRIMARY KEY (syllable, rank))
    WITHOUT ROWID;
"""


class StoredLexicon(Lexicon):
    """A Lexicon's tables read from the SQLite file Lexicon.save wrote: only the syllables stay in
    memory; a key press fetches its rows (a few dozen queries, each well under a millisecond)."""

    def __init__(self, path: Path) -> None:  # opens tables Lexicon.save wrote; builds nothing
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()  # opened by the warm-up thread, read by the UI's
        (total,) = self._db.execute("SELECT total FROM totals").fetchone()
        syllables = frozenset(row[0] for row in self._db.execute("SELECT DISTINCT syllable FROM chars"))
        self._set_totals(syllables, total)

    @functools.lru_cache(maxsize=2048)  # noqa: B019 — the DP asks for the same keys on every key press
    def word_entries(self, key: tuple[str, ...]) -> Sequence[tuple[str, str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT word, last, freq FROM words WHERE key = ? ORDER BY rank", (" ".join(key),)
            ).fetchall()
        return tuple(rows)

    @functools.lru_cache(maxsize=512)  # noqa: B019
    def char_entries(self, syllable: str) -> Sequence[tuple[str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT char, freq FROM chars WHERE syllable = ? ORDER BY rank", (syllable,)
            ).fetchall()
        return tuple(rows)


def _split_key(split: list[str]) -> tuple[int, list[int]]:
    return len(split), [-len(piece) for piece in split]


def _gb_rank(char: str) -> int:
    """0 for GB2312 (the 6,763 characters of everyday simplified text), 2 for the rest of GBK, else 3.

    A GBK-only character (traditional forms, rare name characters such as 喆) comes after every GB2312
    one of its syllable, whatever jieba counted for it."""
    try:
        char.encode("gb2312")
        return 0
    except UnicodeEncodeError:
        try:
            char.encode("gbk")
            return 2
        except UnicodeEncodeError:
            return 3


_lexicon: Lexicon | None = None
_lock = threading.Lock()


def lexicon() -> Lexicon:
    """The shared lexicon: the stored tables (built by a child process the first time, about three
    seconds; see warm_up), or, if they cannot be, built here as a fallback (and held in memory)."""
    global _lexicon
    with _lock:
        if _lexicon is None:
            try:
                _lexicon = StoredLexicon(pinyin_data.lexicon_file())
            except (pinyin_data.PinyinDataError, sqlite3.Error) as err:
                log.warning("pinyin tables not stored (%s): built in this process instead", err)
                _lexicon = build_lexicon()
        return _lexicon


def warm_up() -> None:
    """Open the tables now (call from a background thread at start-up)."""
    lexicon()


def _jieba_dict() -> Path:
    """jieba's frequency dictionary, found without importing jieba (its import compiles regexes and
    warns on Python 3.11; the segmenter itself is not used)."""
    spec = find_spec("jieba")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("jieba is not installed: its dict.txt has the pinyin keyboard's frequencies")
    return Path(next(iter(spec.submodule_search_locations))) / "dict.txt"


def build_lexicon() -> Lexicon:
    """The lexicon from pypinyin and jieba's dictionary (about two seconds; kiosk.pinyin_data runs it
    in a child process)."""
    # Imported here, not at the top: pypinyin loads its dictionaries at import (~0.5 s, ~50 MB).
    from pypinyin.contrib.tone_convert import to_normal
    from pypinyin.phrases_dict import phrases_dict
    from pypinyin.pinyin_dict import pinyin_dict

    normal = functools.cache(lambda reading: to_normal(reading))
    readings: dict[str, list[str]] = {}
    for code, value in pinyin_dict.items():
        char = chr(code)
        if _gb_rank(char) == 3:
            continue  # outside GBK: not on ID cards' common printers nor in most fonts
        syllables = list(dict.fromkeys(normal(r) for r in value.split(",")))
        # Drop vowel-less interjections (m, n, ng, hm): as syllables they would break up real input.
        syllables = [s for s in syllables if any(v in s for v in "aeiouv")]
        if syllables:
            readings[char] = syllables
    char_freq: dict[str, int] = {}

    def words() -> Iterator[tuple[str, list[str], int]]:
        # Streamed: the 349k lines are never all in memory at once (the UI's RSS budget is 300 MB).
        with _jieba_dict().open(encoding="utf-8") as lines:
            for line in lines:
                word, freq_text, *_ = line.split(" ")
                freq = max(int(freq_text), DOMAIN_WORDS.get(word, 0))
                if len(word) == 1:
                    char_freq[word] = freq
                elif freq >= MIN_WORD_FREQ and len(word) <= MAX_WORD_SYLLABLES:
                    # pypinyin's phrase readings where a character's usual one is wrong (银行 hang)
                    phrase = phrases_dict.get(word)
                    if phrase:
                        syllables = [normal(r[0]) for r in phrase]
                    else:
                        syllables = [readings[c][0] for c in word if c in readings]
                    if len(syllables) == len(word):  # else a character without a reading (Latin, digits)
                        yield word, syllables, freq

        for word, freq in DOMAIN_WORDS.items():
            if len(word) == 1:
                char_freq[word] = max(char_freq.get(word, 0), freq)
            else:
                yield word, [readings[c][0] for c in word], freq

    return Lexicon(readings, char_freq, words())


class PinyinIME:
    """The state of one pinyin input: the letters typed so far and their candidates.

    Methods that commit text return it (the caller appends it to the field); "" means nothing to add.
    """

    def __init__(self, lex: Lexicon | None = None) -> None:
        self._lex = lex
        self._buffer = ""
        self._cache: tuple[str, list[Candidate]] | None = None

    @property
    def lex(self) -> Lexicon:
        if self._lex is None:
            self._lex = lexicon()
        return self._lex

    @property
    def buffer(self) -> str:
        return self._buffer

    def syllables(self) -> list[str]:
        """The buffer as the citizen should read it: syllables, then letters that are no pinyin."""
        full, rest = self.lex.segment(self._buffer)
        return [*full, rest] if rest else full

    def type(self, key: str) -> str:
        """A key press. Letters go to the buffer; anything else (digits for house numbers, 号, -) first
        commits the best reading of the buffer, then itself."""
        if len(key) == 1 and "a" <= key.lower() <= "z":
            if len(self._buffer) < MAX_BUFFER:
                self._buffer += key.lower()
            return ""
        return self.commit_best() + key

    def backspace(self) -> bool:
        """Remove the last letter; False when the buffer was empty (the caller deletes from the field)."""
        if not self._buffer:
            return False
        self._buffer = self._buffer[:-1]
        return True

    def reset(self) -> None:
        self._buffer = ""

    def commit_latin(self) -> str:
        """The raw letters, as typed (a Latin name, a building called A座)."""
        text, self._buffer = self._buffer, ""
        return text

    def commit_best(self) -> str:
        """The first candidate, repeatedly, until the buffer is empty (space bar, leaving the field)."""
        committed = ""
        while self._buffer:
            before = self._buffer
            committed += self.choose(0)
            if self._buffer == before:  # letters that are no pinyin
                committed += self.commit_latin()
        return committed

    def candidates(self, limit: int = 8, offset: int = 0) -> list[str]:
        return [c.text for c in self._all()[offset : offset + limit]]

    def candidate_count(self) -> int:
        return len(self._all())

    def choose(self, index: int) -> str:
        """Commit candidate `index`; the syllables it does not cover stay in the buffer."""
        found = self._all()
        if not 0 <= index < len(found):
            return ""
        chosen = found[index]
        self._buffer = self._buffer[chosen.letters :]
        return chosen.text

    # -- candidate search ---------------------------------------------------------------------------
    def _all(self) -> list[Candidate]:
        if self._cache is None or self._cache[0] != self._buffer:
            self._cache = (self._buffer, self._search(self._buffer))
        return self._cache[1]

    def _search(self, letters: str) -> list[Candidate]:
        lex = self.lex
        full, _rest = lex.segment(letters)  # letters that are no pinyin get no candidates
        if not full:
            return []
        # The last syllable is unfinished if it is only a prefix, or the input stops after it; "jin"
        # may still become "jing", so words for both are offered (exact readings first).
        last_complete = full[-1] in lex.syllables
        ends = [len("".join(full[: k + 1])) for k in range(len(full))]
        out: list[Candidate] = []
        seen: set[str] = set()

        def add(text: str, k: int) -> None:
            if text not in seen:
                seen.add(text)
                out.append(Candidate(text, k, ends[k - 1]))

        n = len(full)

        def add_words(k: int) -> None:  # words reading the first k syllables
            head, last = full[: k - 1], full[k - 1]
            exact = lex.words_for(head, last, exact=True) if last in lex.syllables else []
            partial = lex.words_for(head, last, exact=False) if k == n else []
            for word, _ in [*exact, *partial][:40]:
                add(word, k)

        # Words covering every syllable, then the best reading as a sequence of words (路街道 is no
        # single word), then words covering the first syllables, longest first, then characters.
        if 2 <= n <= MAX_WORD_SYLLABLES:
            add_words(n)
        if n >= 2:
            sentence = self._best_sentence(full, last_complete)
            if sentence:
                add(sentence, n)
        for k in range(min(n - 1, MAX_WORD_SYLLABLES), 1, -1):
            add_words(k)
        first_exact = full[0] in lex.syllables
        for char, _ in lex.chars_for(full[0], exact=first_exact)[:200]:
            add(char, 1)
        if first_exact and n == 1:  # "xian" is also xi + an: 西安 comes after 先, 现…
            for k_full, k_rest in _splits(full[0], lex):
                for word, _ in lex.words_for([k_full], k_rest, exact=True)[:5]:
                    add(word, 1)
        return out

    def _best_sentence(self, full: list[str], last_complete: bool) -> str:
        """Highest-probability reading of all syllables as a sequence of words (jieba-style DAG)."""
        lex = self.lex
        n = len(full)
        best: list[tuple[float, str] | None] = [None] * (n + 1)
        best[0] = (0.0, "")
        for i in range(n):
            if best[i] is None:
                continue
            for j in range(i + 1, min(n, i + MAX_WORD_SYLLABLES) + 1):
                exact = j < n or last_complete
                if j - i == 1:
                    found = lex.chars_for(full[i], exact=exact)[:1]
                else:
                    found = lex.words_for(full[i : j - 1], full[j - 1], exact=exact)[:1]
                    if not found and j == n and last_complete:
                        found = lex.words_for(full[i : j - 1], full[j - 1], exact=False)[:1]
                if not found:
                    continue
                score = best[i][0] + lex.score(found[0][1]) - (SINGLE_CHAR_COST if j - i == 1 else 0)
                if best[j] is None or score > best[j][0]:
                    best[j] = (score, best[i][1] + found[0][0])
        return best[n][1] if best[n] else ""


def _splits(syllable: str, lex: Lexicon) -> list[tuple[str, str]]:
    """Two-syllable readings of one syllable's letters (xian → xi an)."""
    return [
        (syllable[:i], syllable[i:])
        for i in range(1, len(syllable))
        if syllable[:i] in lex.syllables and syllable[i:] in lex.syllables
    ]
