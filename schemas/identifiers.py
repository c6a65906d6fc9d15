"""Identifier checks: citizen ID (GB 11643-1999), unified social credit code (GB 32100-2015),
mobile and postal code. Messages are for a clerk: what is wrong and what to check."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator
from stdnum.cn import ric, uscc

from schemas.clock import today
from schemas.strict import Ascii

# First two digits of an ID's area code: the province-level divisions (GB/T 2260), 71/81/82
# being Taiwan, Hong Kong and Macao residence permits.
PROVINCE_CODES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def check_citizen_id(value: str) -> str:
    number = value.strip().upper()
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise ValueError(
            "公民身份号码应为18位，前17位为数字，末位为数字或X (citizen ID must be 18 characters)"
        )
    if number[:2] not in PROVINCE_CODES:
        raise ValueError("公民身份号码地址码无效 (the area code names no province)")
    try:
        born = ric.get_birth_date(number)
    except Exception:
        raise ValueError("公民身份号码出生日期无效 (the birth date is not a real date)") from None
    if born > today() or born < date(1900, 1, 1):
        raise ValueError(
            "公民身份号码出生日期不合理 (the birth date is in the future or before 1900)"
        )
    expected = ric.calc_check_digit(number)
    if number[-1] != expected:
        raise ValueError(
            f"公民身份号码校验位错误 (the first 17 digits require the check digit {expected})"
        )
    return number


def check_credit_code(value: str) -> str:
    """stdnum's uscc.validate wants digits in positions 1-8, which refuses lawful codes whose
    registration authority is a letter (trade unions `N…`, religious bodies, …); we keep its
    check-digit arithmetic and apply the standard's own format rule."""
    code = value.strip().upper()
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        raise ValueError(
            "统一社会信用代码应为18位，由数字和大写字母组成，不含I、O、S、V、Z "
            "(credit code must be 18 characters of 0-9 and A-Y without I, O, S, V, Z)"
        )
    if not code[2:8].isdigit():
        raise ValueError("统一社会信用代码第3-8位应为行政区划码 (positions 3-8 must be digits)")
    expected = uscc.calc_check_digit(code)
    if code[-1] != expected:
        raise ValueError(
            f"统一社会信用代码校验位错误 (the first 17 require the check character {expected})"
        )
    return code


def check_mobile(value: str) -> str:
    number = value.strip().replace(" ", "").replace("-", "")
    if not re.fullmatch(r"1\d{10}", number):
        raise ValueError("手机号码应为以1开头的11位数字 (mobile must be 11 digits starting with 1)")
    return number


def check_postal_code(value: str) -> str:
    code = value.strip()
    if not re.fullmatch(r"\d{6}", code):
        raise ValueError("邮政编码应为6位数字 (postal code must be 6 digits)")
    return code


CitizenId = Annotated[str, Ascii, AfterValidator(check_citizen_id)]
CreditCode = Annotated[str, Ascii, AfterValidator(check_credit_code)]
Mobile = Annotated[str, Ascii, AfterValidator(check_mobile)]
PostalCode = Annotated[str, Ascii, AfterValidator(check_postal_code)]
