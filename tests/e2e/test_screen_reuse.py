"""Home, catalog and guide keep what they built when entered again unchanged (building a screen full of
CJK labels costs more than drawing it), and rebuild when anything they show has changed: the typed
search after the session ended, a device going down, the language, the item.

Runs this file's `_run` in a subprocess (tests/kivy_child.py): a demo terminal with the platform
simulator, driven by simulated touches in the real Kivy window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kivy_child import kiosk_report

ITEM = "KS-SAMPLE-JY-SY-0007"  # 失业登记, in 跨省通办专区
OTHER_ITEM = "KS-SAMPLE-GJJ-TQ-0001"


@pytest.fixture(scope="module")
def checks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return kiosk_report(__file__, tmp_path_factory, "_run", timeout=240)["checks"]


@pytest.mark.ui
def test_an_unchanged_screen_is_kept(checks: dict[str, Any]) -> None:
    assert checks["home_kept"] and checks["guide_kept"]
    assert checks["catalog_kept"]


@pytest.mark.ui
def test_item_buttons_are_shared_by_the_tabs(checks: dict[str, Any]) -> None:
    # The demo catalog (../shared/data sample) is all 跨省通办: both tabs list the same items.
    assert checks["kuasheng_count"] == checks["all_count"] > 1
    assert checks["item_button_shared"]


@pytest.mark.ui
def test_the_search_of_the_last_citizen_is_not_kept(checks: dict[str, Any]) -> None:
    assert checks["typed_results"] < checks["all_count"]
    assert checks["after_session"] == {"query": "", "results": checks["all_count"], "box_has_query": False}


@pytest.mark.ui
def test_a_change_of_what_is_shown_rebuilds(checks: dict[str, Any]) -> None:
    assert checks["device_down"]["rebuilt"] and checks["device_down"]["unavailable"] > 0
    assert checks["english_home"] == {"rebuilt": True, "switch": "lang:zh"}
    assert checks["other_item_guide_rebuilt"]


def _run(report_path: Path, state_dir: Path) -> int:
    from kivy_child import Driver, Steps, demo_kiosk

    from kiosk.logs import setup_logging

    setup_logging("WARNING")
    report: dict[str, Any] = {"checks": {}, "error": None}
    checks = report["checks"]
    with demo_kiosk(state_dir) as (app, _terminal, _config):
        driver = Driver(app, scroll_padding=40)
        on, find, tap, frames = driver.on, driver.find, driver.tap, driver.frames

        def first_child(screen: Any) -> Any:
            return screen.body.children[-1] if screen.body.children else None

        def visit() -> Steps:
            yield from on("home")
            home, catalog, guide = (app.manager.get_screen(name) for name in ("home", "catalog", "guide"))
            home_body = first_child(home)
            yield from tap("tile:kuasheng")
            yield from on("catalog")
            checks["kuasheng_count"] = len(catalog.results)
            button = find(f"item:{ITEM}")
            catalog_body = first_child(catalog)
            yield from tap("home_button")
            yield from on("home")
            checks["home_kept"] = first_child(home) is home_body
            yield from tap("tile:kuasheng")
            yield from on("catalog")
            checks["catalog_kept"] = first_child(catalog) is catalog_body
            yield from tap("filter:all")
            yield from frames(2)
            checks["all_count"] = len(catalog.results)
            checks["item_button_shared"] = find(f"item:{ITEM}") is button

            yield from tap(f"item:{ITEM}")
            yield from on("guide")
            guide_body = first_child(guide)
            yield from tap("guide:back")
            yield from on("catalog")
            yield from tap(f"item:{ITEM}")
            yield from on("guide")
            checks["guide_kept"] = first_child(guide) is guide_body
            yield from tap("guide:back")
            yield from on("catalog")
            yield from tap(f"item:{OTHER_ITEM}")
            yield from on("guide")
            checks["other_item_guide_rebuilt"] = first_child(guide) is not guide_body
            yield from tap("guide:back")
            yield from on("catalog")

            # A citizen searches (S, B, K), then leaves: the next one sees the whole list.
            yield from tap("search:box")
            for key in "SBK":
                yield from tap(f"search:key:{key}")
            checks["typed_results"] = len(catalog.results)
            yield from tap("home_button")
            yield from on("home")
            yield from tap("tile:all")
            yield from on("catalog")
            checks["after_session"] = {
                "query": catalog.query,
                "results": len(catalog.results),
                "box_has_query": "[b]SBK[/b]" in catalog.search_box.text,
            }

            # The card reader goes down: the list is built again, with the reasons.
            before = first_child(catalog)
            yield from tap("home_button")
            yield from on("home")
            catalog.device_states = lambda: {"idcard": "offline"}
            yield from tap("tile:all")
            yield from on("catalog")
            checks["device_down"] = {
                "rebuilt": first_child(catalog) is not before,
                "unavailable": sum(1 for w in catalog.column.children if getattr(w, "unavailable", None)),
            }
            catalog.device_states = None
            yield from tap("home_button")
            yield from on("home")
            before = first_child(home)
            yield from tap("lang:en")
            yield from frames(2)
            switch = find("lang:zh")
            checks["english_home"] = {
                "rebuilt": first_child(home) is not before,
                "switch": getattr(switch, "tid", None),
            }

        driver.run(visit(), report, report_path, step_timeout_s=30.0)
    return 0 if report["error"] is None else 1
