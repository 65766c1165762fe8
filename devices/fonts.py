"""Find a font that covers Chinese, for the kiosk UI and the virtual printer's renderings."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

# charset=4e2d (中) makes fontconfig prefer a face that really has Chinese glyphs.
_PATTERN = "sans:lang=zh-cn:charset=4e2d"
_HINT = "no CJK font found: install fonts-noto-cjk"


@functools.cache
def find_cjk_font_face() -> tuple[str, int]:
    """Return (file, face index) of a sans font covering Chinese.

    The index matters for collections (.ttc) such as Noto Sans CJK, where face 0 is the Japanese one.
    """
    if shutil.which("fc-match") is None:
        raise RuntimeError(f"{_HINT} (fc-match not found: install fontconfig)")
    try:
        proc = subprocess.run(
            ["fc-match", "-f", "%{file}\n%{index}\n%{lang}", _PATTERN],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"{_HINT} (fc-match failed: {exc})") from exc
    file, index, langs = ([*proc.stdout.split("\n"), "", "", ""])[:3]
    # fc-match always answers with *some* font, so check that this one really covers Chinese.
    if not file or "zh-cn" not in langs.split("|") or not Path(file).is_file():
        raise RuntimeError(_HINT)
    return file, int(index) if index.isdigit() else 0


def find_cjk_font() -> str:
    """Path of a font file covering Chinese (cached); RuntimeError if the system has none."""
    return find_cjk_font_face()[0]
