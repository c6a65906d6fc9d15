"""Personal data kept out of the audit report (案卷评查 is about the process, not the person).

Two nets: the application's own personal strings (names, citizen ID, mobiles, addresses,
medical text), read from the case's history, are masked wherever they appear; and anything
shaped like a citizen ID or a mobile number is masked even when the application is unknown.
The CLI passes every line it prints or writes through `Privacy.scrub`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Keys of the application whose values are personal: names, identifiers, contact, medical text.
PERSONAL_KEYS = frozenset(
    {
        "name",
        "citizen_id",
        "mobile",
        "contact_mobile",
        "text",  # an address
        "description",
        "diagnosis",
        "treating_doctors",
        "recipient_name",
    }
)
CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
SELF = "本人"  # the addressee signed in person: not a name


def mask(text: str) -> str:
    """The first character, the rest starred: 张建军 → 张**."""
    return text[:1] + "*" * min(max(len(text) - 1, 1), 8)


def personal_strings(application: Any) -> set[str]:
    """Every personal string of a decoded application (a JSON value)."""
    found: set[str] = set()

    def walk(value: Any, key: str | None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key in PERSONAL_KEYS and len(value.strip()) >= 2:
            found.add(value.strip())

    walk(application, None)
    return found


class Privacy:
    def __init__(self, known: Iterable[str] = ()) -> None:
        # Longest first, so a name inside an address does not leave the rest of it readable.
        self.known = sorted({k for k in known if len(k) >= 2}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for value in self.known:
            text = text.replace(value, mask(value))
        text = CITIZEN_ID.sub(lambda m: mask(m.group()), text)
        return MOBILE.sub(lambda m: mask(m.group()), text)

    def signer(self, name: str | None) -> str | None:
        """Who signed for a letter: 本人 as it is, anyone else masked."""
        if name is None or name.strip() == SELF:
            return name
        return mask(name.strip())
