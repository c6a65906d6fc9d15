"""Refused requests leave a trace (issue #10): a refused update or signal is recorded in the
case's event log with its actor and reason before it is answered, and changes nothing else."""

from __future__ import annotations

import asyncio
import json

import asyncpg

from schemas.steps import Stage
from schemas.vocabulary import EventKind
from tests.conftest import CaseEnv
from tests.helpers import G8, Driver, china, decision, example, refused
from tests.workflows.test_gateway_updates import signed_for
from workflows.case import AppraisalCase


async def refusals(pool: asyncpg.Pool, case_id: str) -> list[dict[str, object]]:
    rows = await pool.fetch(
        "SELECT actor, data FROM case_events WHERE case_id = $1 AND kind = $2 ORDER BY seq",
        case_id,
        EventKind.request_refused.value,
    )
    return [{"actor": r["actor"], **json.loads(r["data"])} for r in rows]


async def test_a_refused_update_and_signal_are_recorded_and_change_nothing(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(china(2026, 10, 12)) as env:
        case = await Driver.start(env, example("initial_complete"))
        before = await case.until(lambda s: s.appointment is not None)
        early = decision(G8)
        reason = await refused(case, AppraisalCase.issue_conclusion, early)
        lost = signed_for("EA000000000CN")
        await case.handle.signal(AppraisalCase.postal_event, lost)

        async def both_recorded() -> list[dict[str, object]]:
            while True:  # the signal's refusal is written after the signal was taken
                if len(found := await refusals(db_pool, case.handle.id)) == 2:
                    return found
                await asyncio.sleep(0.05)

        recorded = await asyncio.wait_for(both_recorded(), 30)
        found = await case.until(lambda s: s.stage is Stage.organizing)
        # Nothing but the trace: the same stage, appointment, clocks and no decision.
        assert found.model_dump(exclude={"deadlines"}) == before.model_dump(exclude={"deadlines"})
        await case.handle.terminate("test over")
    assert [(r["request"], r["event_id"], r["actor"]) for r in recorded] == [
        ("ConclusionDecision", early.event_id, early.actor),
        ("PostalEvent", lost.event_id, lost.actor),
    ]
    assert str(recorded[0]["reason"]) in reason
    assert "本案尚未寄出结论书" in str(recorded[1]["reason"])
