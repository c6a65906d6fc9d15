"""The courier's webhooks through the real gateway over HTTP, into real cases (dev server,
`worker.py`, PostgreSQL): every forged, stale, replayed, misdirected or malformed webhook is
refused with a 4xx and a JSON reason while the case's history stays exactly as it was; a valid
one delivered twice is one event; the CLI's `postal` refuses the same waybills."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
from temporalio.api.enums.v1 import EventType

from infra import signing
from schemas.steps import Recipient, Stage
from tests.gateway_fixtures import (
    SECRET,
    Cases,
    Tokens,
    bearer,
    encoded,
    post_webhook,
    quiet_length,
    signed_headers,
    tracking,
)
from tests.helpers import new_id, wait_for
from tests.integration.conftest import Stack

SIG, EVENT = signing.SIGNATURE_HEADER, signing.EVENT_ID_HEADER


def waybill(case_status: Any, recipient: Recipient) -> str:
    (found,) = [s.waybill_no for s in case_status.shipments if s.recipient is recipient]
    return str(found)


def refusal(response: httpx.Response, status: int, error: str) -> str:
    """The JSON reason of a refusal; fails unless it is `status` with `error`."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == error and body["message"], body
    assert set(body) == {"error", "message"}
    return str(body["message"])


async def test_forged_stale_replayed_misdirected_and_malformed_webhooks_are_refused(
    gateway: httpx.AsyncClient, delivery_cases: Cases, tokens: Tokens
) -> None:
    case, other, _ = delivery_cases
    mine, theirs = await case.status(), await other.status()
    letter = waybill(mine, Recipient.worker)
    before = await quiet_length(case)
    body = tracking(case.handle.id, letter)
    raw = encoded(body)

    unsigned = await post_webhook(gateway, body, without=(SIG,))
    assert "X-Postal-Signature is missing" in refusal(unsigned, 401, "bad_signature")
    wrong_secret = {SIG: signing.sign("not-the-secret", raw)}
    assert "does not match" in refusal(
        await post_webhook(gateway, body, wrong_secret), 401, "bad_signature"
    )
    garbled = {SIG: "sha256=deadbeef"}
    assert "t=<seconds>" in refusal(
        await post_webhook(gateway, body, garbled), 401, "bad_signature"
    )
    stale = {SIG: signing.sign(SECRET, raw, int(time.time()) - signing.MAX_SKEW - 60)}
    assert "more than 300 s" in refusal(
        await post_webhook(gateway, body, stale), 401, "bad_signature"
    )
    # A captured request replayed with a body of its own (say, "returned" instead of
    # "delivered"): the signature no longer signs the body.
    captured = signed_headers(raw, body["event_id"])
    altered = json.dumps({**body, "status": "returned", "reason": "拒收"}).encode()
    replayed = await gateway.post("/v1/postal/webhooks", content=altered, headers=captured)
    assert "does not match" in refusal(replayed, 401, "bad_signature")
    # ... or under a new event id to slip past de-duplication: the id is in the signed body.
    renamed = await post_webhook(gateway, body, {EVENT: "ems-another-id"})
    assert "signed body's event_id" in refusal(renamed, 400, "event_id_mismatch")
    no_id = await post_webhook(gateway, body, without=(EVENT,))
    assert "X-Postal-Event-Id is missing" in refusal(no_id, 400, "event_id_missing")

    unknown = tracking(case.handle.id, "EA000000000CN")
    message = refusal(await post_webhook(gateway, unknown), 422, "unknown_waybill")
    assert message.startswith("运单 EA000000000CN 不是本系统寄出的结论书 (")
    theirs_body = tracking(case.handle.id, waybill(theirs, Recipient.worker))
    message = refusal(await post_webhook(gateway, theirs_body), 422, "waybill_not_of_case")
    assert other.handle.id not in message  # the other case is not named
    no_case = tracking("JN-NO-SUCH-CASE", letter)
    refusal(await post_webhook(gateway, no_case), 422, "waybill_not_of_case")

    hospital = await post_webhook(gateway, body, bearer(tokens.hospital))
    assert "lacks the scope postal" in refusal(hospital, 403, "forbidden")
    forged_token = await post_webhook(gateway, body, bearer("agw_made-up"))
    refusal(forged_token, 401, "unauthenticated")

    for malformed in (
        b"{not json",
        b"[]",
        json.dumps({**body, "status": "lost"}).encode(),
        json.dumps({**body, "occurred_at": "yesterday"}).encode(),
        json.dumps({k: v for k, v in body.items() if k != "waybill_no"}).encode(),
    ):
        sent = await post_webhook(gateway, malformed, {EVENT: body["event_id"]})
        message = refusal(sent, 422, "invalid_request")
        assert "本人" not in message  # the input is never echoed
    huge = json.dumps({**body, "signer": "x" * 20_000}).encode()
    too_large = await post_webhook(gateway, huge, {EVENT: body["event_id"]})
    assert "larger than 16384 bytes" in refusal(too_large, 413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: cut off while reading
        for _ in range(40):
            yield b" " * 1024

    chunked = await gateway.post(
        "/v1/postal/webhooks", content=chunks(), headers=signed_headers(b"", body["event_id"])
    )
    refusal(chunked, 413, "body_too_large")

    assert await quiet_length(case) == before  # nothing reached the case
    assert (await case.status()).shipments == mine.shipments


def accepted_updates(history: Any, update_id: str) -> int:
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        and e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        == update_id
    )


async def test_a_webhook_delivered_twice_is_one_event_and_a_closed_case_refuses(
    gateway: httpx.AsyncClient, delivery_cases: Cases, db_pool: asyncpg.Pool
) -> None:
    case = delivery_cases[2]
    status = await case.status()
    worker, employer = (waybill(status, r) for r in Recipient)

    # In transit, delivered twice at once (a courier retrying while the first is in flight).
    moving = tracking(case.handle.id, worker, "in_transit")
    first, second = await asyncio.gather(
        post_webhook(gateway, moving), post_webhook(gateway, moving)
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json()["answer"] == f"postal event in_transit recorded for {worker}"

    signed_for = tracking(case.handle.id, worker)
    answered = await post_webhook(gateway, signed_for)
    assert answered.status_code == 200, answered.text
    assert answered.json() == {
        "case_id": case.handle.id,
        "event_id": signed_for["event_id"],
        "answer": f"postal event delivered recorded for {worker}",
    }
    length = await quiet_length(case)
    again = await post_webhook(gateway, signed_for)  # a courier's retry, minutes later
    assert again.status_code == 200 and again.json() == answered.json()
    assert await quiet_length(case) == length  # signalled nothing

    history = await case.handle.fetch_history()
    assert accepted_updates(history, moving["event_id"]) == 1
    assert accepted_updates(history, signed_for["event_id"]) == 1
    rows = await db_pool.fetch(
        "SELECT kind, actor FROM case_events WHERE case_id = $1 AND data->>'waybill_no' = $2"
        " AND kind LIKE 'postal.%'",
        case.handle.id,
        worker,
    )
    assert sorted(r["kind"] for r in rows) == ["postal.delivered", "postal.in_transit"]
    assert {r["actor"] for r in rows} == {"ems-webhook"}
    shipment = {s.waybill_no: s for s in (await case.status()).shipments}[worker]
    assert shipment.status == "delivered" and shipment.signer == "本人"

    # The second letter signed for: the dispute window runs; stale news of a letter signed for
    # changes nothing (answered as ignored), and a closed case refuses everything, with the reason.
    assert (await post_webhook(gateway, tracking(case.handle.id, employer))).status_code == 200
    waiting = await wait_for(case.handle, lambda s: s.stage is Stage.archiving)
    assert all(s.status == "delivered" for s in waiting.shipments)
    late = await post_webhook(gateway, tracking(case.handle.id, employer, "in_transit"))
    assert late.status_code == 200 and "ignored" in late.json()["answer"], late.text
    await case.handle.terminate("test over")
    late = await post_webhook(gateway, tracking(case.handle.id, employer, "in_transit"))
    assert "已结束" in refusal(late, 409, "case_closed")
    # The webhook accepted before is still answered the same after the case closed.
    assert (await post_webhook(gateway, signed_for)).json() == answered.json()


async def test_the_cli_refuses_an_unknown_waybill_or_another_cases(
    stack: Stack, delivery_cases: Cases
) -> None:
    other, case, _ = delivery_cases
    theirs = waybill(await other.status(), Recipient.employer)
    before = await quiet_length(case)
    code, out, err = await stack.appraisal("postal", case.handle.id, "--waybill", theirs)
    assert code == 1 and out == ""
    assert err.strip() == (
        f"refused: 运单 {theirs} 不是案件 {case.handle.id} 的结论书 "
        f"(waybill {theirs} belongs to another case, not {case.handle.id})"
    )
    code, out, err = await stack.appraisal("postal", case.handle.id, "--waybill", "hello")
    assert code == 1 and "不是本系统寄出的结论书" in err
    assert await quiet_length(case) == before

    mine = waybill(await case.status(), Recipient.worker)
    event = new_id("cli")
    args = ("postal", case.handle.id, "--waybill", mine, "--status", "in_transit")
    code, out, err = await stack.appraisal(*args, "--event", event, "--json")
    assert code == 0, err
    assert json.loads(out)["answer"] == f"postal event in_transit recorded for {mine}"
