"""Delivery in full (issue #9) on the time-skipping server, with the postal emulator: returned
letters, the other address, public notice, duplicated and lost tracking events.

Courier events are reported to the emulator's courier API (so a tracking poll finds them) and,
where a webhook would bring them, sent to the case as the `postal_event` signal with the
courier's event id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from schemas.application import Address, AppraisalApplication
from schemas.clock import CHINA_TZ
from schemas.events import AddressCorrection, PostalEvent
from schemas.status import CaseStatus
from schemas.steps import Recipient, Stage
from schemas.vocabulary import CloseReason
from tests.conftest import CaseEnv
from tests.helpers import Driver, china, example, new_id, refused
from tests.postal_fixtures import PostalFaults
from workflows.case import AppraisalCase
from workflows.clocks import end_of

MONDAY = china(2026, 10, 12)
OTHER = Address(text="山东省济宁市兖州区九州中路12号", postal_code="272100")


async def courier(
    case: Driver, http: httpx.AsyncClient, waybill: str, status: str, **fields: str
) -> PostalEvent:
    """The courier reports an event now (server time); the emulator keeps it for tracking."""
    at = await case.env.get_current_time()
    body = {"status": status, "occurred_at": at.isoformat(), **fields}
    answer = await http.post(f"/v1/shipments/{waybill}/events", json=body)
    answer.raise_for_status()
    known = PostalEvent.model_fields.keys() - {"actor"}  # the webhook's extras stay out
    return PostalEvent(
        actor="ems-webhook", **{k: v for k, v in answer.json().items() if k in known}
    )


async def webhook(case: Driver, event: PostalEvent) -> None:
    await case.handle.signal(AppraisalCase.postal_event, event)


def waybill(status: CaseStatus, recipient: Recipient) -> str:
    """The recipient's latest letter."""
    return [s.waybill_no for s in status.shipments if s.recipient is recipient][-1]


def delivery(status: CaseStatus, recipient: Recipient) -> Any:
    return next(d for d in status.deliveries if d.recipient is recipient)


def correction(event_id: str, recipient: Recipient = Recipient.worker) -> AddressCorrection:
    return AddressCorrection(
        event_id=event_id,
        actor="W0101",
        recipient=recipient,
        address=Address(text="山东省济宁市任城区建设路66号", postal_code="272000"),
        reason="电话核实新住址",
    )


async def events(db_pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    return await db_pool.fetch(
        "SELECT kind, actor, data FROM case_events WHERE case_id = $1 ORDER BY id", case_id
    )


async def letters_posted(http: httpx.AsyncClient, case_id: str) -> int:
    """Shipments the courier holds for the case: letters actually posted."""
    return len((await http.get("/v1/shipments", params={"reference": case_id})).json())


async def test_returned_corrected_returned_again_public_notice_then_deemed_delivered(
    case_env: CaseEnv,
    db_pool: asyncpg.Pool,
    postal_http: httpx.AsyncClient,
    postal_faults: PostalFaults,
) -> None:
    async with case_env(MONDAY) as env:
        case, status = await Driver.in_the_post(env)
        await webhook(
            case,
            await courier(
                case, postal_http, waybill(status, Recipient.employer), "delivered", signer="李会计"
            ),
        )
        first = waybill(status, Recipient.worker)
        await webhook(
            case, await courier(case, postal_http, first, "returned", reason="unknown_address")
        )
        status = await case.until(
            lambda s: delivery(s, Recipient.worker).awaiting_address_until is not None
        )
        assert delivery(status, Recipient.worker).returns[0].reason == "查无此人/地址不详"
        assert any(
            "correct_address for worker by" in a and "查无此人" in a for a in status.pending_actions
        )
        metadata = await case.handle.query("__temporal_workflow_metadata")
        assert "送达 worker: 退回待更正地址" in metadata.current_details
        assert "退回 returned: 查无此人" in metadata.current_details

        # A correction to the address it came back from is refused; a new one is posted once,
        # however often it is repeated.
        same = correction(new_id("addr"))
        same.address = example("initial_complete").worker.address
        assert "不再寄往同一地址" in await refused(case, AppraisalCase.correct_address, same)
        fix = correction(new_id("addr"))
        await postal_faults.set(fail_next=2)  # the courier is down: the post is retried
        assert "attempt 2" in await case.update(AppraisalCase.correct_address, fix)
        again = await case.handle.execute_update(AppraisalCase.correct_address, fix, id=new_id("u"))
        assert str(again).startswith("重复事件")
        status = await case.until(lambda s: len(s.shipments) == 3)
        assert "未被拒收或退回" in await refused(
            case, AppraisalCase.correct_address, correction(new_id("addr"))
        )
        assert await letters_posted(postal_http, case.handle.id) == 3

        second = waybill(status, Recipient.worker)
        assert second != first
        await webhook(case, await courier(case, postal_http, second, "returned", reason="refused"))
        status = await case.until(lambda s: delivery(s, Recipient.worker).public_notice is not None)
        notice = delivery(status, Recipient.worker).public_notice
        published = notice.published_at.date()
        assert timedelta(days=30) <= notice.deemed_delivered_on - published <= timedelta(days=33)
        assert notice.place and "公告" in notice.text and "查无此人/地址不详；拒收" in notice.text
        assert (
            f"{notice.deemed_delivered_on.month}月{notice.deemed_delivered_on.day}日" in notice.text
        )
        stored = await db_pool.fetchrow(
            "SELECT sha256, convert_from(content, 'UTF8') AS text FROM documents WHERE document_id = $1",
            notice.document_id,
        )
        assert stored["sha256"] == notice.sha256 and stored["text"] == notice.text
        assert (
            await letters_posted(postal_http, case.handle.id) == 3
        )  # no letter after a second return

        # Deemed delivered when the notice period has run, not a day before.
        deemed_at = end_of(notice.deemed_delivered_on)
        await case.skip_to(deemed_at - timedelta(hours=2))
        status = await case.status()
        assert delivery(status, Recipient.worker).delivered_on is None
        assert status.stage is Stage.delivery
        await case.skip_to(deemed_at + timedelta(minutes=5))
        status = await case.until(lambda s: s.stage is Stage.archiving)
        worker = delivery(status, Recipient.worker)
        assert worker.delivered_on == notice.deemed_delivered_on and worker.deemed
        # The dispute window runs from the later delivery date: the worker's deemed one.
        assert worker.dispute_window_ends > delivery(status, Recipient.employer).dispute_window_ends
        final = await case.result()
    assert final.closed is CloseReason.delivered and final.stage is Stage.archived
    log = await events(db_pool, case.handle.id)
    kinds = [e["kind"] for e in log]
    assert kinds.count("postal.returned") == 2 and kinds.count("notice.published") == 1
    assert kinds.count("letter.sent") == 3 and kinds.count("address.corrected") == 1
    assert (
        kinds.index("notice.published")
        < kinds.index("delivery.deemed")
        < kinds.index("delivery.completed")
    )
    returned = [e for e in log if e["kind"] == "postal.returned"]
    assert (
        '"reason": "查无此人/地址不详"' in returned[0]["data"]
        and '"recipient": "worker"' in returned[0]["data"]
    )
    breach = next(e for e in log if e["kind"] == "deadline.breached")
    assert '"clock": "delivery"' in breach["data"] and "公告送达中" in breach["data"]
    outbox = {
        r["message_key"]: r["channel"]
        for r in await db_pool.fetch(
            "SELECT message_key, channel FROM outbox WHERE case_id = $1", case.handle.id
        )
    }
    assert outbox["letter.returned:worker:1"] == outbox["letter.returned:worker:2"] == "internal"
    assert outbox["notice.published:worker"] == outbox["delivery.deemed:worker"] == "internal"


async def test_the_other_known_address_is_tried_and_no_correction_in_time_means_public_notice(
    case_env: CaseEnv, db_pool: asyncpg.Pool, postal_http: httpx.AsyncClient
) -> None:
    application = example("initial_complete")
    application = application.model_copy(
        update={"worker": application.worker.model_copy(update={"other_address": OTHER})}
    )
    AppraisalApplication.model_validate(application.model_dump())
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, application)
        await case.attend()
        status = await case.conclude()
        for recipient in Recipient:
            await webhook(
                case,
                await courier(
                    case,
                    postal_http,
                    waybill(status, recipient),
                    "returned",
                    reason="unknown_address",
                ),
            )
        # The worker's other address at once, no clerk needed; the employer waits for one.
        status = await case.until(
            lambda s: (
                len(s.shipments) == 3
                and delivery(s, Recipient.employer).awaiting_address_until is not None
            )
        )
        assert delivery(status, Recipient.worker).attempt == 2
        await webhook(
            case,
            await courier(
                case,
                postal_http,
                waybill(status, Recipient.worker),
                "returned",
                reason="nobody_home",
            ),
        )
        status = await case.until(lambda s: delivery(s, Recipient.worker).public_notice is not None)
        until = delivery(status, Recipient.employer).awaiting_address_until
        assert until is not None and delivery(status, Recipient.employer).public_notice is None
        await case.skip_to(until - timedelta(hours=1))
        assert delivery(await case.status(), Recipient.employer).public_notice is None
        await case.skip_to(until + timedelta(minutes=1))
        status = await case.until(
            lambda s: delivery(s, Recipient.employer).public_notice is not None
        )
        late = correction(new_id("addr"), Recipient.employer)
        assert "未被拒收或退回" in await refused(case, AppraisalCase.correct_address, late)
        final = await case.result()
    assert final.closed is CloseReason.delivered
    assert all(d.deemed and d.public_notice for d in final.deliveries)
    kinds = [e["kind"] for e in await events(db_pool, case.handle.id)]
    assert kinds.count("address.other") == 1 and kinds.count("address.corrected") == 0
    assert kinds.count("notice.published") == 2 and kinds.count("letter.sent") == 3
    assert await letters_posted(postal_http, case.handle.id) == 3


async def test_duplicated_and_out_of_order_tracking_events_give_one_delivery_each(
    case_env: CaseEnv, db_pool: asyncpg.Pool, postal_http: httpx.AsyncClient
) -> None:
    async with case_env(MONDAY) as env:
        case, status = await Driver.in_the_post(env)
        worker, employer = waybill(status, Recipient.worker), waybill(status, Recipient.employer)
        in_transit = await courier(case, postal_http, worker, "in_transit")
        signed = await courier(case, postal_http, worker, "delivered", signer="本人")
        await webhook(case, signed)
        await webhook(case, signed)  # the same webhook twice
        await webhook(case, signed.model_copy(update={"event_id": new_id("dup")}))  # re-sent anew
        await webhook(case, in_transit)  # overtaken by the delivery
        await case.skip_to(await env.get_current_time() + timedelta(days=1))
        employer_signed = await courier(case, postal_http, employer, "delivered", signer="李会计")
        await webhook(case, employer_signed)
        late_return = employer_signed.model_copy(  # the courier refuses it; a forger would not
            update={"event_id": new_id("late"), "status": "returned", "reason": "moved"}
        )
        await webhook(case, late_return)
        status = await case.until(lambda s: s.stage is Stage.archiving)
        assert (
            delivery(status, Recipient.worker).delivered_on
            == signed.occurred_at.astimezone(CHINA_TZ).date()
        )
        assert delivery(status, Recipient.employer).delivered_on == delivery(
            status, Recipient.worker
        ).delivered_on + timedelta(days=1)
        final = await case.result()
    assert final.closed is CloseReason.delivered and len(final.shipments) == 2
    log = await events(db_pool, case.handle.id)
    assert [e["kind"] for e in log].count("postal.delivered") == 2
    assert [e["kind"] for e in log].count("postal.returned") == 0
