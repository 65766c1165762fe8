"""GB 11643 citizen ID number helpers (protocol doc §6.1).

Standard library only: the application core imports these for form validation.
"""

from __future__ import annotations

import datetime as _dt

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_EARLIEST_BIRTH = _dt.date(1850, 1, 1)  # the standard's own example is born in 1880; earlier is a typo


def gb11643_check_char(first17: str) -> str:
    """The MOD 11-2 check character ('0'-'9' or 'X') for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected exactly 17 ASCII digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def has_valid_check_char(s: str) -> bool:
    """18 characters, 17 digits + digit/'X', MOD 11-2 correct (no date check)."""
    if not isinstance(s, str) or len(s) != 18 or not s[:17].isascii() or not s[:17].isdigit():
        return False
    return gb11643_check_char(s[:17]) == s[17]


def is_valid_id_number(s: str, *, today: _dt.date | None = None) -> bool:
    """True for an 18-char GB 11643 number with a correct check char, an address code that starts
    with 1-9 and a plausible birth date.

    Strict about case: the check letter must be an upper-case 'X' (callers normalise user input).
    """
    if not has_valid_check_char(s) or s[0] == "0":
        return False
    try:
        birth = _dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return _EARLIEST_BIRTH <= birth <= (today or _dt.date.today())


def mask_id_number(s: str) -> str:
    """Keep the first 4 and last 4 characters, star the rest; short strings are starred entirely."""
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]
