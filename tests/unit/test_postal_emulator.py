"""The postal emulator over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from infra import signing
from postal_emulator.app import running
from postal_emulator.server import serve
from postal_emulator.waybill import check_digit, is_valid
from tests.postal_fixtures import PostalFaults


def letter(reference: str, **changes: Any) -> dict[str, Any]:
    body = {
        "reference": reference,
        "recipient_name": "张三",
        "recipient_role": "worker",
        "mobile": "13800138000",
        "address": "山东省济宁市任城区红星中路 1 号",
        "postal_code": "272000",
        "document_ref": f"{reference}/conclusion.pdf",
    }
    return body | changes


def new_key() -> tuple[str, str]:
    reference = f"JN-2026-{uuid.uuid4().hex[:8]}"
    return reference, f"{reference}:letter:worker"


async def create(http: httpx.AsyncClient, key: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return await http.post("/v1/shipments", json=body, headers=headers)


@pytest.mark.parametrize(
    ("serial", "digit"),
    [("12345678", 5), ("47312482", 9), ("00000000", 5), ("00004000", 0)],
)
def test_s10_check_digit(serial: str, digit: int) -> None:
    assert check_digit(serial) == digit


def test_s10_validation() -> None:
    assert is_valid("EA123456785CN")
    assert not is_valid("EA123456784CN")
    assert not is_valid("EA12345678CN")


async def test_create_returns_an_s10_waybill(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    response = await create(postal_http, key, letter(reference))
    assert response.status_code == 201
    shipment = response.json()
    assert is_valid(shipment["waybill_no"])
    assert shipment["waybill_no"].endswith("CN")
    assert shipment["status"] == "accepted"
    assert shipment["reference"] == reference
    assert [e["status"] for e in shipment["events"]] == ["accepted"]
    # Whose letter it is shows; the mobile and the address are only checked, never kept.
    assert (shipment["recipient_role"], shipment["recipient_name"]) == ("worker", "张三")
    assert "mobile" not in shipment and "address" not in shipment


async def test_same_key_twice_is_one_shipment(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    first = await create(postal_http, key, letter(reference))
    again = await create(postal_http, key, letter(reference))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["waybill_no"] == first.json()["waybill_no"]
    listed = await postal_http.get("/v1/shipments", params={"reference": reference})
    assert len(listed.json()) == 1


async def test_same_key_other_letter_conflicts(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    await create(postal_http, key, letter(reference))
    response = await create(postal_http, key, letter(reference, postal_code="272100"))
    assert response.status_code == 409
    assert "Idempotency-Key" in response.json()["message"]


async def test_missing_idempotency_key_is_refused(postal_http: httpx.AsyncClient) -> None:
    reference, _ = new_key()
    response = await create(postal_http, None, letter(reference))
    assert response.status_code == 400
    assert response.json()["message"] == "header Idempotency-Key is required"


async def test_invalid_body_names_the_field(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    response = await create(postal_http, key, letter(reference, postal_code="2500"))
    assert response.status_code == 422
    body = response.json()
    assert [f["field"] for f in body["fields"]] == ["postal_code"]
    assert body["message"].startswith("postal_code: ")
    assert "2500" not in body["message"]  # the input is not echoed


async def test_tracking_events_append_and_read_back(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    waybill = (await create(postal_http, key, letter(reference))).json()["waybill_no"]
    events = f"/v1/shipments/{waybill}/events"
    moving = await postal_http.post(events, json={"status": "in_transit"})
    signed = await postal_http.post(
        events,
        json={"status": "delivered", "signer": "张三", "occurred_at": "2026-03-02T10:00:00+08:00"},
    )
    assert (moving.status_code, signed.status_code) == (201, 201)

    shipment = (await postal_http.get(f"/v1/shipments/{waybill}")).json()
    assert shipment["status"] == "delivered"
    assert [e["status"] for e in shipment["events"]] == ["accepted", "in_transit", "delivered"]
    assert [e["event_id"] for e in shipment["events"]] == [f"{waybill}:{n}" for n in (1, 2, 3)]
    assert shipment["events"][-1]["signer"] == "张三"
    signed_at = datetime.fromisoformat(shipment["events"][-1]["occurred_at"])
    assert signed_at == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


async def test_courier_events_need_their_proof(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    waybill = (await create(postal_http, key, letter(reference))).json()["waybill_no"]
    unsigned = await postal_http.post(
        f"/v1/shipments/{waybill}/events", json={"status": "delivered"}
    )
    unexplained = await postal_http.post(
        f"/v1/shipments/{waybill}/events", json={"status": "returned"}
    )
    assert (unsigned.status_code, unexplained.status_code) == (422, 422)
    assert "signer is required" in unsigned.json()["message"]
    assert "reason is required" in unexplained.json()["message"]


async def test_unknown_waybill_is_404(postal_http: httpx.AsyncClient) -> None:
    assert (await postal_http.get("/v1/shipments/EA000000005CN")).status_code == 404
    event = await postal_http.post(
        "/v1/shipments/EA000000005CN/events", json={"status": "in_transit"}
    )
    assert event.status_code == 404


async def test_fail_next_answers_503_then_creates(
    postal_http: httpx.AsyncClient, postal_faults: PostalFaults
) -> None:
    reference, key = new_key()
    await postal_faults.set(fail_next=1)
    failed = await create(postal_http, key, letter(reference))
    retried = await create(postal_http, key, letter(reference))
    assert failed.status_code == 503
    assert retried.status_code == 201  # the failed call created nothing


async def test_delay_makes_a_slow_answer(postal_url: str, postal_faults: PostalFaults) -> None:
    reference, key = new_key()
    await postal_faults.set(delay_ms=500)
    async with httpx.AsyncClient(base_url=postal_url, timeout=0.1) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await create(impatient, key, letter(reference))


async def test_delay_slows_tracking_too(postal_url: str, postal_faults: PostalFaults) -> None:
    reference, key = new_key()
    async with httpx.AsyncClient(base_url=postal_url, timeout=5) as http:
        waybill = (await create(http, key, letter(reference))).json()["waybill_no"]
    await postal_faults.set(delay_ms=500)
    async with httpx.AsyncClient(base_url=postal_url, timeout=0.1) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            await impatient.get(f"/v1/shipments/{waybill}")


async def answers(http: httpx.AsyncClient, path: str, times: int) -> list[int]:
    return [(await http.get(path)).status_code for _ in range(times)]


async def test_error_rate_answers_a_reproducible_share_of_5xx(
    postal_http: httpx.AsyncClient, postal_faults: PostalFaults
) -> None:
    reference, key = new_key()
    waybill = (await create(postal_http, key, letter(reference))).json()["waybill_no"]
    path = f"/v1/shipments/{waybill}"

    await postal_faults.set(error_rate=0.4, seed=11)
    first = await answers(postal_http, path, 40)
    stats = await postal_faults.stats()
    await postal_faults.set(error_rate=0.4, seed=11)
    again = await answers(postal_http, path, 40)
    await postal_faults.set(error_rate=0.4, seed=12)
    other = await answers(postal_http, path, 40)

    assert first == again  # the same seed gives the same day
    assert other != first
    failed = [status for status in first if status != 200]
    assert set(failed) <= {500, 502, 503, 504} and len(set(failed)) > 1
    assert 5 <= len(failed) <= 30  # a share, neither none nor all
    assert stats["answered_5xx"] == len(failed)


async def test_a_5xx_may_come_after_the_shipment_was_made(
    postal_http: httpx.AsyncClient, postal_faults: PostalFaults
) -> None:
    """A lost answer: the client sees a 5xx although the courier took the letter; the retry
    under the same key finds it (200) instead of mailing a second one."""
    letters = [new_key() for _ in range(8)]
    await postal_faults.set(error_rate=1.0, seed=5)
    failed = [(await create(postal_http, key, letter(ref))).status_code for ref, key in letters]
    stats = await postal_faults.stats()
    await postal_faults.reset()
    retried = [(await create(postal_http, key, letter(ref))).status_code for ref, key in letters]

    assert all(status >= 500 for status in failed)
    assert sorted(set(retried)) == [200, 201]  # both kinds happened
    assert retried.count(200) == stats["failed_after_create"]
    for reference, _ in letters:
        listed = await postal_http.get("/v1/shipments", params={"reference": reference})
        assert len(listed.json()) == 1


async def test_down_answers_every_courier_call_503_until_cleared(
    postal_http: httpx.AsyncClient, postal_faults: PostalFaults
) -> None:
    reference, key = new_key()
    waybill = (await create(postal_http, key, letter(reference))).json()["waybill_no"]
    other, other_key = new_key()
    await postal_faults.set(down=True)
    outage = [
        await create(postal_http, other_key, letter(other)),
        await postal_http.get(f"/v1/shipments/{waybill}"),
        await postal_http.get("/v1/shipments", params={"reference": reference}),
    ]
    # The courier's own hand still works during the outage (tests drive events).
    moved = await postal_http.post(f"/v1/shipments/{waybill}/events", json={"status": "in_transit"})
    await postal_faults.reset()
    after = await create(postal_http, other_key, letter(other))

    assert [r.status_code for r in outage] == [503, 503, 503]
    assert all(r.headers["retry-after"] == "30" for r in outage)
    assert outage[0].json() == {
        "error": "unavailable",
        "message": "postal service temporarily unavailable",
    }
    assert moved.status_code == 201
    assert after.status_code == 201  # nothing was made during the outage


async def test_faults_are_validated(postal_http: httpx.AsyncClient) -> None:
    response = await postal_http.post("/v1/_faults", json={"error_rate": 2, "lose_mail": True})
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["error_rate", "lose_mail"]


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("refused", "拒收"),
        ("unknown_address", "查无此人/地址不详"),
        ("nobody_home", "无人签收"),
        ("moved", "迁移新址不明"),
    ],
)
async def test_a_returned_letter_says_why(
    postal_http: httpx.AsyncClient, reason: str, label: str
) -> None:
    reference, key = new_key()
    waybill = (await create(postal_http, key, letter(reference))).json()["waybill_no"]
    returned = await postal_http.post(
        f"/v1/shipments/{waybill}/events",
        json={"status": "returned", "reason": reason, "occurred_at": "2026-03-03T16:00:00+08:00"},
    )
    shipment = (await postal_http.get(f"/v1/shipments/{waybill}")).json()
    assert returned.status_code == 201
    assert shipment["status"] == "returned"
    last = shipment["events"][-1]
    assert (last["reason"], last["reason_text"], last["signer"]) == (reason, label, None)
    assert datetime.fromisoformat(last["occurred_at"]) == datetime(2026, 3, 3, 8, tzinfo=UTC)


async def test_an_unknown_return_reason_is_refused(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    waybill = (await create(postal_http, key, letter(reference))).json()["waybill_no"]
    response = await postal_http.post(
        f"/v1/shipments/{waybill}/events", json={"status": "returned", "reason": "lost_in_sea"}
    )
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "reason"
    assert "refused" in response.json()["message"]  # names what is allowed


async def test_nothing_follows_a_delivery_or_a_return(postal_http: httpx.AsyncClient) -> None:
    reference, key = new_key()
    waybill = (await create(postal_http, key, letter(reference))).json()["waybill_no"]
    events = f"/v1/shipments/{waybill}/events"
    mixed = await postal_http.post(
        f"{events}/batch",
        json={"events": [{"status": "returned", "reason": "refused"}, {"status": "in_transit"}]},
    )
    untouched = (await postal_http.get(f"/v1/shipments/{waybill}")).json()
    await postal_http.post(events, json={"status": "returned", "reason": "refused"})
    after = await postal_http.post(events, json={"status": "delivered", "signer": "张三"})

    assert mixed.status_code == 409
    assert [e["status"] for e in untouched["events"]] == ["accepted"]  # all or nothing
    assert after.status_code == 409
    assert after.json()["error"] == "shipment_closed"
    assert "nothing may follow returned" in after.json()["message"]


class Receiver:
    """A stand-in for our gateway: records webhooks, fails the first `failures` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []
        self._arrived = asyncio.Condition()
        self._failures = failures
        self.app = FastAPI()
        self.app.post("/hooks")(self.hook)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        async with self._arrived:
            self.calls.append((body, dict(request.headers)))
            self._arrived.notify_all()
        return Response(status_code=500 if len(self.calls) <= self._failures else 204)

    async def received(self, count: int) -> list[dict[str, Any]]:
        """The first `count` webhook bodies, once they have arrived."""
        async with self._arrived:
            await asyncio.wait_for(
                self._arrived.wait_for(lambda: len(self.calls) >= count), timeout=5
            )
        return [json.loads(body) for body, _ in self.calls[:count]]


SECRET = "test-webhook-secret"


@contextlib.asynccontextmanager
async def courier_with_hooks(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    """An emulator posting its webhooks to `receiver` (three attempts, quickly); yields a
    client of the emulator."""
    async with (
        serve(receiver.app) as hooks_url,
        running(
            webhook_url=f"{hooks_url}/hooks", webhook_secret=SECRET, webhook_backoff=(0.2, 1.0)
        ) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        yield http


async def mail_one(http: httpx.AsyncClient) -> tuple[str, str]:
    reference, key = new_key()
    response = await create(http, key, letter(reference))
    assert response.status_code == 201
    return reference, response.json()["waybill_no"]


async def test_webhook_is_signed_with_a_timestamp_and_names_its_event() -> None:
    receiver = Receiver()
    async with courier_with_hooks(receiver) as http:
        reference, waybill = await mail_one(http)
        await http.post(
            f"/v1/shipments/{waybill}/events",
            json={
                "status": "delivered",
                "signer": "张三",
                "occurred_at": "2026-03-02T10:00:00+08:00",
            },
        )
        accepted, delivered = await receiver.received(2)

    for body, headers in receiver.calls:
        signing.verify(SECRET, body, headers["x-postal-signature"])  # raises when wrong
        assert headers["x-postal-event-id"] == json.loads(body)["event_id"]
    assert accepted["status"] == "accepted"
    assert delivered == {
        "event_id": f"{waybill}:2",
        "waybill_no": waybill,
        "status": "delivered",
        "occurred_at": "2026-03-02T10:00:00+08:00",  # the time signed for, as reported
        "signer": "张三",
        "reason": None,
        "reason_text": None,
        "reference": reference,
        "recipient_role": "worker",
    }
    assert "张三" not in receiver.calls[0][0].decode()  # the recipient's name never travels


async def test_webhook_is_retried_after_a_failure() -> None:
    receiver = Receiver(failures=1)
    async with courier_with_hooks(receiver) as http:
        await mail_one(http)
        first, second = await receiver.received(2)

    assert first == second  # the same event again, signed afresh
    for body, headers in receiver.calls:
        signing.verify(SECRET, body, headers["x-postal-signature"])


async def test_stats_count_webhooks_answered_given_up_and_pending() -> None:
    receiver = Receiver(failures=3)  # the first webhook's three attempts all fail
    async with courier_with_hooks(receiver) as http:
        await mail_one(http)
        await mail_one(http)
        await receiver.received(4)

        async def drained() -> dict[str, int]:
            while True:
                stats: dict[str, int] = (await http.get("/v1/_stats")).json()
                if not stats["webhooks_pending"]:
                    return stats
                await asyncio.sleep(0.02)

        stats = await asyncio.wait_for(drained(), 5)

    assert stats["webhooks_given_up"] == 1 and stats["webhooks_delivered"] == 1


async def test_duplicated_webhooks_arrive_twice_each() -> None:
    receiver = Receiver()
    async with courier_with_hooks(receiver) as http:
        await http.post("/v1/_faults", json={"duplicate_webhooks": True})
        _, waybill = await mail_one(http)
        await http.post(f"/v1/shipments/{waybill}/events", json={"status": "in_transit"})
        bodies = await receiver.received(4)
        stats = (await http.get("/v1/_stats")).json()

    assert [b["event_id"] for b in bodies] == [f"{waybill}:{n}" for n in (1, 1, 2, 2)]
    assert receiver.calls[0][0] == receiver.calls[1][0]  # byte for byte: one event, twice
    assert stats["webhooks_duplicated"] == 2  # second copies, counted for the crash-safety run


async def test_reversed_webhooks_deliver_a_batch_last_event_first() -> None:
    receiver = Receiver()
    async with courier_with_hooks(receiver) as http:
        _, waybill = await mail_one(http)
        await receiver.received(1)
        await http.post("/v1/_faults", json={"reverse_webhooks": True})
        batch = await http.post(
            f"/v1/shipments/{waybill}/events/batch",
            json={
                "events": [
                    {"status": "in_transit"},
                    {"status": "delivered", "signer": "张三"},
                ]
            },
        )
        bodies = await receiver.received(3)
        tracked = (await http.get(f"/v1/shipments/{waybill}")).json()

    assert batch.status_code == 201
    assert [e["status"] for e in batch.json()] == ["in_transit", "delivered"]
    assert [b["status"] for b in bodies] == ["accepted", "delivered", "in_transit"]
    assert [e["status"] for e in tracked["events"]] == ["accepted", "in_transit", "delivered"]
    assert tracked["status"] == "delivered"  # tracking keeps the courier's order


async def test_a_lost_webhook_is_never_sent_but_stays_in_tracking() -> None:
    receiver = Receiver()
    async with courier_with_hooks(receiver) as http:
        _, waybill = await mail_one(http)
        await http.post("/v1/_faults", json={"lose_webhooks": True})
        await http.post(f"/v1/shipments/{waybill}/events", json={"status": "in_transit"})
        stats = (await http.get("/v1/_stats")).json()
        await http.delete("/v1/_faults")
        await http.post(
            f"/v1/shipments/{waybill}/events", json={"status": "delivered", "signer": "张三"}
        )
        # Webhooks go out in order: once the delivery arrived, the lost one would have too.
        bodies = await receiver.received(2)
        tracked = (await http.get(f"/v1/shipments/{waybill}")).json()

    assert [b["status"] for b in bodies] == ["accepted", "delivered"]
    assert len(receiver.calls) == 2
    assert stats["webhooks_lost"] == 1
    assert [e["status"] for e in tracked["events"]] == ["accepted", "in_transit", "delivered"]


async def test_state_file_keeps_idempotency_across_restarts(tmp_path: Path) -> None:
    state_file = tmp_path / "postal" / "state.json"
    reference, key = new_key()
    async with running(state_file=state_file) as url, httpx.AsyncClient(base_url=url) as http:
        waybill = (await create(http, key, letter(reference))).json()["waybill_no"]
        await http.post(f"/v1/shipments/{waybill}/events", json={"status": "in_transit"})

    async with running(state_file=state_file) as url, httpx.AsyncClient(base_url=url) as http:
        again = await create(http, key, letter(reference))
        conflict = await create(http, key, letter(reference, address="山东省济宁市兖州区 2 号"))
        tracked = (await http.get(f"/v1/shipments/{waybill}")).json()

    assert (again.status_code, again.json()["waybill_no"]) == (200, waybill)
    assert conflict.status_code == 409
    assert tracked["status"] == "in_transit"
    assert tracked["recipient_name"] == "张三"
    kept = state_file.read_text(encoding="utf-8")
    assert "13800138000" not in kept and "红星中路" not in kept  # mobile, address: never kept
