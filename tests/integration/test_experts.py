"""The draw activity against PostgreSQL, and `appraisal experts` run as a real subprocess.

Tests share one database per run (with the demo pool in it): every expert, case, worker and
employer here is new (uuid-based), and assertions look only at what the test created."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import sys
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from stdnum.cn import ric, uscc
from temporalio.testing import ActivityEnvironment

from activities.experts import Experts, verify_draw
from activities.storage import worker_ref
from schemas.application import Specialty
from schemas.identifiers import USCC_ALPHABET
from schemas.steps import ExclusionReason, Panel, PanelDrawRequest, Stage

ROOT = Path(__file__).resolve().parents[2]
KEY = "experts-test-key"
ON = date(2026, 12, 1)
_serial = itertools.count(random.randrange(1000))


def citizen_id() -> str:
    """A valid, fresh citizen ID (GB 11643-1999)."""
    body = f"370811{1960 + next(_serial) % 40}0312{next(_serial) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character


def credit_code() -> str:
    body = "91370811" + "".join(random.choices(USCC_ALPHABET, k=9))
    return body + uscc.calc_check_digit(body)


def prefix() -> str:
    return f"T{uuid.uuid4().hex[:6]}"


async def cli(database_url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from starter.experts_cli import app; app()",
        *args,
        env={**os.environ, "DATABASE_URL": database_url, "WORKER_REF_KEY": KEY},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def ok(database_url: str, *args: str) -> str:
    code, out, err = await cli(database_url, *args)
    assert code == 0, err
    return out


async def refused(database_url: str, *args: str) -> str:
    code, out, err = await cli(database_url, *args)
    assert code == 1, out + err
    assert err.startswith("refused: ") and len(err.strip().splitlines()) == 1, err
    return err


async def new_case(pool: asyncpg.Pool) -> str:
    case_id = f"JN-T-{uuid.uuid4().hex[:10]}"
    await pool.execute(
        """INSERT INTO cases (case_id, case_type, worker_ref, mode, jurisdiction, stage,
                              received_at)
           VALUES ($1, 'initial', $2, 'on_site', 'city', 'organizing', now())""",
        case_id,
        uuid.uuid4().hex,
    )
    return case_id


async def add_expert(
    pool: asyncpg.Pool, expert_id: str, hospital: str = "测试医院", active: bool = True
) -> None:
    await pool.execute(
        """INSERT INTO experts (expert_id, name, title, hospital, specialties, active,
                                term_start, term_end)
           VALUES ($1, $2, '主任医师', $3, ARRAY['stomatology'], $4, '2025-01-01', '2028-01-01')""",
        expert_id,
        f"医生{expert_id}",
        hospital,
        active,
    )


def draw_request(case_id: str, cid: str, code: str, **more: object) -> PanelDrawRequest:
    data: dict[str, object] = {
        "case_id": case_id,
        "stage": Stage.organizing,
        "specialties": [Specialty.stomatology],
        "size": 3,
        "seed": 20261201,
        "on": ON,
        "citizen_id": cid,
        "employer_credit_code": code,
        **more,
    }
    return PanelDrawRequest.model_validate(data)


async def run_draw(pool: asyncpg.Pool, request: PanelDrawRequest) -> Panel:
    panel: Panel = await ActivityEnvironment().run(Experts(pool, KEY).draw_panel, request)
    return panel


async def test_a_draw_is_stored_with_its_evidence_and_never_redrawn(db_pool: asyncpg.Pool) -> None:
    p, cid, code = prefix(), citizen_id(), credit_code()
    relative, at_hospital, on_leave, tied, *fine = [f"{p}-{n}" for n in range(8)]
    for expert_id in [relative, on_leave, tied, *fine]:
        await add_expert(db_pool, expert_id)
    await add_expert(db_pool, at_hospital, hospital=f"{p}医院")
    await db_pool.execute(
        "INSERT INTO expert_conflicts (expert_id, kind, subject) VALUES ($1, 'relative', $2),"
        " ($3, 'employer', $4)",
        relative,
        worker_ref(cid, KEY),
        tied,
        code,
    )
    await db_pool.execute(
        "INSERT INTO expert_leaves (expert_id, starts, ends, reason) VALUES ($1, $2, $2, '出差')",
        on_leave,
        ON,
    )
    case_id = await new_case(db_pool)
    request = draw_request(case_id, cid, code, treating_hospitals=[f"{p}医院"])

    panel = await run_draw(db_pool, request)

    mine = {x.expert_id: x for x in panel.exclusions if x.expert_id.startswith(p)}
    assert {k: (x.reason, x.detail) for k, x in mine.items()} == {
        relative: (ExclusionReason.relative, "系被鉴定职工近亲属"),
        at_hospital: (ExclusionReason.treating_hospital, f"任职于诊治医院 {p}医院"),
        on_leave: (ExclusionReason.on_leave, f"请假 {ON} 至 {ON}（出差）"),
        tied: (ExclusionReason.employer_tie, f"与用人单位 {code} 有利害关系"),
    }
    assert len(panel.members) == 3 and panel.short_by == 0 and panel.eligible >= len(fine)
    assert not {m.expert_id for m in panel.members} & set(mine)

    row = await db_pool.fetchrow(
        "SELECT * FROM panel_draws WHERE case_id = $1 AND attempt = 1", case_id
    )
    assert row is not None and row["seed"] == request.seed and verify_draw(row)
    snapshot = json.loads(row["snapshot"])
    assert {e["expert_id"] for e in snapshot} >= {relative, at_hospital, on_leave, tied, *fine}
    assert len(snapshot) == panel.pool_size
    [facts] = [e for e in snapshot if e["expert_id"] == relative]
    assert facts["conflicts"] == [{"kind": "relative", "subject": worker_ref(cid, KEY), "note": ""}]
    assert cid not in row["snapshot"] + row["criteria"]  # the worker only as a keyed hash
    assert [x["expert_id"] for x in json.loads(row["exclusions"])] == [
        x.expert_id for x in panel.exclusions
    ]

    # A retry (even one that would draw differently now) returns the stored panel.
    await add_expert(db_pool, f"{p}-late")
    again = await run_draw(db_pool, request.model_copy(update={"seed": 1}))
    assert again == panel
    assert (
        await db_pool.fetchval("SELECT count(*) FROM panel_draws WHERE case_id = $1", case_id) == 1
    )
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db_pool.execute("UPDATE panel_draws SET seed = 1 WHERE case_id = $1", case_id)

    # A redraw is a new attempt, drawn from the pool as it is now.
    second = await run_draw(db_pool, request.model_copy(update={"attempt": 2, "seed": 7}))
    assert second.attempt == 2 and second.pool_size == panel.pool_size + 1


async def test_shortage_is_stored_not_raised(db_pool: asyncpg.Pool) -> None:
    case_id = await new_case(db_pool)
    request = draw_request(
        case_id, citizen_id(), credit_code(), specialties=[Specialty.cardiology], size=5
    )
    panel = await run_draw(db_pool, request)
    assert panel.short_by == 5 - panel.eligible > 0 and panel.members == []
    row = await db_pool.fetchrow("SELECT * FROM panel_draws WHERE case_id = $1", case_id)
    assert row is not None and row["short_by"] == panel.short_by and verify_draw(row)


async def test_a_conflict_added_with_the_cli_excludes_the_expert(
    db_pool: asyncpg.Pool, database_url: str
) -> None:
    expert_id, cid, code = f"{prefix()}-rel", citizen_id(), credit_code()
    await ok(
        database_url,
        "add",
        expert_id,
        "--name",
        "周测试",
        "--title",
        "主任医师",
        "--hospital",
        "济宁医学院附属医院",
        "--specialty",
        "stomatology",
        "--term-start",
        "2025-01-01",
        "--term-end",
        "2028-01-01",
    )
    out = await ok(database_url, "conflict", expert_id, "--relative-of", cid, "--note", "表兄弟")
    assert "conflict recorded" in out and cid not in out
    stored = await db_pool.fetchrow(
        "SELECT kind, subject FROM expert_conflicts WHERE expert_id = $1", expert_id
    )
    assert stored is not None and dict(stored) == {
        "kind": "relative",
        "subject": worker_ref(cid, KEY),
    }

    panel = await run_draw(db_pool, draw_request(await new_case(db_pool), cid, code))
    [excluded] = [x for x in panel.exclusions if x.expert_id == expert_id]
    assert excluded.reason is ExclusionReason.relative
    assert excluded.detail == "系被鉴定职工近亲属（表兄弟）"

    # The same expert is drawable for any other worker.
    other = await run_draw(db_pool, draw_request(await new_case(db_pool), citizen_id(), code))
    assert expert_id not in {x.expert_id for x in other.exclusions}


async def test_pool_management_with_the_cli(db_pool: asyncpg.Pool, database_url: str) -> None:
    p = prefix()
    expert_id = f"{p}-1"
    add = [
        "add",
        expert_id,
        "--name",
        "吴测试",
        "--title",
        "副主任医师",
        "--hospital",
        "济宁市第二人民医院",
        "--specialty",
        "psychiatry",
        "--specialty",
        "neurology",
        "--term-start",
        "2025-01-01",
        "--term-end",
        "2028-01-01",
    ]
    assert f"added {expert_id}" in await ok(database_url, *add)
    assert "already exists" in await refused(database_url, *add)
    assert "specialties" in await refused(
        database_url, *add[:-8], "--specialty", "magic", *add[-6:]
    )
    assert "早于开始" in await refused(database_url, *add[:-1], "2024-01-01")

    out = await ok(
        database_url,
        "update",
        expert_id,
        "--title",
        "主任医师",
        "--add-specialty",
        "rehabilitation",
        "--remove-specialty",
        "neurology",
        "--term-end",
        "2029-06-30",
    )
    assert "主任医师" in out and "psychiatry,rehabilitation" in out and "2029-06-30" in out
    assert "nothing to change" in await refused(database_url, "update", expert_id)
    assert "no expert" in await refused(database_url, "update", f"{p}-none", "--inactive")

    listed = await ok(database_url, "list", "--specialty", "rehabilitation")
    assert expert_id in listed
    assert expert_id not in await ok(database_url, "list", "--specialty", "neurology")
    await ok(database_url, "update", expert_id, "--inactive")
    assert expert_id not in await ok(database_url, "list", "--specialty", "rehabilitation")
    assert expert_id in await ok(database_url, "list", "--specialty", "rehabilitation", "--all")
    await ok(database_url, "update", expert_id, "--active")

    out = await ok(
        database_url,
        "leave",
        expert_id,
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-05",
        "--reason",
        "学术会议",
    )
    assert "leave recorded" in out
    assert "早于开始" in await refused(
        database_url,
        "leave",
        expert_id,
        "--from",
        "2026-12-05",
        "--to",
        "2026-12-01",
        "--reason",
        "会议",
    )

    bad_id = "370811198503120439"  # wrong check digit
    assert "校验位" in await refused(database_url, "conflict", expert_id, "--relative-of", bad_id)
    assert "只给一项" in await refused(
        database_url,
        "conflict",
        expert_id,
        "--relative-of",
        citizen_id(),
        "--employer",
        credit_code(),
    )
    assert "--note" in await refused(
        database_url, "conflict", expert_id, "--declared-worker", citizen_id()
    )
    code = credit_code()
    await ok(database_url, "conflict", expert_id, "--employer", code)
    assert "already recorded" in await ok(database_url, "conflict", expert_id, "--employer", code)
    await ok(
        database_url, "conflict", expert_id, "--declared-worker", citizen_id(), "--note", "曾会诊"
    )

    # Evaluations: only for a case the expert sat on; the latest per evaluator counts.
    case_id = await new_case(db_pool)
    panel = await run_draw(db_pool, draw_request(case_id, citizen_id(), credit_code()))
    member = panel.members[0].expert_id
    evaluate = ["evaluate", member, "--case", case_id, "--evaluator", f"{p}-clerk"]
    await ok(database_url, *evaluate, "--score", "3", "--comment", "意见简略")
    await ok(database_url, *evaluate, "--score", "4", "--comment", "补充了依据")
    assert "not drawn" in await refused(
        database_url, "evaluate", expert_id, "--case", case_id, "--score", "5", "--evaluator", "x"
    )
    assert "score" in await refused(database_url, *evaluate, "--score", "6")
    assert "score" in await refused(database_url, *evaluate, "--score", "good")
    current = await ok(database_url, "evaluations", member)
    (row,) = [line for line in current.splitlines() if line.startswith(case_id)]
    assert re.split(r"  +", row)[:4] == [case_id, "4", f"{p}-clerk", "补充了依据"]
    assert row.endswith(" 北京时间") and "意见简略" not in current
    history = await ok(database_url, "evaluations", member, "--history")
    assert "意见简略" in history and "补充了依据" in history

    shown = await ok(database_url, "show", expert_id)
    assert "2026-12-01 ~ 2026-12-05  学术会议" in shown
    assert code in shown and "worker#" in shown and "曾会诊" in shown
    assert "evaluations: 0" in shown
    assert "evaluations: 1, mean 4" in await ok(database_url, "show", member)
    assert "no expert" in await refused(database_url, "show", f"{p}-none")
