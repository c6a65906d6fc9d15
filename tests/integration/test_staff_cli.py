"""The staff roster from the `appraisal` CLI on the real stack: a member is added with roles,
acts on a case under their id, is retired, and is refused from then on; free-text actors
are refused, and so is a command without one."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import asyncpg

from schemas.clock import CHINA_TZ
from tests.helpers import example_json, wait_for
from tests.integration.conftest import Stack
from tests.integration.test_cli import cli, failure, ok, ok_json


async def test_the_roster_from_the_cli_and_a_retired_member_refused(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    listed = {m["staff_id"]: m for m in await ok_json(stack, "staff", "list")}
    assert listed["S0101"]["name"] == "孙立新" and listed["S0101"]["roles"] == ["examination"]
    assert {"W0101", "S0102", "S0103", "C0201", "D0101"} <= set(listed)

    member = f"W9{uuid.uuid4().hex[:5].upper()}"
    add = ["staff", "add", member, "--name", "测试经办人", "--role", "clerk"]
    out = await ok(stack, *add, "--role", "supervisor")
    assert out.startswith(f"added {member} 测试经办人: clerk, supervisor")
    line = await failure(stack, "refused:", *add)
    assert "already on the roster" in line
    line = await failure(
        stack, "refused:", "staff", "add", "clerk-1", "--name", "x", "--role", "clerk"
    )
    assert "staff_id" in line
    assert member in await ok(stack, "staff", "list")

    application = json.dumps(example_json("initial_complete", fresh_worker=True))
    case_id = (await ok_json(stack, "start", "-", stdin=application))["case_id"]
    handle = stack.env.client.get_workflow_handle(case_id)
    await wait_for(handle, lambda s: s.appointment is not None)
    now = datetime.now(CHINA_TZ).isoformat()
    schedule = ["schedule", case_id, "--at", now, "--place", "鉴定大厅"]
    assert "booked" in await ok(stack, *schedule, "--actor", member)

    assert f"retired {member} 测试经办人" in await ok(stack, "staff", "retire", member)
    line = await failure(stack, "refused:", "staff", "retire", member)
    assert "already retired" in line
    line = await failure(stack, "refused:", "staff", "retire", "X0000")
    assert "not on the roster" in line
    assert member not in await ok(stack, "staff", "list")
    retired = {m["staff_id"]: m for m in await ok_json(stack, "staff", "list", "--retired")}
    assert retired[member]["active"] is False and retired[member]["retired_at"]

    line = await failure(stack, "refused:", *schedule, "--actor", member)
    assert f"{member} 已离任" in line and "经办人员 (clerk)" in line
    line = await failure(stack, "refused:", *schedule, "--actor", "clerk")
    assert "clerk 不在工作人员名册中" in line
    code, out, err = await cli(stack, *schedule, APPRAISAL_ACTOR="")
    assert code == 1 and "--actor" in err and "APPRAISAL_ACTOR" in err
    assert "booked" in await ok(stack, *schedule)  # under APPRAISAL_ACTOR (W0101)

    refused = await db_pool.fetch(
        """SELECT actor FROM case_events WHERE case_id = $1 AND kind = 'request.refused'
           ORDER BY seq""",
        case_id,
    )
    assert [r["actor"] for r in refused] == [member, "clerk"]
    await handle.terminate("test over")
