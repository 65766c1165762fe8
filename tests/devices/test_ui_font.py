"""The UI font (devices/ui_font.py): the Simplified Chinese face as a font of its own, desubroutinized.

Most tests derive from a small collection cut from the system's Noto Sans CJK (a Japanese face, then
the Simplified Chinese one, both keeping their CFF subroutines), so that they take seconds, not the
minute the whole font takes. One test looks at the real prepared font, which `make test` builds first.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fontTools.pens.recordingPen import RecordingPen
from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTCollection, TTFont
from PIL import Image, ImageChops, ImageDraw, ImageFont

from devices import ui_font
from devices.fonts import find_cjk_font_face

# 返 通 骨: forms that differ between the Japanese and the Simplified Chinese face; 䶮 (CJK Ext-A) is
# in citizens' names; A is Latin.
TEXT = "返通骨䶮A"
JAPANESE, SIMPLIFIED = 0, 2  # faces of NotoSansCJK-*.ttc


def _cut(file: str, index: int) -> TTFont:
    font = TTFont(file, fontNumber=index)
    options = Options()
    options.name_IDs = ["*"]
    options.desubroutinize = False  # keep them: they are what the derivation must remove
    subsetter = Subsetter(options)
    subsetter.populate(text=TEXT)
    subsetter.subset(font)
    return font


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    file, index = find_cjk_font_face()
    if not file.endswith(".ttc") or index != SIMPLIFIED:
        pytest.skip(f"the system CJK font is not Noto Sans CJK's collection: {file} face {index}")
    ttc = TTCollection()
    ttc.fonts = [_cut(file, JAPANESE), _cut(file, SIMPLIFIED)]
    path = tmp_path_factory.mktemp("fonts") / "cut.ttc"
    ttc.save(str(path))
    return path


def _outlines(font: TTFont) -> dict[str, list]:
    glyphs = font.getGlyphSet()
    cmap = font.getBestCmap()
    drawn = {}
    for char in TEXT:
        pen = RecordingPen()
        glyphs[cmap[ord(char)]].draw(pen)
        drawn[char] = pen.value
    return drawn


def _subroutines(font: TTFont) -> int:
    cff = font["CFF "].cff
    top = cff[cff.fontNames[0]]
    privates = [fd.Private for fd in top.FDArray] if hasattr(top, "FDArray") else [top.Private]
    local = sum(len(getattr(private, "Subrs", [])) for private in privates)
    return len(cff.GlobalSubrs) + local


def test_the_derived_font_is_the_chosen_face_with_the_same_outlines_and_no_subroutines(
    collection: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "sc.otf"
    ui_font.derive(collection, 1, dest)

    with TTFont(collection, fontNumber=1) as source, TTFont(dest) as derived:
        assert _subroutines(source) > 0  # else there was nothing to take out
        assert _subroutines(derived) == 0
        assert derived["name"].getDebugName(1) == source["name"].getDebugName(1) == "Noto Sans CJK SC"
        assert derived.getBestCmap() == source.getBestCmap()
        assert derived["hmtx"].metrics == source["hmtx"].metrics
        assert "vmtx" in source and not any(tag in derived for tag in ui_font.VERTICAL_TABLES)
        assert _outlines(derived) == _outlines(source)
    with TTFont(collection, fontNumber=0) as japanese:
        assert _outlines(japanese)["骨"] != _outlines(TTFont(dest))["骨"]  # the test can tell faces apart
    assert not list(tmp_path.glob("*.partial"))


def test_a_prepared_font_is_reused_and_derived_again_when_its_source_changes(
    collection: Path, tmp_path: Path
) -> None:
    source = tmp_path / "cut.ttc"
    source.write_bytes(collection.read_bytes())
    cache = tmp_path / "cache"

    first, derived = ui_font.prepare((str(source), 1), cache)
    assert derived
    made = first.stat().st_mtime_ns
    assert ui_font.prepare((str(source), 1), cache) == (first, False)
    assert first.stat().st_mtime_ns == made  # not derived a second time

    os.utime(source, ns=(made + 10**9, made + 10**9))  # e.g. the fonts package was upgraded
    second, derived = ui_font.prepare((str(source), 1), cache)
    assert derived and second != first
    assert sorted(cache.iterdir()) == [second]  # the older one is gone


def test_a_first_face_in_truetype_outlines_is_used_as_it_is(tmp_path: Path) -> None:
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    builder = FontBuilder(1000, isTTF=True)
    builder.setupGlyphOrder([".notdef"])
    builder.setupCharacterMap({})
    builder.setupGlyf({".notdef": TTGlyphPen(None).glyph()})
    builder.setupHorizontalMetrics({".notdef": (500, 0)})
    builder.setupHorizontalHeader()
    builder.setupNameTable({"familyName": "Plain", "styleName": "Regular"})
    builder.setupOS2()
    builder.setupPost()
    plain = tmp_path / "plain.ttf"
    builder.save(str(plain))

    assert ui_font.prepare((str(plain), 0), tmp_path / "cache") == (plain, False)
    assert not (tmp_path / "cache").exists()


def test_a_derivation_that_fails_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ttc"
    broken.write_bytes(b"ttcf" + bytes(60))
    with pytest.raises(RuntimeError, match="could not prepare the UI font"):
        ui_font.prepare((str(broken), 2), tmp_path / "cache")
    assert not list((tmp_path / "cache").iterdir())


@pytest.fixture
def unprepared(collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small collection as the system's CJK font, with an empty cache."""
    monkeypatch.setattr(ui_font, "find_cjk_font_face", lambda: (str(collection), 1))
    monkeypatch.setattr(ui_font, "user_cache_dir", lambda name: tmp_path / "cache")
    ui_font.ui_font.cache_clear()
    yield tmp_path / "cache"
    ui_font.ui_font.cache_clear()
    for child in ui_font._background:
        child.wait(60)


def test_a_start_without_the_prepared_font_draws_with_the_system_file_and_prepares_it_meanwhile(
    collection: Path, unprepared: Path
) -> None:
    assert ui_font.ui_font() == collection  # at once: a first start does not wait
    started = len(ui_font._background)
    ui_font.ui_font.cache_clear()  # another UI process starting meanwhile does not derive it again
    assert ui_font.ui_font() == collection and len(ui_font._background) == started
    ui_font._background[-1].wait(60)
    (prepared,) = unprepared.iterdir()  # and the lock is gone
    assert prepared == ui_font.derived_path(collection, 1, unprepared)
    with TTFont(prepared) as font:
        assert font["name"].getDebugName(1) == "Noto Sans CJK SC" and _subroutines(font) == 0

    ui_font.ui_font.cache_clear()  # the next start
    assert ui_font.ui_font() == prepared


def _draw(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    image = Image.new("L", (80, 80))
    ImageDraw.Draw(image).text((4, 4), char, font=font, fill=255)
    return image


def test_the_ui_draws_simplified_chinese_forms_not_japanese_ones() -> None:
    """Kivy opens face 0 of whatever file it is given: the prepared file's face 0 must draw as the
    system collection's Simplified Chinese face does, and not as its face 0 (Japanese)."""
    file, index = find_cjk_font_face()
    prepared, _ = ui_font.prepare()
    ours = ImageFont.truetype(str(prepared), 60)  # index 0, as Kivy opens it
    chosen = ImageFont.truetype(file, 60, index=index)
    first = ImageFont.truetype(file, 60, index=0)
    for char in "返骨":
        drawn = _draw(ours, char)
        assert ImageChops.difference(drawn, _draw(chosen, char)).getbbox() is None, char
        if index != 0:
            assert ImageChops.difference(drawn, _draw(first, char)).getbbox() is not None, char


def test_kiosk_font_build_says_what_it_did_or_what_is_missing(
    collection: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kiosk.cli import main

    monkeypatch.setattr(ui_font, "find_cjk_font_face", lambda: (str(collection), 1))
    monkeypatch.setattr(ui_font, "user_cache_dir", lambda name: tmp_path / "cache")
    assert main(["font", "build"]) == 0
    assert "prepared in" in capsys.readouterr().out
    assert main(["font", "build"]) == 0
    assert "already prepared" in capsys.readouterr().out

    def no_font() -> tuple[str, int]:
        raise RuntimeError("no CJK font found: install fonts-noto-cjk")

    monkeypatch.setattr(ui_font, "find_cjk_font_face", no_font)
    assert main(["font", "build"]) == 2
    assert "install fonts-noto-cjk" in capsys.readouterr().err
