from __future__ import annotations

import pytest
from stdnum.cn import uscc

from schemas.identifiers import (
    check_citizen_id,
    check_credit_code,
    check_mobile,
    check_postal_code,
)


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "360426199101010071", "370811198503120438"]
)
def test_valid_citizen_ids(number: str) -> None:
    assert check_citizen_id(number) == number


def test_lowercase_x_is_normalised() -> None:
    assert check_citizen_id("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("370811198503120439", "校验位错误"),  # last digit changed
        ("37081119850312043", "18位"),
        ("99010219850312003X", "地址码无效"),
        ("370811198502300434", "出生日期无效"),  # 30 February
        ("370811209901010430", "出生日期不合理"),  # born in 2099
    ],
)
def test_invalid_citizen_ids_name_the_reason(number: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_citizen_id(number)


def test_check_digit_message_gives_expected_character() -> None:
    with pytest.raises(ValueError, match="require the check digit 8"):
        check_citizen_id("370811198503120439")


@pytest.mark.parametrize("code", ["91110000600037341L", "91370811MA3C4K7T2H"])
def test_valid_credit_codes(code: str) -> None:
    assert check_credit_code(code) == code


def test_letter_registration_authority_is_accepted_where_stdnum_refuses() -> None:
    # A trade union's code starts with N: stdnum's validate wants digits in positions 1-8.
    body = "N2370811MA3C4K7T2"
    code = body + uscc.calc_check_digit(body + "0")
    assert not uscc.is_valid(code)
    assert check_credit_code(code) == code


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341M", "校验位错误"),
        ("91110000600037341", "18位"),
        ("9111000060003734IL", "不含I"),
        ("91AB0000600037341L", "行政区划码"),
    ],
)
def test_invalid_credit_codes_name_the_reason(code: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_credit_code(code)


def test_mobile_and_postal_code() -> None:
    assert check_mobile("138-0537-0001") == "13805370001"
    with pytest.raises(ValueError, match="11位"):
        check_mobile("23805370001")
    assert check_postal_code("272000") == "272000"
    with pytest.raises(ValueError, match="6位"):
        check_postal_code("27200")
