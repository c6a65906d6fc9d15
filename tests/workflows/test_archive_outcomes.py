"""The archive package of the back half's other outcomes (issue #9): a case whose letter was
returned twice and served by public notice, and a case referred to the province; and a
re-appraisal checked against a prior conclusion that was deemed delivered by public notice."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from temporalio.client import WorkflowHandle

from schemas.application import AppraisalApplication
from schemas.clock import CHINA_TZ
from schemas.referral import ProvincialConclusion, ReferralStatus
from schemas.status import CaseStatus
from schemas.steps import Recipient, Stage
from schemas.vocabulary import CloseReason
from tests.conftest import CaseEnv
from tests.helpers import G8, Driver, example, new_id, search_attributes
from tests.workflows.test_archive import altered, applying, sealed, tamper, verify
from tests.workflows.test_delivery import MONDAY, OTHER, courier, delivery, waybill, webhook
from tests.workflows.test_dispute import re_appraisal, sign
from workflows import search_attributes as sa
from workflows.case import AppraisalCase
from workflows.referral import ProvincialReferral


def with_other_address() -> AppraisalApplication:
    """The worker has a second known address: a return there needs no clerk."""
    application = example("initial_complete")
    return application.model_copy(
        update={"worker": application.worker.model_copy(update={"other_address": OTHER})}
    )


async def published(
    env: Any, http: httpx.AsyncClient, application: AppraisalApplication | None = None
) -> tuple[Driver, CaseStatus]:
    """A case whose worker's letter came back from both addresses: published, deemed
    delivered 30 days on, archived after the dispute window; the employer signed."""
    case = await Driver.start(env, application or with_other_address())
    await case.attend()
    status = await case.conclude()
    await webhook(
        case,
        await courier(
            case, http, waybill(status, Recipient.employer), "delivered", signer="李会计"
        ),
    )
    await webhook(
        case,
        await courier(
            case, http, waybill(status, Recipient.worker), "returned", reason="unknown_address"
        ),
    )
    status = await case.until(lambda s: len(s.shipments) == 3)
    await webhook(
        case,
        await courier(
            case, http, waybill(status, Recipient.worker), "returned", reason="nobody_home"
        ),
    )
    await case.until(lambda s: delivery(s, Recipient.worker).public_notice is not None)
    final = await case.result()
    assert final.stage is Stage.archived and final.closed is CloseReason.delivered
    return case, final


async def test_a_published_case_is_sealed_with_its_notice_and_verify_names_the_notice(
    case_env: CaseEnv,
    db_pool: asyncpg.Pool,
    database_url: str,
    postal_http: httpx.AsyncClient,
) -> None:
    async with case_env(MONDAY) as env:
        case, final = await published(env, postal_http)
    case_id = case.handle.id
    _, parts, _ = await sealed(db_pool, final)

    # The notice document with its SHA-256 among the documents, beside the letter.
    notice = delivery(final, Recipient.worker).public_notice
    assert notice is not None
    stored = {
        r["document_id"]: r
        for r in await db_pool.fetch(
            "SELECT document_id, kind, content FROM documents WHERE case_id = $1", case_id
        )
    }
    assert stored[notice.document_id]["kind"] == "public-notice"
    assert {(d["document_id"], d["kind"], d["sha256"]) for d in parts["documents"]} == {
        (r["document_id"], r["kind"], hashlib.sha256(r["content"]).hexdigest())
        for r in stored.values()
    }
    assert {d["kind"] for d in parts["documents"]} == {"conclusion-letter", "public-notice"}
    assert next(d for d in parts["documents"] if d["kind"] == "public-notice")["sha256"] == (
        notice.sha256
    )

    # The publication in the delivery part: where, when, deemed delivered on; then the
    # deemed delivery, both returns and the three letters.
    [publication] = parts["delivery"]["public_notices"]
    assert publication["recipient"] == "worker" and publication["place"] == notice.place
    assert datetime.fromisoformat(publication["published_at"]) == notice.published_at
    assert publication["deemed_delivered_on"] == notice.deemed_delivered_on.isoformat()
    assert publication["document"] == notice.document_id
    assert publication["sha256"] == notice.sha256
    events = parts["delivery"]["events"]
    kinds = [e["kind"] for e in events]
    assert kinds.count("notice.published") == 1 and kinds.count("delivery.deemed") == 1
    assert kinds.count("postal.returned") == 2 and kinds.count("letter.sent") == 3
    assert kinds.count("address.other") == 1 and kinds.count("postal.delivered") == 1
    assert "delivery.completed" in kinds and kinds[-1] == "dispute_window.ended"
    deemed = next(e for e in events if e["kind"] == "delivery.deemed")
    assert deemed["data"] == {
        "recipient": "worker",
        "delivered_on": notice.deemed_delivered_on.isoformat(),
    }
    shipments = parts["delivery"]["shipments"]
    assert sorted(s["recipient"] for s in shipments) == ["employer", "worker", "worker"]
    assert parts["referral"] == []

    code, out, err = await verify(database_url, case_id, "--json")
    assert code == 0, (out, err)
    assert json.loads(out)[0]["altered"] == []

    # One byte of the public notice changed in PostgreSQL: verify names that document only.
    await tamper(
        db_pool,
        "documents",
        "UPDATE documents SET content = overlay(content placing '\\x25'::bytea from 5)"
        " WHERE document_id = $1",
        notice.document_id,
    )
    found = await altered(database_url, case_id)
    assert [(a["part"], a["item"]) for a in found] == [("documents", notice.document_id)]
    assert "bytes were altered" in found[0]["what"]


async def test_a_referred_case_is_sealed_with_the_referral_and_its_row_stays_as_sealed(
    case_env: CaseEnv,
    db_pool: asyncpg.Pool,
    database_url: str,
    postal_http: httpx.AsyncClient,
) -> None:
    async with case_env(MONDAY) as env:
        case, status = await Driver.in_the_post(env)
        for recipient in Recipient:
            await sign(case, postal_http, status, recipient)
        await case.until(lambda s: s.stage is Stage.archiving)
        request = re_appraisal(Recipient.worker)
        requested_on = (await env.get_current_time()).astimezone(CHINA_TZ).date()
        answer = await case.update(AppraisalCase.request_re_appraisal, request)
        linked = f"{case.handle.id}-SD"
        assert linked in answer
        final = await case.until(lambda s: s.stage is Stage.archived)
        city = await search_attributes(case.handle)
        referral: WorkflowHandle[ProvincialReferral, ReferralStatus]
        referral = env.client.get_workflow_handle(linked, result_type=ReferralStatus)
        linked_back = (await referral.describe()).typed_search_attributes.get(sa.LINKED_CASE)
        # Sealed; then the city workflow closes and the province concludes: nothing of it
        # may reach the city's archived rows.
        code, out, err = await verify(database_url, case.handle.id)
        assert code == 0, (out, err)
        # The city case is archived: its result comes at once. With time skipping on, the
        # server could run on to the open provincial case's own timers meanwhile.
        with env.auto_time_skipping_disabled():
            await case.result()
        decided = ProvincialConclusion(event_id=new_id("sd"), actor="SD-0101", outcome=G8)
        await referral.execute_update(ProvincialReferral.record_conclusion, decided)
        await referral.result()
    case_id = case.handle.id
    assert final.closed is CloseReason.referred and final.referral_id == linked
    assert city["LinkedCase"] == linked and linked_back == case_id  # searchable both ways

    _, parts, _ = await sealed(db_pool, final)

    # The referral part: the request and the referral naming the provincial case and the
    # letter's SHA-256; the case record closed as referred, naming it.
    letter = await db_pool.fetchrow(
        "SELECT document_id, content FROM documents WHERE case_id = $1", case_id
    )
    requested, referred = parts["referral"]
    assert requested["kind"] == "re_appraisal.requested" and requested["actor"] == "W0102"
    assert requested["data"]["requested_by"] == "worker"
    assert requested["data"]["reason"] == request.reason
    assert requested["data"]["request_date"] == requested_on.isoformat()
    assert referred["kind"] == "re_appraisal.referred"
    assert referred["data"] == {
        "referral_id": linked,
        "requested_by": "worker",
        "document": letter["document_id"],
        "sha256": hashlib.sha256(letter["content"]).hexdigest(),
    }
    assert parts["case"]["stage"] == "archived" and linked in parts["case"]["closed_reason"]
    assert "dispute_window.ended" not in [e["kind"] for e in parts["delivery"]["events"]]
    outbox = [m for m in parts["outbox"] if m["message_key"] == "re_appraisal.referred"]
    assert [m["recipient"] for m in outbox] == ["provincial_committee"]

    # After the workflows closed: the case row and the event log are as sealed.
    code, out, err = await verify(database_url, case_id, "--json")
    assert code == 0, (out, err)
    assert json.loads(out)[0]["altered"] == []
    assert (
        await db_pool.fetchval(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY seq DESC LIMIT 1", case_id
        )
        == "case.archived"
    )


async def test_a_re_appraisal_is_checked_against_a_delivery_deemed_by_public_notice(
    case_env: CaseEnv, db_pool: asyncpg.Pool, postal_http: httpx.AsyncClient
) -> None:
    prior = with_other_address()
    async with case_env(MONDAY) as env:
        case, final = await published(env, postal_http, prior)
        prior_id = case.handle.id
        notice = delivery(final, Recipient.worker).public_notice
        assert notice is not None
        deemed = notice.deemed_delivered_on
        assert delivery(final, Recipient.worker).delivered_on == deemed
        issued = await db_pool.fetchval(
            "SELECT occurred_at FROM case_events WHERE case_id = $1 AND kind = 'conclusion.issued'",
            prior_id,
        )
        concluded = issued.astimezone(CHINA_TZ).date()
        await env.sleep(timedelta(days=2).total_seconds())

        with env.auto_time_skipping_disabled():
            # Received, the worker says, before the notice period ran: refused with the date
            # deemed delivered (there is no date signed for).
            early = await Driver.start(
                env,
                applying(
                    prior,
                    "re_appraisal",
                    case_id=prior_id,
                    concluded_on=concluded.isoformat(),
                    received_on=(deemed - timedelta(days=3)).isoformat(),
                ),
            )
            result = await early.result()
            assert result.closed is CloseReason.refused and result.closed_reason
            assert f"经公告送达, 视为送达于 {deemed}" in result.closed_reason

            # Typed later than recorded: the window counts from the date deemed delivered.
            late = await Driver.start(
                env,
                applying(
                    prior,
                    "re_appraisal",
                    case_id=prior_id,
                    concluded_on=concluded.isoformat(),
                    received_on=(deemed + timedelta(days=1)).isoformat(),
                ),
            )
            result = await late.result()
            assert result.closed is CloseReason.refused and result.closed_reason
            assert f"收到结论 {deemed}" in result.closed_reason
    for refused_case in (early, late):
        checked = await db_pool.fetchval(
            "SELECT data FROM case_events WHERE case_id = $1 AND kind = 'prior_conclusion.checked'",
            refused_case.handle.id,
        )
        record = json.loads(checked)
        assert record["case_id"] == prior_id and record["archived"]
        assert record["delivered_on"]["worker"] == deemed.isoformat()
        assert record["deemed"] == ["worker"]
        assert record["delivered_on"]["employer"] < deemed.isoformat()
