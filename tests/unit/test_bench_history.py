"""The bench's reading of a history (bench/history.py) on stored case histories: Cloud actions
counted event by event, and the same-sequence script holding every operation in order."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from bench import history

HISTORIES = Path(__file__).resolve().parents[1] / "histories" / "v6"


def load(name: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text("utf-8"))


def kinds(h: WorkflowHistory) -> Counter[str]:
    return Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in h.events)


@pytest.mark.parametrize("name", ["happy_path", "breached", "rescheduled"])
def test_actions_are_the_billable_events(name: str) -> None:
    h = load(name)
    events = kinds(h)
    counted = history.actions(h)
    assert counted["start"] == 1
    assert counted["activity"] == events["ACTIVITY_TASK_SCHEDULED"] > 0
    assert counted["timer"] == events["TIMER_STARTED"] > 0
    assert counted["update"] == events["WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
    assert counted["upsert"] == events["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"]
    assert counted["signal"] == events["WORKFLOW_EXECUTION_SIGNALED"]
    # Workflow tasks, completions and markers of patches are not billed.
    assert sum(counted.values()) < len(h.events) / 3


def test_script_repeats_every_operation_in_order() -> None:
    h = load("happy_path")
    events = kinds(h)
    ops, inputs, start_size = history.script(h)
    made = Counter(op["op"] for op in ops)
    assert made["activity"] == events["ACTIVITY_TASK_SCHEDULED"]
    assert made["timer"] == events["TIMER_STARTED"]
    assert made["cancel"] == events["TIMER_CANCELED"] and made["fired"] == events["TIMER_FIRED"]
    assert made["child"] == events["START_CHILD_WORKFLOW_EXECUTION_INITIATED"] == 1
    # Each patch marker is repeated by `workflow.patched`, which upserts TemporalChangeVersion
    # itself: those upserts are not in the script twice.
    assert made["patch"] == events["MARKER_RECORDED"] > 0
    assert made["upsert"] + made["patch"] == events["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"]
    # Updates are numbered in arrival order, each answered after it was taken.
    taken = [op["n"] for op in ops if op["op"] == "update"]
    assert taken == list(range(len(inputs))) and all(i["kind"] == "update" for i in inputs)
    for n in taken:
        position = {op["op"]: i for i, op in enumerate(ops) if op.get("n") == n}
        assert position["update"] < position["answer"]
    # Payload sizes are carried over (the application, each activity's input and result).
    activities = [op for op in ops if op["op"] == "activity"]
    assert start_size > 1000 and sum(op["input"] + op["result"] for op in activities) > 20_000


def test_a_fired_timer_is_waited_for() -> None:
    ops, _, _ = history.script(load("breached"))
    fired = [op["id"] for op in ops if op["op"] == "fired"]
    started = [op["id"] for op in ops if op["op"] == "timer"]
    assert fired and set(fired) <= set(started)
