"""The citizen's language: Chinese first, English as a second language (GNU gettext, domain `kiosk`).

The Chinese sentences in the code are the msgids, so Chinese needs no catalog and is what a citizen
sees whenever a translation is missing. English lives in `assets/locale/en/LC_MESSAGES/kiosk.po`.

- `_(text)` translates into the current language; call it where the text is shown or raised, never
  at import time (the language changes while the program runs).
- `N_(text)` only marks a constant (class attribute, module table) for the catalog; translate it
  with `_()` where it is used.

The .po is compiled in memory with Babel the first time a language is needed (about 0.1 s), so no
.mo file is committed or written: the catalog on disk is always the one in use, and nothing has to
be writable under the service's sandbox. Kept free of Kivy: the flows' messages use it too.

The language is one per terminal (one citizen at a time); the UI sets it back to Chinese when the
citizen's visit ends (`screens.app.KioskApp.go_home`).
"""

from __future__ import annotations

import gettext
import io
import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

DOMAIN = "kiosk"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "assets" / "locale"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

_current = DEFAULT_LANGUAGE
_catalogs: dict[str, gettext.NullTranslations] = {}
_lock = threading.Lock()


def N_(text: str) -> str:
    """Mark `text` for translation without translating it (constants read before a language is set)."""
    return text


def _(text: str) -> str:
    """`text` (a Chinese msgid) in the current language; Chinese itself when there is no translation."""
    if _current == DEFAULT_LANGUAGE or not text:
        return text
    return _catalog(_current).gettext(text) or text  # an empty msgstr never reaches the screen


def set_language(lang: str) -> None:
    """Switch every later `_()` to `lang` (one of LANGUAGES)."""
    global _current
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; expected one of {LANGUAGES}")
    if lang != _current:
        log.info("language: %s", lang)
    _current = lang


def current_language() -> str:
    return _current


def reset_language() -> None:
    """Back to Chinese: the next citizen starts where everyone starts."""
    set_language(DEFAULT_LANGUAGE)


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of `lang` (cached). A missing or broken .po is logged once and gives
    Chinese everywhere: a translation problem must never stop a citizen."""
    return _catalog(lang)


def _catalog(lang: str) -> gettext.NullTranslations:
    found = _catalogs.get(lang)
    if found is not None:
        return found
    with _lock:
        found = _catalogs.get(lang)
        if found is None:
            found = _catalogs[lang] = _compile(lang)
    return found


def _compile(lang: str) -> gettext.NullTranslations:
    if lang == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()
    path = po_path(lang)
    try:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        with path.open("rb") as po:
            catalog = read_po(po, locale=lang, domain=DOMAIN, abort_invalid=True)  # no half catalog
        buffer = io.BytesIO()
        write_mo(buffer, catalog)  # fuzzy and empty entries are left out: those stay Chinese
        buffer.seek(0)
        return gettext.GNUTranslations(buffer)
    except Exception:  # missing file, syntax error, Babel absent: Chinese rather than a crash
        log.exception("catalog %s unusable; showing Chinese", path)
        return gettext.NullTranslations()


def clear_cache() -> None:
    """Forget compiled catalogs (tests that write their own .po)."""
    with _lock:
        _catalogs.clear()
