"""The dispute window (申请再次鉴定期限) and referral to the provincial committee, on the
time-skipping server: the window runs from each party's own delivery date, the case archives
after the later one, a request in time starts the linked provincial case."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import httpx
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from schemas.clock import CHINA_TZ
from schemas.events import ReAppraisalRequest
from schemas.referral import ProvincialConclusion, ReferralStatus
from schemas.status import CaseStatus
from schemas.steps import Recipient, Stage
from schemas.vocabulary import CloseReason
from tests.conftest import CaseEnv
from tests.helpers import G8, Driver, china, example, new_id, refused, search_attributes
from tests.workflows.test_delivery import courier, delivery, waybill, webhook
from workflows import search_attributes as sa
from workflows.case import AppraisalCase
from workflows.clocks import end_of
from workflows.referral import ProvincialReferral

MONDAY = china(2026, 10, 12)


def re_appraisal(
    by: Recipient, received_on: date | None = None, posted_on: date | None = None
) -> ReAppraisalRequest:
    return ReAppraisalRequest(
        event_id=new_id("ra"),
        actor="W0102",
        requested_by=by,
        received_on=received_on,
        posted_on=posted_on,
        reason="对伤残等级不服, 认为评定偏低",
    )


async def sign(case: Driver, http: httpx.AsyncClient, status: CaseStatus, to: Recipient) -> None:
    await webhook(case, await courier(case, http, waybill(status, to), "delivered", signer="本人"))


async def today(case: Driver) -> date:
    return (await case.env.get_current_time()).astimezone(CHINA_TZ).date()


async def test_the_case_archives_after_the_later_window_and_refuses_a_late_request_with_the_dates(
    case_env: CaseEnv, db_pool: asyncpg.Pool, postal_http: httpx.AsyncClient
) -> None:
    async with case_env(MONDAY) as env:
        case, status = await Driver.in_the_post(env)
        await sign(case, postal_http, status, Recipient.worker)
        worker_signed = await today(case)
        await case.skip_to(await env.get_current_time() + timedelta(days=5))
        await sign(case, postal_http, status, Recipient.employer)
        status = await case.until(lambda s: s.stage is Stage.archiving)
        worker, employer = delivery(status, Recipient.worker), delivery(status, Recipient.employer)
        assert worker.delivered_on == worker_signed
        assert employer.delivered_on == worker_signed + timedelta(days=5)
        assert worker.dispute_window_ends < employer.dispute_window_ends
        assert {d.name for d in status.deadlines} == {
            "dispute_window_worker",
            "dispute_window_employer",
        }
        assert any("request_re_appraisal by worker until" in a for a in status.pending_actions)

        # Past the worker's window, inside the employer's: the case still waits.
        await case.skip_to(end_of(worker.dispute_window_ends) + timedelta(hours=1))
        assert (await case.status()).stage is Stage.archiving
        late = await refused(
            case, AppraisalCase.request_re_appraisal, re_appraisal(Recipient.worker)
        )
        assert f"收到结论 {worker.delivered_on}" in late
        assert f"期限届满 {worker.dispute_window_ends}" in late
        assert f"本申请受理于 {await today(case)}" in late and "职工" in late
        tomorrow = re_appraisal(Recipient.employer, received_on=await today(case) + timedelta(1))
        assert "收到日期不能晚于今天" in await refused(
            case, AppraisalCase.request_re_appraisal, tomorrow
        )
        await case.skip_to(end_of(employer.dispute_window_ends) - timedelta(hours=1))
        assert (await case.status()).stage is Stage.archiving
        final = await case.result()
    assert final.stage is Stage.archived and final.closed is CloseReason.delivered
    archived_at = await db_pool.fetchval(
        "SELECT archived_at FROM cases WHERE case_id = $1", case.handle.id
    )
    assert archived_at >= end_of(employer.dispute_window_ends)
    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY id", case.handle.id
        )
    ]
    assert kinds[-5:] == [  # the two refused requests leave their trace (issue #10)
        "stage.entered",
        "request.refused",
        "request.refused",
        "dispute_window.ended",
        "case.archived",
    ]
    assert "re_appraisal.requested" not in kinds


async def test_a_request_in_the_window_starts_the_linked_provincial_case(
    case_env: CaseEnv, db_pool: asyncpg.Pool, postal_http: httpx.AsyncClient
) -> None:
    async with case_env(MONDAY) as env:
        case, status = await Driver.in_the_post(env)
        await sign(case, postal_http, status, Recipient.worker)
        status = await case.until(lambda s: delivery(s, Recipient.worker).dispute_window_ends)
        window_end = delivery(status, Recipient.worker).dispute_window_ends
        # Mailed on the last day of the window, received four days later: in time (postmark).
        await case.skip_to(end_of(window_end) + timedelta(days=4))
        mailed = re_appraisal(Recipient.worker, received_on=await today(case), posted_on=window_end)
        answer = await case.update(AppraisalCase.request_re_appraisal, mailed)
        linked = f"{case.handle.id}-SD"
        assert linked in answer and "移送" in answer
        # The employer's letter is still in the post: the case waits for it, and the
        # employer's own request joins the referral.
        status = await case.status()
        assert status.referral_id == linked and status.stage is Stage.delivery
        assert "已申请再次鉴定" in await refused(
            case, AppraisalCase.request_re_appraisal, re_appraisal(Recipient.worker)
        )
        joined = await case.update(
            AppraisalCase.request_re_appraisal, re_appraisal(Recipient.employer)
        )
        assert linked in joined
        await sign(case, postal_http, status, Recipient.employer)
        # Archived with the referral, not after the windows. (No result(): while the provincial
        # case waits with no timer, the server would skip time to its run timeout.)
        final = await case.until(lambda s: s.stage is Stage.archived)

        referral: WorkflowHandle[ProvincialReferral, ReferralStatus]
        referral = env.client.get_workflow_handle(linked, result_type=ReferralStatus)
        referred: ReferralStatus = await referral.query(ProvincialReferral.status)
        described = await referral.describe()
        found = described.typed_search_attributes.get(sa.LINKED_CASE)
        city = await search_attributes(case.handle)
        closed_at = await env.get_current_time()
        # The provincial case outlives the city's and closes with the province's conclusion.
        assert described.status is WorkflowExecutionStatus.RUNNING
        decided = ProvincialConclusion(event_id=new_id("sd"), actor="SD-0101", outcome=G8)
        await referral.execute_update(ProvincialReferral.record_conclusion, decided)
        provincial = await referral.result()
    assert final.stage is Stage.archived and final.closed is CloseReason.referred
    assert final.referral_id == linked and linked in (final.closed_reason or "")
    assert closed_at < end_of(window_end) + timedelta(days=15)
    assert city["LinkedCase"] == linked and found == case.handle.id
    assert referred.file.city_case_id == case.handle.id and referred.file.conclusion == G8
    document = await db_pool.fetchrow(
        "SELECT document_id, sha256 FROM documents WHERE case_id = $1 AND kind = 'conclusion-letter'",
        case.handle.id,
    )
    assert referred.file.conclusion_document == document["document_id"]
    assert referred.file.conclusion_sha256 == document["sha256"]
    assert [r.requested_by for r in referred.requests] == [Recipient.worker, Recipient.employer]
    assert referred.file.request.posted_on == window_end
    assert provincial.conclusion == G8 and provincial.concluded_at is not None
    log = await db_pool.fetch(
        "SELECT kind, data FROM case_events WHERE case_id = $1 ORDER BY id", case.handle.id
    )
    kinds = [e["kind"] for e in log]
    assert kinds.count("re_appraisal.requested") == 2 and kinds.count("re_appraisal.referred") == 1
    assert "dispute_window.ended" not in kinds and kinds[-1] == "case.archived"
    outbox = await db_pool.fetchrow(
        "SELECT channel, recipient FROM outbox WHERE case_id = $1 AND message_key = $2",
        case.handle.id,
        "re_appraisal.referred",
    )
    assert outbox and dict(outbox) == {"channel": "letter", "recipient": "provincial_committee"}


async def test_a_re_appraisal_conclusion_is_final_no_window_no_request(
    case_env: CaseEnv, db_pool: asyncpg.Pool, postal_http: httpx.AsyncClient
) -> None:
    async with case_env(china(2026, 11, 10)) as env:
        case = await Driver.start(env, example("re_appraisal"))
        await case.attend()
        status = await case.conclude()
        await sign(case, postal_http, status, Recipient.worker)
        refusal = await refused(
            case, AppraisalCase.request_re_appraisal, re_appraisal(Recipient.worker)
        )
        assert "最终结论" in refusal
        await sign(case, postal_http, status, Recipient.employer)
        # Archived once delivered, without waiting out a window: result() skips no time.
        archived = await case.until(lambda s: s.stage is Stage.archived)
    assert archived.closed is CloseReason.delivered
    assert all(d.dispute_window_ends is None for d in archived.deliveries)
    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1", case.handle.id
        )
    ]
    assert "dispute_window.ended" not in kinds
