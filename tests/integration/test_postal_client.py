"""The postal client activity against the real emulator over loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.postal import PostalActivities
from postal_emulator.waybill import is_valid
from schemas.application import Address
from schemas.clock import CHINA_TZ
from schemas.events import PostalStatus
from schemas.steps import LetterRequest, Recipient, Shipment, Stage
from tests.postal_fixtures import Courier, PostalFaults


@pytest_asyncio.fixture(loop_scope="session")
async def postal(postal_url: str) -> AsyncIterator[PostalActivities]:
    async with httpx.AsyncClient(base_url=postal_url, timeout=5.0) as http:
        yield PostalActivities(http)


def letter_to_worker(**changes: object) -> LetterRequest:
    request = LetterRequest(
        case_id=f"JN-2026-{uuid.uuid4().hex[:6]}",
        stage=Stage.delivery,
        recipient=Recipient.worker,
        name="张三",
        mobile="13800138000",
        address=Address(text="山东省济宁市任城区红星中路 1 号", postal_code="272000"),
        document_ref="conclusion-letter.pdf",
    )
    return request.model_copy(update=changes)


async def test_sending_twice_mails_one_letter(postal: PostalActivities) -> None:
    env = ActivityEnvironment()
    request = letter_to_worker()
    first = await env.run(postal.send_letter, request)
    again = await env.run(postal.send_letter, request)
    assert is_valid(first.waybill_no)
    assert again.waybill_no == first.waybill_no
    assert (first.recipient, first.status) == (Recipient.worker, "accepted")


async def test_postal_outage_is_retryable(
    postal: PostalActivities, postal_faults: PostalFaults
) -> None:
    env = ActivityEnvironment()
    request = letter_to_worker()
    await postal_faults.set(fail_next=1)
    with pytest.raises(ApplicationError) as outage:
        await env.run(postal.send_letter, request)
    assert outage.value.type == "PostalUnavailable"
    assert not outage.value.non_retryable
    assert is_valid((await env.run(postal.send_letter, request)).waybill_no)


async def test_rejected_letter_is_not_retried(postal: PostalActivities) -> None:
    request = letter_to_worker(mobile="12345")  # the courier wants 11 digits
    with pytest.raises(ApplicationError) as rejected:
        await ActivityEnvironment().run(postal.send_letter, request)
    assert rejected.value.type == "PostalRejected"
    assert rejected.value.non_retryable
    assert "mobile" in rejected.value.message


async def test_other_letter_under_the_same_key_conflicts(postal: PostalActivities) -> None:
    env = ActivityEnvironment()
    request = letter_to_worker()
    await env.run(postal.send_letter, request)
    moved = request.model_copy(
        update={"address": Address(text="山东省济宁市兖州区 2 号", postal_code="272100")}
    )
    with pytest.raises(ApplicationError) as conflict:
        await env.run(postal.send_letter, moved)
    assert (conflict.value.type, conflict.value.non_retryable) == ("PostalConflict", True)


async def test_tracking_reads_events_as_signals(
    postal: PostalActivities, postal_http: httpx.AsyncClient
) -> None:
    env = ActivityEnvironment()
    shipment = await env.run(postal.send_letter, letter_to_worker())
    await postal_http.post(
        f"/v1/shipments/{shipment.waybill_no}/events",
        json={"status": "delivered", "signer": "张三"},
    )
    events = await env.run(postal.track_shipment, shipment.waybill_no)
    assert [e.status for e in events] == [PostalStatus.accepted, PostalStatus.delivered]
    assert events[-1].signer == "张三"
    assert events[-1].event_id == f"{shipment.waybill_no}:2"


async def test_resending_after_delivery_reports_the_delivery(
    postal: PostalActivities, postal_http: httpx.AsyncClient
) -> None:
    """A worker that crashed after mailing finds the letter, and its proof, on the retry."""
    env = ActivityEnvironment()
    request = letter_to_worker()
    shipment = await env.run(postal.send_letter, request)
    await postal_http.post(
        f"/v1/shipments/{shipment.waybill_no}/events",
        json={"status": "delivered", "signer": "张三", "occurred_at": "2026-03-02T10:00:00+08:00"},
    )
    again = await env.run(postal.send_letter, request)
    assert (again.waybill_no, again.status, again.signer) == (
        shipment.waybill_no,
        "delivered",
        "张三",
    )
    assert again.delivered_at is not None
    assert again.delivered_at.isoformat() == "2026-03-02T10:00:00+08:00"


async def test_unknown_waybill_is_rejected(postal: PostalActivities) -> None:
    with pytest.raises(ApplicationError) as unknown:
        await ActivityEnvironment().run(postal.track_shipment, "EA000000005CN")
    assert (unknown.value.type, unknown.value.non_retryable) == ("PostalRejected", True)


async def test_shipment_shows_whose_letter_it_is(
    postal: PostalActivities, postal_http: httpx.AsyncClient
) -> None:
    request = letter_to_worker(recipient=Recipient.employer, name="济宁恒达建筑工程有限公司")
    shipment = await ActivityEnvironment().run(postal.send_letter, request)
    shown = (await postal_http.get(f"/v1/shipments/{shipment.waybill_no}")).json()
    assert (shown["recipient_role"], shown["recipient_name"]) == (
        "employer",
        "济宁恒达建筑工程有限公司",
    )
    assert request.idempotency_key == f"{request.case_id}:letter:employer"  # unchanged


async def test_tracking_reads_a_return_with_its_reason(
    postal: PostalActivities, postal_courier: Courier
) -> None:
    env = ActivityEnvironment()
    shipment = await env.run(postal.send_letter, letter_to_worker())
    returned_at = datetime(2026, 3, 5, 17, 30, tzinfo=CHINA_TZ)
    await postal_courier.return_letter(shipment.waybill_no, "nobody_home", at=returned_at)
    events = await env.run(postal.track_shipment, shipment.waybill_no)
    assert [e.status for e in events] == ["accepted", "returned"]
    returned = events[-1]
    assert (returned.reason, returned.signer, returned.actor) == ("nobody_home", None, "postal")
    assert returned.occurred_at == returned_at


async def test_tracking_reads_who_signed_and_when(
    postal: PostalActivities, postal_courier: Courier
) -> None:
    env = ActivityEnvironment()
    shipment = await env.run(postal.send_letter, letter_to_worker())
    signed_at = datetime(2026, 3, 4, 11, 20, tzinfo=CHINA_TZ)
    await postal_courier.deliver(shipment.waybill_no, "李会计", at=signed_at)
    delivered = (await env.run(postal.track_shipment, shipment.waybill_no))[-1]
    assert (delivered.status, delivered.signer, delivered.reason) == ("delivered", "李会计", None)
    assert delivered.occurred_at == signed_at


@workflow.defn(sandboxed=False)  # a test harness, not a case: nothing to guard against
class MailLetters:
    """Sends letters one after another, as the delivery stage does: Temporal retries."""

    @workflow.run
    async def run(self, letters: list[LetterRequest]) -> list[Shipment]:
        return [
            await workflow.execute_activity_method(
                PostalActivities.send_letter,
                letter,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=50),
                    backoff_coefficient=1.0,
                    maximum_attempts=30,
                ),
            )
            for letter in letters
        ]


async def test_retries_through_5xx_and_latency_mail_one_letter_per_key(
    dev_env: WorkflowEnvironment,
    postal: PostalActivities,
    postal_http: httpx.AsyncClient,
    postal_faults: PostalFaults,
) -> None:
    """Half the calls fail, some after the courier took the letter (the answer was lost);
    every call is slow. Each letter still gets exactly one waybill."""
    letters = [letter_to_worker() for _ in range(6)]
    queue = f"postal-retries-{uuid.uuid4().hex[:8]}"
    await postal_faults.set(error_rate=0.5, seed=4, delay_ms=100)
    async with Worker(
        dev_env.client, task_queue=queue, workflows=[MailLetters], activities=[postal.send_letter]
    ):
        handle = await dev_env.client.start_workflow(
            MailLetters.run, letters, id=f"mail-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        shipments = await handle.result()
    stats = await postal_faults.stats()
    await postal_faults.reset()

    assert stats["answered_5xx"] >= 3 and stats["failed_after_create"] >= 1
    attempts = [
        event.activity_task_started_event_attributes.attempt
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) > 1  # Temporal retried
    for request, shipment in zip(letters, shipments, strict=True):
        listed = await postal_http.get("/v1/shipments", params={"reference": request.case_id})
        assert [s["waybill_no"] for s in listed.json()] == [shipment.waybill_no]
