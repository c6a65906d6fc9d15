"""Strict input: the one place for what every model a client can send refuses.

Text: no control, format or separator character (schemas/printable.py's CONTROLS: C0 and C1
controls, NUL, CR and tab included; the bidirectional marks, embeddings, overrides and
isolates U+200E/200F, U+061C, U+202A-202E, U+2066-2069; zero-width characters) and no lone
surrogate (PostgreSQL could not store it). `PlainText` is one line; `FreeText` (reasons,
remarks, notes, results) may hold line feeds, for a clerk's note of several lines. Printed
fields are `Printable`, which refuses the same and more.

Types: pydantic's lax mode reads `0` or `"0"` as 1970-01-01, `1` or `"yes"` as true, `"3"`,
`3.0` or `true` as 3. Here a date is a date or an ISO string `YYYY-MM-DD`, a time a datetime
or an ISO string with its offset, a number an integer (not a bool, float or string), a yes/no
a bool. pydantic's `strict=True` cannot say this for both doors: the workflow validates the
application from a dict (python mode, where strict refuses ISO strings), the SDK and the
gateway from JSON.

An application of a case started before strict input (patches.LEAN_CASE) replays under the
loose rules it was accepted by: validated with `context=LOOSE`, these checks pass it."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from schemas.printable import CONTROLS, within

LOOSE = {"loose": True}
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}.*")


def loose(info: ValidationInfo) -> bool:
    return isinstance(info.context, dict) and bool(info.context.get("loose"))


def refused_points(text: str, allowed: str = "") -> list[str]:
    """Control and format code points in `text`, named by code point only."""
    return [
        f"U+{ord(c):04X}"
        for c in dict.fromkeys(text)
        if c not in allowed and within(ord(c), CONTROLS)
    ]


def _text(allowed: str) -> Any:
    def check(text: str, info: ValidationInfo) -> str:
        if not loose(info) and (points := refused_points(text, allowed)):
            raise PydanticCustomError(
                "control_character",
                "含有控制字符 {points} (control and bidirectional formatting characters are "
                "not allowed)",
                {"points": ", ".join(points)},
            )
        return text

    return AfterValidator(check)


# Markers, placed after a field's constraints (`Annotated[str, Field(max_length=40), OneLine]`)
# so that pydantic keeps its own string checks, their messages and the JSON Schema keywords.
OneLine = _text("")
Lines = _text("\n")  # a line feed, never CR: one way to end a line
PlainText = Annotated[str, OneLine]


def scrub(text: str) -> str:
    """The text without control and format characters: for what a courier reports (a signer's
    name, a reason), which is not ours to refuse. Refusing it would lose the news for good (the
    courier would send it again and again, the tracking poll read it again and again)."""
    return "".join(c for c in text if not within(ord(c), CONTROLS))


# A courier's free text, scrubbed rather than refused.
Scrubbed = BeforeValidator(lambda text: scrub(text) if isinstance(text, str) else text)
FreeText = Annotated[str, Lines]


def _ascii(text: str, info: ValidationInfo) -> str:
    if loose(info) or text.isascii():
        return text
    raise PydanticCustomError(
        "not_ascii", "须为半角字母和数字 (ASCII letters and digits only, no full-width forms)"
    )


# Identifiers: Python's `\d` also matches full-width and other scripts' digits, which would make
# the same citizen ID two different texts (and two keyed hashes).
Ascii = AfterValidator(_ascii)


def _refuse(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


def _whole_number(value: object, info: ValidationInfo) -> object:
    if loose(info) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise _refuse("int_type", "须为整数 (must be a whole number)")


def _yes_no(value: object, info: ValidationInfo) -> object:
    if loose(info) or isinstance(value, bool):
        return value
    raise _refuse("bool_type", "须为 true 或 false (must be true or false)")


def _a_date(value: object, info: ValidationInfo) -> object:
    if (
        loose(info)
        or (isinstance(value, date) and not isinstance(value, datetime))
        or (isinstance(value, str) and ISO_DATE.fullmatch(value.strip()))
    ):
        return value
    raise _refuse("date_type", "须为日期 YYYY-MM-DD (must be a date)")


def _a_time(value: object, info: ValidationInfo) -> object:
    if (
        loose(info)
        or isinstance(value, datetime)
        or (isinstance(value, str) and ISO_TIME.fullmatch(value.strip()))
    ):
        return value
    raise _refuse(
        "datetime_type",
        "须为带时区的时间 YYYY-MM-DDTHH:MM+08:00 (must be an ISO 8601 time with its offset)",
    )


Whole = BeforeValidator(_whole_number)  # a marker, after the number's constraints
YesNo = Annotated[bool, BeforeValidator(_yes_no)]
Day = Annotated[date, BeforeValidator(_a_date)]
Moment = Annotated[AwareDatetime, BeforeValidator(_a_time)]
# A reason given for a decision: recorded, shown to the parties, never printed on the letter.
Reason = Annotated[str, Field(min_length=2, max_length=500), Lines]
