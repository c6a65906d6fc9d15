"""What a fetched history says: its size, its Temporal Cloud actions, and the script of
Temporal operations it performed (for the same-sequence baseline)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from temporalio.api.common.v1 import Payloads
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory

from bench.baseline import Op

LOCAL_ACTIVITY_MARKER = "core_local_activity"
PATCH_MARKER = "core_patch"
CHANGE_VERSION = "TemporalChangeVersion"  # the SDK upserts it itself with each patch marker


def size(payloads: Payloads) -> int:
    return sum(len(p.data) for p in payloads.payloads)


def history_bytes(history: WorkflowHistory) -> int:
    return len(History(events=history.events).SerializeToString())


def actions(history: WorkflowHistory) -> Counter[str]:
    """Billable actions the way Temporal Cloud counts them from a history: the start (1), each
    activity scheduled (1) and each retry the history shows (attempt - 1 on its start), all
    local activities completed in one workflow task (1), each timer started, signal received,
    update accepted, search-attribute upsert and child workflow start (1). Queries and updates
    a validator rejected are billed too but leave no event (the driver counts them)."""
    counted: Counter[str] = Counter()
    local_tasks: set[int] = set()
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            counted["start"] += 1
        elif event.HasField("activity_task_scheduled_event_attributes"):
            counted["activity"] += 1
        elif event.HasField("activity_task_started_event_attributes"):
            counted["activity retry"] += max(
                event.activity_task_started_event_attributes.attempt - 1, 0
            )
        elif event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                local_tasks.add(marker.workflow_task_completed_event_id)
        elif event.HasField("timer_started_event_attributes"):
            counted["timer"] += 1
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            counted["signal"] += 1
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            counted["update"] += 1
        elif event.HasField("upsert_workflow_search_attributes_event_attributes"):
            counted["upsert"] += 1
        elif event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            counted["child start"] += 1
    counted["local activity tasks"] = len(local_tasks)
    return counted


def script(history: WorkflowHistory) -> tuple[list[Op], list[dict[str, Any]], int]:
    """The operations a case performed, in history order: (script, the updates and signals the
    driver must send in order with their payload sizes, the start input's size)."""
    ops: list[Op] = []
    inputs: list[dict[str, Any]] = []
    results: dict[int, int] = {}
    updates: dict[str, int] = {}
    start_size = 0
    for event in history.events:
        if event.HasField("activity_task_completed_event_attributes"):
            done = event.activity_task_completed_event_attributes
            results[done.scheduled_event_id] = size(done.result)
    patched = False
    for event in history.events:
        if event.HasField("workflow_execution_started_event_attributes"):
            start_size = size(event.workflow_execution_started_event_attributes.input)
        elif event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            ops.append(
                {
                    "op": "activity",
                    "task": scheduled.workflow_task_completed_event_id,
                    "input": size(scheduled.input),
                    "result": results.get(event.event_id, 0),
                }
            )
        elif event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            task = marker.workflow_task_completed_event_id
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                last = ops[-1] if ops else {}
                if last.get("op") == "local" and last.get("task") == task:
                    last["count"] += 1
                else:
                    ops.append({"op": "local", "task": task, "count": 1})
            elif marker.marker_name == PATCH_MARKER:
                data = marker.details["patch-data"].payloads[0].data
                ops.append({"op": "patch", "task": task, "id": json.loads(data)["id"]})
                patched = True
        elif event.HasField("timer_started_event_attributes"):
            timer = event.timer_started_event_attributes
            seconds = timer.start_to_fire_timeout.ToTimedelta().total_seconds()
            ops.append({"op": "timer", "id": timer.timer_id, "seconds": seconds})
        elif event.HasField("timer_canceled_event_attributes"):
            ops.append({"op": "cancel", "id": event.timer_canceled_event_attributes.timer_id})
        elif event.HasField("timer_fired_event_attributes"):
            ops.append({"op": "fired", "id": event.timer_fired_event_attributes.timer_id})
        elif event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            attributes = {
                name: [payload.metadata["type"].decode(), _value(payload.data)]
                for name, payload in fields.indexed_fields.items()
                if not (patched and name == CHANGE_VERSION)
            }
            if attributes:
                ops.append({"op": "upsert", "attributes": attributes})
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            accepted = event.workflow_execution_update_accepted_event_attributes
            n = updates[accepted.protocol_instance_id] = len(updates)
            ops.append({"op": "update", "n": n})
            inputs.append({"kind": "update", "size": size(accepted.accepted_request.input.args)})
        elif event.HasField("workflow_execution_update_completed_event_attributes"):
            completed = event.workflow_execution_update_completed_event_attributes
            ops.append({"op": "answer", "n": updates[completed.meta.update_id]})
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            signaled = event.workflow_execution_signaled_event_attributes
            ops.append({"op": "signal", "n": sum(1 for i in inputs if i["kind"] == "signal")})
            inputs.append({"kind": "signal", "size": size(signaled.input)})
        elif event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            child = event.start_child_workflow_execution_initiated_event_attributes
            ops.append(
                {
                    "op": "child",
                    "task": child.workflow_task_completed_event_id,
                    "input": size(child.input),
                }
            )
    return ops, inputs, start_size


def _value(data: bytes) -> Any:
    return json.loads(data) if data else None  # empty: the attribute is unset
