"""Catalog search for the kiosk's letter keypad: Chinese text, pinyin initials or full pinyin.

There is no OS input method on the kiosk, so citizens type Latin letters on the screen's own keypad.
`SBK` has to find 社会保障卡 (the usual 社保卡 abbreviation skips characters), `shebao` and `shbzk`
too, so a query is matched syllable by syllable: each syllable takes a prefix of its pinyin (one
letter = its initial, all letters = full pinyin) and a few syllables may be skipped, ranked below
matches without gaps. Readings come from pypinyin's phrase dictionary (重庆 → chong qing, 长沙 →
chang sha), through kiosk.pinyin_data (out of process, kept for the next catalog) when the index is
built; searching never calls pypinyin.

Pure functions and immutable data, no kivy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kiosk.catalog import Item
from kiosk.pinyin_data import readings

Audience = Literal["person", "legal_person"]
Kind = Literal["all", "exact", "prefix", "substring"]
FIELDS = ("name", "department", "theme", "code")  # in ranking order: a name match beats a department one
MAX_SKIP = 2  # syllables one gap may skip: abbreviations drop 1–2 characters (社会保障卡 → 社保卡)
_KIND_RANK = {"all": 0, "exact": 0, "prefix": 1, "substring": 2}


@dataclass(frozen=True, slots=True)
class Entry:
    """What search needs of an item; built from an `Item` or a row of the TSV sample list."""

    code: str
    name: str
    department: str
    theme: str = ""
    audience: tuple[str, ...] = ("person",)
    kuasheng: bool = True
    modes: tuple[str, ...] = ()

    @classmethod
    def from_item(cls, item: Item) -> Entry:
        return cls(
            code=item.code,
            name=item.name,
            department=item.department,
            theme=item.theme,
            audience=tuple(item.audience),
            kuasheng=item.kuasheng,
            modes=tuple(item.modes),
        )


@dataclass(frozen=True, slots=True)
class _Field:
    rank: int
    text: str  # lower-cased, for Chinese and code substrings
    syllables: tuple[str, ...]  # lower-case pinyin per character; Latin letters and digits one by one
    full: str
    initials: str


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    field: str  # which of FIELDS matched best ("" for an empty query)
    kind: Kind
    gaps: int  # syllables skipped inside the match (0 = contiguous)
    order: int  # position in the catalog

    @property
    def key(self) -> tuple[Any, ...]:
        return (
            self.field == "code",  # letters that happen to be in a code are the weakest evidence
            self.gaps > 0,  # abbreviations with gaps after every contiguous text match
            FIELDS.index(self.field) if self.field else 0,
            _KIND_RANK[self.kind],
            self.gaps,
            len(self.entry.name),
            self.order,
        )


def pinyin_syllables(text: str) -> tuple[str, ...]:
    """Lower-case toneless pinyin of each character (phrase-aware); punctuation is dropped."""
    return readings([text])[text]


def _field(rank: int, text: str, syllables: tuple[str, ...] = ()) -> _Field:
    return _Field(rank, text.lower(), syllables, "".join(syllables), "".join(s[0] for s in syllables))


def _is_subsequence(query: str, text: str) -> bool:
    chars = iter(text)
    return all(c in chars for c in query)


def pinyin_match(query: str, syllables: Sequence[str]) -> tuple[int, int] | None:
    """Best (start syllable, skipped syllables) where `query` (lower-case letters) matches, or None.

    Each matched syllable consumes a non-empty prefix of its pinyin; between two matched syllables
    up to MAX_SKIP may be skipped. Prefers a match at the start, then fewer gaps.
    """
    if not query or not syllables or not _is_subsequence(query, "".join(syllables)):
        return None
    n, q = len(syllables), len(query)
    memo: dict[tuple[int, int], int | None] = {}

    def gaps_from(j: int, p: int) -> int | None:
        """Fewest gaps to match query[p:] with syllable j consuming first."""
        if (j, p) in memo:
            return memo[j, p]
        best: int | None = None
        syllable = syllables[j]
        for k in range(min(len(syllable), q - p), 0, -1):  # longest first: full pinyin is likelier
            if query[p : p + k] != syllable[:k]:
                continue
            if p + k == q:
                best = 0
                break
            for nxt in range(j + 1, min(n, j + 2 + MAX_SKIP)):
                rest = gaps_from(nxt, p + k)
                if rest is not None and (best is None or rest + nxt - j - 1 < best):
                    best = rest + nxt - j - 1
            if best == 0:
                break
        memo[j, p] = best
        return best

    found: tuple[int, int] | None = None
    for start in range(n):
        if syllables[start][0] != query[0]:
            continue
        gaps = gaps_from(start, 0)
        if gaps is not None and (found is None or (start > 0, gaps) < (found[0] > 0, found[1])):
            found = (start, gaps)
            if start == 0 and gaps == 0:
                break
    return found


def _has_han(text: str) -> bool:
    return any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in text)


def _match_field(query: str, field: _Field, han: bool) -> tuple[Kind, int] | None:
    if han or not field.syllables:  # Chinese text, or the code: plain case-insensitive substring
        if not field.text or query not in field.text:
            return None
        if query == field.text:
            return "exact", 0
        return ("prefix" if field.text.startswith(query) else "substring"), 0
    if query in (field.full, field.initials):
        return "exact", 0
    found = pinyin_match(query, field.syllables)
    if found is None:
        return None
    start, gaps = found
    return ("prefix" if start == 0 else "substring"), gaps


@dataclass(frozen=True, slots=True)
class _Indexed:
    entry: Entry
    order: int
    fields: tuple[_Field, ...]


class CatalogIndex:
    """Built once per catalog (pinyin computed here); `search` is then pure and allocation-light."""

    def __init__(self, items: Iterable[Item | Entry]) -> None:
        entries = [i if isinstance(i, Entry) else Entry.from_item(i) for i in items]
        self.entries: tuple[Entry, ...] = tuple(entries)
        read = readings(text for e in entries for text in (e.name, e.department, e.theme))
        self._rows = tuple(
            _Indexed(
                entry,
                order,
                (
                    _field(0, entry.name, read[entry.name]),
                    _field(1, entry.department, read[entry.department]),
                    _field(2, entry.theme, read[entry.theme]),
                    _field(3, entry.code),  # codes are typed as letters, not read as pinyin
                ),
            )
            for order, entry in enumerate(entries)
        )

    def filter(
        self,
        *,
        theme: str | None = None,
        department: str | None = None,
        audience: Audience | None = None,
        kuasheng: bool | None = None,
        mode: str | None = None,
    ) -> list[Entry]:
        return [row.entry for row in self._kept(theme, department, audience, kuasheng, mode)]

    def _kept(
        self,
        theme: str | None,
        department: str | None,
        audience: str | None,
        kuasheng: bool | None,
        mode: str | None,
    ) -> Iterable[_Indexed]:
        for row in self._rows:
            e = row.entry
            if theme is not None and e.theme != theme:
                continue
            if department is not None and e.department != department:
                continue
            if audience is not None and audience not in e.audience:
                continue
            if kuasheng is not None and e.kuasheng != kuasheng:
                continue
            if mode is not None and mode not in e.modes:
                continue
            yield row

    def search(
        self,
        query: str,
        *,
        theme: str | None = None,
        department: str | None = None,
        audience: Audience | None = None,
        kuasheng: bool | None = None,
        mode: str | None = None,
    ) -> list[Hit]:
        """Matching entries, best first; an empty query lists every kept entry in catalog order."""
        rows = self._kept(theme, department, audience, kuasheng, mode)
        q = "".join(query.split()).lower()
        if not q:
            return [Hit(row.entry, "", "all", 0, row.order) for row in rows]
        han = _has_han(q)
        hits: list[Hit] = []
        seen: dict[tuple[int, str], tuple[Kind, int] | None] = {}  # many items share a department/theme
        for row in rows:
            best: Hit | None = None
            for name, field in zip(FIELDS, row.fields, strict=True):
                if han and name == "code":
                    continue
                key = (field.rank, field.text)
                if key not in seen:
                    seen[key] = _match_field(q, field, han)
                matched = seen[key]
                if matched is None:
                    continue
                hit = Hit(row.entry, name, matched[0], matched[1], row.order)
                if best is None or hit.key < best.key:
                    best = hit
            if best is not None:
                hits.append(best)
        hits.sort(key=lambda h: h.key)
        return hits

    def codes(self, query: str, **filters: Any) -> list[str]:
        return [hit.entry.code for hit in self.search(query, **filters)]


def build_index(items: Iterable[Item | Entry]) -> CatalogIndex:
    return CatalogIndex(items)


def themes(entries: Iterable[Entry | Item]) -> list[str]:
    """Distinct themes in catalog order (for the 按主题 choices)."""
    return list(dict.fromkeys(e.theme for e in entries if e.theme))


def departments(entries: Iterable[Entry | Item]) -> list[str]:
    """Distinct departments in catalog order (for the 按部门 choices)."""
    return list(dict.fromkeys(e.department for e in entries if e.department))


def load_tsv_entries(path: Path) -> list[Entry]:
    """The 跨省通办 task-list sample (batch, seq, item_name, department, mode, …) as entries.

    It has no codes, themes or audiences: codes are made up from the row number, the batch stands in
    for the theme, and everything is for persons except what a name says is for enterprises.
    """
    entries: list[Entry] = []
    with path.open(encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter="\t"), 1):
            name = (row.get("item_name") or "").strip()
            if not name or name.startswith("("):  # "(未找到)": a placeholder row
                continue
            legal = any(word in name for word in ("企业", "单位", "市场主体", "工商户", "许可"))
            entries.append(
                Entry(
                    code=f"TSV-{n:04d}",
                    name=name,
                    department=(row.get("department") or "").strip().rstrip("*"),
                    theme=(row.get("batch") or "").strip(),
                    audience=("legal_person",) if legal else ("person",),
                    kuasheng=True,
                )
            )
    return entries
