"""Text block parsing / encoding for the four card types and the GB 11643 helpers (§4, §6.1)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.base import Completion, DeviceError
from devices.idcard.card import (
    IdCard,
    encode_text,
    gb11643_check_char,
    is_valid_id_number,
    mask_id_number,
    parse_card,
)
from devices.idcard.codes import NATIONS

PHOTO = bytes.fromhex("574C66007E003200") + bytes(1016)


def with_check(first17: str) -> str:
    return first17 + gb11643_check_char(first17)


# All people below are fictional; numbers are computed, not copied from anyone.
RESIDENT: dict[str, Any] = {
    "card_type": "resident",
    "name": "测试甲",
    "gender": "男",
    "nation": "汉",
    "birth_date": "1983-11-11",
    "address": "湖北省秭归县茅坪镇测试路1号",
    "id_number": with_check("42052719831111531"),
    "issuer": "秭归县公安局",
    "valid_from": "2015-03-01",
    "valid_to": "长期",
}
HMT: dict[str, Any] = {
    "card_type": "hmt_permit",
    "name": "测试乙",
    "gender": "女",
    "birth_date": "1990-01-01",
    "address": "广东省深圳市福田区测试大道88号",
    "id_number": with_check("81000019900101001"),
    "issuer": "深圳市公安局",
    "valid_from": "2020-05-06",
    "valid_to": "2025-05-06",
    "pass_number": "H12345678",
    "issue_count": 2,
}
FOREIGN_2017: dict[str, Any] = {
    "card_type": "foreign_permanent_2017",
    "english_name": "SMITH, JOHN ALEXANDER",
    "name": "史密斯",
    "gender": "男",
    "id_number": "USA110078050101",
    "nationality": "USA",
    "birth_date": "1978-05-01",
    "valid_from": "2016-07-01",
    "valid_to": "2026-07-01",
}
FOREIGN_2023: dict[str, Any] = {
    "card_type": "foreign_permanent_2023",
    "name": "马克斯",
    "english_name": "MUSTERMANN-SCHMIDT MAXIMILIAN ALEXANDER",  # 39 chars: spills into the second slot
    "gender": "男",
    "renewal_count": 1,
    "birth_date": "1985-06-15",
    "id_number": with_check("91184019850615001"),
    "valid_from": "2024-01-01",
    "valid_to": "2034-01-01",
    "nationality": "DEU",
    "previous_number": "A01",
}
ALL = [RESIDENT, HMT, FOREIGN_2017, FOREIGN_2023]

JSON_KEYS = [
    "card_type", "name", "english_name", "gender", "nation", "birth_date", "address", "id_number",
    "id_number_valid", "issuer", "valid_from", "valid_to", "nationality", "pass_number", "issue_count",
    "renewal_count", "previous_number", "appended_address", "photo_wlt_bytes", "fingerprint_bytes",
]  # fmt: skip


def put(text: bytearray, offset: int, value: str) -> None:
    encoded = value.encode("utf-16-le")
    text[offset : offset + len(encoded)] = encoded


def blank() -> bytearray:
    return bytearray(" ".encode("utf-16-le") * 128)


# -- GB 11643 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first17", "check"),
    [("11010519491231002", "X"), ("42052719831111531", "8"), ("81000019900101001", "9")],
)
def test_check_char_vectors(first17: str, check: str) -> None:
    assert gb11643_check_char(first17) == check


@pytest.mark.parametrize(
    "bad",
    ["", "1101051949123100", "110105194912310021", "1101051949123100A", "１１０１０５１９４９１２３１００２"],
)
def test_check_char_rejects_non_17_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        gb11643_check_char(bad)


@pytest.mark.parametrize("number", ["11010519491231002X", "420527198311115318", "810000199001010019"])
def test_valid_numbers(number: str) -> None:
    assert is_valid_id_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002x",  # lower-case x: callers normalise
        "110105194912310021",  # wrong check char
        "420527198311115317",
        with_check("11010519491331002")[:18],  # month 13
        with_check("11010518000101002"),  # implausibly old
        with_check("11010521990101002"),  # in the future
        "42052719831111531",
        "4205271983111153188",
        "",
        "ABCDEFGHIJKLMNOPQR",
        None,
        420527198311115318,
    ],
)
def test_invalid_numbers(number: Any) -> None:
    assert not is_valid_id_number(number)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("410105199001011234", "4101**********1234"),
        ("11010519491231002X", "1101**********002X"),
        ("USA110078050101", "USA1*******0101"),
        ("12345678", "********"),
        ("", ""),
    ],
)
def test_mask(number: str, masked: str) -> None:
    assert mask_id_number(number) == masked


# -- layouts ---------------------------------------------------------------------------------------


def test_resident_layout_from_the_protocol_offsets() -> None:
    text = blank()  # built by hand from §4a so the parser is not checked against its own encoder
    for offset, value in [
        (0, "测试甲"), (30, "1"), (32, "46"), (36, "19831111"), (52, "湖北省秭归县茅坪镇测试路1号"),
        (122, "420527198311115318"), (158, "秭归县公安局"), (188, "20150301"), (204, "长期"),
    ]:  # fmt: skip
        put(text, offset, value)
    card = parse_card(bytes(text), PHOTO, None)
    assert card.card_type == "resident"
    assert (card.name, card.gender, card.nation) == ("测试甲", "男", "德昂")
    assert (card.birth_date, card.valid_from, card.valid_to) == ("1983-11-11", "2015-03-01", "长期")
    assert card.id_number == "420527198311115318" and card.id_number_valid
    assert card.issuer == "秭归县公安局"
    assert card.english_name is card.nationality is card.pass_number is card.issue_count is None
    assert card.photo_wlt == PHOTO and card.fingerprint is None


def test_hmt_layout_from_the_protocol_offsets() -> None:
    text = blank()
    for offset, value in [(0, "测试乙"), (30, "2"), (122, "810000199001010019"), (220, "H12345678"),
                          (238, "03"), (248, "J")]:  # fmt: skip
        put(text, offset, value)
    card = parse_card(bytes(text), PHOTO)
    assert card.card_type == "hmt_permit"
    assert (card.gender, card.pass_number, card.issue_count, card.nation) == ("女", "H12345678", 3, None)
    assert card.id_number_valid


def test_foreign_2017_layout_from_the_protocol_offsets() -> None:
    text = blank()
    for offset, value in [(0, "SMITH, JOHN"), (120, "1"), (122, "USA110078050101"), (152, "USA"),
                          (158, "史密斯"), (188, "20160701"), (204, "20260701"), (220, "19780501"),
                          (248, "I")]:  # fmt: skip
        put(text, offset, value)
    card = parse_card(bytes(text), PHOTO)
    assert card.card_type == "foreign_permanent_2017"
    assert (card.english_name, card.name, card.nationality) == ("SMITH, JOHN", "史密斯", "USA")
    assert (card.birth_date, card.valid_to, card.issuer) == ("1978-05-01", "2026-07-01", None)
    assert card.id_number_valid


def test_foreign_2023_layout_from_the_protocol_offsets() -> None:
    text = blank()
    name = "MUSTERMANN-SCHMIDT MAXIMILIAN ALEX ANDER"  # the 35th char is a space: it must survive the split
    for offset, value in [(0, "马克斯"), (30, "1"), (32, "02"), (36, "19850615"), (52, name[:35]),
                          (122, "911840198506150011"), (220, name[35:]), (242, "DEU"), (248, "Y"),
                          (250, "A01")]:  # fmt: skip
        put(text, offset, value)
    card = parse_card(bytes(text), PHOTO)
    assert card.card_type == "foreign_permanent_2023"
    assert card.english_name == name
    assert (card.renewal_count, card.nationality, card.previous_number) == (2, "DEU", "A01")
    assert card.id_number_valid


@pytest.mark.parametrize("identity", ALL, ids=lambda i: i["card_type"])
def test_encode_parse_round_trip(identity: dict[str, Any]) -> None:
    text = encode_text(identity)
    assert len(text) == 256
    card = parse_card(text, PHOTO, None)
    data = card.to_json()
    assert {k: data[k] for k in identity} == identity
    assert data["id_number_valid"] is True
    not_applicable = set(JSON_KEYS) - set(identity) - {"id_number_valid", "photo_wlt_bytes"}
    assert {k: data[k] for k in not_applicable} == dict.fromkeys(not_applicable)


@pytest.mark.parametrize(
    ("identity", "flag"), [(RESIDENT, " "), (HMT, "J"), (FOREIGN_2017, "I"), (FOREIGN_2023, "Y")]
)
def test_flag_char_at_byte_248(identity: dict[str, Any], flag: str) -> None:
    assert encode_text(identity)[248:250] == flag.encode("utf-16-le")


def test_to_json_keys_and_no_biometrics() -> None:
    card = parse_card(encode_text(RESIDENT), PHOTO, b"\x01" * 1024)
    data = card.to_json()
    assert list(data) == JSON_KEYS
    assert data["photo_wlt_bytes"] == 1024 and data["fingerprint_bytes"] == 1024
    assert not any(isinstance(v, bytes) for v in data.values())
    assert card.fingerprint == b"\x01" * 1024


def test_repr_leaks_no_personal_data() -> None:
    card = parse_card(encode_text(RESIDENT), PHOTO)
    text = repr(card) + str(card)
    for secret in ("测试甲", RESIDENT["id_number"], "秭归", "1983"):
        assert secret not in text


@pytest.mark.parametrize(
    ("code", "gender"),
    [("0", "未知"), ("1", "男"), ("2", "女"), ("9", "未说明"), ("5", "未知"), (" ", "未知")],
)
def test_gender_codes(code: str, gender: str) -> None:
    text = blank()
    put(text, 30, code)
    assert parse_card(bytes(text), PHOTO).gender == gender


@pytest.mark.parametrize("code", sorted(NATIONS))
def test_every_nation_code_round_trips(code: str) -> None:
    card = parse_card(encode_text({**RESIDENT, "nation": NATIONS[code]}), PHOTO)
    assert card.nation == NATIONS[code]
    assert encode_text({**RESIDENT, "nation": code}) == encode_text({**RESIDENT, "nation": NATIONS[code]})


def test_nation_table_is_gb3304() -> None:
    assert len(NATIONS) == 58
    assert (NATIONS["01"], NATIONS["46"], NATIONS["56"], NATIONS["98"]) == (
        "汉",
        "德昂",
        "基诺",
        "外国血统中国籍人士",
    )
    assert "57" not in NATIONS


def test_unknown_nation_code_is_passed_through() -> None:
    text = blank()
    put(text, 32, "57")
    assert parse_card(bytes(text), PHOTO).nation == "57"


def test_invalid_number_is_reported_not_raised() -> None:
    card = parse_card(encode_text({**RESIDENT, "id_number": "420527198311115310"}), PHOTO)
    assert card.id_number == "420527198311115310"
    assert card.id_number_valid is False
    card = parse_card(encode_text({**FOREIGN_2017, "id_number": "US1110078050101"}), PHOTO)
    assert card.id_number_valid is False
    card = parse_card(encode_text({**FOREIGN_2023, "id_number": with_check("11184019850615001")}), PHOTO)
    assert card.id_number_valid is False  # the 2023 number must start with 9


def test_empty_card_gives_none_fields() -> None:
    card = parse_card(bytes(blank()), PHOTO)
    assert card.card_type == "resident"
    assert card.name is None and card.id_number is None and card.id_number_valid is False


def test_zero_filled_reserved_area_is_still_resident() -> None:
    text = bytearray(encode_text(RESIDENT))
    text[220:256] = bytes(36)
    assert parse_card(bytes(text), PHOTO).card_type == "resident"


def test_odd_dates_pass_through() -> None:
    card = parse_card(encode_text({**RESIDENT, "valid_to": "2030-1-1"}), PHOTO)
    assert card.valid_to == "2030-1-1"


def test_unknown_flag_is_unsupported() -> None:
    text = blank()
    put(text, 248, "Z")
    with pytest.raises(DeviceError) as info:
        parse_card(bytes(text), PHOTO)
    assert info.value.completion is Completion.UNSUPPORTED
    assert "U+005A" in info.value.detail


@pytest.mark.parametrize("size", [0, 255, 257, 1024])
def test_wrong_text_size_is_invalid_data(size: int) -> None:
    with pytest.raises(DeviceError) as info:
        parse_card(bytes(size), PHOTO)
    assert info.value.completion is Completion.INVALID_DATA


def test_encode_rejects_what_does_not_fit() -> None:
    with pytest.raises(ValueError):
        encode_text({**RESIDENT, "name": "测" * 16})
    with pytest.raises(ValueError):
        encode_text({**RESIDENT, "card_type": "passport"})
    with pytest.raises(ValueError):
        encode_text({**RESIDENT, "gender": "male"})


@settings(max_examples=200, deadline=None)
@given(
    st.binary(min_size=248, max_size=248),
    st.sampled_from([" ", "J", "I", "Y"]),
    st.binary(min_size=6, max_size=6),
)
def test_arbitrary_text_never_crashes(head: bytes, flag: str, tail: bytes) -> None:
    card = parse_card(head + flag.encode("utf-16-le") + tail, PHOTO)
    assert isinstance(card, IdCard)
    assert isinstance(card.to_json(), dict)
