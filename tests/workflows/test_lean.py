"""The lean case (patches.LEAN_CASE): one PostgreSQL transaction per workflow task, short
reads and writes as local activities, messages sent by the outbox's dispatcher, and updates that
answer once the case has moved on (the next step is never refused for arriving too early)."""

from __future__ import annotations

import json
from collections import Counter

import asyncpg
from temporalio.client import WorkflowHistory

from schemas.events import (
    PostalEvent,
    ReAppraisalRequest,
)
from schemas.steps import Recipient, Stage
from schemas.vocabulary import PostalStatus
from tests.conftest import CaseEnv
from tests.helpers import G8, Driver, decision, example, new_id, opinion
from workflows.case import AppraisalCase

# What a lean case still schedules as activities of their own: work that is long or must be
# retried apart from the case (rendering, the courier, sealing the package).
OWN_ACTIVITIES = {"issue_conclusion_letter", "send_letter", "archive_case"}


def event_types(history: WorkflowHistory) -> Counter[str]:
    return Counter(e["eventType"] for e in json.loads(history.to_json())["events"])


def scheduled(history: WorkflowHistory) -> Counter[str]:
    return Counter(
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in json.loads(history.to_json())["events"]
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    )


async def test_a_lean_case_writes_once_per_step_and_leaves_every_trace(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env() as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        await case.conclude(G8)
        await case.deliver()
        history = await case.handle.fetch_history()
    case_id = case.handle.id

    assert set(scheduled(history)) == OWN_ACTIVITIES
    types = event_types(history)
    assert len(history.events) <= 160  # 353 before the lean case; 149-156 by task timing
    assert types["EVENT_TYPE_MARKER_RECORDED"] > 10  # the writes, as local activities
    patches = [
        e for e in history.events if e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert len(patches) == 1  # lean-case implies every patch before it

    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY id", case_id
        )
    ]
    assert kinds[:3] == ["application.received", "stage.entered", "policy.captured"]
    assert kinds.count("stage.entered") == 5 and kinds[-1] == "case.archived"
    unsent = await db_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE case_id = $1 AND sent_at IS NULL", case_id
    )
    assert unsent == 0  # the dispatcher sent them, the case did not


async def test_the_next_step_is_never_refused_for_arriving_too_early(
    case_env: CaseEnv,
) -> None:
    """Attendance answers once the case is in the conclusion stage, the last delivery once
    the dispute window is open: the next command, sent at once, is taken."""
    async with case_env() as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.attended()
        assert status.panel is not None
        for member in status.panel.members:  # the first sent at once after the attendance
            answer = await case.update(AppraisalCase.record_opinion, opinion(member.expert_id, G8))
            assert "opinion" in answer
        await case.review()
        await case.update(AppraisalCase.issue_conclusion, decision(G8))
        posted = await case.posted()
        signed_at = await env.get_current_time()
        for shipment in posted.shipments:
            await case.update(
                AppraisalCase.report_postal_event,
                PostalEvent(
                    event_id=f"ems-{shipment.waybill_no}",
                    actor="ems-webhook",
                    waybill_no=shipment.waybill_no,
                    status=PostalStatus.delivered,
                    occurred_at=signed_at,
                    signer="本人",
                ),
            )
        request = ReAppraisalRequest(
            event_id=new_id("ra"),
            actor="W0102",
            requested_by=Recipient.worker,
            reason="对伤残等级不服, 认为评定偏低",
        )
        assert f"{case.handle.id}-SD" in await case.update(
            AppraisalCase.request_re_appraisal, request
        )
        assert (await case.status()).stage in (Stage.archiving, Stage.archived)
        await case.handle.terminate("test over")
