"""The postal emulator over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from postal_emulator.app import running
from postal_emulator.server import serve
from postal_emulator.waybill import check_digit, is_valid
from tests.postal_fixtures import PostalFaults


def letter(reference: str, **changes: Any) -> dict[str, Any]:
    body = {
        "reference": reference,
        "recipient_name": "张三",
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
    assert "recipient_name" not in shipment  # the courier keeps no personal data


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


class Receiver:
    """A stand-in for our gateway: records webhooks, fails the first `failures` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[bytes, str]] = []
        self.seen: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._failures = failures
        self.app = FastAPI()
        self.app.post("/hooks")(self.hook)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.calls.append((body, request.headers.get("X-Postal-Signature", "")))
        if len(self.calls) <= self._failures:
            return Response(status_code=500)
        self.seen[json.loads(body)["status"]].set()
        return Response(status_code=204)


SECRET = "test-webhook-secret"


def signed_with(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_webhook_is_signed_with_hmac() -> None:
    receiver = Receiver()
    async with (
        serve(receiver.app) as hooks_url,
        running(webhook_url=f"{hooks_url}/hooks", webhook_secret=SECRET) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        reference, key = new_key()
        waybill = (await create(http, key, letter(reference))).json()["waybill_no"]
        await http.post(
            f"/v1/shipments/{waybill}/events", json={"status": "delivered", "signer": "张三"}
        )
        await asyncio.wait_for(receiver.seen["delivered"].wait(), timeout=5)

    body, signature = next(c for c in receiver.calls if json.loads(c[0])["status"] == "delivered")
    assert signature == signed_with(SECRET, body)
    event = json.loads(body)
    assert event["waybill_no"] == waybill
    assert event["reference"] == reference
    assert event["signer"] == "张三"
    assert event["event_id"] == f"{waybill}:2"


async def test_webhook_is_retried_after_a_failure() -> None:
    receiver = Receiver(failures=1)
    async with (
        serve(receiver.app) as hooks_url,
        running(webhook_url=f"{hooks_url}/hooks", webhook_secret=SECRET) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        reference, key = new_key()
        await create(http, key, letter(reference))
        await asyncio.wait_for(receiver.seen["accepted"].wait(), timeout=5)

    first, second = receiver.calls
    assert first == second  # the same event, body and signature again


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
    assert "张三" not in state_file.read_text(encoding="utf-8")  # no personal data on disk
