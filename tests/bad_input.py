"""Malformed input, generated: a valid JSON document with one thing wrong, and the field a
refusal must name. Only changes that no reading of the models could accept are made: a
forbidden character inside a text (not at its ends, which are stripped), a value of the wrong
kind (a number or `true` for a text, `0` or `"0"` for a date, `"3"` or `3.0` for a whole number,
`1` or `"yes"` for true/false, a text for an object or a list), an unknown field, a required
field left out."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

# Control, format, separator and bidi characters (never a line feed: multi-line text takes it).
FORBIDDEN = [
    "\x00", "\x07", "\t", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\u00ad", "\u061c", "\u200b",
    "\u200d", "\u200e", "\u200f", "\u2028", "\u202a", "\u202e", "\u2066", "\u2069", "\ufeff",
]  # fmt: skip
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T.*")
EXTRA = "nickname"
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Malformed:
    document: Any
    field: str  # as refusals name it: "worker.address.text", "materials.0.pages"; "input"
    change: str  # what was done, for a failing example's report


def nodes(value: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    found: list[tuple[Path, Any]] = [(path, value)] if path and value is not None else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += nodes(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += nodes(inner, (*path, index))
    return found


def name(path: Path) -> str:
    return ".".join(str(part) for part in path) or "input"


def replaced(document: Any, path: Path, value: Any) -> Any:
    changed = copy.deepcopy(document)
    target = changed
    for part in path[:-1]:
        target = target[part]
    if value is _LEFT_OUT:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


_LEFT_OUT = object()


def wrong_values(value: Any) -> list[Any]:
    """Values that are of the wrong kind for a field holding `value`."""
    if isinstance(value, bool):
        return [1, 0, "true", "yes", None]
    if isinstance(value, int):
        return ["3", 3.5, 3.0, True]
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        return [0, 20261102, "0", "20261102", True, f"{value}T00:00:00"]
    if isinstance(value, str) and ISO_TIME.fullmatch(value):
        return [0, 1700000000, "0", "1700000000", True, value[:16].replace("T", " ")]
    if isinstance(value, str):
        return [7, 2.5, True, [], {}]
    if isinstance(value, dict):
        return [[], "x", 1]
    return [{}, "x", 7]  # a list


@st.composite
def malformed(
    draw: st.DrawFn,
    document: dict[str, Any],
    unknown: bool = True,
    scrubbed: tuple[str, ...] = (),
) -> Malformed:
    """One field of `document` made wrong (`unknown`: an unknown field is wrong too;
    `scrubbed`: fields whose stray characters are removed, not refused: a courier's text)."""
    path, value = draw(st.sampled_from(nodes(document)))
    can_extend = unknown and isinstance(value, dict)
    kinds = ["wrong kind", "unknown field" if can_extend else "wrong kind"]
    if isinstance(value, str) and len(value) >= 2 and name(path) not in scrubbed:
        kinds += ["character"] * 3  # most fields are text: the check this run is about
    kind = draw(st.sampled_from(kinds))
    if kind == "character":
        at = draw(st.integers(1, len(value) - 1))
        bad = draw(st.sampled_from(FORBIDDEN))
        changed = value[:at] + bad + value[at:]
        return Malformed(replaced(document, path, changed), name(path), f"U+{ord(bad):04X}")
    if kind == "unknown field":
        extra = (*path, EXTRA)
        return Malformed(replaced(document, extra, "x"), name(extra), "unknown field")
    wrong = draw(st.sampled_from(wrong_values(value)))
    return Malformed(replaced(document, path, wrong), name(path), f"{type(wrong).__name__}")


def left_out(
    document: dict[str, Any], required: tuple[str, ...], unknown: bool = True
) -> st.SearchStrategy[Malformed]:
    return st.sampled_from(
        [Malformed(replaced(document, (key,), _LEFT_OUT), key, "left out") for key in required]
        + ([Malformed({**document, EXTRA: "x"}, EXTRA, "unknown field")] if unknown else [])
    )


def any_malformed(
    document: dict[str, Any],
    required: tuple[str, ...],
    unknown: bool = True,
    scrubbed: tuple[str, ...] = (),
) -> st.SearchStrategy[Malformed]:
    """One thing wrong in `document`; `required`: top-level fields it must have; `unknown`:
    whether its model refuses unknown fields (a courier's webhook may carry new ones);
    `scrubbed`: text fields cleaned rather than refused (schemas.strict.Scrubbed)."""
    return st.one_of(malformed(document, unknown, scrubbed), left_out(document, required, unknown))


def windows(text: str, size: int = 6) -> set[str]:
    """Every piece of `text` long enough to give a person away if a message repeated it."""
    return {text[i : i + size] for i in range(max(len(text) - size + 1, 1))}
