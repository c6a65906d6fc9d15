"""Case numbers on the real stack: one case per number, and numbers handed out by the CLI never
collide with numbers typed into the UI's Start Workflow form."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import asyncpg
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from schemas.clock import CHINA_TZ
from schemas.steps import Stage
from tests.helpers import example_json, wait_for
from tests.integration.conftest import Stack


async def test_a_number_typed_into_the_ui_is_never_handed_out_again(stack: Stack) -> None:
    code, out, err = await stack.appraisal("number")
    assert code == 0, err
    prefix, year, seq = out.strip().split("-")
    assert prefix == "JN" and int(year) == datetime.now(CHINA_TZ).year
    # A clerk types the following number into the UI by hand.
    typed = f"{prefix}-{year}-{int(seq) + 1:06d}"
    await stack.ui_start(typed, example_json("initial_complete", fresh_worker=True))
    handle = stack.env.client.get_workflow_handle(typed)
    await wait_for(handle, lambda s: s.stage is not Stage.acceptance)
    code, out, err = await stack.appraisal("number")
    assert code == 0, err
    assert out.strip() == f"{prefix}-{year}-{int(seq) + 2:06d}"
    await handle.terminate("test over")


async def test_the_ui_restarting_a_closed_number_is_refused(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    case_id = f"JN-UI-{uuid.uuid4().hex[:6]}"
    await stack.ui_start(case_id, example_json("re_appraisal_ineligible", fresh_worker=True))
    handle = stack.env.client.get_workflow_handle(case_id)
    await asyncio.wait_for(handle.result(), 30)  # refused and archived
    events = await db_pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", case_id)
    await stack.ui_start(case_id, example_json("illness", fresh_worker=True))
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(stack.env.client.get_workflow_handle(case_id).result(), 30)
    error = failed.value.cause
    assert isinstance(error, ApplicationError) and error.type == "CaseNumberTaken"
    assert case_id in error.message and "已归档" in error.message
    row = await db_pool.fetchrow("SELECT stage, case_type FROM cases WHERE case_id = $1", case_id)
    assert row["stage"] == "archived" and row["case_type"] == "re_appraisal"
    assert (
        await db_pool.fetchval("SELECT count(*) FROM case_events WHERE case_id = $1", case_id)
        == events
    )
