"""The webhook signature scheme both the courier and the gateway use."""

from __future__ import annotations

import pytest

from infra.signing import MAX_SKEW, BadSignature, sign, verify

BODY = b'{"waybill_no": "EA123456789CN"}'


def test_a_signed_body_verifies_within_the_window() -> None:
    header = sign("s3cret", BODY, timestamp=1_800_000_000)
    assert verify("s3cret", BODY, header, now=1_800_000_000 + MAX_SKEW) == 1_800_000_000


@pytest.mark.parametrize(
    ("secret", "body", "header", "says"),
    [
        ("s3cret", BODY, None, "missing"),
        ("s3cret", BODY, "sha256=abc", "not t=<seconds>"),
        ("other", BODY, sign("s3cret", BODY, 1_800_000_000), "does not match"),
        ("s3cret", BODY + b" ", sign("s3cret", BODY, 1_800_000_000), "does not match"),
        ("s3cret", BODY, sign("s3cret", BODY, 1_800_000_000 - MAX_SKEW - 1), "off, more than"),
    ],
)
def test_unsigned_wrongly_signed_altered_or_stale_is_refused(
    secret: str, body: bytes, header: str | None, says: str
) -> None:
    with pytest.raises(BadSignature, match=says):
        verify(secret, body, header, now=1_800_000_000)


def test_the_timestamp_is_signed_with_the_body() -> None:
    header = sign("s3cret", BODY, timestamp=1_800_000_000)
    moved = header.replace("t=1800000000", "t=1800000100")
    with pytest.raises(BadSignature, match="does not match"):
        verify("s3cret", BODY, moved, now=1_800_000_100)
