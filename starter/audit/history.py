"""A case's Temporal history for the audit: from Temporal, from the archive's export once
Temporal's retention has passed, or from a file an auditor has; its shape checked; and what it
says about the case (the application, the result, the rows it asked PostgreSQL to write).

Payloads are decoded with the connected client's data converter, so the audit reads histories
through whatever codec the project's converter carries."""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from google.protobuf.json_format import ParseError
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from starter.audit.facts import HistoryFacts
from starter.audit.model import Source

# Activities that write one case_events row, and the key of that row from their input.
RECORDING: dict[str, Callable[[dict[str, Any]], str]] = {
    "append_event": lambda a: a["key"],
    "record_stage": lambda a: f"stage:{a['stage']}",
    "record_milestone": lambda a: f"milestone:{a['name']}",
    "record_conclusion": lambda a: "conclusion.issued",
    "register_case": lambda a: "application.received",
    "archive_case": lambda a: "case.archived",
}
# Local activities of a lean case whose marker's result names the case_events keys written:
# a marker keeps a local activity's result, not its input.
LOCAL_RECORDING: dict[str, Callable[[Any], list[str]]] = {
    "record_transition": lambda keys: list(keys),
    "register_case": lambda answer: [] if answer.get("taken") else ["application.received"],
}
LOCAL_ACTIVITY_MARKER = "core_local_activity"
WFT_ENDS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


class HistoryUnreadable(ValueError):
    """A history file or export that is not a Temporal history."""


def type_name(event: HistoryEvent) -> str:
    """EVENT_TYPE_ACTIVITY_TASK_SCHEDULED → ActivityTaskScheduled."""
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))


async def from_temporal(
    client: Client, case_id: str, run_id: str | None = None
) -> WorkflowHistory | None:
    """The case's run (the first run, which the case row is bound to; else the latest), or
    None when Temporal no longer holds it."""
    try:
        return await client.get_workflow_handle(case_id, run_id=run_id).fetch_history()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def from_json(case_id: str, text: str | dict[str, Any]) -> WorkflowHistory:
    try:
        history = WorkflowHistory.from_json(case_id, text)
    except (ParseError, ValueError, TypeError, KeyError) as error:
        raise HistoryUnreadable(
            f"not a Temporal history (JSON as `temporal workflow show --output json` writes it): {error}"
        ) from None
    if not history.events:
        raise HistoryUnreadable("the history has no events")
    return history


def from_file(case_id: str, path: Path) -> WorkflowHistory:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise HistoryUnreadable(f"cannot read {path}: {error}") from None
    return from_json(case_id, text)


def malformed(history: WorkflowHistory) -> tuple[int, str] | None:
    """Where the history's own shape is broken (an event removed or reordered by hand), as
    (event id, what); None when it is well formed. Checked before replaying: the SDK's replay
    stalls on some broken shapes instead of failing."""
    events = list(history.events)
    if events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        return events[0].event_id, "the first event is not WorkflowExecutionStarted"
    for expected, event in enumerate(events, start=1):
        if event.event_id != expected:
            return (
                expected,
                f"event {expected} is missing: event {event.event_id} ({type_name(event)}) follows event {expected - 1}",
            )
    for event, after in pairwise(events):
        started = event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        if started and after.event_type not in WFT_ENDS:
            return after.event_id, (
                f"workflow task started at event {event.event_id} is followed by "
                f"{type_name(after)}, not its completion"
            )
    return None


def workflow_type(history: WorkflowHistory) -> str:
    return history.events[0].workflow_execution_started_event_attributes.workflow_type.name


async def facts(history: WorkflowHistory, converter: DataConverter) -> HistoryFacts:
    found = HistoryFacts()
    events = list(history.events)
    started = events[0].workflow_execution_started_event_attributes
    try:
        [found.application] = await converter.decode(list(started.input.payloads)) or [None]
    except Exception as error:  # a codec's or converter's own error: the fact stays unknown
        found.problems.append(f"application: {type(error).__name__}")
    last = events[-1]
    if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        payloads = list(last.workflow_execution_completed_event_attributes.result.payloads)
        try:
            [result] = await converter.decode(payloads) if payloads else [None]
            found.result = result if isinstance(result, dict) else None
        except Exception as error:
            found.problems.append(f"result: {type(error).__name__}")
    try:
        found.recorded, found.pending = await recorded(events, converter)
    except Exception as error:
        found.problems.append(f"activity inputs: {type(error).__name__}")
    return found


async def recorded(
    events: list[HistoryEvent], converter: DataConverter
) -> tuple[set[str], set[str]]:
    """The case_events keys written by the recording activities that completed, and those of
    recording activities scheduled without a completion yet."""
    done = {
        e.activity_task_completed_event_attributes.scheduled_event_id: e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    }
    keys: set[str] = set()
    pending: set[str] = set()
    for event in events:
        if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        scheduled = event.activity_task_scheduled_event_attributes
        key_of = RECORDING.get(scheduled.activity_type.name)
        if key_of is None:
            continue
        completion = done.get(event.event_id)
        if scheduled.activity_type.name == "register_case" and await taken(completion, converter):
            continue  # the number belonged to another case: this run wrote nothing
        [argument] = await converter.decode(list(scheduled.input.payloads))
        (keys if completion is not None else pending).add(key_of(argument))
    keys |= await recorded_locally(events, converter)
    return keys, pending - keys


async def recorded_locally(events: list[HistoryEvent], converter: DataConverter) -> set[str]:
    """The case_events keys a lean case's local activities wrote, from their markers."""
    keys: set[str] = set()
    for event in events:
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name != LOCAL_ACTIVITY_MARKER or marker.HasField("failure"):
            continue
        data = json.loads(marker.details["data"].payloads[0].data)  # written by the SDK's core
        key_of = LOCAL_RECORDING.get(data.get("activity_type", ""))
        if key_of is None or "result" not in marker.details:
            continue
        [result] = await converter.decode(list(marker.details["result"].payloads))
        keys.update(key_of(result))
    return keys


async def taken(completion: HistoryEvent | None, converter: DataConverter) -> bool:
    """The registration answered that the number is another case's."""
    if completion is None:
        return False
    payloads = list(completion.activity_task_completed_event_attributes.result.payloads)
    [answer] = await converter.decode(payloads) if payloads else [{}]
    return bool(isinstance(answer, dict) and answer.get("taken"))


def source_text(source: Source, history: WorkflowHistory) -> str:
    return f"{source.value} ({len(history.events)} events)"


def dump(history: WorkflowHistory) -> str:
    return json.dumps(history.to_json_dict(), ensure_ascii=False)
