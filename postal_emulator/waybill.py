"""Waybill numbers in the UPU S10 form EMS uses: 2 letters, 8 digits, a check digit, "CN"."""

from __future__ import annotations

import re
import secrets

_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
_S10 = re.compile(r"^[A-Z]{2}(\d{8})(\d)[A-Z]{2}$")


def check_digit(serial: str) -> int:
    """S10 check digit of an 8-digit serial number."""
    total = sum(int(digit) * weight for digit, weight in zip(serial, _WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: 0, 11: 5}.get(check, check)


def is_valid(waybill_no: str) -> bool:
    match = _S10.match(waybill_no)
    return match is not None and check_digit(match[1]) == int(match[2])


def new_waybill(service: str = "EA", country: str = "CN") -> str:
    """A random serial: numbers stay unique across restarts without a persisted counter."""
    serial = f"{secrets.randbelow(10**8):08d}"
    return f"{service}{serial}{check_digit(serial)}{country}"
