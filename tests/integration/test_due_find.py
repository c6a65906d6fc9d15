"""`appraisal due` (the work queue across open cases) and `appraisal find` (a worker's cases)
through the CLI as a subprocess, against the real stack: cases in different states, the
queue's order, filters and roles in China time; a worker found by citizen ID without the
number ever appearing in the output."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from schemas.clock import CHINA_TZ
from schemas.status import CaseStatus
from schemas.steps import Stage
from tests.helpers import Driver, example_json, random_citizen_id, wait_for, wait_for_stage
from tests.integration.conftest import Stack
from tests.integration.test_cli import BEIJING, failure, ok, ok_json
from workflows.rules import add_years

Rows = list[dict[str, Any]]


async def start(stack: Stack, application: dict[str, Any]) -> str:
    started = await ok_json(stack, "start", "-", stdin=json.dumps(application, ensure_ascii=False))
    return str(started["case_id"])


async def queue(stack: Stack, until: Callable[[Rows], bool], *filters: str) -> Rows:
    """`due --json` once it shows what `until` wants: visibility is eventually consistent."""

    async def poll() -> Rows:
        while True:
            rows: Rows = await ok_json(stack, "due", *filters)
            if until(rows):
                return rows
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(poll(), 90)  # each run asks every open case of the suite


def ids(rows: Rows) -> set[str]:
    return {row["case_id"] for row in rows}


def due_at(row: dict[str, Any]) -> datetime:
    at = datetime.fromisoformat(row["due_at"])
    assert at.utcoffset() == timedelta(hours=8)  # China time
    return at


async def test_due_lists_what_open_cases_wait_for_soonest_first(stack: Stack) -> None:
    late = example_json("initial_incomplete", fresh_worker=True)
    # Received 40 days ago: the supplement notice was due weeks ago, so its clock is overdue.
    late["received_on"] = (datetime.now(CHINA_TZ).date() - timedelta(days=40)).isoformat()
    overdue = await start(stack, late)
    attendance = await start(stack, example_json("initial_complete", fresh_worker=True))
    green = await start(stack, example_json("green_channel", fresh_worker=True))
    client = stack.env.client
    await wait_for(client.get_workflow_handle(overdue), lambda s: any(p.overdue for p in s.pending))
    booked = await wait_for(
        client.get_workflow_handle(attendance), lambda s: s.appointment is not None
    )
    assert booked.appointment is not None
    appointment = booked.appointment.starts_at
    await wait_for(
        client.get_workflow_handle(green), lambda s: s.stage is Stage.organizing and bool(s.pending)
    )
    mine = {overdue, attendance, green}

    rows = await queue(stack, lambda rows: mine <= ids(rows))
    dated = [due_at(row) for row in rows if row["due_at"]]
    assert dated == sorted(dated)  # soonest first
    assert all(row["due_at"] for row in rows[: len(dated)])  # undated ones last
    ours = [row for row in rows if row["case_id"] in mine]
    first = ours[0]
    assert first["case_id"] == overdue and first["overdue"] and first["stage"] == "acceptance"
    assert (first["waits_for"], first["clock"]) == ("clerk", "supplement_notice")
    assert first["action"].startswith("issue_supplement_notice listing: ")
    assert due_at(first) < datetime.now(CHINA_TZ)
    (booked_row,) = [row for row in ours if row["case_id"] == attendance]
    assert (booked_row["waits_for"], booked_row["clock"]) == ("clerk", "attendance")
    assert due_at(booked_row) == appointment and not booked_row["overdue"]
    assert booked_row["action"].startswith("record_attendance at ")
    assert {row["green_channel"] for row in ours if row["case_id"] == green} == {True}

    # The filters: each keeps the cases it names and drops the others.
    overdue_rows = await queue(stack, lambda rows: overdue in ids(rows), "--overdue")
    assert not {attendance, green} & ids(overdue_rows)
    assert all(row["overdue"] for row in overdue_rows if row["answered"])
    green_rows = await queue(stack, lambda rows: green in ids(rows), "--green")
    assert not {attendance, overdue} & ids(green_rows)
    assert all(row["green_channel"] for row in green_rows if row["answered"])
    clerk_rows = await queue(
        stack, lambda rows: overdue in ids(rows), "--stage", "acceptance", "--role", "clerk"
    )
    assert not {attendance, green} & ids(clerk_rows)
    assert {(r["stage"], r["waits_for"]) for r in clerk_rows if r["answered"]} == {
        ("acceptance", "clerk")
    }
    assert not mine & ids(await ok_json(stack, "due", "--role", "expert", "--role", "committee"))

    # As a clerk reads it: a table, due times in China time, labelled.
    text = await ok(stack, "due", "--stage", "organizing")
    header, *lines, count = text.splitlines()
    assert re.split(r"  +", header) == ["due", "overdue", "case", "stage", "waits for", "action"]
    (line,) = [line for line in lines if attendance in line]
    *cells, action = re.split(r"  +", line)
    at = f"{appointment:%Y-%m-%d %H:%M} {BEIJING}"
    assert cells == [at, "no", attendance, "组织鉴定 organizing", "clerk"]
    assert action.startswith(f"record_attendance at {at} ")
    assert re.fullmatch(r"\d+ actions in \d+ cases(; \d+ cases did not answer)?", count)
    text = await ok(stack, "due", "--overdue", "--stage", "acceptance")
    (line,) = [line for line in text.splitlines() if overdue in line]
    assert re.match(rf"\d{{4}}-\d\d-\d\d 24:00 {BEIJING}  yes +{overdue}", line)

    line = await failure(stack, "refused:", "due", "--role", "nobody")
    assert line.startswith("refused: roles.0: ") and "clerk" in line
    for case_id in mine:
        await client.get_workflow_handle(case_id).terminate("test over")


async def test_find_lists_a_workers_cases_by_citizen_id_never_showing_it(stack: Stack) -> None:
    citizen = random_citizen_id("19850612")
    earlier = example_json("initial_complete")
    earlier["worker"]["citizen_id"] = citizen
    concluded = await start(stack, earlier)
    handle = stack.env.client.get_workflow_handle(concluded)
    await wait_for(handle, lambda s: s.appointment is not None)
    # A walk-in now (real time on this server), then the conclusion and both letters signed.
    now = datetime.now(CHINA_TZ).isoformat()
    await ok(stack, "schedule", concluded, "--at", now, "--place", "鉴定大厅")
    case = Driver(stack.env, handle)
    await case.attend()
    await case.conclude()
    for shipment in (await case.posted()).shipments:
        await ok(stack, "postal", concluded, "--waybill", shipment.waybill_no, "--signer", "本人")
    waiting: CaseStatus = await wait_for_stage(handle, Stage.archiving)
    window_ends = max(d.dispute_window_ends for d in waiting.deliveries if d.dispute_window_ends)

    later = example_json("initial_complete")
    later["worker"]["citizen_id"] = citizen
    later["injury"]["occurred_on"] = "2026-05-02"  # another injury: not a duplicate
    current = await start(stack, later)
    await wait_for(
        stack.env.client.get_workflow_handle(current), lambda s: s.appointment is not None
    )

    async def found() -> dict[str, Any]:
        while True:  # the projection is written a step behind the case
            shown: dict[str, Any] = await ok_json(stack, "find", "--citizen-id", "-", stdin=citizen)
            if [c.get("re_appraisal") for c in shown["cases"]][:1] == ["open"]:
                return shown
            await asyncio.sleep(0.2)

    shown = await asyncio.wait_for(found(), 30)
    today = datetime.now(CHINA_TZ).date()
    assert re.fullmatch(r"worker#[0-9a-f]{12}", shown["worker"])
    first, second = shown["cases"]
    assert (first["case_id"], second["case_id"]) == (concluded, current)  # oldest first
    assert first["concluded_on"] == today.isoformat() and first["outcome"] == "八级"
    assert first["open"] and first["stage"] == "archiving"
    assert first["review_from"] == add_years(today, 1).isoformat()
    assert not first["review_open"] and first["re_appraisal_open"]
    assert first["re_appraisal_ends"] == window_ends.isoformat()  # as the case counted it
    assert second["concluded_on"] is None and second["stage"] == "organizing"
    assert second["received_on"] == second["accepted_on"] == today.isoformat()
    assert second["re_appraisal"] is None and second["review_from"] is None
    # By a case number: the same worker's cases.
    assert await ok_json(stack, "find", "--case", current) == shown

    text = await ok(stack, "find", "--citizen-id", citizen)
    head, header, _, *lines = text.splitlines()
    assert head == f"{shown['worker']}: 2 cases, oldest first; dates in {BEIJING}"
    assert header.split()[:8] == [
        "case", "type", "stage", "received", "accepted", "concluded", "outcome", "open"
    ]  # fmt: skip
    assert lines[0].startswith(concluded) and f"open, ends {window_ends} 24:00" in lines[0]
    assert lines[1].startswith(current) and "组织鉴定 organizing" in lines[1]
    assert citizen not in text + json.dumps(shown)

    wrong = citizen[:-1] + ("1" if citizen[-1] != "1" else "2")  # a wrong check digit
    line = await failure(stack, "refused:", "find", "--citizen-id", wrong)
    assert line.startswith("refused: citizen_id: ") and citizen[:-1] not in line
    assert await failure(stack, "refused:", "find", "--case", "JN-1999-999999") == (
        "refused: no case JN-1999-999999"
    )
    for case_id in (concluded, current):
        await stack.env.client.get_workflow_handle(case_id).terminate("test over")
