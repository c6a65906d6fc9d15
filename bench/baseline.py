"""The baselines: one generic workflow that performs a script of Temporal operations with
no-op activities, and its worker (`python -m bench.baseline`, a process of its own so its CPU
and memory are measured like the case worker's).

A script is a list of operations in history order (bench/script.py derives one from a real
case's history; bench/minimal.py holds the minimal one). Operations of one workflow task run
together (`task` numbers), as the case issued them together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.workflow import ParentClosePolicy

WORKFLOW = "BenchScript"
CHILD = "BenchChild"

Op = dict[str, Any]


@activity.defn(name="bench_noop")
async def noop(padding: str, result_size: int) -> str:
    """Does nothing; takes and returns payloads as large as the case's activity did."""
    return "x" * result_size


@activity.defn(name="bench_local_noop")
async def local_noop(padding: str, result_size: int) -> str:
    return "x" * result_size


@workflow.defn(name=CHILD)
class BenchChild:
    """Stands for the provincial referral: waits, as it does, until the bench ends it."""

    @workflow.run
    async def run(self, padding: str) -> None:
        await workflow.wait_condition(lambda: False)


def _update(name: str, kind: str, value: Any) -> SearchAttributeUpdate[Any]:
    keys: dict[str, Callable[[str], SearchAttributeKey[Any]]] = {
        "Keyword": SearchAttributeKey.for_keyword,
        "Bool": SearchAttributeKey.for_bool,
        "Datetime": SearchAttributeKey.for_datetime,
        "Text": SearchAttributeKey.for_text,
        "Int": SearchAttributeKey.for_int,
        "KeywordList": SearchAttributeKey.for_keyword_list,
    }
    key = keys[kind](name)
    if value is None:
        return key.value_unset()
    if kind == "Datetime":
        value = datetime.fromisoformat(value)
    return key.value_set(value)


@workflow.defn(name=WORKFLOW)
class BenchScript:
    """Runs its script. The driver sends updates and signals in the script's order: an update
    is taken when the script reaches it and answered when the script reaches its answer."""

    def __init__(self) -> None:
        self.waiting = -1  # the update the script waits for (-1: none yet)
        self.arrived: set[int] = set()
        self.answered: set[int] = set()
        self.signals = 0
        self.timers: dict[str, asyncio.Task[None]] = {}

    @workflow.run
    async def run(self, ops: list[Op], padding: str) -> int:
        i = 0
        while i < len(ops):
            group = [ops[i]]
            while (
                i + len(group) < len(ops)
                and ops[i].get("task") is not None
                and ops[i + len(group)].get("task") == ops[i].get("task")
                and ops[i + len(group)]["op"] in ("activity", "child")
                and group[-1]["op"] in ("activity", "child")
            ):
                group.append(ops[i + len(group)])
            if len(group) > 1:  # issued together in one workflow task
                await asyncio.gather(*(self.perform(op) for op in group))
            else:
                await self.perform(ops[i])
            i += len(group)
        for timer in self.timers.values():
            timer.cancel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return len(ops)

    async def perform(self, op: Op) -> None:
        kind = op["op"]
        if kind == "activity":
            await workflow.execute_activity(
                noop,
                args=["x" * op.get("input", 0), op.get("result", 0)],
                start_to_close_timeout=timedelta(seconds=30),
            )
        elif kind == "local":
            for _ in range(op.get("count", 1)):
                await workflow.execute_local_activity(
                    local_noop,
                    args=["x" * op.get("input", 0), op.get("result", 0)],
                    start_to_close_timeout=timedelta(seconds=30),
                )
        elif kind == "timer":
            seconds = float(op["seconds"])
            self.timers[op["id"]] = asyncio.create_task(workflow.sleep(seconds))
        elif kind == "cancel":
            self.timers.pop(op["id"]).cancel()
        elif kind == "fired":
            await self.timers.pop(op["id"])
        elif kind == "upsert":
            updates = [_update(name, t, v) for name, (t, v) in op["attributes"].items()]
            workflow.upsert_search_attributes(updates)
        elif kind == "patch":
            workflow.patched(op["id"])
        elif kind == "update":
            n = op["n"]
            self.waiting = n
            await workflow.wait_condition(lambda: n in self.arrived)
        elif kind == "answer":
            self.answered.add(op["n"])
        elif kind == "signal":
            n = op["n"]
            await workflow.wait_condition(lambda: self.signals > n)
        elif kind == "child":
            await workflow.start_child_workflow(
                BenchChild.run,
                "x" * op.get("input", 0),
                id=f"{workflow.info().workflow_id}-SD",
                parent_close_policy=ParentClosePolicy.ABANDON,
            )
        else:  # a script is data the bench wrote: an unknown operation is a bug here
            raise ValueError(f"unknown operation {kind!r}")

    @workflow.update(name="step")
    async def step(self, n: int, padding: str) -> str:
        """Update number `n` of the script: taken when the script waits for it, answered when
        the script reaches its answer (what the case's handler did in between is in the
        script)."""
        await workflow.wait_condition(lambda: self.waiting == n)
        self.arrived.add(n)
        await workflow.wait_condition(lambda: n in self.answered)
        return "x" * 40

    @workflow.query(name="waiting")
    def at_update(self) -> int:
        """The update the script waits for: the driver sends it then, as it sends ours once
        the case's status shows the step open."""
        return self.waiting

    @workflow.signal(name="event")
    def event(self, padding: str) -> None:
        self.signals += 1


async def main() -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from bench.stack import BASELINE_QUEUE
    from infra.settings import settings

    config = settings()
    client = await Client.connect(config.temporal_address)
    async with Worker(
        client,
        task_queue=BASELINE_QUEUE,
        workflows=[BenchScript, BenchChild],
        activities=[noop, local_noop],
    ):
        await asyncio.Event().wait()


if __name__ == "__main__":
    from infra.process import run_and_exit

    run_and_exit(lambda: asyncio.run(main()))
