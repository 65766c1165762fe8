"""escpos's capabilities pickle goes to one lasting per-user directory, not a new temporary one per start."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = "import devices.printer, escpos.capabilities as c, os; print(os.path.dirname(c.pickle_path))"


def _pickle_dir(env: dict[str, str]) -> str:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("ESCPOS_CAPABILITIES_PICKLE_DIR", "XDG_CACHE_HOME")
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_cache_lasts_across_starts_in_the_users_cache(tmp_path):
    first = _pickle_dir({"XDG_CACHE_HOME": str(tmp_path)})
    second = _pickle_dir({"XDG_CACHE_HOME": str(tmp_path)})
    assert first == second == str(tmp_path / "kiosk" / "escpos")
    assert any(p.name.endswith(".capabilities.pickle") for p in (tmp_path / "kiosk" / "escpos").iterdir())
    assert (tmp_path / "kiosk" / "escpos").stat().st_mode & 0o077 == 0


def test_an_operators_setting_wins(tmp_path):
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    assert _pickle_dir(
        {"ESCPOS_CAPABILITIES_PICKLE_DIR": str(chosen), "XDG_CACHE_HOME": str(tmp_path)}
    ) == str(chosen)


def test_an_unwritable_cache_leaves_escpos_its_default(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert not _pickle_dir({"XDG_CACHE_HOME": str(blocked)}).startswith(str(blocked))
