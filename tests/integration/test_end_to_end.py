"""A case started exactly as the Web UI starts one, moved through every stage with the
`appraisal` CLI, checked in PostgreSQL, the postal emulator and the worker's logs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.worker import Replayer

from infra.temporal import data_converter
from schemas.clock import CHINA_TZ
from schemas.status import CaseStatus
from schemas.steps import Stage
from schemas.vocabulary import CloseReason
from tests.helpers import example_json, wait_for, wait_for_stage
from tests.integration.conftest import Stack
from tests.integration.test_cli import cli
from tests.unit.test_documents import text_of
from workflows.case import AppraisalCase

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


async def cli_status(stack: Stack, case_id: str) -> CaseStatus:
    code, out, err = await stack.appraisal("status", case_id, "--json")
    assert code == 0, err
    return CaseStatus.model_validate_json(out)


async def test_case_through_every_stage_with_the_cli(
    stack: Stack, db_pool: asyncpg.Pool, postal_url: str, tmp_path: Path
) -> None:
    case_id = f"JN-IT-{uuid.uuid4().hex[:6]}"
    await stack.ui_start(case_id, example_json("initial_complete"))
    handle = stack.env.client.get_workflow_handle(case_id)
    booked = await wait_for(handle, lambda s: s.appointment is not None)
    assert booked.appointment and booked.appointment.session_id.startswith("ON_SITE-")
    # A walk-in: the office moves the appraisal to now (real time on this server).
    now = datetime.now(CHINA_TZ).isoformat()
    code, out, err = await stack.appraisal("schedule", case_id, "--at", now, "--place", "鉴定大厅")
    assert code == 0 and "booked" in out, err
    code, out, err = await stack.appraisal("attend", case_id)
    assert code == 1 and "identity_verified" in err  # identity is checked on the day
    code, out, err = await stack.appraisal("attend", case_id, "--identity-verified")
    assert code == 0, err
    await wait_for_stage(handle, Stage.conclusion)

    status = await cli_status(stack, case_id)
    assert status.stage is Stage.conclusion and status.panel is not None
    for member in status.panel.members:
        code, out, err = await stack.appraisal(
            "opinion", case_id, "--expert", member.expert_id, "--verdict", "grade_7"
        )
        assert code == 0, err
    code, out, err = await cli(
        stack, "conclude", case_id, "--verdict", "grade_7", APPRAISAL_ACTOR=""
    )
    assert code == 1 and "--actor" in err  # a named member decides, under their staff id
    conclude = ("conclude", case_id, "--actor", "C0201")
    code, out, err = await stack.appraisal(*conclude, "--verdict", "grade_7")
    assert code == 1 and "待面检组、总检组、复核组签署" in err  # the three layers first
    code, out, err = await stack.appraisal(
        "review", case_id, "--layer", "examination", "--signer", "孙立新"
    )
    # Under the operator's own id (APPRAISAL_ACTOR, a clerk): only the group's member signs.
    assert code == 1 and "W0101 的角色为经办人员" in err and "面检组 (examination)" in err
    for layer, staff, name in [
        ("examination", "S0101", "孙立新"),
        ("chief_examination", "S0102", "周海燕"),
        ("recheck", "S0103", "吴建华"),
    ]:
        code, out, err = await stack.appraisal(
            "review", case_id, "--layer", layer, "--actor", staff, "--signer", name
        )
        assert code == 0, err
    code, out, err = await stack.appraisal(*conclude, "--verdict", "grade_8")
    assert code == 1 and "多数意见为 七级" in err  # the committee must follow the panel majority
    code, out, err = await stack.appraisal(*conclude, "--verdict", "grade_7")
    assert code == 1 and "findings" in err  # the panel's findings go on the letter
    code, out, err = await stack.appraisal(
        *conclude,
        "--verdict",
        "grade_7",
        "--findings",
        "右膝关节活动度丧失约50%",
        "--clause",
        "5.7.2.10",
    )
    assert code == 0 and "七级" in out, err

    status = await wait_for(handle, lambda s: len(s.shipments) == 2)
    letter = tmp_path / "letter.pdf"
    code, out, err = await stack.appraisal("document", "get", case_id, "-o", str(letter))
    assert code == 0 and hashlib.sha256(letter.read_bytes()).hexdigest() in out, err
    printed = text_of(letter.read_bytes())
    assert "伤残七级" in printed and "第5.7.2.10条" in printed and "复核组吴建华" in printed
    async with httpx.AsyncClient(base_url=postal_url) as postal:
        for shipment in status.shipments:
            assert (await postal.get(f"/v1/shipments/{shipment.waybill_no}")).status_code == 200
    for shipment in status.shipments:
        code, out, err = await stack.appraisal(
            "postal",
            case_id,
            "--waybill",
            shipment.waybill_no,
            "--signer",
            "本人",
            "--at",
            "2026-11-20T10:30:00+08:00",
        )
        assert code == 0, err
    # Delivered: the dispute window runs (15 days of real time on this server); a party's
    # request in it is referred to the province, and the case archives with the referral.
    waiting = await wait_for_stage(handle, Stage.archiving)
    assert {d.delivered_on for d in waiting.deliveries} == {datetime.now(CHINA_TZ).date()}
    assert all(d.dispute_window_ends for d in waiting.deliveries)
    code, out, err = await stack.appraisal(
        "re-appraisal", case_id, "--by", "employer", "--reason", "认为伤残等级评定偏高"
    )
    assert code == 0 and f"{case_id}-SD" in out, err
    await asyncio.wait_for(handle.result(), 30)

    final = await cli_status(stack, case_id)
    assert final.stage is Stage.archived and final.closed is CloseReason.referred
    assert (
        f"re-appraisal referred to the province: {case_id}-SD"
        in (await stack.appraisal("status", case_id))[1]
    )

    async def linked() -> list[str]:
        while True:  # visibility is eventually consistent
            query = f"LinkedCase = '{case_id}'"
            if found := [wf.id async for wf in stack.env.client.list_workflows(query)]:
                return found
            await asyncio.sleep(0.2)

    # The provincial case, found by the city's number.
    assert await asyncio.wait_for(linked(), 30) == [f"{case_id}-SD"]
    await stack.env.client.get_workflow_handle(f"{case_id}-SD").terminate("test over")
    assert [s.stage for s in final.stages][:5] == list(Stage)[:5]
    row = await db_pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    assert (
        row["stage"] == "archived"
        and row["outcome"] == "grade_7"
        and row["outcome_label"] == "七级"
    )
    assert row["worker_ref"] != example_json("initial_complete")["worker"]["citizen_id"]
    events = await db_pool.fetch(
        "SELECT kind, actor FROM case_events WHERE case_id = $1 ORDER BY id", case_id
    )
    kinds = [e["kind"] for e in events]
    assert kinds.count("stage.entered") == 5 and kinds.count("opinion.recorded") == 3
    assert kinds.count("appointment.booked") == 2 and "attendance.attended" in kinds
    assert kinds.count("postal.delivered") == 2 and kinds[-1] == "case.archived"
    assert {e["actor"] for e in events if e["kind"] == "postal.delivered"} == {"W0101"}
    assert await db_pool.fetchval("SELECT count(*) FROM archives WHERE case_id = $1", case_id) == 1

    # Every worker log line about this case names it and its stage; no personal data leaks.
    about_case = [line for line in stack.worker_log if line.get("case_id") == case_id]
    assert about_case and all(line.get("stage") for line in about_case)
    text = json.dumps(stack.worker_log, ensure_ascii=False)
    worker = example_json("initial_complete")["worker"]
    assert (
        worker["citizen_id"] not in text
        and worker["name"] not in text
        and worker["mobile"] not in text
    )

    # The fresh history replays on the current code; RECORD_HISTORY=1 refreshes the stored one.
    history = await handle.fetch_history()
    await Replayer(workflows=[AppraisalCase], data_converter=data_converter()).replay_workflow(
        history
    )
    if os.environ.get("RECORD_HISTORY"):
        (HISTORIES / "v7").mkdir(exist_ok=True)
        (HISTORIES / "v7" / "happy_path.json").write_text(history.to_json(), encoding="utf-8")


async def test_wrong_check_digit_fails_the_workflow_at_once(stack: Stack) -> None:
    application = example_json("initial_complete")
    application["worker"]["citizen_id"] = "370811198503120439"
    case_id = f"JN-BAD-{uuid.uuid4().hex[:6]}"
    await stack.ui_start(case_id, application)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(stack.env.client.get_workflow_handle(case_id).result(), 10)
    message = str(failed.value.cause)
    assert "worker.citizen_id" in message and "校验位错误" in message


async def test_cli_start_numbers_cases_and_refuses_bad_input(stack: Stack) -> None:
    application = json.dumps(
        example_json("initial_complete", fresh_worker=True), ensure_ascii=False
    )
    code, out, err = await stack.appraisal("start", "-", stdin=application)
    assert code == 0, err
    case_id = out.strip()
    assert case_id.startswith("JN-2") and len(case_id) == len("JN-2026-000001")
    assert (await stack.env.client.get_workflow_handle(case_id).describe()).status is not None
    code, out, err = await stack.appraisal("start", "-", "--case-id", case_id, stdin=application)
    assert code == 1 and "already exists" in err
    broken = json.loads(application)
    broken["employer"]["credit_code"] = "91370811MA3C4K7T2D"
    code, out, err = await stack.appraisal("start", "-", stdin=json.dumps(broken))
    assert code == 1 and "employer.credit_code" in err and "校验位错误" in err
    code, out, err = await stack.appraisal("status", "JN-NOPE-1")
    assert code == 1 and "no case JN-NOPE-1" in err
    await stack.env.client.get_workflow_handle(case_id).terminate("test over")
