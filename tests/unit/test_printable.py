"""What an application may contain: rare names the letter's fonts print are accepted; what
cannot be printed (emoji, characters no font has), control and bidi characters are refused
with the field and the code point named; the committed table matches the installed fonts."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra.fonts import DEBIAN_FONT_PATHS, Face, FontMissing, code_points, find_letter_fonts
from schemas.application import AppraisalApplication
from schemas.printable import (
    CONTROLS,
    PRIVATE_USE,
    TABLE_FILE,
    printable,
    table_source,
    within,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Real names with characters outside Zen Hei: CJK Extension B (𪚥 U+2A6A5, 𠮷 U+20BB7) and
# C (𫖯 U+2B5AF, as in 赵孟𫖯); 䶮 (U+4DAE) is Extension A.
RARE_NAMES = ["王𪚥", "吉𠮷", "赵孟𫖯", "刘䶮"]

# Every free-text field the letter prints or the UI shows, and the example that has it.
PRINTED_FIELDS = [
    ("initial_complete", ("worker", "name")),
    ("initial_complete", ("worker", "address", "text")),
    ("initial_complete", ("applicant", "name")),
    ("green_channel", ("applicant", "relationship")),
    ("initial_complete", ("employer", "name")),
    ("initial_complete", ("employer", "address", "text")),
    ("initial_complete", ("injury", "description")),
    ("initial_complete", ("injury", "diagnosis")),
    ("initial_complete", ("injury", "body_parts", 0)),
    ("initial_complete", ("injury", "determination_no")),
    ("initial_complete", ("injury", "treating_hospitals", 0)),
    ("initial_complete", ("injury", "treating_doctors", 0)),
    ("initial_complete", ("materials", 0, "title")),
    ("re_appraisal", ("prior_conclusion", "case_id")),
]


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def with_value(name: str, path: tuple[str | int, ...], value: str) -> dict[str, Any]:
    data = example(name)
    data["injury"].setdefault("treating_hospitals", ["济宁市中医院"])
    data["injury"].setdefault("treating_doctors", ["刘医生"])
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def refusal(data: dict[str, Any]) -> tuple[str, str]:
    """The one error: its field, as the workflow names it, and its message."""
    with pytest.raises(ValidationError) as refused:
        AppraisalApplication.model_validate(data)
    (error,) = refused.value.errors()
    return ".".join(map(str, error["loc"])), error["msg"]


@pytest.mark.parametrize("name", RARE_NAMES)
def test_a_rare_name_the_letter_can_print_is_accepted(name: str) -> None:
    data = with_value("initial_complete", ("worker", "name"), name)
    assert AppraisalApplication.model_validate(data).worker.name == name


@pytest.mark.parametrize(
    ("example_name", "path"), PRINTED_FIELDS, ids=[".".join(map(str, p)) for _, p in PRINTED_FIELDS]
)
def test_every_printed_field_refuses_what_cannot_be_printed(
    example_name: str, path: tuple[str | int, ...]
) -> None:
    field = ".".join(map(str, path))
    good = with_value(example_name, path, "济宁市任城区红星中路100号")
    AppraisalApplication.model_validate(good)  # the field itself is fine, and is checked

    for text, point in [("王😀伟", "U+1F600 😀"), ("王𰀀伟", "U+30000 𰀀")]:  # emoji, Ext G
        assert refusal(with_value(example_name, path, f"济宁市{text}100号")) == (
            field,
            f"含有结论书无法打印的字符 {point} (the conclusion letter cannot print this character)",
        )

    for control in ["\x00", "\x1b", "\t", "\u202e", "\u2067", "\u200b", "\ufeff"]:
        assert refusal(with_value(example_name, path, f"济宁市王{control}伟100号")) == (
            field,
            f"含有控制字符 U+{ord(control):04X} "
            "(control and bidirectional formatting characters are not allowed)",
        )


def test_every_character_refused_is_named_once() -> None:
    data = with_value("initial_complete", ("worker", "name"), "王😀😀\ue000")
    field, message = refusal(data)
    assert field == "worker.name"
    assert message.startswith("含有结论书无法打印的字符 U+1F600 😀, U+E000 \ue000 (")
    assert message.endswith("cannot print these characters)")
    # A control character is named first, by code point only.
    data = with_value("initial_complete", ("worker", "name"), "王😀\u202d")
    assert refusal(data)[1].startswith("含有控制字符 U+202D (")


def test_errors_do_not_repeat_the_input() -> None:
    data = example("initial_complete")
    data["worker"]["citizen_id"] = "370811198503120439"  # wrong check digit
    data["worker"]["mobile"] = ["13805370001"]  # wrong type: pydantic would show the value
    with pytest.raises(ValidationError) as refused:
        AppraisalApplication.model_validate(data)
    message = str(refused.value)
    assert "worker.citizen_id" in message and "worker.mobile" in message
    assert "370811198503120439" not in message and "13805370001" not in message
    assert "input_value" not in message


def test_the_committed_table_matches_the_installed_fonts() -> None:
    try:
        expected = table_source(find_letter_fonts())
    except FontMissing as missing:  # the message says what to install
        pytest.fail(str(missing))
    committed = TABLE_FILE.read_text(encoding="utf-8")
    assert committed == expected, "the fonts changed: run `make glyphs` and commit the table"


def test_what_the_letter_printed_in_zen_hei_is_still_accepted() -> None:
    # The letter moved to Noto (issue #8) with Zen Hei behind it: an application accepted
    # before is accepted still (a case replays its application through this check).
    before = code_points(Face(DEBIAN_FONT_PATHS[0]))
    kept = [c for c in before if not within(c, CONTROLS) and not within(c, PRIVATE_USE)]
    assert kept and all(printable(c) for c in kept)


def test_controls_cover_every_control_and_format_character_of_this_python() -> None:
    kinds = {"Cc", "Cf", "Zl", "Zp"}
    missed = [
        f"U+{c:04X}"
        for c in range(0x110000)
        if unicodedata.category(chr(c)) in kinds and not within(c, CONTROLS)
    ]
    assert not missed, f"Unicode {unicodedata.unidata_version} adds {missed}: add them to CONTROLS"
    assert not any(printable(c) for start, end in CONTROLS for c in range(start, end + 1))
