"""Replay a history on the current workflow code and say where it diverges.

The Replayer runs the history through `AppraisalCase` and `ProvincialReferral` with the
connected client's data converter. It runs in a thread of its own with a time limit: on some
broken histories the SDK's core panics and its replay never returns (seen with temporalio 1.35
when a WorkflowTaskCompleted event is removed), and an audit must report that, not hang. Core's
own log lines are kept quiet; the outcome says what went wrong."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import re
import threading

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Replayer, WorkflowReplayResult

from starter.audit.history import malformed, type_name, workflow_type
from starter.audit.model import Replay, ReplayOutcome, Source

REPLAY_TIMEOUT = 120.0  # seconds; a case's history replays in well under one
# Where the core says it stopped: "HistoryEvent(id: 34, ...)", "event id: 35", "event '12'".
EVENT_ID = re.compile(r"HistoryEvent\(id: (\d+)|event id:? (\d+)|event '(\d+)'", re.IGNORECASE)
CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


@functools.cache
def quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors (a divergence is reported, not logged)."""
    quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
    return Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet), metrics=None))


def replayer(converter: DataConverter) -> Replayer:
    from workflows.case import AppraisalCase  # the workflow code being checked
    from workflows.inputs import OneInput
    from workflows.referral import ProvincialReferral

    return Replayer(
        workflows=[AppraisalCase, ProvincialReferral],
        data_converter=converter,
        interceptors=[OneInput()],  # as the worker: a dropped signal is dropped again
        runtime=quiet_runtime(),
    )


def in_thread(history: WorkflowHistory, converter: DataConverter) -> WorkflowReplayResult:
    """The replay on its own event loop and thread; the caller waits with a time limit."""
    future: concurrent.futures.Future[WorkflowReplayResult] = concurrent.futures.Future()

    def run() -> None:
        try:
            replay = replayer(converter).replay_workflow(history, raise_on_replay_failure=False)
            future.set_result(asyncio.run(replay))
        except BaseException as error:  # handed to the waiting caller
            future.set_exception(error)

    threading.Thread(target=run, name=f"replay {history.workflow_id}", daemon=True).start()
    return future.result(REPLAY_TIMEOUT)


async def replay(history: WorkflowHistory, source: Source, converter: DataConverter) -> Replay:
    found = Replay(
        outcome=ReplayOutcome.clean,
        source=source,
        workflow_type=workflow_type(history),
        events=len(history.events),
    )
    if broken := malformed(history):
        return diverged(found, history, broken[0], f"the history is malformed: {broken[1]}")
    try:
        result = await asyncio.to_thread(in_thread, history, converter)
    except concurrent.futures.TimeoutError:
        return diverged(
            found, history, None, f"replay did not finish within {REPLAY_TIMEOUT:.0f} s"
        )
    if result.replay_failure is not None:
        text = core_message(str(result.replay_failure))
        return diverged(found, history, event_id(text), text)
    return found


def diverged(found: Replay, history: WorkflowHistory, event: int | None, message: str) -> Replay:
    found.outcome, found.event_id, found.message = ReplayOutcome.diverged, event, message
    named = [e for e in history.events if e.event_id == event]  # none: the event is gone
    found.event_type = type_name(named[0]) if named else None
    return found


def core_message(text: str) -> str:
    """The core's own sentence out of the failure's debug text, on one line."""
    found = CORE_MESSAGE.search(text)
    message = found.group(1).replace('\\"', '"') if found else text
    return " ".join(message.split())


def event_id(text: str) -> int | None:
    found = EVENT_ID.search(text)
    return int(next(g for g in found.groups() if g)) if found else None
