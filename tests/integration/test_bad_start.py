"""The input as a whole on the real stack (dev server, `worker.py`): what `temporal workflow
start` sends without `--input`, with `null`, a list, a number or two inputs fails the case at
once, non-retryable, saying so; a signal or an update without its input leaves a running case
as it was (no workflow task failing over and over)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from infra.temporal import start_case
from tests.helpers import describe_raw, example, new_id, wait_for
from tests.integration.conftest import Stack


@pytest.mark.parametrize(
    "inputs, says",
    [
        ([], "got 0 inputs"),
        (["--input", "null"], "not null"),
        (["--input", "[1, 2]"], "not list"),
        (["--input", "3"], "not int"),
        (["--input", "{}", "--input", "{}"], "got 2 inputs"),
    ],
)
async def test_a_start_without_one_application_fails_at_once(
    stack: Stack, inputs: list[str], says: str
) -> None:
    case_id = new_id("JN-BAD")
    code, _, err = await stack.temporal(
        "workflow",
        "start",
        "--type",
        "AppraisalCase",
        "--task-queue",
        "appraisal",
        "--workflow-id",
        case_id,
        *inputs,
    )
    assert code == 0, err
    handle = stack.env.client.get_workflow_handle(case_id)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 30)
    error = failed.value.cause
    assert isinstance(error, ApplicationError) and error.type == "InvalidApplication"
    assert error.non_retryable and "input: " in error.message and says in error.message
    assert (await handle.describe()).status is WorkflowExecutionStatus.FAILED
    kinds = [e.event_type async for e in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds  # failed on the first task


async def no_task_pending(handle: WorkflowHandle[Any, Any]) -> None:
    while (await describe_raw(handle)).HasField("pending_workflow_task"):  # noqa: ASYNC110
        await asyncio.sleep(0.1)


async def test_a_signal_or_update_without_input_leaves_the_case_as_it_was(stack: Stack) -> None:
    handle = await start_case(
        stack.env.client, example("initial_complete"), new_id("JN-BAD"), "appraisal"
    )
    before = await wait_for(handle, lambda s: s.appointment is not None)
    for name in ("materials_supplemented", "postal_event"):
        code, _, err = await stack.temporal(
            "workflow", "signal", "--workflow-id", handle.id, "--name", name
        )
        assert code == 0, err
    code, _, err = await stack.temporal(
        "workflow", "update", "execute", "--workflow-id", handle.id, "--name", "record_attendance"
    )
    # The message is encrypted like every failure (the codec server shows it); its type is not.
    assert code != 0 and "type: InvalidInput, retryable: false" in err, err
    # Once the signals' task ran: the case answers, as it was; no task failed.
    await asyncio.wait_for(no_task_pending(handle), 30)
    after = await wait_for(handle, lambda s: True)
    assert after.stage is before.stage and after.appointment == before.appointment
    kinds = [e.event_type async for e in handle.fetch_history_events()]
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) == 2
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    await handle.terminate("test over")
