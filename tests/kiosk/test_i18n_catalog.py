"""The English catalog against the code: every string marked with _() or N_() in screens/, kiosk/ and
devices/ has a real English translation, nothing in the catalog is stale, and the placeholders agree.

A new citizen-facing sentence fails here until it is translated in assets/locale/en/LC_MESSAGES/kiosk.po;
the failure prints the entries to paste in.
"""

from __future__ import annotations

import ast
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from kiosk.i18n import po_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("screens", "kiosk", "devices")
MARKERS = ("_", "N_")
CJK = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e]")  # Han, CJK punctuation, full-width forms
PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _marker_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MARKERS:
            yield node


def marked_strings() -> dict[str, list[str]]:
    """msgid → where it is marked ("screens/app.py:77")."""
    found: dict[str, list[str]] = {}
    for path, tree in _sources():
        for call in _marker_calls(tree):
            if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
                found.setdefault(call.args[0].value, []).append(f"{path.relative_to(ROOT)}:{call.lineno}")
    return found


def catalog() -> dict[str, tuple[str, bool]]:
    """msgid → (msgstr, fuzzy) of the English .po (the header left out)."""
    with po_path("en").open("rb") as po:
        parsed = read_po(po, abort_invalid=True)
    return {m.id: (m.string, m.fuzzy) for m in parsed if m.id}


def placeholders(text: str) -> tuple[list[str], list[str]]:
    """The {name} fields (sorted, with repeats) and the %-style conversions of `text`."""
    fields = sorted(name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None)
    return fields, sorted(PERCENT.findall(text))


@pytest.fixture(scope="module")
def marked() -> dict[str, list[str]]:
    return marked_strings()


@pytest.fixture(scope="module")
def english() -> dict[str, tuple[str, bool]]:
    return catalog()


def _po_entry(msgid: str, where: list[str]) -> str:
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    return f'#: {where[0].rsplit(":", 1)[0]}\nmsgid {quoted(msgid)}\nmsgstr ""'


def test_every_marked_string_has_an_english_translation(marked, english):
    missing = {msgid: where for msgid, where in marked.items() if not english.get(msgid, ("", False))[0]}
    assert not missing, "untranslated (add to kiosk.po):\n\n" + "\n\n".join(
        _po_entry(msgid, where) for msgid, where in missing.items()
    )


def test_no_fuzzy_entries(english):
    # Fuzzy entries are left out of the compiled catalog: the citizen would see Chinese.
    assert not [msgid for msgid, (_text, fuzzy) in english.items() if fuzzy]


def test_no_stale_entries(marked, english):
    stale = sorted(set(english) - set(marked))
    assert not stale, f"in kiosk.po but marked nowhere in the code (remove them): {stale}"


def test_placeholders_match(english):
    wrong = {
        msgid: text for msgid, (text, _fuzzy) in english.items() if placeholders(msgid) != placeholders(text)
    }
    assert not wrong, f"msgstr placeholders differ from the msgid's: {wrong}"


def test_translations_are_english(english):
    # A Chinese word left in the English (a 、 or a full-width parenthesis) shows as a half translation.
    assert not {msgid: text for msgid, (text, _fuzzy) in english.items() if CJK.search(text)}


def test_markers_take_a_literal_never_an_f_string():
    """_(f"…{x}…") can never match a msgid: the text must be a constant, formatted after translation."""
    bad = []
    for path, tree in _sources():
        for call in _marker_calls(tree):
            if call.args and isinstance(call.args[0], ast.JoinedStr):
                bad.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert not bad


def test_nothing_is_translated_at_import_time():
    """_() in a module or class body runs once, in Chinese: such constants must use N_()."""
    bad = []
    for path, tree in _sources():
        bodies: list[list[ast.stmt]] = [tree.body]
        bodies += [node.body for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
        for body in bodies:
            for statement in body:
                if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    continue
                for node in ast.walk(statement):
                    is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    if is_call and node.func.id == "_" and not _inside_lambda(statement, node):
                        bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"_() at import time: {bad}"


def _inside_lambda(statement: ast.stmt, target: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Lambda) and any(child is target for child in ast.walk(node))
        for node in ast.walk(statement)
    )
