"""Signed webhooks between the courier and our gateway: one scheme, used by both sides.

`X-Postal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<body>">` and
`X-Postal-Event-Id: <id>`. The timestamp is signed with the body, so a captured request cannot
be replayed later with a new time; the receiver keeps a window (`MAX_SKEW`) and de-duplicates
event ids durably."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Postal-Signature"
EVENT_ID_HEADER = "X-Postal-Event-Id"
MAX_SKEW = 300  # seconds a webhook may be old (or early) and still be taken


class BadSignature(ValueError):
    """The signature is absent, malformed, wrong or stale; the message says which."""


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value for `body`, signed now (or at `timestamp`)."""
    at = int(time.time()) if timestamp is None else timestamp
    return f"t={at},v1={_mac(secret, at, body)}"


def verify(secret: str, body: bytes, header: str | None, now: float | None = None) -> int:
    """The signed timestamp, when `header` signs `body` with `secret` within the window."""
    if not header:
        raise BadSignature(f"{SIGNATURE_HEADER} is missing")
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp, given = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        raise BadSignature(f"{SIGNATURE_HEADER} is not t=<seconds>,v1=<hex>") from None
    if not hmac.compare_digest(_mac(secret, timestamp, body), given):
        raise BadSignature("the signature does not match the body")
    skew = abs((time.time() if now is None else now) - timestamp)
    if skew > MAX_SKEW:
        raise BadSignature(f"the signature is {int(skew)} s off, more than {MAX_SKEW} s")
    return timestamp
