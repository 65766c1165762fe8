"""The 256-byte text block of the four card types (protocol doc §4) and the `IdCard` value object."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from devices.base import N_, Action, Completion, DeviceError
from devices.idcard.codes import GENDER_CODES, GENDERS, NATION_CODES, NATIONS
from devices.idcard.idnumber import (
    gb11643_check_char,
    has_valid_check_char,
    is_valid_id_number,
    mask_id_number,
)
from devices.idcard.protocol import MSG_RETRY_CARD

__all__ = [
    "CARD_TYPES",
    "IdCard",
    "encode_text",
    "gb11643_check_char",
    "is_valid_id_number",
    "mask_id_number",
    "parse_card",
]

TEXT_LEN = 256
PHOTO_LEN = 1024
_FLAG_SLOT = (248, 2)
_PAD = " "  # fields are space padded (§4); right-strip spaces only, English names contain spaces

_FLAG_TO_TYPE = {
    " ": "resident",
    "J": "hmt_permit",
    "I": "foreign_permanent_2017",
    "Y": "foreign_permanent_2023",
}
_TYPE_TO_FLAG = {card_type: flag for flag, card_type in _FLAG_TO_TYPE.items()}
CARD_TYPES = tuple(_TYPE_TO_FLAG)

# (field, byte offset, byte length). "english_name_2" is the 2023 card's name continuation (§4c).
_Layout = tuple[tuple[str, int, int], ...]
_LAYOUTS: dict[str, _Layout] = {
    "resident": (
        ("name", 0, 30),
        ("gender", 30, 2),
        ("nation", 32, 4),
        ("birth_date", 36, 16),
        ("address", 52, 70),
        ("id_number", 122, 36),
        ("issuer", 158, 30),
        ("valid_from", 188, 16),
        ("valid_to", 204, 16),
    ),
    "hmt_permit": (
        ("name", 0, 30),
        ("gender", 30, 2),
        ("birth_date", 36, 16),
        ("address", 52, 70),
        ("id_number", 122, 36),
        ("issuer", 158, 30),
        ("valid_from", 188, 16),
        ("valid_to", 204, 16),
        ("pass_number", 220, 18),
        ("issue_count", 238, 4),
    ),
    "foreign_permanent_2017": (
        ("english_name", 0, 120),
        ("gender", 120, 2),
        ("id_number", 122, 30),
        ("nationality", 152, 6),
        ("name", 158, 30),
        ("valid_from", 188, 16),
        ("valid_to", 204, 16),
        ("birth_date", 220, 16),
    ),
    "foreign_permanent_2023": (
        ("name", 0, 30),
        ("gender", 30, 2),
        ("renewal_count", 32, 4),
        ("birth_date", 36, 16),
        ("english_name", 52, 70),
        ("id_number", 122, 36),
        ("valid_from", 188, 16),
        ("valid_to", 204, 16),
        ("english_name_2", 220, 22),
        ("nationality", 242, 6),
        ("previous_number", 250, 6),
    ),
}
_DATE_FIELDS = ("birth_date", "valid_from", "valid_to")
_COUNT_FIELDS = ("issue_count", "renewal_count")
_FOREIGN_2017_NUMBER = re.compile(r"[A-Z]{3}[0-9]{12}")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@dataclass
class IdCard:
    """One card as read. Fields that do not apply to the card type are None.

    repr() is deliberately free of personal data so a stray log line cannot leak it.
    """

    card_type: str
    name: str | None = field(default=None, repr=False)
    english_name: str | None = field(default=None, repr=False)
    gender: str = field(default="未知", repr=False)
    nation: str | None = field(default=None, repr=False)
    birth_date: str | None = field(default=None, repr=False)
    address: str | None = field(default=None, repr=False)
    id_number: str | None = field(default=None, repr=False)
    id_number_valid: bool = False
    issuer: str | None = field(default=None, repr=False)
    valid_from: str | None = field(default=None, repr=False)
    valid_to: str | None = field(default=None, repr=False)
    nationality: str | None = field(default=None, repr=False)
    pass_number: str | None = field(default=None, repr=False)
    issue_count: int | None = field(default=None, repr=False)
    renewal_count: int | None = field(default=None, repr=False)
    previous_number: str | None = field(default=None, repr=False)
    appended_address: str | None = field(default=None, repr=False)
    photo_wlt: bytes = field(default=b"", repr=False)
    fingerprint: bytes | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """JSON-safe dict: the photo becomes its length and fingerprint bytes never leave."""
        return {
            "card_type": self.card_type,
            "name": self.name,
            "english_name": self.english_name,
            "gender": self.gender,
            "nation": self.nation,
            "birth_date": self.birth_date,
            "address": self.address,
            "id_number": self.id_number,
            "id_number_valid": self.id_number_valid,
            "issuer": self.issuer,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "nationality": self.nationality,
            "pass_number": self.pass_number,
            "issue_count": self.issue_count,
            "renewal_count": self.renewal_count,
            "previous_number": self.previous_number,
            "appended_address": self.appended_address,
            "photo_wlt_bytes": len(self.photo_wlt),
            "fingerprint_bytes": None if self.fingerprint is None else len(self.fingerprint),
        }


def _decode(raw: bytes) -> str:
    return raw.decode("utf-16-le", errors="replace")


def _iso_date(value: str) -> str:
    if len(value) == 8 and value.isascii() and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value  # "长期" or something odd: pass it through untouched rather than guess


def _count(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


def _number_valid(card_type: str, number: str | None) -> bool:
    if number is None:
        return False
    if card_type == "foreign_permanent_2017":
        return _FOREIGN_2017_NUMBER.fullmatch(number) is not None
    if card_type == "foreign_permanent_2023":
        # §4c: 18 digits, leading 9, MOD 11-2; the embedded date layout is unconfirmed, so no date check.
        return number.startswith("9") and has_valid_check_char(number)
    return is_valid_id_number(number)


def parse_card(text: bytes, photo: bytes, fingerprint: bytes | None = None) -> IdCard:
    """Decode the 256-byte text block; bad content is reported in fields, never raised, except
    a wrong block size (INVALID_DATA) or an unknown card-type flag (UNSUPPORTED)."""
    if len(text) != TEXT_LEN:
        raise DeviceError(
            Completion.INVALID_DATA,
            MSG_RETRY_CARD,
            detail=f"text block is {len(text)} bytes, expected {TEXT_LEN}",
            action=Action.AUTO,
        )
    offset, size = _FLAG_SLOT
    # Some modules may zero the reserved area of a resident card instead of space-filling it.
    flag = _decode(text[offset : offset + size]).replace("\x00", " ")
    card_type = _FLAG_TO_TYPE.get(flag)
    if card_type is None:
        raise DeviceError(
            Completion.UNSUPPORTED,
            N_("暂不支持此类证件，请使用身份证或居住证。"),
            detail=f"unknown card type flag U+{ord(flag):04X}",
            action=Action.AUTO,
        )
    raw = {key: _decode(text[off : off + n]) for key, off, n in _LAYOUTS[card_type]}
    if "english_name_2" in raw:  # join before stripping: the first part may end in a real space
        raw["english_name"] += raw.pop("english_name_2")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        value = value.rstrip(_PAD + "\x00")
        values[key] = value or None
    gender_code = values.pop("gender") or ""
    nation_code = values.pop("nation", None)
    for key in _DATE_FIELDS:
        if values.get(key) is not None:
            values[key] = _iso_date(values[key])
    for key in _COUNT_FIELDS:
        if key in values:
            values[key] = _count(values[key] or "")
    return IdCard(
        card_type=card_type,
        gender=GENDERS.get(gender_code, "未知"),
        nation=None if nation_code is None else NATIONS.get(nation_code, nation_code),
        id_number_valid=_number_valid(card_type, values.get("id_number")),
        photo_wlt=bytes(photo),
        fingerprint=bytes(fingerprint) if fingerprint else None,
        **values,
    )


def _field_text(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "gender":
        return GENDER_CODES.get(value, value)
    if key == "nation":
        return NATION_CODES.get(value, value)
    if key in _DATE_FIELDS:
        match = _ISO_DATE.fullmatch(value)
        return "".join(match.groups()) if match else value
    if key in _COUNT_FIELDS:
        return f"{int(value):02d}"
    return str(value)


def encode_text(card_fields: dict[str, Any]) -> bytes:
    """Inverse of parse_card for the text block (simulator and tests). Raises ValueError on misfit."""
    card_type = card_fields.get("card_type", "resident")
    if card_type not in _LAYOUTS:
        raise ValueError(f"unknown card_type {card_type!r}")
    values = {key: _field_text(key, card_fields.get(key)) for key, _, _ in _LAYOUTS[card_type]}
    if card_type == "foreign_permanent_2023":  # 35 chars in the first slot, 11 more at byte 220
        full = _field_text("english_name", card_fields.get("english_name"))
        values["english_name"], values["english_name_2"] = full[:35], full[35:]
    text = bytearray(_PAD.encode("utf-16-le") * (TEXT_LEN // 2))
    for key, offset, size in _LAYOUTS[card_type]:
        encoded = values[key].encode("utf-16-le")
        if len(encoded) > size:
            raise ValueError(f"{key} does not fit in {size} bytes")
        text[offset : offset + len(encoded)] = encoded
    flag_offset, _ = _FLAG_SLOT
    text[flag_offset : flag_offset + 2] = _TYPE_TO_FLAG[card_type].encode("utf-16-le")
    return bytes(text)
