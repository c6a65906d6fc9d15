"""What Temporal stores of a case holds no personal data in plain text: a case started the way
the Web UI starts one through the codec server (plain JSON in, ciphertext stored), run by
`worker.py` through the conclusion (letters in the post), and a refused application; their
whole histories exported without the codec hold none of the worker's citizen ID, name, mobile,
address or diagnosis, and no failure message; read through the codec server, as an auditor
does with `temporal workflow show --codec-endpoint`, they are all there."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowFailureError

from infra.codec import ENCODING
from infra.temporal import start_case
from schemas.application import AppraisalApplication
from schemas.clock import CHINA_TZ
from schemas.events import ScheduleAppraisal
from schemas.steps import Stage
from tests.helpers import Driver, example_json, new_id, wait_for
from tests.integration.conftest import CODEC_TOKEN as TOKEN
from tests.integration.conftest import Stack
from workflows.case import AppraisalCase

# Payloads Temporal must read itself: search attributes (it indexes them; no personal data,
# workflows/search_attributes.py) and the SDK's patch markers (a patch id).
PLAIN_BY_DESIGN = ("search_attributes", "marker_recorded_event_attributes")


def codec_flags(codec_url: str) -> list[str]:
    return ["--codec-endpoint", codec_url, "--codec-auth", f"Bearer {TOKEN}"]


def personal_data(application: dict[str, Any]) -> list[str]:
    worker = application["worker"]
    return [
        worker["citizen_id"],
        worker["name"],
        worker["mobile"],
        worker["address"]["text"],
        application["injury"]["diagnosis"],  # medical content
    ]


def forms(value: str) -> list[bytes]:
    """The value as UTF-8 and as JSON with non-ASCII escaped (`\\u5f20…`)."""
    return [value.encode(), json.dumps(value)[1:-1].encode()]


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload in a history, with where it sits (maps and lists included)."""
    if isinstance(message, Payload):
        yield path, message
        return
    for field, value in message.ListFields():
        kind = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or kind is None:
            continue
        where = f"{path}.{field.name}"
        if kind.GetOptions().map_entry:
            if kind.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key, item in value.items():
                    yield from payloads_in(item, f"{where}[{key}]")
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from payloads_in(item, f"{where}[{index}]")
        else:
            yield from payloads_in(value, where)


async def exported(stack: Stack, case_id: str) -> bytes:
    """The whole history as Temporal stores it (protobuf), read without the codec."""
    history = await stack.env.client.get_workflow_handle(case_id).fetch_history()
    return History(events=history.events).SerializeToString()


async def shown_with_codec(stack: Stack, codec_url: str, case_id: str) -> str:
    """`temporal workflow show` through the codec server, every payload's data as text."""
    code, out, err = await stack.temporal(
        "workflow", "show", "--workflow-id", case_id, "--output", "json", *codec_flags(codec_url)
    )
    assert code == 0, err
    texts = [out]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and "metadata" in node:
                texts.append(base64.b64decode(node["data"]).decode(errors="replace"))
            for item in node.values():
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(out))
    return "\n".join(texts)


def assert_sealed(raw: bytes, needles: list[str]) -> None:
    for needle in needles:
        assert not any(form in raw for form in forms(needle)), needle
    # Inputs, results, updates, signals, summaries, failures: all sealed.
    assert plain_payloads(raw) == []


def plain_payloads(raw: bytes) -> list[str]:
    """Where an exported history holds a payload in plain text (beyond PLAIN_BY_DESIGN)."""
    history = History()
    history.ParseFromString(raw)
    return [
        path
        for path, payload in payloads_in(history)
        if payload.metadata.get("encoding") != ENCODING
        and not any(part in path for part in PLAIN_BY_DESIGN)
    ]


async def test_a_case_through_the_conclusion_is_stored_encrypted_and_read_with_the_codec(
    stack: Stack, codec_url: str
) -> None:
    application = example_json("initial_complete", fresh_worker=True)
    case_id = new_id("JN-PII")
    await stack.ui_start(case_id, application, *codec_flags(codec_url))
    case = Driver(stack.env, stack.env.client.get_workflow_handle(case_id))
    await case.until(lambda s: s.appointment is not None)
    walk_in = ScheduleAppraisal(
        event_id=new_id("s"), actor="W0101", at=datetime.now(CHINA_TZ), place="鉴定大厅"
    )
    await case.update(AppraisalCase.schedule_appraisal, walk_in)
    await case.attend()
    posted = await case.conclude()  # opinions, reviews, decision, letter, both letters posted
    assert posted.stage is Stage.delivery and len(posted.shipments) == 2

    needles = personal_data(application)
    raw = await exported(stack, case_id)
    assert_sealed(raw, needles)
    assert b"send_letter" in raw  # the export is the whole case (activity names are plain)
    decoded = await shown_with_codec(stack, codec_url, case_id)
    for needle in needles:
        assert needle in decoded, needle
    await case.handle.terminate("test over")


async def test_a_refused_application_keeps_its_failure_message_encrypted(
    stack: Stack, codec_url: str
) -> None:
    application = example_json("initial_complete")
    application["worker"]["citizen_id"] = "370811198503120439"  # wrong check digit
    case_id = new_id("JN-PII-BAD")
    await stack.ui_start(case_id, application, *codec_flags(codec_url))
    handle = stack.env.client.get_workflow_handle(case_id)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    reason = "公民身份号码校验位错误"
    assert reason in str(failed.value.cause)  # the client, with the codec, reads it

    raw = await exported(stack, case_id)
    assert_sealed(raw, [*personal_data(application), reason, "worker.citizen_id"])
    assert b"Encoded failure" in raw and b"InvalidApplication" in raw  # the type stays plain
    decoded = await shown_with_codec(stack, codec_url, case_id)
    assert reason in decoded and application["worker"]["name"] in decoded


async def test_an_old_clients_plain_input_is_still_taken_and_the_rest_is_sealed(
    stack: Stack,
) -> None:
    """A client without the codec (an old one, a UI without the endpoint) still starts a
    case: its input is stored as it was sent; everything the worker writes is sealed."""
    application = example_json("initial_complete", fresh_worker=True)
    case_id = new_id("JN-PII-OLD")
    await stack.ui_start(case_id, application)  # plain JSON, no codec
    handle = stack.env.client.get_workflow_handle(case_id)
    booked = await wait_for(handle, lambda s: s.appointment is not None)
    assert booked.stage is Stage.organizing
    raw = await exported(stack, case_id)
    assert application["worker"]["citizen_id"].encode() in raw  # the check above can fail
    assert plain_payloads(raw) == [
        ".events[0].workflow_execution_started_event_attributes.input.payloads[0]"
    ]
    await handle.terminate("test over")


async def test_a_starts_summary_details_and_memo_are_encrypted_too(stack: Stack) -> None:
    """What a client sets beside the input (the CLI sets a static summary) goes through the
    codec in temporalio 1.35; search attributes would not, and the case sets none with
    personal data (the export is checked for the worker's data whole)."""
    application = example_json("initial_complete", fresh_worker=True)
    name = application["worker"]["name"]
    handle = await start_case(
        stack.env.client,
        AppraisalApplication.model_validate(application),
        new_id("JN-PII-META"),
        "appraisal",
        static_summary=f"申请人 {name}",
        static_details=f"职工 {name} {application['worker']['mobile']}",
        memo={"worker": name},
    )
    await wait_for(handle, lambda s: s.appointment is not None)  # it ran: search attributes set
    raw = await exported(stack, handle.id)
    assert_sealed(raw, personal_data(application))
    history = History()
    history.ParseFromString(raw)
    started = history.events[0]
    assert started.user_metadata.summary.metadata["encoding"] == ENCODING
    assert started.user_metadata.details.metadata["encoding"] == ENCODING
    memo = started.workflow_execution_started_event_attributes.memo.fields["worker"]
    assert memo.metadata["encoding"] == ENCODING
    described = await handle.describe()
    assert await described.static_summary() == f"申请人 {name}"  # read back with the codec
    await handle.terminate("test over")
