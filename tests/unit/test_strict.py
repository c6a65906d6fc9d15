"""Strict input (schemas/strict.py): every text field of every model a client sends refuses
control and bidi characters, numbers are not dates, booleans not numbers; ISO strings still
parse from JSON and from a dict; an application from before strict input reads as it did."""

from __future__ import annotations

import json
import types
import typing
from datetime import date, datetime
from typing import Any, Union

import pytest
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from gateway import models as gateway_models
from schemas import events, ledger
from schemas.application import AppraisalApplication, Material
from schemas.clock import CHINA_TZ
from schemas.identifiers import CitizenId
from schemas.printable import Printable
from schemas.problems import problems
from schemas.strict import LOOSE, Ascii, Lines, OneLine, Scrubbed, scrub
from tests.helpers import example_json

TEXT_CHECKS = (OneLine, Lines, Printable, Ascii, Scrubbed)  # Scrubbed: a courier's text


def client_models() -> list[type[BaseModel]]:
    """Every model a client can send: the application, each event, each gateway body."""
    found: list[type[BaseModel]] = [AppraisalApplication, ledger.NewEntry]  # the CLI's too
    for module in (events, gateway_models):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel):
                found.append(value)
    skipped = {gateway_models.CaseAnswer}  # an answer, not input
    return [m for m in found if m not in skipped]


def unchecked_texts(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Text fields (at any depth) with no check of their characters."""
    missing: list[str] = []
    for name, field in model.model_fields.items():
        missing += _unchecked(field.annotation, list(field.metadata), f"{prefix}{name}")
    return missing


def _unchecked(annotation: Any, metadata: list[Any], where: str) -> list[str]:
    if typing.get_origin(annotation) is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return _unchecked(base, metadata + extra, where)
    if typing.get_origin(annotation) in (Union, types.UnionType, list):
        return [
            problem
            for arg in typing.get_args(annotation)
            for problem in _unchecked(
                arg, [m for m in metadata if not isinstance(m, FieldInfo)], where
            )
        ]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return unchecked_texts(annotation, f"{where}.")
    if annotation is str and not any(m in TEXT_CHECKS for m in metadata):
        return [where]
    return []


def test_every_text_field_a_client_sends_checks_its_characters() -> None:
    models = client_models()
    assert len(models) > 20  # the walk found the events and the gateway's bodies
    missing = {m.__name__: found for m in models if (found := unchecked_texts(m))}
    assert missing == {}


def refusal(model: type[BaseModel], data: Any, as_json: bool = False) -> str:
    with pytest.raises(ValidationError) as refused:
        if as_json:
            model.model_validate_json(json.dumps(data))
        else:
            model.model_validate(data)
    return "; ".join(problems(refused.value))


def opinion(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "actor": "EXP-001",
        "expert_id": "EXP-001",
        "outcome": {"verdict": "grade_8"},
        **fields,
    }


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize(
    "character", ["\x00", "\r", "\t", "\x1b", "\x85", "\u061c", "\u200e", "\u200f", "\u202a",
                  "\u202e", "\u2066", "\u2069", "\u2028", "\ufeff"]
)  # fmt: skip
def test_control_and_bidi_characters_are_refused_by_code_point(
    character: str, as_json: bool
) -> None:
    message = refusal(events.ExpertOpinion, opinion(remarks=f"右腿{character}无力"), as_json)
    assert message == (
        f"remarks: 含有控制字符 U+{ord(character):04X} "
        "(control and bidirectional formatting characters are not allowed)"
    )


def test_a_multi_line_note_keeps_its_line_feeds_a_one_line_field_does_not() -> None:
    note = "右下肢肌力4级\n左下肢正常"
    assert events.ExpertOpinion.model_validate(opinion(remarks=note)).remarks == note
    assert "expert_id: 含有控制字符 U+000A" in refusal(
        events.ExpertOpinion, opinion(expert_id="EXP\n001")
    )
    assert "remarks: 含有控制字符 U+000D" in refusal(
        events.ExpertOpinion, opinion(remarks="第一行\r\n第二行")
    )


def test_a_lone_surrogate_is_refused_without_repeating_it() -> None:
    message = refusal(events.ExpertOpinion, opinion(remarks="a\ud800b"))
    assert message.startswith("remarks: ") and "\ud800" not in message
    assert "Invalid JSON" in refusal(events.ExpertOpinion, opinion(remarks="a\ud800b"), True)


SENT = {"event_id": "s-1", "actor": "W0101"}
SIGNOFF = {**SENT, "layer": "examination"}
SCHEDULE = {**SENT, "place": "鉴定大厅"}


@pytest.mark.parametrize("as_json", [False, True])
@pytest.mark.parametrize(
    "model, data, field",
    [
        # true/false only: not 1, 0, "true", "yes"
        *[(events.ReviewSignoff, {**SIGNOFF, "approve": v}, "approve") for v in (1, 0, "true", "yes")],
        # a whole number: not "3", 3.0, 3.5, true
        *[(Material, {"kind": "other", "title": "病历", "pages": v}, "pages") for v in ("3", 3.0, 3.5, True)],
        # a date: not 0, "0", 20261102, "20261102", a datetime text
        *[(events.SupplementExtension, {**SENT, "reason": "住院", "until": v}, "until")
          for v in (0, "0", 20261102, "20261102", "2026-11-02T00:00:00", True)],
        # a time: not 0, "1700000000", without its offset
        *[(events.ScheduleAppraisal, {**SCHEDULE, "at": v}, "at")
          for v in (0, "1700000000", 1.5, "2026-11-02T09:00:00")],
        # text: not a number or a bool
        *[(events.PanelRedraw, {**SENT, "reason": v}, "reason") for v in (12, 1.5, True)],
    ],
)  # fmt: skip
def test_no_coercion(
    model: type[BaseModel], data: dict[str, Any], field: str, as_json: bool
) -> None:
    message = refusal(model, data, as_json)
    assert message.startswith(f"{field}: "), message


def test_iso_strings_parse_from_json_and_from_a_dict_and_objects_from_the_cli() -> None:
    given = {**SENT, "reason": "住院治疗", "until": "2026-11-20"}
    for read in (
        events.SupplementExtension.model_validate(given),
        events.SupplementExtension.model_validate_json(json.dumps(given)),
        events.SupplementExtension.model_validate({**given, "until": date(2026, 11, 20)}),
    ):
        assert read.until == date(2026, 11, 20)
    at = datetime(2026, 10, 20, 9, tzinfo=CHINA_TZ)
    for value in ("2026-10-20T09:00:00+08:00", "2026-10-20T01:00:00Z", at):
        assert events.ScheduleAppraisal.model_validate({**SCHEDULE, "at": value}).at == at
    data = example_json("re_appraisal")
    assert AppraisalApplication.model_validate(data).injury.occurred_on == date(2025, 8, 10)


def test_an_application_from_before_strict_input_reads_as_it_did() -> None:
    data = example_json("initial_complete")
    data["materials"][0]["pages"] = "3"
    data["green_channel"] = 0
    data["severe"] = "yes"
    message = refusal(AppraisalApplication, data)
    assert "materials.0.pages" in message and "green_channel" in message and "severe" in message
    loose = AppraisalApplication.model_validate(data, context=LOOSE)
    assert loose.materials[0].pages == 3 and loose.green_channel is False and loose.severe


def test_identifiers_take_ascii_digits_only() -> None:
    from pydantic import TypeAdapter

    adapter: TypeAdapter[str] = TypeAdapter(CitizenId)
    number = example_json("initial_complete")["worker"]["citizen_id"]
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in number)
    with pytest.raises(ValidationError, match="ASCII letters and digits only"):
        adapter.validate_python(full_width)


def test_a_couriers_text_is_scrubbed_not_refused() -> None:
    """A signer's name with a stray control character: the news is kept, the character goes
    (refused, the courier would send it again and again and the letter never be delivered)."""
    body = {
        "event_id": "EA1:3",
        "reference": "JN-2026-000001",
        "waybill_no": "EA100000001CN",
        "status": "delivered",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "signer": "张\u202e三\x00",
        "reason": "签收\r",
    }
    hook = gateway_models.PostalWebhook.model_validate_json(json.dumps(body))
    assert (hook.signer, hook.reason) == ("张三", "签收")
    assert scrub("王\u2066𪚥\t") == "王𪚥"
