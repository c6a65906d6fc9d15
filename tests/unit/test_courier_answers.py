"""A courier's refusal as the case keeps it: the error code and the fields named, never the
courier's free text, which may echo the address or mobile it was sent."""

from __future__ import annotations

import httpx
import pytest

from activities.postal import _message

ADDRESS = "山东省济宁市任城区建设路66号"
MOBILE = "13800001234"


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ({"error": "address_not_served", "message": f"不投递 {ADDRESS}"}, "address_not_served"),
        (
            {
                "error": "invalid_request",
                "message": f"mobile: {MOBILE}",
                "fields": [{"field": "mobile", "message": f"{MOBILE} is not valid"}],
            },
            "invalid_request (fields: mobile)",
        ),
        (
            {"detail": [{"loc": ["body", "address"], "msg": "bad", "input": ADDRESS}]},
            "Bad Request (fields: address)",
        ),
        ({"code": f"地址 {ADDRESS}"}, "Bad Request"),  # a code that is free text is not kept
        ([ADDRESS], "Bad Request"),
    ],
)
def test_only_the_code_and_field_names_are_kept(body: object, kept: str) -> None:
    said = _message(httpx.Response(400, json=body))
    assert said == kept
    assert ADDRESS not in said and MOBILE not in said


def test_a_text_answer_keeps_only_the_status_phrase() -> None:
    answer = httpx.Response(409, text=f"conflict for {ADDRESS} {MOBILE}")
    assert _message(answer) == "Conflict"
