"""Recusal (回避) and senior titles from the `appraisal` CLI on the real stack: a party's
request redraws one seat, a staff member declares a conflict, an expert without a senior title
is refused at the door."""

from __future__ import annotations

import json
import re
import uuid

import asyncpg

from activities.storage import worker_ref
from infra.settings import Settings
from tests.helpers import example_json, random_credit_code, wait_for
from tests.integration.conftest import Stack
from tests.integration.test_cli import failure, ok, ok_json


async def test_a_party_recusal_from_the_cli_redraws_one_seat(stack: Stack) -> None:
    application = json.dumps(example_json("initial_complete", fresh_worker=True))
    case_id = (await ok_json(stack, "start", "-", stdin=application))["case_id"]
    handle = stack.env.client.get_workflow_handle(case_id)
    status = await wait_for(handle, lambda s: s.panel is not None and s.appointment is not None)
    assert status.panel is not None
    before = [m.expert_id for m in status.panel.members]
    leaving, staying = before[0], before[1:]

    recuse = ["recuse", case_id, "--expert", leaving, "--by", "employer"]
    answer = await ok_json(stack, *recuse, "--reason", "该专家曾任本单位顾问")
    assert answer["answer"].startswith(f"用人单位申请 {leaving} 回避, 已准许")
    after = await ok_json(stack, "status", case_id)
    members = [m["expert_id"] for m in after["panel"]["members"]]
    assert members[:-1] == staying and leaving not in members and len(members) == len(before)
    assert after["recusals"] == [
        {"expert_id": leaving, "requested_by": "employer", "reason": "该专家曾任本单位顾问"}
    ]
    text = await ok(stack, "status", case_id)
    assert re.search(rf"{leaving} +recused +用人单位申请回避: 该专家曾任本单位顾问", text)

    line = await failure(stack, "refused:", *recuse, "--reason", "再次申请")
    assert line.startswith(f"refused: 专家 {leaving} 不是本案专家组成员")
    await handle.terminate("test over")


async def test_staff_conflicts_and_senior_titles_from_the_cli(
    stack: Stack, db_pool: asyncpg.Pool
) -> None:
    worker = example_json("initial_complete", fresh_worker=True)["worker"]["citizen_id"]
    staff = f"clerk-{uuid.uuid4().hex[:6]}"
    out = await ok(stack, "staff", "conflict", staff, "--worker", worker, "--note", "配偶")
    assert out.startswith(f"conflict recorded: {staff} worker worker#") and worker not in out
    again = await ok(stack, "staff", "conflict", staff, "--worker", worker, "--note", "配偶")
    assert again.startswith("conflict already recorded")
    employer = random_credit_code()
    await ok(stack, "staff", "conflict", staff, "--employer", employer, "--note", "顾问")
    line = await failure(stack, "refused:", "staff", "conflict", staff, "--note", "配偶")
    assert "--worker 或 --employer" in line
    stored = await db_pool.fetch(
        "SELECT kind, subject FROM staff_conflicts WHERE staff_id = $1 ORDER BY id", staff
    )
    key = Settings().worker_ref_key
    assert [tuple(r) for r in stored] == [
        ("worker", worker_ref(worker, key)),
        ("employer", employer),
    ]
    listed = await ok_json(stack, "staff", "conflicts", staff)
    assert [c["note"] for c in listed] == ["配偶", "顾问"]

    expert_id = f"T{uuid.uuid4().hex[:6]}"
    add = ["experts", "add", expert_id, "--name", "孙测试", "--hospital", "济宁市第一人民医院"]
    add += ["--specialty", "orthopedics", "--term-start", "2026-01-01", "--term-end", "2028-12-31"]
    line = await failure(stack, "refused:", *add, "--title", "主治医师")
    assert "title: 职称 主治医师 不是高级职称" in line and "第二十四条" in line
    assert f"added {expert_id}" in await ok(stack, *add, "--title", "主任技师")
    line = await failure(stack, "refused:", "experts", "update", expert_id, "--title", "住院医师")
    assert "不是高级职称" in line
    await db_pool.execute("UPDATE experts SET title = '主治医师' WHERE expert_id = $1", expert_id)
    shown = await ok_json(stack, "experts", "show", expert_id)
    assert shown["state"] == "active, not a senior title"
