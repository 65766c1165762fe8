"""GB/T 2260 region codes for `kiosk provision configure` (and enrollment, §5.1 `region_code`).

The code must name a real division: it decides which catalogue the platform sends the terminal. The table
is `assets/regions/gb2260.tsv` (revision 201904, see its header). When `kiosk.regions` exists (the region
picker's module) its answer is used instead, so the two never disagree. A code newer than the table can be
let through with `allow_unlisted`, which still insists on 6 digits under one of the 34 provinces.
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

from kiosk.paths import ASSETS

TABLE = ASSETS / "regions" / "gb2260.tsv"
# The 34 provincial-level divisions (省、自治区、直辖市、特别行政区) of GB/T 2260.
PROVINCES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42"}
    | {"43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}
)


class RegionError(ValueError):
    """The region code is not a GB/T 2260 division; the message says why, in terms a technician can act on."""


@functools.cache
def load_table(path: Path = TABLE) -> dict[str, str]:
    """code → name, from the shipped table (comment lines start with #)."""
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, _, name = line.partition("\t")
            table[code] = name
    return table


def _picker_name(code: str) -> str | None:
    """The region picker's own lookup, when that module exists (read only, never required)."""
    try:
        regions = importlib.import_module("kiosk.regions")
    except ImportError:
        return None
    for attr in ("region_name", "name_of", "lookup"):
        lookup = getattr(regions, attr, None)
        if callable(lookup):
            try:
                found = lookup(code)
            except (KeyError, ValueError):
                return None
            return getattr(found, "name", found) if found else None
    return None


def full_name(code: str, table: dict[str, str] | None = None) -> str:
    """'河南省 信阳市 浉河区' for 411502 (province, city, county as far as the code goes)."""
    table = table if table is not None else load_table()
    parts = [code[:2] + "0000", code[:4] + "00", code]
    names = [table[p] for i, p in enumerate(parts) if p in table and (i == 0 or p != parts[i - 1])]
    return " ".join(names)


def check_region(code: str, *, allow_unlisted: bool = False) -> str:
    """The division's full name; RegionError when `code` is not a known GB/T 2260 code."""
    if not re.fullmatch(r"\d{6}", code):
        raise RegionError(f"region code {code!r} must be 6 digits (GB/T 2260), e.g. 411502")
    if code[:2] not in PROVINCES:
        raise RegionError(f"region code {code}: {code[:2]} is not one of the 34 GB/T 2260 province codes")
    picked = _picker_name(code)  # the region picker's answer first, so the two never disagree
    if picked:
        return str(picked)
    table = load_table()
    if code in table:
        return full_name(code, table)
    if allow_unlisted:
        return full_name(code, table) or code
    raise RegionError(
        f"region code {code} is not in the GB/T 2260 table (revision 201904); check the code, or pass "
        "--allow-unlisted-region if the division was created later"
    )
