"""kiosk.regions: the GB/T 2260 table as the address picker and the code checks use it."""

from __future__ import annotations

import pytest

from kiosk import regions
from kiosk.regions import (
    RegionError,
    children,
    code_path,
    is_complete,
    is_valid_region,
    name_path,
    provinces,
    region_name,
)

# 省、自治区、直辖市 (31), then 台湾, 香港, 澳门
PROVINCE_CODES = {
    *(str(n) for n in (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43)),
    *(str(n) for n in (44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82)),
}


def test_the_34_provincial_level_divisions() -> None:
    found = provinces()
    assert {p.code[:2] for p in found} == PROVINCE_CODES
    assert all(p.code.endswith("0000") for p in found)
    assert [p.code for p in found] == sorted(p.code for p in found)
    names = {p.code: p.name for p in found}
    assert names["110000"] == "北京市" and names["650000"] == "新疆维吾尔自治区"
    assert names["810000"] == "香港特别行政区" and names["820000"] == "澳门特别行政区"
    assert names["710000"] == "台湾省"


def test_hong_kong_macao_taiwan_have_no_children_and_are_complete() -> None:
    for code in ("710000", "810000", "820000"):
        assert children(code) == []
        assert is_complete(code)


def test_municipalities_go_straight_to_their_districts() -> None:
    beijing = children("110000")
    assert beijing and all(not c.code.endswith("00") for c in beijing)
    assert {"东城区", "海淀区", "延庆区"} <= {c.name for c in beijing}
    assert not any(c.name == "市辖区" for c in beijing)
    chongqing = {c.name for c in children("500000")}
    assert {"渝中区", "巫溪县", "彭水苗族土家族自治县"} <= chongqing  # 市辖区 and 县 merged in one list
    assert not is_complete("110000")


def test_names_from_the_province_down() -> None:
    assert name_path("110101") == ["北京市", "东城区"]
    assert region_name("110101") == "北京市 东城区"
    assert name_path("440305") == ["广东省", "深圳市", "南山区"]
    assert region_name("440305") == "广东省 深圳市 南山区"
    assert region_name("411502") == "河南省 信阳市 浉河区"
    assert region_name("440000") == "广东省"
    assert code_path("440305") == ["440000", "440300", "440305"]
    assert code_path("110101") == ["110000", "110101"]


def test_a_province_lists_its_cities_and_the_county_level_cities_it_administers() -> None:
    henan = {c.code: c.name for c in children("410000")}
    assert henan["411500"] == "信阳市"
    assert henan["419001"] == "济源市"  # 省直辖县级行政区划: no placeholder step
    assert region_name("419001") == "河南省 济源市"
    assert "市辖区" not in henan.values()
    shenzhen = {c.code for c in children("440300")}
    assert "440305" in shenzhen and all(code.startswith("4403") for code in shenzhen)


def test_cities_without_counties_are_complete() -> None:
    for code, name in [("441900", "东莞市"), ("442000", "中山市"), ("620200", "嘉峪关市")]:
        assert children(code) == []
        assert is_complete(code)
        assert name_path(code)[-1] == name
    assert not is_complete("440300")
    assert is_complete("440305")


@pytest.mark.parametrize(
    "code",
    [
        "",
        "11010",
        "1101011",
        "110100",
        "440399",
        "990000",
        "000000",
        "11010a",
        " 110101",
        "110101 ",
        "１１０１０１",
    ],
)
def test_invalid_codes_are_refused(code: str) -> None:
    assert not is_valid_region(code)
    assert not is_complete(code)
    with pytest.raises(RegionError):
        region_name(code)
    with pytest.raises(ValueError):  # what provisioning catches
        children(code)


def test_non_strings_are_not_valid() -> None:
    assert not is_valid_region(110101)
    assert not is_valid_region(None)


def test_every_code_hangs_under_its_province() -> None:
    seen = 0
    for province in provinces():
        for city in children(province.code):
            assert city.code[:2] == province.code[:2]
            for county in children(city.code):
                assert county.code[:4] == city.code[:4] and is_complete(county.code)
                seen += 1
            seen += 1
        seen += 1
    assert seen > 3000  # the whole table is reachable from the province list


def test_the_table_is_small_and_says_where_it_comes_from() -> None:
    assert regions.TABLE.stat().st_size < 300_000
    header = regions.TABLE.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("#") and regions.REVISION in header
