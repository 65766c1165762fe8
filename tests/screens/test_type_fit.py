"""Text set smaller until it fits (screens/widgets.shrink_to_fit), in a real Kivy window under Xvfb.

Every type size tried opens a font face that stays open (~0.7 MB each), so fitting skips the ladder
steps a measured width rules out; these tests check it never skips one that fits (against trying every
step, as before), and that a button sized from a placeholder before its layout is not fitted to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kivy_child import script_report, write_report

TEXTS = ("社会保障卡申领", "企业职工基本养老保险关系转移接续", "Transfer of basic pension insurance")
WIDTHS = (100, 240, 420, 700, 1000)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return script_report(__file__, tmp_path_factory, timeout=200)


@pytest.mark.ui
def test_fitting_picks_the_largest_step_that_fits_and_tries_few(report: dict[str, Any]) -> None:
    assert len(report["fits"]) == len(TEXTS) * len(WIDTHS) * 2
    for fit in report["fits"]:
        assert fit["chosen"] == fit["largest_fitting"], fit
        assert fit["tried"] <= 3, fit  # the old walk tried up to 9 steps (a face each)
    assert any(fit["chosen"] < fit["base"] for fit in report["fits"])  # some did have to shrink


@pytest.mark.ui
def test_a_button_narrower_than_a_glyph_is_not_fitted_until_its_layout_sizes_it(
    report: dict[str, Any],
) -> None:
    button = report["button"]
    assert button["placeholder"] == button["base"]
    assert button["laid_out"] == button["base"]  # the tile text fits its real width at its own size


def _script(out: Path) -> int:
    from kivy_child import prepare_window

    prepare_window()
    from kivy.core.window import Window  # noqa: F401  (the GL context the labels render in)
    from kivy.metrics import sp
    from kivy.uix.label import Label

    from screens import theme
    from screens.widgets import BigButton, set_font_scale, shrink_to_fit, small_px

    report: dict[str, Any] = {"error": None, "fits": []}

    def counting_updates(label: Label) -> list[float]:
        """The sizes `label` is rendered at from now on (each a font face opened)."""
        tried: list[float] = []
        update = label.texture_update

        def counted(*args: Any) -> None:
            tried.append(label.font_size)
            update(*args)

        label.texture_update = counted
        return tried

    def fits_at(text: str, width: float, size: float) -> bool:
        label = Label(text=text, font_size=sp(size), width=width)
        label.texture_update()
        return label.texture_size[0] <= width

    try:
        for scale in (1.0, theme.ELDERLY_SCALE):
            set_font_scale(scale)
            base = theme.type_size(theme.FONT_TITLE)
            for text in TEXTS:
                for width in WIDTHS:
                    label = Label(text=text, width=width, size_hint_x=None)
                    label.type_base = theme.FONT_TITLE
                    tried = counting_updates(label)
                    shrink_to_fit(label, lambda lb=label: lb.texture_size[0] > lb.width)
                    steps = [base]
                    while (smaller := theme.smaller_type_size(steps[-1])) is not None:
                        steps.append(smaller)
                    fitting = [step for step in steps if fits_at(text, width, step)]
                    report["fits"].append(
                        {
                            "text": text,
                            "width": width,
                            "scale": scale,
                            "base": base,
                            "chosen": round(label.font_size / sp(1), 2),
                            "largest_fitting": fitting[0] if fitting else steps[-1],
                            "tried": len(tried),
                        }
                    )
        set_font_scale(1.0)
        tile = f"[b]查询[/b]\n[size={small_px()}]查询办理进度、打印证明[/size]"  # as on the home screen
        button = BigButton(tile, size=56, height=380, markup=True, size_hint_x=None, width=13)
        button._fit_text()
        placeholder = button.font_size
        button.width = 500
        button._fit_text()
        report["button"] = {
            "base": round(sp(theme.type_size(56)), 2),
            "placeholder": round(placeholder, 2),
            "laid_out": round(button.font_size, 2),
        }
    except Exception as err:  # reported, so that the test shows it
        report["error"] = repr(err)
    write_report(out, report)
    return 0
