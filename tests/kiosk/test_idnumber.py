from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.idnumber import check_character, is_valid_id_number, mask_id_number

# Examples printed in GB 11643-1999 itself.
STANDARD_EXAMPLES = ["11010519491231002X", "440524188001010014"]


@pytest.mark.parametrize("number", STANDARD_EXAMPLES)
def test_standard_examples_are_valid(number: str) -> None:
    assert is_valid_id_number(number)


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002x",  # lower-case check character: normalise before validating
        "110105194912310021",  # wrong check character
        "11010519491231002",  # 17 characters
        "110105491231002",  # 15-digit first-generation number
        "01010519491231002X",  # address code cannot start with 0
        "110105194902300020",  # 30 February
        "110105179912310024",  # before 1800 (checksum right)
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
        "",
    ],
)
def test_invalid_numbers(number: str) -> None:
    assert not is_valid_id_number(number)


def test_future_birth_date_is_invalid() -> None:
    first17 = "41150220991231001"
    number = first17 + check_character(first17)
    assert not is_valid_id_number(number, today=dt.date(2026, 11, 21))
    assert is_valid_id_number(number, today=dt.date(2100, 1, 1))


@given(st.integers(min_value=0, max_value=10**17 - 1), st.integers(min_value=0, max_value=17))
def test_any_single_digit_change_is_caught(seed: int, pos: int) -> None:
    first17 = f"411502{1950 + seed % 70:04d}{1 + seed % 12:02d}{1 + seed % 28:02d}{seed % 1000:03d}"
    number = first17 + check_character(first17)
    assert is_valid_id_number(number)
    old = 10 if number[pos] == "X" else int(number[pos])
    changed = number[:pos] + str((old + 1 + seed % 9) % 10) + number[pos + 1 :]
    # MOD 11-2 weights are all non-zero mod 11, so any single substitution breaks the checksum.
    assert not is_valid_id_number(changed)


def test_mask() -> None:
    assert mask_id_number("41010219800101123X") == "4101**********123X"
    assert mask_id_number("12345678") == "********"
    assert mask_id_number("") == ""
