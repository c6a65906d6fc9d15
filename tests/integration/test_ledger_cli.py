"""`appraisal ledger` on the real stack: a hard question is added (idempotent by --key), listed
newest first with its due date and an overdue flag, shown with its dated steps (China time),
advanced one state at a time by the actor; every refusal is one line."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import asyncpg

from activities import ledger
from schemas.clock import CHINA_TZ
from tests.integration.conftest import Stack
from tests.integration.test_cli import BEIJING, cli, failure, ok, ok_json
from tests.integration.test_notifications import registered

QUESTION = "来电询问结论书何时寄到, 地址: 任城区红星中路1号"


async def test_the_ledger_from_the_cli(stack: Stack, db_pool: asyncpg.Pool) -> None:
    case_id = await registered(db_pool)
    key = f"k-{uuid.uuid4().hex[:8]}"
    add = ["ledger", "add", "--source", "12345", "--category", "delivery"]
    add += ["--question", QUESTION, "--owner", "W0102", "--case", case_id, "--key", key]
    out = await ok(stack, *add)
    found = re.fullmatch(
        r"added ledger entry (\d+): 12345 delivery \(结论送达\), owner W0102, state before\n", out
    )
    assert found, out
    entry_id = found[1]
    assert await ok(stack, *add) == out.replace("added", "already added")
    line = await failure(stack, "refused:", *add[:-1], f"{key}x", "--owner", "S0101X")
    assert "S0101X" in line and "not on the roster" in line

    # Refusals, one line each, the question never repeated.
    base = ["ledger", "add", "--category", "other", "--question", "问题", "--owner", "W0101"]
    for args, said in (
        (["--source", "fax"], "source"),
        (["--source", "window", "--case", "JN-NO-SUCH-7"], "no case JN-NO-SUCH-7"),
        (["--source", "window", "--follow-up-due", "2020-01-01"], "in the past"),
        (["--source", "window", "--follow-up-due", "tomorrow"], "follow_up_due"),
    ):
        line = await failure(stack, "refused:", *base, *args)
        assert said in line and QUESTION not in line, line
    line = await failure(stack, "refused:", *base, "--source", "window", APPRAISAL_ACTOR="")
    assert "--actor" in line
    line = await failure(stack, "refused:", *base, "--source", "window", "--actor", "N0BODY")
    assert "actor N0BODY is not on the roster" in line
    line = await failure(stack, "refused:", *base, "--source", "window", "--key", key)
    assert "was used for another entry" in line

    # Advance: one state at a time, by the actor; a follow-up needs its due date.
    advance = ["ledger", "advance", entry_id, "--note"]
    line = await failure(stack, "refused:", *advance, "已回访", "--to", "after")
    assert line.endswith("(before → after skips during: advance to during first)")
    out = await ok(stack, *advance, "已解释邮寄与签收流程", "--to", "during", "--event", key)
    assert out == f"advanced ledger entry {entry_id} to during (事中 explanation)\n"
    again = ["--to", "during", "--event", key]
    assert (await ok(stack, *advance, "已解释邮寄与签收流程", *again)).startswith("already")
    line = await failure(stack, "refused:", *advance, "x" * 3, "--to", "before")
    assert "cannot go back from during to before" in line
    line = await failure(stack, "refused:", *advance, "待回访", "--to", "after")
    assert "give --follow-up-due" in line
    line = await failure(stack, "refused:", *advance, "已回访", "--to", "closed")
    assert "skips after" in line
    line = await failure(stack, "refused:", *advance, "待回访", "--to", "later")
    assert line.startswith("refused: Advance is not valid: to:")
    due = datetime.now(CHINA_TZ).date() + timedelta(days=2)
    code, out, err = await cli(
        stack,
        *advance,
        "约定回访",
        "--to",
        "after",
        "--follow-up-due",
        str(due),
        APPRAISAL_ACTOR="S0101",
    )
    assert (code, err) == (0, ""), err
    assert out.endswith(f"to after (事后 follow-up), follow-up due {due} 24:00 北京时间\n")
    line = await failure(
        stack, "refused:", "ledger", "advance", "999999999", "--to", "during", "--note", "xx"
    )
    assert line == "refused: 台账中没有 999999999 (no ledger entry 999999999)"

    # Show: the entry and its steps, dated in China time; the question for those who work it.
    text = await ok(stack, "ledger", "show", entry_id)
    assert f"ledger entry {entry_id}: after (事后 follow-up)" in text and QUESTION in text
    assert f"follow-up:  {due} 24:00 {BEIJING}" in text and "OVERDUE" not in text
    steps = text.split("steps:\n")[1].splitlines()
    assert re.split(r"  +", steps[0]) == ["at", "step", "state", "by", "note"]
    assert [re.split(r"  +", s)[1:4] for s in steps[2:]] == [
        ["recorded", "before", "W0101"],
        ["advanced", "before → during", "W0101"],
        ["advanced", "during → after", "S0101"],
    ]
    assert all(re.match(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d {BEIJING}  ", s) for s in steps[2:])
    shown = await ok_json(stack, "ledger", "show", entry_id)
    assert shown["question"] == QUESTION and shown["steps"][-1]["actor"] == "S0101"
    assert shown["created_at"].endswith("+08:00") and shown["follow_up_due"] == str(due)

    # List: newest first, filtered; the overdue flag once the due day has passed.
    newer = await ok_json(stack, *base, "--source", "window", "--case", case_id)
    listed = await ok_json(stack, "ledger", "list", "--case", case_id)
    assert [e["id"] for e in listed] == [newer["id"], int(entry_id)]
    assert "question" in listed[0] and "steps" not in listed[0]
    assert [
        e["id"]
        for e in await ok_json(stack, "ledger", "list", "--case", case_id, "--state", "after")
    ] == [int(entry_id)]
    header, _, *rows = (await ok(stack, "ledger", "list", "--case", case_id)).splitlines()
    assert re.split(r"  +", header) == [
        "id",
        "received",
        "source",
        "category",
        "state",
        "owner",
        "case",
        f"follow-up due ({BEIJING})",
        "overdue",
    ]
    assert re.split(r"  +", rows[1])[2:] == [
        "12345",
        "delivery",
        "after",
        "W0102",
        case_id,
        f"{due} 24:00",
    ]
    # Once its due day has passed, the worker's sweep (here, run directly) escalates it.
    later = datetime.combine(due + timedelta(days=1), datetime.min.time(), CHINA_TZ)
    assert int(entry_id) in await ledger.escalate_overdue(db_pool, later)
    text = await ok(stack, "ledger", "list", "--case", case_id)
    assert f"escalated {later:%Y-%m-%d} 00:00 {BEIJING}" in text
    assert f"escalated:  {later:%Y-%m-%d} 00:00 {BEIJING}" in await ok(
        stack, "ledger", "show", entry_id
    )
    line = await failure(stack, "refused:", "ledger", "list", "--state", "someday")
    assert "state" in line
    line = await failure(stack, "refused:", "ledger", "show", "0")
    assert "entry_id" in line

    out = await ok(stack, *advance, "已回访, 当事人已收到结论书", "--to", "closed")
    assert out == f"advanced ledger entry {entry_id} to closed (closed 已办结)\n"
    line = await failure(stack, "refused:", *advance, "再回访", "--to", "closed")
    assert "closed" in line
