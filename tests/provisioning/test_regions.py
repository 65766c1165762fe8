"""GB/T 2260 codes: the shipped table and the check configure relies on."""

from __future__ import annotations

import pytest

from provisioning.regions import PROVINCES, RegionError, check_region, load_table


def test_table_has_the_34_provinces_and_thousands_of_divisions():
    table = load_table()
    assert {code[:2] for code in table if code.endswith("0000")} == PROVINCES
    assert len(PROVINCES) == 34
    assert len(table) > 3000
    assert all(len(code) == 6 and code.isdigit() for code in table)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("411502", "河南省 信阳市 浉河区"),
        ("110101", "北京市 东城区"),
        ("410000", "河南省"),
        ("440300", "广东省 深圳市"),
    ],
)
def test_known_codes_give_their_full_name(code, name):
    assert check_region(code) == name


@pytest.mark.parametrize("code", ["41150", "4115021", "41150a", "", "991502", "000000"])
def test_malformed_or_foreign_codes_are_refused(code):
    with pytest.raises(RegionError):
        check_region(code, allow_unlisted=True)  # not even the explicit flag lets these through


def test_unlisted_code_needs_the_flag():
    with pytest.raises(RegionError, match="--allow-unlisted-region"):
        check_region("411599")
    assert check_region("411599", allow_unlisted=True).startswith("河南省 信阳市")
