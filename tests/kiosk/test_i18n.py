"""kiosk.i18n: Chinese by default, English on request, Chinese again after reset, and Chinese (never an
empty string or a crash) wherever the English is missing or the catalog is unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk import i18n
from kiosk.catalog import FormField
from kiosk.forms import validate_form
from kiosk.i18n import N_, _, current_language, reset_language, set_language
from kiosk.platform.errors import PlatformError, citizen_message


@pytest.fixture(autouse=True)
def chinese_again():
    """Every test leaves the process as it found it: Chinese, catalogs from the repository."""
    yield
    reset_language()
    i18n.clear_cache()


def _own_catalog(monkeypatch, tmp_path: Path, po: str | None) -> None:
    directory = tmp_path / "en" / "LC_MESSAGES"
    directory.mkdir(parents=True)
    if po is not None:
        (directory / "kiosk.po").write_text(po, encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.clear_cache()


def test_chinese_by_default_needs_no_catalog():
    assert current_language() == "zh" == i18n.DEFAULT_LANGUAGE
    assert i18n.LANGUAGES == ("zh", "en")
    assert _("首页") == "首页"
    assert "en" not in i18n._catalogs  # nothing compiled for Chinese


def test_switch_to_english_and_back():
    set_language("en")
    assert current_language() == "en"
    assert _("首页") == "Home"
    assert _("呼叫工作人员") == "Call staff"
    assert _("{seconds} 秒").format(seconds=12) == "12 s"
    reset_language()
    assert current_language() == "zh"
    assert _("首页") == "首页"


def test_mark_only_does_not_translate():
    set_language("en")
    title = N_("办理完成")
    assert title == "办理完成" and _(title) == "All done"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError):
        set_language("fr")
    assert current_language() == "zh"


def test_a_string_missing_from_the_catalog_stays_chinese():
    set_language("en")
    assert _("一句没有英文的新话") == "一句没有英文的新话"
    assert _("") == ""
    assert _("Already English.") == "Already English."  # translating twice changes nothing


def test_empty_and_fuzzy_translations_fall_back_to_chinese(monkeypatch, tmp_path):
    po = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\\n"

msgid "首页"
msgstr "Home"

msgid "跳过"
msgstr ""

#, fuzzy
msgid "下一步"
msgstr "Nex"
"""
    _own_catalog(monkeypatch, tmp_path, po)
    set_language("en")
    assert _("首页") == "Home"
    assert _("跳过") == "跳过"  # never an empty button
    assert _("下一步") == "下一步"  # a fuzzy guess is not shown


@pytest.mark.parametrize("po", [None, 'msgid "首页"\nmsgstr "Home\n\nthis is not a po file ""'])
def test_a_missing_or_broken_catalog_means_chinese_not_a_crash(monkeypatch, tmp_path, po, caplog):
    _own_catalog(monkeypatch, tmp_path, po)
    set_language("en")
    assert _("首页") == "首页"
    assert _("首页") == "首页"  # cached: logged once, not on every string
    assert sum("unusable" in r.getMessage() for r in caplog.records) == 1


def test_the_core_speaks_the_current_language():
    phone = FormField(field="phone", label="联系电话", type="phone", required=True)
    assert validate_form([phone], {}) == {"phone": "请填写联系电话。"}
    set_language("en")
    assert validate_form([phone], {}) == {"phone": "Please fill in: 联系电话."}  # the catalog's label
    assert validate_form([phone], {"phone": "12"}) == {"phone": "Please enter an 11-digit mobile number."}
    assert citizen_message(PlatformError(50301, "down", retryable=True)).startswith("The platform is")
