"""The postal client activity against the real emulator over loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.postal import PostalActivities
from postal_emulator.waybill import is_valid
from schemas.application import Address
from schemas.events import PostalStatus
from schemas.steps import LetterRequest, Recipient, Stage
from tests.postal_fixtures import PostalFaults


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
