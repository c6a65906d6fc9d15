"""The `appraisal` CLI as operators meet it, on the real stack: every failure is one line on
stderr (`refused:` exit 1, `error:` exit 3), never a traceback; --json parses; lists are tables
with headers; every time people read is China time, labelled."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError

from schemas.clock import CHINA_TZ
from schemas.status import CaseStatus
from schemas.steps import Stage
from tests.helpers import example_json, new_id, wait_for
from tests.integration.conftest import ROOT, Stack

BIN = Path(sys.executable).parent
BEIJING = "北京时间"
CASE_NUMBER = re.compile(r"^JN-\d{4}-\d{6}$")


async def cli(
    stack: Stack, *args: str, stdin: str | None = None, **env: str
) -> tuple[int, str, str]:
    """`appraisal ARGS` with the stack's environment, overridden by `env`."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "appraisal"),
        *args,
        env={**os.environ, **stack.vars, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def ok(stack: Stack, *args: str, stdin: str | None = None) -> str:
    code, out, err = await cli(stack, *args, stdin=stdin)
    assert code == 0 and err == "", err
    return out


async def ok_json(stack: Stack, *args: str, stdin: str | None = None) -> Any:
    return json.loads(await ok(stack, *args, "--json", stdin=stdin))


async def failure(stack: Stack, prefix: str, *args: str, **env: str) -> str:
    """The one line a failing command prints; its exit code must match the prefix."""
    code, out, err = await cli(stack, *args, **env)
    assert "Traceback" not in err and out == "", (out, err)
    assert code == {"refused:": 1, "error:": 3}[prefix], (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prefix} "), err
    return lines[0]


async def test_unreachable_services_are_one_line_errors(stack: Stack, tmp_path: Path) -> None:
    line = await failure(stack, "error:", "status", "JN-X", TEMPORAL_ADDRESS="127.0.0.1:1")
    assert "cannot reach Temporal at 127.0.0.1:1" in line and "make run" in line
    line = await failure(stack, "error:", "list", TEMPORAL_ADDRESS="127.0.0.1:1")
    assert "cannot reach Temporal" in line

    unreachable = "postgresql://nobody@127.0.0.1:1/appraisal"
    line = await failure(stack, "error:", "number", DATABASE_URL=unreachable)
    assert line.startswith("error: cannot reach PostgreSQL (DATABASE_URL)")
    line = await failure(stack, "error:", "experts", "list", DATABASE_URL=unreachable)
    assert "cannot reach PostgreSQL" in line
    # Neither DATABASE_URL nor an embedded server in DATA_DIR: the message names the folder.
    line = await failure(
        stack, "error:", "document", "list", "JN-X", DATABASE_URL="", DATA_DIR=str(tmp_path)
    )
    assert f"no embedded PostgreSQL runs in {tmp_path / 'postgres'}" in line


async def test_wrong_requests_are_refused_in_one_line(stack: Stack, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-application.json"
    line = await failure(stack, "refused:", "start", str(missing))
    assert line == f"refused: cannot read {missing}: No such file or directory"
    line = await failure(stack, "refused:", "list", "--query", "CaseStage = ")
    assert "the query is not valid" in line
    line = await failure(stack, "refused:", "list", "--query", "NoSuchAttribute = 'x'")
    assert "the query is not valid" in line
    for command in (["status", "JN-NOPE-1"], ["attend", "JN-NOPE-1", "--identity-verified"]):
        assert await failure(stack, "refused:", *command) == "refused: no case JN-NOPE-1"
    line = await failure(stack, "refused:", "postal", "JN-NOPE-1", "--waybill", "x")
    assert line.startswith("refused: PostalEvent is not valid: waybill_no:")


async def test_status_of_a_case_that_failed_on_its_input(stack: Stack) -> None:
    application = example_json("initial_complete")
    application["worker"]["citizen_id"] = "370811198503120439"  # wrong check digit
    case_id = new_id("JN-BAD")
    await stack.ui_start(case_id, application)
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(stack.env.client.get_workflow_handle(case_id).result(), 30)
    for args in (["status", case_id], ["status", case_id, "--json"]):
        line = await failure(stack, "refused:", *args)
        assert line.startswith(f"refused: case {case_id} failed and has no status: ")
        assert "worker.citizen_id" in line and "校验位错误" in line
        assert "370811198503120439" not in line  # the message never repeats the input
    line = await failure(
        stack, "refused:", "opinion", case_id, "--expert", "E", "--verdict", "grade_7"
    )
    assert line == f"refused: case {case_id} is closed (failed): it takes no more events"


async def test_a_case_from_the_cli_in_json_tables_and_china_time(stack: Stack) -> None:
    first = await ok_json(stack, "number")
    second = await ok_json(stack, "number")
    assert CASE_NUMBER.match(first["case_id"]) and first["case_id"] < second["case_id"]
    application = json.dumps(example_json("initial_complete", fresh_worker=True))
    case_id = (await ok_json(stack, "start", "-", stdin=application))["case_id"]
    assert CASE_NUMBER.match(case_id) and case_id > second["case_id"]  # never a number taken
    handle = stack.env.client.get_workflow_handle(case_id)
    await wait_for(handle, lambda s: s.appointment is not None)

    # A walk-in now; the event id is the update id: a repeat gets the first answer.
    now = datetime.now(CHINA_TZ).replace(second=0, microsecond=0)
    schedule = ["schedule", case_id, "--at", now.isoformat(), "--event", new_id("walk-in")]
    booked = await ok_json(stack, *schedule, "--place", "鉴定大厅")
    assert booked["case_id"] == case_id and booked["answer"].startswith("booked ")
    assert await ok_json(stack, *schedule, "--place", "别处") == booked
    line = await failure(stack, "refused:", "attend", case_id)  # identity is checked on the day
    assert line == "refused: 到场须核验身份 (attended needs identity_verified: true)"
    correct = ["correct-address", case_id, "--recipient", "worker", "--reason", "地址有误"]
    address = ["--address", "山东省济宁市任城区红星中路1号", "--postal-code", "272000"]
    line = await failure(stack, "refused:", *correct, *address)
    assert line.startswith("refused: worker 的结论书未被拒收")  # no letter was refused

    text = await ok(stack, "status", case_id)
    assert f"appointment  {now:%Y-%m-%d %H:%M} {BEIJING}  鉴定大厅" in text
    entered = [line for line in text.splitlines() if "材料受理 acceptance" in line]
    assert len(entered) == 1 and re.search(rf"  \d{{4}}-\d\d-\d\d \d\d:\d\d {BEIJING}$", entered[0])
    assert re.search(rf"  conclusion +\d{{4}}-\d\d-\d\d +\d{{4}}-\d\d-\d\d 24:00 {BEIJING}", text)
    status = CaseStatus.model_validate_json(await ok(stack, "status", case_id, "--json"))
    assert status.stage is Stage.organizing and status.appointment is not None
    assert status.appointment.starts_at == now and status.appointment.place == "鉴定大厅"

    # Postal news about a waybill this system never sent is refused (issue #9).
    line = await failure(stack, "refused:", "postal", case_id, "--waybill", "EA000000000CN")
    assert line == (
        "refused: 运单 EA000000000CN 不是本系统寄出的结论书 "
        "(waybill EA000000000CN is not a letter this system sent)"
    )

    query = f"WorkflowId = '{case_id}' AND NextDeadline IS NOT NULL"

    async def listed() -> list[dict[str, Any]]:
        while True:  # visibility is eventually consistent
            rows: list[dict[str, Any]] = await ok_json(stack, "list", "--query", query)
            if rows:
                return rows
            await asyncio.sleep(0.2)

    (row,) = await asyncio.wait_for(listed(), 30)
    assert row["case_id"] == case_id and row["stage"] == "organizing" and not row["overdue"]
    assert datetime.fromisoformat(row["next_deadline"]).utcoffset() == CHINA_TZ.utcoffset(None)
    header, rule, cells, count = (await ok(stack, "list", "--query", query)).splitlines()
    assert re.split(r"  +", header) == [
        "case",
        "status",
        "type",
        "stage",
        "next deadline",
        "overdue",
        "green channel",
    ]
    assert set(rule) == {"-", " "} and count == "1 cases"
    *start, deadline, overdue, green = re.split(r"  +", cells)
    assert start == [case_id, "running", "initial", "组织鉴定 organizing"]
    assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d 24:00 {BEIJING}", deadline)
    assert (overdue, green) == ("no", "no")

    assert await ok_json(stack, "document", "list", case_id) == []
    experts = await ok_json(stack, "experts", "list")
    assert {"EXP-001", "EXP-002"} <= {e["expert_id"] for e in experts}
    shown = await ok_json(stack, "experts", "show", "EXP-001")
    assert shown["expert_id"] == "EXP-001" and isinstance(shown["conflicts"], list)
    due = await ok_json(stack, "calendar", "due", "2026-09-30", "--working-days", "5")
    assert due["due"] == "2026-10-13"

    await handle.terminate("test over")
    line = await failure(stack, "refused:", "attend", case_id, "--identity-verified")
    assert line == f"refused: case {case_id} is closed (terminated): it takes no more events"
