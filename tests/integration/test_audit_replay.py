"""`appraisal audit replay` on the dev server (the time-skipping server has no visibility
queries): closed cases replay cleanly on the current code; a case run by other code under the
name AppraisalCase (what a deploy that broke determinism looks like) is named, exit 6."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.worker import Worker

from schemas.clock import CHINA_TZ
from starter.audit_cli import visibility_query
from tests.helpers import example_json
from tests.integration.conftest import Stack


@workflow.defn(name="AppraisalCase", sandboxed=False)
class OtherCode:
    """Not the current workflow code: a timer where the case first loads its policy."""

    @workflow.run
    async def run(self, application: dict[str, Any]) -> str:
        await workflow.sleep(0.01)
        return "not a case"


async def listed(client: Client, query: str, ids: set[str]) -> None:
    """Visibility lags a closed workflow a little: wait until the query finds every id."""
    async with asyncio.timeout(30):
        while True:
            if ids <= {w.id async for w in client.list_workflows(query)}:
                return
            await asyncio.sleep(0.2)


async def test_audit_replay_replays_closed_cases_and_names_the_one_that_diverges(
    stack: Stack,
) -> None:
    client = stack.env.client
    today = datetime.now(CHINA_TZ).date()
    query = visibility_query(today, running=False)
    refused = []
    for _ in range(2):  # refused at once: closed within a second on real time
        application = json.dumps(example_json("re_appraisal_ineligible", fresh_worker=True))
        code, out, err = await stack.appraisal("start", "-", stdin=application)
        assert code == 0, err
        refused.append(out.strip())
    for case_id in refused:
        await client.get_workflow_handle(case_id).result()
    await listed(client, query, set(refused))

    code, out, err = await stack.appraisal(
        "audit", "replay", "--since", today.isoformat(), "--json"
    )
    assert code == 0, (out, err)
    clean = json.loads(out)
    assert clean["replayed"] >= 2 and clean["diverged"] == [] and clean["query"] == query

    other = f"JN-OTHER-{uuid.uuid4().hex[:6]}"
    async with Worker(client, task_queue="audit-other-code", workflows=[OtherCode]):
        await client.execute_workflow(
            "AppraisalCase",
            example_json("initial_complete"),
            id=other,
            task_queue="audit-other-code",
        )
    try:
        await listed(client, query, {other})
        code, out, err = await stack.appraisal("audit", "replay", "--since", today.isoformat())
        assert code == 6, (out, err)
        assert f"{clean['replayed'] + 1} cases on the current workflow code" in out
        assert "1 不一致 (DIVERGED)" in out and f"  {other} (run " in out
        assert "Nondeterminism" in out
        code, out, _ = await stack.appraisal("audit", "replay", "--all", "--json")
        assert code == 6 and [d["case_id"] for d in json.loads(out)["diverged"]] == [other]
    finally:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=other)
            )
        )
    code, _, err = await stack.appraisal("audit", "replay")
    assert code == 1 and "give --since YYYY-MM-DD or --all" in err
    code, _, err = await stack.appraisal("audit", "replay", "--since", "yesterday")
    assert code == 1 and "not a date" in err
