"""A tiny printer-neutral receipt model: the application core builds receipts from these parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

Align: TypeAlias = Literal["left", "center", "right"]

# Characters per line in font A (12x24 dots); a Chinese character takes two columns.
PAPER_COLUMNS: dict[int, int] = {58: 32, 80: 48}


@dataclass(frozen=True)
class Text:
    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False  # double width and height


@dataclass(frozen=True)
class QR:
    data: str
    size: int = 6  # module size in dots, 1..16


@dataclass(frozen=True)
class Feed:
    lines: int = 1


@dataclass(frozen=True)
class Cut:
    pass


@dataclass(frozen=True)
class Rule:
    """A line of dashes as wide as the paper."""


Element: TypeAlias = Text | QR | Feed | Cut | Rule
Receipt: TypeAlias = list[Element]


def columns(paper_mm: int) -> int:
    """ASCII columns for a paper width; a Chinese character counts as two."""
    try:
        return PAPER_COLUMNS[paper_mm]
    except KeyError:
        raise ValueError(f"unsupported paper width {paper_mm} mm (use 58 or 80)") from None
