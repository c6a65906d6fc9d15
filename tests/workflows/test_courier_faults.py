"""The courier on a bad day, end to end on the time-skipping server: a postal emulator of its
own posts its signed webhooks to the HTTP gateway in this process, which forwards them to the
case as the `report_postal_event` update. Each fault is switched on at the emulator and the
case must still post one letter per recipient, apply each delivery once, find a lost webhook
by polling, and go from a returned letter to public notice and its dispute window.

Synchronisation is on conditions: the case's status, and the emulator's webhook counters
(`/v1/_stats`: `webhooks_pending` is 0 once every webhook has been answered or given up)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from infra.settings import Settings
from postal_emulator.app import running as running_emulator
from schemas.application import Address
from schemas.clock import CHINA_TZ
from schemas.events import AddressCorrection
from schemas.status import CaseStatus
from schemas.steps import Recipient, Stage
from schemas.vocabulary import CloseReason
from tests.conftest import TASK_QUEUE, case_worker, time_skipping
from tests.gateway_fixtures import SECRET, gateway_at
from tests.helpers import Driver, china, example, new_id
from tests.postal_fixtures import Courier, PostalFaults
from workflows.case import AppraisalCase
from workflows.clocks import end_of
from workflows.stages.post import POSTAL_KINDS

MONDAY = china(2026, 10, 12)
# error_rate 0.5 with this seed: the first two creates are stored, then answered 5xx (the
# answer is lost), the next four calls succeed. Each retry must find its letter, not post one.
LOST_ANSWERS_SEED = 98
WEBHOOK_ACTOR = "ems-webhook"  # the gateway's actor on the events it forwards
POLL_ACTOR = "postal"  # a tracking poll's


@dataclass
class Post:
    """The case's world: the server, the courier's test controls, the gateway's client."""

    env: WorkflowEnvironment
    http: httpx.AsyncClient  # the emulator
    faults: PostalFaults
    courier: Courier
    gateway: httpx.AsyncClient

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def drained(self) -> dict[str, int]:
        """The emulator's stats once every webhook sent has been answered or given up."""

        async def quiet() -> dict[str, int]:
            while True:  # another process's counter: polled
                stats = await self.faults.stats()
                if not stats["webhooks_pending"]:
                    return stats
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(quiet(), 30)

    async def deliver(self, waybill_no: str, signer: str = "本人") -> None:
        await self.courier.deliver(waybill_no, signer, at=await self.now())

    async def return_letter(self, waybill_no: str, reason: str) -> None:
        await self.courier.return_letter(waybill_no, reason, at=await self.now())

    async def letters_posted(self, case_id: str) -> int:
        """Shipments the courier holds for the case: letters actually posted."""
        answer = await self.http.get("/v1/shipments", params={"reference": case_id})
        answer.raise_for_status()
        return len(answer.json())

    async def courier_status(self, waybill_no: str) -> str:
        answer = await self.http.get(f"/v1/shipments/{waybill_no}")
        answer.raise_for_status()
        status: str = answer.json()["status"]
        return status


PostEnv = Callable[[datetime], AbstractAsyncContextManager[Post]]


@pytest.fixture
def post_env(db_pool: asyncpg.Pool, database_url: str, roomy_sessions: Path) -> PostEnv:
    """`async with post_env(start) as post`: a time-skipping server, the gateway on it, an
    emulator whose webhooks go to that gateway (signed with its secret), and a worker whose
    courier is that emulator."""

    @asynccontextmanager
    async def running(start: datetime) -> AsyncIterator[Post]:
        async with time_skipping(start) as env:
            address = env.client.service_client.config.target_host
            async with gateway_at(address, database_url) as gateway:
                hooks = str(gateway.base_url.join("/v1/postal/webhooks"))
                async with (
                    running_emulator(webhook_url=hooks, webhook_secret=SECRET) as postal_url,
                    httpx.AsyncClient(base_url=postal_url, timeout=20) as http,
                ):
                    config = Settings(
                        database_url=database_url,
                        postal_url=postal_url,
                        task_queue=TASK_QUEUE,
                        sessions_file=roomy_sessions,
                    )
                    async with case_worker(env, db_pool, config):
                        yield Post(env, http, PostalFaults(http), Courier(http), gateway)

    return running


def waybill(status: CaseStatus, recipient: Recipient) -> str:
    """The recipient's latest letter."""
    return [s.waybill_no for s in status.shipments if s.recipient is recipient][-1]


def delivery(status: CaseStatus, recipient: Recipient) -> Any:
    return next(d for d in status.deliveries if d.recipient is recipient)


async def events(db_pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    return await db_pool.fetch(
        "SELECT kind, actor, data FROM case_events WHERE case_id = $1 ORDER BY id", case_id
    )


def postal_kind(status: str) -> str:
    return next(kind.value for s, kind in POSTAL_KINDS.items() if s.value == status)


async def forwarded(db_pool: asyncpg.Pool, case_id: str) -> list[str]:
    """Waybills of the webhooks the gateway accepted for the case (one row per event id)."""
    rows = await db_pool.fetch("SELECT waybill_no FROM postal_webhooks WHERE case_id = $1", case_id)
    return [r["waybill_no"] for r in rows]


async def posted(post: Post) -> Driver:
    """A case at its conclusion, the panel's decision made; the letters go out from here."""
    case = await Driver.start(post.env, example("initial_complete"))
    await case.attend()
    return case


async def test_5xx_and_latency_still_post_one_letter_per_recipient_and_delivery_finishes(
    post_env: PostEnv, db_pool: asyncpg.Pool
) -> None:
    async with post_env(MONDAY) as post:
        case = await posted(post)
        await post.faults.set(error_rate=0.5, seed=LOST_ANSWERS_SEED, delay_ms=300)
        status = await case.conclude()
        stats = await post.faults.stats()
        assert stats["failed_after_create"] == 2 and stats["answered_5xx"] >= 2
        await post.faults.reset()  # the list below is a courier call too
        assert await post.letters_posted(case.handle.id) == 2
        for recipient in Recipient:
            await post.deliver(waybill(status, recipient))
        status = await case.until(lambda s: all(d.delivered_on for d in s.deliveries))
        assert {d.delivered_on for d in status.deliveries} == {
            (await post.now()).astimezone(CHINA_TZ).date()
        }
        final = await case.result()  # the dispute window runs; the server skips it
    assert final.closed is CloseReason.delivered and final.stage is Stage.archived
    log = await events(db_pool, case.handle.id)
    assert [e["kind"] for e in log].count("letter.sent") == 2
    delivered = [e for e in log if e["kind"] == "postal.delivered"]
    assert len(delivered) == 2 and {e["actor"] for e in delivered} == {WEBHOOK_ACTOR}


async def test_an_outage_is_waited_out_and_the_letters_go_once_it_ends(
    post_env: PostEnv, db_pool: asyncpg.Pool
) -> None:
    async with post_env(MONDAY) as post:
        case = await posted(post)
        await post.faults.set(down=True)
        await case.decide()
        # An hour of outage on the server's clock: retried (backoff up to 5 minutes), no letter.
        await case.skip_to(await post.now() + timedelta(hours=1))
        assert (await post.faults.stats())["answered_5xx"] >= 10
        assert (await case.status()).shipments == []
        await post.faults.reset()
        await case.skip_to(await post.now() + timedelta(minutes=6))
        status = await case.posted()
        assert await post.letters_posted(case.handle.id) == 2
        for recipient in Recipient:
            await post.deliver(waybill(status, recipient))
        # The webhooks in first: result() lets the test server skip time, and a timer it fires
        # while an update's task is with the worker wedges the case there (sdk-java#3088).
        await case.until(lambda s: all(d.delivered_on for d in s.deliveries))
        final = await case.result()
    assert final.closed is CloseReason.delivered and final.stage is Stage.archived
    kinds = [e["kind"] for e in await events(db_pool, case.handle.id)]
    assert kinds.count("letter.sent") == 2 and kinds.count("postal.delivered") == 2


async def test_duplicated_and_reversed_webhooks_give_one_delivery_each(
    post_env: PostEnv, db_pool: asyncpg.Pool
) -> None:
    async with post_env(MONDAY) as post:
        case = await posted(post)
        status = await case.conclude()
        await post.drained()  # the "accepted" webhooks of the two new letters are through
        await post.faults.set(duplicate_webhooks=True, reverse_webhooks=True)
        at = await post.now()
        for recipient in Recipient:
            # One batch each: in transit, then signed for. The webhooks come signed-for first,
            # in transit last, each twice.
            await post.courier.report(
                waybill(status, recipient),
                {"status": "in_transit", "occurred_at": at.isoformat()},
                {"status": "delivered", "signer": "本人", "occurred_at": at.isoformat()},
            )
        stats = await post.drained()
        assert stats["webhooks_delivered"] == 8 and stats["webhooks_given_up"] == 0
        status = await case.until(lambda s: all(d.delivered_on for d in s.deliveries))
        for recipient in Recipient:
            assert await post.courier_status(waybill(status, recipient)) == "delivered"
        final = await case.result()
    assert final.closed is CloseReason.delivered and len(final.shipments) == 2
    log = await events(db_pool, case.handle.id)
    for shipment in final.shipments:
        mine = [e for e in log if shipment.waybill_no in e["data"]]
        kinds = [e["kind"] for e in mine]
        assert kinds.count(postal_kind("delivered")) == 1, kinds
        # Overtaken by the delivery, the in-transit news changes nothing and is not recorded.
        assert postal_kind("in_transit") not in kinds
    # Both events of each letter came through the gateway (a repeat got the first answer).
    accepted = await forwarded(db_pool, case.handle.id)
    assert all(accepted.count(s.waybill_no) >= 2 for s in final.shipments)


async def test_a_lost_webhook_is_found_by_the_tracking_poll(
    post_env: PostEnv, db_pool: asyncpg.Pool
) -> None:
    async with post_env(MONDAY) as post:
        case = await posted(post)
        status = await case.conclude()
        posted_at = await post.now()
        await post.drained()
        await post.faults.set(lose_webhooks=True)
        for recipient in Recipient:
            await post.deliver(waybill(status, recipient))
        assert (await post.faults.stats())["webhooks_lost"] == 2
        await case.skip_to(posted_at + timedelta(hours=11))
        assert all(d.delivered_on is None for d in (await case.status()).deliveries)
        await case.skip_to(posted_at + timedelta(hours=12, minutes=5))
        status = await case.until(lambda s: all(d.delivered_on for d in s.deliveries))
        assert {d.delivered_on for d in status.deliveries} == {
            posted_at.astimezone(CHINA_TZ).date()
        }
        final = await case.result()
    assert final.closed is CloseReason.delivered
    delivered = [
        e for e in await events(db_pool, case.handle.id) if e["kind"] == "postal.delivered"
    ]
    assert len(delivered) == 2 and {e["actor"] for e in delivered} == {POLL_ACTOR}


def correction(recipient: Recipient = Recipient.worker) -> AddressCorrection:
    return AddressCorrection(
        event_id=new_id("addr"),
        actor="W0101",
        recipient=recipient,
        address=Address(text="山东省济宁市任城区建设路66号", postal_code="272000"),
        reason="电话核实新住址",
    )


async def test_returned_corrected_returned_again_public_notice_deemed_then_the_later_window(
    post_env: PostEnv, db_pool: asyncpg.Pool
) -> None:
    async with post_env(MONDAY) as post:
        case = await posted(post)
        status = await case.conclude()
        first = waybill(status, Recipient.worker)
        await post.deliver(waybill(status, Recipient.employer), signer="李会计")
        await post.return_letter(first, "unknown_address")
        status = await case.until(
            lambda s: delivery(s, Recipient.worker).awaiting_address_until is not None
        )
        assert delivery(status, Recipient.worker).returns[0].reason == "查无此人/地址不详"
        await case.update(AppraisalCase.correct_address, correction())
        status = await case.until(lambda s: len(s.shipments) == 3)
        second = waybill(status, Recipient.worker)
        assert second != first and await post.letters_posted(case.handle.id) == 3
        await post.return_letter(second, "refused")
        status = await case.until(lambda s: delivery(s, Recipient.worker).public_notice is not None)
        notice = delivery(status, Recipient.worker).public_notice
        assert notice.deemed_delivered_on - notice.published_at.date() >= timedelta(days=30)
        employer = delivery(status, Recipient.employer)
        assert employer.delivered_on is not None and employer.dispute_window_ends is not None

        # Deemed delivered when the notice period has run, not before.
        deemed_at = end_of(notice.deemed_delivered_on)
        await case.skip_to(deemed_at - timedelta(hours=2))
        assert delivery(await case.status(), Recipient.worker).delivered_on is None
        await case.skip_to(deemed_at + timedelta(minutes=5))
        status = await case.until(lambda s: delivery(s, Recipient.worker).dispute_window_ends)
        worker = delivery(status, Recipient.worker)
        assert worker.deemed and worker.delivered_on == notice.deemed_delivered_on
        # The dispute window runs from the later delivery date: the worker's deemed one.
        assert worker.dispute_window_ends >= worker.delivered_on + timedelta(days=15)
        assert worker.dispute_window_ends > employer.dispute_window_ends
        await case.skip_to(end_of(worker.dispute_window_ends) - timedelta(hours=1))
        assert (await case.status()).stage is Stage.archiving  # waiting, not archived
        final = await case.result()
    assert final.closed is CloseReason.delivered and final.stage is Stage.archived
    archived_at = await db_pool.fetchval(
        "SELECT archived_at FROM cases WHERE case_id = $1", case.handle.id
    )
    assert archived_at >= end_of(worker.dispute_window_ends)
    log = await events(db_pool, case.handle.id)
    kinds = [e["kind"] for e in log]
    assert kinds.count("letter.sent") == 3 and kinds.count("address.corrected") == 1
    assert kinds.count("notice.published") == 1 and kinds.count("delivery.deemed") == 1
    returns = [e for e in log if e["kind"] == "postal.returned"]
    assert len(returns) == 2 and {e["actor"] for e in returns} == {WEBHOOK_ACTOR}
    assert {first, second} <= set(await forwarded(db_pool, case.handle.id))


async def test_the_other_known_address_returned_again_is_published_the_employer_corrected(
    post_env: PostEnv, db_pool: asyncpg.Pool
) -> None:
    application = example("initial_complete")
    other = Address(text="山东省济宁市兖州区九州中路12号", postal_code="272100")
    application = application.model_copy(
        update={"worker": application.worker.model_copy(update={"other_address": other})}
    )
    async with post_env(MONDAY) as post:
        case = await Driver.start(post.env, application)
        await case.attend()
        status = await case.conclude()
        await post.faults.set(duplicate_webhooks=True)  # returns come twice, applied once
        for recipient in Recipient:
            await post.return_letter(waybill(status, recipient), "unknown_address")
        # The worker's other address at once; the employer waits for a corrected one.
        status = await case.until(
            lambda s: (
                len(s.shipments) == 3
                and delivery(s, Recipient.employer).awaiting_address_until is not None
            )
        )
        assert delivery(status, Recipient.worker).attempt == 2
        await case.update(AppraisalCase.correct_address, correction(Recipient.employer))
        status = await case.until(lambda s: len(s.shipments) == 4)
        await post.return_letter(waybill(status, Recipient.worker), "nobody_home")
        await post.deliver(waybill(status, Recipient.employer), signer="李会计")
        status = await case.until(
            lambda s: (
                delivery(s, Recipient.worker).public_notice is not None
                and delivery(s, Recipient.employer).delivered_on is not None
            )
        )
        notice = delivery(status, Recipient.worker).public_notice
        assert "查无此人/地址不详；无人签收" in notice.text
        stats = await post.drained()
        assert stats["webhooks_given_up"] == 0
        assert await post.letters_posted(case.handle.id) == 4
        final = await case.result()
    assert final.closed is CloseReason.delivered
    worker = delivery(final, Recipient.worker)
    assert worker.deemed and worker.delivered_on == notice.deemed_delivered_on
    assert not delivery(final, Recipient.employer).deemed
    log = await events(db_pool, case.handle.id)
    kinds = [e["kind"] for e in log]
    assert kinds.count("address.other") == 1 and kinds.count("address.corrected") == 1
    assert kinds.count("postal.returned") == 3 and kinds.count("notice.published") == 1
    assert {e["actor"] for e in log if e["kind"] == "postal.returned"} == {WEBHOOK_ACTOR}
