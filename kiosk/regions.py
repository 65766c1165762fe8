"""GB/T 2260 administrative divisions: province → city → county, for mail addresses and region checks.

The table is `assets/regions/gb2260.tsv` (code<TAB>name, revision 201904; provenance in its header and
in assets/regions/README.md). It is read once, on first use, so importing this module costs nothing.

The shipped table has no 市辖区 / 县 / 省直辖县级行政区划 placeholder rows (110100, 500200, 419000…), so
the hierarchy is derived from the codes themselves:
- a county-level code `PPCCxx` belongs to the city `PPCC00` when that city exists;
- otherwise it hangs directly under its province: the districts of the four municipalities (北京 110101
  → 北京市 东城区) and the county-level cities the province administers itself (济源 419001, 仙桃 429004,
  the 15 of 海南 4690xx, the 兵团 cities 6590xx). So a citizen never meets a meaningless "市辖区" step.
- a code without children is complete: a county, a city without counties (东莞 441900, 中山 442000,
  嘉峪关 620200, 儋州 460400, 三沙 460300 in this revision) or 台湾 710000, 香港 810000, 澳门 820000.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from kiosk.paths import ASSETS

TABLE = ASSETS / "regions" / "gb2260.tsv"
REVISION = "201904"
_CODE = re.compile(r"\d{6}")


class RegionError(ValueError):
    """Not a code of the table (a ValueError, so callers that check codes can catch one kind)."""


@dataclass(frozen=True)
class Region:
    code: str
    name: str


@dataclass(frozen=True)
class _Index:
    names: dict[str, str]
    parents: dict[str, str]  # code → parent code (provinces have none)
    children: dict[str, tuple[str, ...]]  # code → child codes in code order (only codes that have some)


def _parent_of(code: str, names: dict[str, str]) -> str | None:
    province = code[:2] + "0000"
    if code == province:
        return None
    city = code[:4] + "00"
    if code != city and city in names:
        return city
    return province


@functools.cache
def _index(path: Path = TABLE) -> _Index:
    names: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, _, name = line.partition("\t")
        if not _CODE.fullmatch(code) or not name:
            raise ValueError(f"{path}: bad line {line!r}")
        names[code] = name
    parents: dict[str, str] = {}
    children: dict[str, list[str]] = {}
    for code in sorted(names):
        parent = _parent_of(code, names)
        if parent is None:
            continue
        if parent not in names:  # a county whose province is missing: the table is broken, say so early
            raise ValueError(f"{path}: {code} has no province {parent}")
        parents[code] = parent
        children.setdefault(parent, []).append(code)
    return _Index(names, parents, {code: tuple(kids) for code, kids in children.items()})


def _region(code: str) -> Region:
    return Region(code, _index().names[code])


def is_valid_region(code: object) -> bool:
    """True for any code of the table: a province, a city or a county (six digits, no spaces)."""
    return isinstance(code, str) and _CODE.fullmatch(code) is not None and code in _index().names


def _require(code: str) -> None:
    if not is_valid_region(code):
        raise RegionError(f"{code!r} is not a GB/T 2260 code (revision {REVISION})")


def provinces() -> list[Region]:
    """The 34 provincial-level divisions in code order (北京市 … 澳门特别行政区)."""
    index = _index()
    return [Region(code, name) for code, name in sorted(index.names.items()) if code not in index.parents]


def children(code: str) -> list[Region]:
    """The divisions directly under `code` (empty for a complete code); RegionError if unknown."""
    _require(code)
    return [_region(child) for child in _index().children.get(code, ())]


def is_complete(code: str) -> bool:
    """True when nothing lies below `code`, so it is precise enough for a delivery address."""
    return is_valid_region(code) and code not in _index().children


def parent(code: str) -> str | None:
    _require(code)
    return _index().parents.get(code)


def code_path(code: str) -> list[str]:
    """The codes from the province down: 440305 → [440000, 440300, 440305], 110101 → [110000, 110101]."""
    _require(code)
    path = [code]
    while (up := _index().parents.get(path[-1])) is not None:
        path.append(up)
    return path[::-1]


def name_path(code: str) -> list[str]:
    """440305 → ['广东省', '深圳市', '南山区']; RegionError if unknown."""
    return [_index().names[step] for step in code_path(code)]


def region_name(code: str) -> str:
    """The full name as written on an envelope: 440305 → '广东省 深圳市 南山区', 110101 → '北京市 东城区'."""
    return " ".join(name_path(code))
