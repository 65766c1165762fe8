"""Catalog search (Chinese text, pinyin initials, full pinyin, filters, ranking) and item availability."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.base import DeviceState
from kiosk.catalog import load_catalog, unavailable_reason
from kiosk.catalog_search import (
    CatalogIndex,
    Entry,
    build_index,
    departments,
    load_tsv_entries,
    pinyin_match,
    pinyin_syllables,
    themes,
)

TSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "kuasheng_items_sample.tsv"
SBK = "KS-SAMPLE-SBK-SL-0002"  # 社会保障卡申领
GJJ = "KS-SAMPLE-GJJ-TQ-0001"  # 正常退休提取住房公积金
SB_CB = "KS-SAMPLE-SB-CB-0006"  # 社会保险参保证明查询打印
YL = "KS-SAMPLE-YL-ZY-0003"  # 企业职工基本养老保险关系转移接续 (信阳市社会保险中心)


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def seed(catalog) -> CatalogIndex:
    return build_index(catalog.items)


@pytest.fixture(scope="module")
def sample() -> CatalogIndex:
    if not TSV.exists():
        pytest.skip(f"{TSV} is not here (it lives in the shared folder beside the repository)")
    return build_index(load_tsv_entries(TSV))


def names(index: CatalogIndex, query: str, **filters) -> list[str]:
    return [hit.entry.name for hit in index.search(query, **filters)]


# -- pinyin -----------------------------------------------------------------------------------------
def test_readings_come_from_the_phrase_dictionary():
    assert pinyin_syllables("重庆") == ("chong", "qing")
    assert pinyin_syllables("长沙") == ("chang", "sha")
    assert pinyin_syllables("提前还清") == ("ti", "qian", "huan", "qing")
    assert pinyin_syllables("社保卡(A4)") == ("she", "bao", "ka", "a", "4")  # punctuation dropped


def test_pinyin_match_prefers_the_start_and_no_gaps():
    syllables = pinyin_syllables("社会保障卡申领")
    assert pinyin_match("shbzk", syllables) == (0, 0)
    assert pinyin_match("shehuibaozhang", syllables) == (0, 0)
    assert pinyin_match("shehuibzk", syllables) == (0, 0)  # full pinyin then initials
    assert pinyin_match("sbk", syllables) == (0, 2)  # 社(会)保(障)卡: the usual abbreviation
    assert pinyin_match("shenling", syllables) == (5, 0)
    assert pinyin_match("xyz", syllables) is None


# -- the seed catalog ---------------------------------------------------------------------------------
def test_sbk_finds_the_social_security_card(seed):
    hits = seed.search("SBK")
    assert hits[0].entry.code == SBK
    assert hits[0].field == "name"  # the name's abbreviation, not the letters in its code
    assert seed.codes("sbk") == seed.codes("SBK")  # case-insensitive


def test_chinese_substring(seed):
    assert names(seed, "公积金") == ["正常退休提取住房公积金"]
    assert names(seed, "失业") == ["失业登记"]
    assert seed.codes("社会")[:2] == [SBK, SB_CB]  # both names start with 社会
    assert YL in seed.codes("社会")  # its department is 信阳市社会保险中心


def test_full_pinyin_prefix(seed):
    assert seed.codes("shehui")[:2] == [SBK, SB_CB]
    assert seed.codes("shiyedengji") == ["KS-SAMPLE-JY-SY-0007"]
    assert seed.codes("gongzheng")[0] == "KS-SAMPLE-GZ-XL-0005"


def test_ranking_exact_and_prefix_before_substring_and_name_before_department(seed):
    hits = seed.search("shiye")
    assert hits[0].entry.name == "失业登记" and hits[0].kind == "prefix"
    hits = seed.search("社会保险")
    assert hits[0].entry.code == SB_CB and hits[0].field == "name"
    assert hits[1].entry.code == YL and hits[1].field == "department"
    exact = seed.search("失业登记")
    assert exact[0].kind == "exact"
    kinds = [(h.field, h.kind) for h in seed.search("bz")]
    assert kinds == sorted(kinds, key=lambda fk: (fk[0] != "name",))  # name matches come first


def test_department_audience_and_kuasheng_filters(seed, catalog):
    dept = "信阳市社会保险中心"
    assert dept in departments(catalog.items)
    assert set(seed.codes("", department=dept)) == {YL, SB_CB}
    assert seed.codes("SBK", department=dept) == []
    assert len(seed.codes("", audience="person")) == len(catalog.items)
    assert seed.codes("", audience="legal_person") == []
    assert len(seed.codes("", kuasheng=True)) == 7
    assert seed.codes("", theme="公证服务") == ["KS-SAMPLE-GZ-XL-0005"]
    assert seed.codes("", mode="query") == [SB_CB]
    assert "社会保障" in themes(catalog.items)


def test_empty_query_lists_everything_in_catalog_order(seed, catalog):
    assert seed.codes("") == [item.code for item in catalog.items]
    assert seed.codes("   ") == seed.codes("")


def test_unknown_queries_find_nothing(seed, sample):
    for index in (seed, sample):
        assert index.search("XYZQ") == []
        assert index.search("火星移民") == []


# -- the larger 跨省通办 sample list ------------------------------------------------------------------
def test_sample_sbk_finds_every_social_security_card_item_first(sample):
    found = names(sample, "SBK")
    cards = [name for name in found if name.startswith("社会保障卡")]
    assert len(cards) == 4
    assert found[:4] == cards


def test_sample_initials_and_full_pinyin(sample):
    assert names(sample, "hkqy")[0] == "户口迁移(新闻概括)"
    contiguous = [hit.entry.name for hit in sample.search("hkqy") if hit.gaps == 0]
    assert len(contiguous) >= 6 and all("户口迁移" in name for name in contiguous)
    assert names(sample, "zhufanggongjijin")[0].startswith("住房公积金")
    assert names(sample, "shebao")[0] == "社保参保缴费查询"  # contiguous 社保 before 社(会)保(障)
    assert "提前还清住房公积金贷款" in names(sample, "tqhq")  # 还清 read huan qing


def test_sample_filters(sample):
    police = names(sample, "", department="公安部")
    assert "开具无犯罪记录证明" in police and len(police) >= 8
    assert all("户口" in name for name in names(sample, "hk", department="公安部"))
    legal = names(sample, "", audience="legal_person")
    assert "住房公积金单位登记开户" in legal
    assert "失业登记" not in legal
    assert "失业登记" in names(sample, "", audience="person")


def test_the_index_takes_entries_too():
    index = build_index(
        [Entry("A", "重庆市社会保障卡", "重庆市人社局"), Entry("B", "长沙市户籍证明", "长沙市公安局")]
    )
    assert index.codes("chongqing") == ["A"]
    assert index.codes("changsha") == ["B"]
    assert index.codes("cs") == ["B", "A"]  # 长沙 before 重(庆)市, an abbreviation with a gap


# -- availability -------------------------------------------------------------------------------------
def test_an_item_is_available_when_its_devices_work(catalog):
    item = catalog.get(SBK)  # idcard, face_camera, doc_camera, printer
    online = {name: DeviceState.ONLINE for name in ("idcard", "face_camera", "document_camera", "printer")}
    assert unavailable_reason(item, online) is None
    assert unavailable_reason(item, {}) is None  # nothing known: the flow checks each device itself
    assert unavailable_reason(item, {**online, "printer": DeviceState.BUSY}) is None


def test_a_down_device_makes_the_item_unavailable_with_the_reason(catalog):
    item = catalog.get(SBK)
    reason = unavailable_reason(item, {"document_camera": DeviceState.OFFLINE, "idcard": "online"})
    assert reason is not None and "高拍仪" in reason and "人工窗口" in reason
    reason = unavailable_reason(item, {"printer": "hardware_error", "idcard": DeviceState.NO_DEVICE})
    assert reason is not None and "凭条打印机" in reason and "身份证阅读器" in reason
    other = catalog.get("KS-SAMPLE-JY-SY-0007")  # no document camera needed
    assert unavailable_reason(other, {"document_camera": DeviceState.OFFLINE}) is None


def test_a_device_the_terminal_does_not_have(catalog):
    item = catalog.get(SB_CB)  # needs the A4 printer
    installed = {"idcard", "face_camera", "printer", "document_camera", "scanner"}
    reason = unavailable_reason(item, {}, installed)
    assert reason is not None and "本机未配备A4打印机" in reason
    assert unavailable_reason(item, {}, {*installed, "a4_printer"}) is None
