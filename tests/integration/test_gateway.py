"""The gateway's other doors over HTTP, on the real stack: a hospital's examination results
move the case on, re-appraisal requests reach the case's update, the hotline's ledger, scopes,
token rotation and revocation (with the CLI), OpenAPI, and 503 while Temporal is down."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx

from gateway import cases as case_door
from gateway.app import create_app
from gateway.deps import Gateway
from infra import db
from infra.settings import Settings
from schemas.clock import CHINA_TZ
from schemas.events import ExpertOpinion
from schemas.outcome import Outcome, Verdict
from tests.gateway_fixtures import (
    SECRET,
    Cases,
    Tokens,
    add_client,
    bearer,
    encoded,
    post_webhook,
    quiet_length,
    running_gateway,
    signed_headers,
    tracking,
    waiting_for_examination,
)
from tests.helpers import new_id, refused
from tests.integration.conftest import Stack, free_port
from workflows.case import AppraisalCase


def refusal(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == error and body["message"], body
    return str(body["message"])


async def test_examination_results_are_accepted_by_the_case_and_it_moves_on(
    gateway: httpx.AsyncClient, stack: Stack, tokens: Tokens, db_pool: asyncpg.Pool
) -> None:
    case = await waiting_for_examination(stack)
    status = await case.status()
    assert status.panel is not None
    assert status.pending_actions == ["examination_results from 济宁市第一人民医院"]
    assert status.panel is not None
    expert = status.panel.members[0].expert_id
    opinion = ExpertOpinion(
        event_id=new_id("op"),
        actor=expert,
        expert_id=expert,
        outcome=Outcome(verdict=Verdict.grade_8),
    )
    assert "正在等待" in await refused(case, AppraisalCase.record_opinion, opinion)
    url = f"/v1/cases/{case.handle.id}/examination-results"
    results = {"event_id": "emg-1", "summary": "肌电图: 右腓总神经传导速度减慢"}

    before = await quiet_length(case)
    refusal(await gateway.post(url, json=results), 401, "unauthenticated")
    hotline = await gateway.post(url, json=results, headers=bearer(tokens.hotline))
    assert "lacks the scope examinations" in refusal(hotline, 403, "forbidden")
    for malformed in (
        {**results, "actor": "someone"},
        {"event_id": "x"},
        {**results, "summary": ""},
    ):
        sent = await gateway.post(url, json=malformed, headers=bearer(tokens.hospital))
        assert "肌电图" not in refusal(sent, 422, "invalid_request")
    sent = await gateway.post(
        url,
        content=b"{oops",
        headers={**bearer(tokens.hospital), "Content-Type": "application/json"},
    )
    refusal(sent, 422, "invalid_request")
    assert await quiet_length(case) == before  # refused at the door: nothing reached the case
    # Another hospital's credential: the case refuses results from where it commissioned none
    # (and records the refusal, as every refusal of the case's own).
    other = await gateway.post(url, json=results, headers=bearer(tokens.other_hospital))
    assert "结果只收受委托医院的" in refusal(other, 409, "refused")

    accepted = await gateway.post(url, json=results, headers=bearer(tokens.hospital))
    assert accepted.status_code == 200, accepted.text
    answer = accepted.json()
    assert answer["answer"] == "examination results recorded"
    assert answer["event_id"].endswith(":emg-1") and answer["case_id"] == case.handle.id
    again = await gateway.post(url, json=results, headers=bearer(tokens.hospital))
    assert again.status_code == 200 and again.json() == answer  # the same event, once

    status = await case.status()
    assert status.panel is not None
    assert status.pending_actions == [
        f"record_opinion from {m.expert_id}" for m in status.panel.members
    ]
    assert "recorded" in await case.update(AppraisalCase.record_opinion, opinion)  # moves on

    # The case's own refusal comes back with its reason.
    late = await gateway.post(
        url, json={**results, "event_id": "emg-2"}, headers=bearer(tokens.hospital)
    )
    assert "没有待回的委托检查" in refusal(late, 409, "refused")
    unknown = await gateway.post(
        "/v1/cases/JN-NO-SUCH-1/examination-results", json=results, headers=bearer(tokens.hospital)
    )
    assert "no case JN-NO-SUCH-1" in refusal(unknown, 404, "unknown_case")

    # A re-appraisal request goes to the case's update `request_re_appraisal`; a case still
    # in the conclusion stage cannot take one (or, on a case of code without that update,
    # says it has no such step): a 409 with the reason either way.
    request = {"event_id": "ra-1", "requested_by": "worker", "reason": "对伤残等级有异议"}
    ra_url = f"/v1/cases/{case.handle.id}/re-appraisal-requests"
    hospital = await gateway.post(ra_url, json=request, headers=bearer(tokens.hospital))
    refusal(hospital, 403, "forbidden")
    sent = await gateway.post(ra_url, json=request, headers=bearer(tokens.hotline))
    assert sent.status_code == 409 and sent.json()["error"] in {"not_supported", "refused"}
    await case.handle.terminate("test over")
    # Each refusal of the case's own is in its event log, with who asked and why.
    refused_requests = await db_pool.fetch(
        """SELECT actor, data->>'request' AS request, data->>'reason' AS reason
           FROM case_events WHERE case_id = $1 AND kind = 'request.refused' ORDER BY seq""",
        case.handle.id,
    )
    assert [r["request"] for r in refused_requests] == [
        "ExpertOpinion",
        "ExaminationResults",
        "ExaminationResults",
        "ReAppraisalRequest",
    ]
    assert refused_requests[1]["actor"].startswith("hospital2-")
    assert "结果只收受委托医院的" in refused_requests[1]["reason"]
    assert refused_requests[3]["actor"].startswith("hotline-")


async def test_the_hard_question_ledger(
    gateway: httpx.AsyncClient, tokens: Tokens, delivery_cases: Cases
) -> None:
    case_id = delivery_cases[0].handle.id
    question = {
        "event_id": new_id("q"),
        "source": "12345",
        "category": "delivery",
        "question": "来电询问结论书何时寄到",
        "owner": "W0101",
        "case_id": case_id,
    }
    hotline = bearer(tokens.hotline)
    created = await gateway.post("/v1/ledger", json=question, headers=hotline)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert (entry["case_id"], entry["state"], entry["owner"]) == (case_id, "before", "W0101")
    assert entry["client_id"].startswith("hotline-") and entry["created_at"].endswith("+08:00")
    assert entry["entry_key"] == question["event_id"] and entry["recorded_by"] == entry["client_id"]
    repeat = await gateway.post("/v1/ledger", json=question, headers=hotline)
    assert repeat.status_code == 200 and repeat.json() == entry
    changed = await gateway.post(
        "/v1/ledger", json={**question, "question": "另一个问题"}, headers=hotline
    )
    refusal(changed, 409, "event_id_reused")

    general = {
        "event_id": new_id("q"),
        "source": "online",
        "category": "materials",
        "question": "提前告知材料清单",
        "owner": "W0102",
    }
    assert (await gateway.post("/v1/ledger", json=general, headers=hotline)).status_code == 201
    for wrong, status, error, said in (
        ({"case_id": "JN-NO-SUCH-2"}, 422, "unknown_case", "no case JN-NO-SUCH-2"),
        ({"owner": "W9999"}, 422, "unknown_owner", "W9999 is not on the roster"),
        ({"source": "fax"}, 422, "invalid_request", "source"),
        ({"phase": "during"}, 422, "invalid_request", "phase"),  # the old body
        ({"follow_up_due": "2020-01-01"}, 409, "refused", "in the past"),
    ):
        sent = await gateway.post(
            "/v1/ledger", json={**general, "event_id": new_id("q"), **wrong}, headers=hotline
        )
        assert said in refusal(sent, status, error)

    # Advance: one state at a time, idempotent by the event id; illegal moves refused.
    url = f"/v1/ledger/{entry['id']}/advance"
    step = {"event_id": new_id("s"), "to": "during", "note": "已解释邮寄与签收流程"}
    moved = await gateway.post(url, json=step, headers=hotline)
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "during"
    assert [s["kind"] for s in moved.json()["steps"]] == ["recorded", "advanced"]
    assert moved.json()["steps"][1]["actor"] == entry["client_id"]
    again = await gateway.post(url, json=step, headers=hotline)
    assert again.status_code == 200 and again.json()["steps"] == moved.json()["steps"]
    reused = await gateway.post(url, json={**step, "note": "别的"}, headers=hotline)
    refusal(reused, 409, "event_id_reused")
    skip = {"event_id": new_id("s"), "to": "closed", "note": "已回访"}
    assert "skips after" in refusal(
        await gateway.post(url, json=skip, headers=hotline), 409, "refused"
    )
    undated = {"event_id": new_id("s"), "to": "after", "note": "待回访"}
    assert "due date" in refusal(
        await gateway.post(url, json=undated, headers=hotline), 409, "refused"
    )
    due = (datetime.now(CHINA_TZ).date() + timedelta(days=3)).isoformat()
    after = await gateway.post(url, json={**undated, "follow_up_due": due}, headers=hotline)
    assert after.status_code == 200 and after.json()["follow_up_due"] == due
    missing = await gateway.post(
        "/v1/ledger/999999999/advance", json={**skip, "event_id": new_id("s")}, headers=hotline
    )
    refusal(missing, 404, "unknown_entry")

    shown = await gateway.get(f"/v1/ledger/{entry['id']}", headers=hotline)
    assert shown.status_code == 200 and shown.json()["state"] == "after"
    assert [s["to_state"] for s in shown.json()["steps"]] == ["before", "during", "after"]
    assert all(s["at"].endswith("+08:00") for s in shown.json()["steps"])
    refusal(await gateway.get("/v1/ledger/999999999", headers=hotline), 404, "unknown_entry")

    listed = await gateway.get("/v1/ledger", params={"case_id": case_id}, headers=hotline)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()] == [entry["id"]] and listed.json()[0]["steps"] is None
    online = await gateway.get("/v1/ledger", params={"source": "online"}, headers=hotline)
    assert {e["source"] for e in online.json()} == {"online"} and online.json()
    after_state = await gateway.get("/v1/ledger", params={"state": "after"}, headers=hotline)
    assert entry["id"] in {e["id"] for e in after_state.json()}
    refusal(await gateway.get("/v1/ledger", headers=bearer(tokens.hospital)), 403, "forbidden")
    refusal(
        await gateway.post("/v1/ledger", json=general, headers=bearer(tokens.ems)), 403, "forbidden"
    )
    refusal(await gateway.post(url, json=skip, headers=bearer(tokens.hospital)), 403, "forbidden")


async def test_tokens_are_stored_hashed_rotate_and_revoke(
    gateway: httpx.AsyncClient, stack: Stack, db_pool: asyncpg.Pool
) -> None:
    client_id = f"hotline-{uuid.uuid4().hex[:6]}"
    first = await add_client(stack, client_id, "ledger")
    assert first.startswith("agw_") and len(first) > 40
    stored = await db_pool.fetch(
        "SELECT token_sha256 FROM gateway_tokens WHERE client_id = $1", client_id
    )
    assert [r["token_sha256"] for r in stored] == [hashlib.sha256(first.encode()).hexdigest()]

    async def opens(token: str) -> bool:
        answer = await gateway.get("/v1/ledger", headers=bearer(token))
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 200

    assert await opens(first)
    code, out, err = await stack.appraisal(
        "gateway", "clients", "add", client_id, "--name", "x", "--scope", "ledger"
    )
    assert code == 1 and "exists" in err

    code, out, err = await stack.appraisal("gateway", "clients", "rotate", client_id, "--json")
    assert code == 0, err
    second = json.loads(out)["token"]
    assert await opens(first) and await opens(second)  # the old one, for the grace period
    code, out, err = await stack.appraisal(
        "gateway", "clients", "rotate", client_id, "--grace-hours", "0", "--json"
    )
    assert code == 0, err
    third = json.loads(out)["token"]
    assert not await opens(first) and not await opens(second) and await opens(third)
    code, out, err = await stack.appraisal("gateway", "clients", "list")
    assert code == 0 and client_id in out and "valid tokens" in out
    assert third not in out and first not in out  # a token is shown once, when made

    code, out, err = await stack.appraisal("gateway", "clients", "revoke", client_id)
    assert code == 0 and "revoked" in out, err
    assert not await opens(third)
    code, out, err = await stack.appraisal("gateway", "clients", "rotate", client_id)
    assert code == 1 and "revoked" in err
    code, out, err = await stack.appraisal("gateway", "clients", "list", "--json")
    (listed,) = [c for c in json.loads(out) if c["client_id"] == client_id]
    assert listed["revoked_at"] and listed["tokens"] == 0 and listed["scopes"] == ["ledger"]
    code, out, err = await stack.appraisal("gateway", "clients", "revoke", "no-such-client")
    assert code == 1 and err.startswith("refused: 没有客户端 no-such-client")
    code, out, err = await stack.appraisal(
        "gateway", "clients", "add", "Bad_Id", "--name", "x", "--scope", "ledger"
    )
    assert code == 1 and "client id" in err


async def test_503_with_retry_after_while_temporal_is_down(
    stack: Stack, database_url: str, tokens: Tokens, delivery_cases: Cases
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    case = delivery_cases[0]
    (shipment, *_) = (await case.status()).shipments
    async with running_gateway(stack, database_url, temporal_address=nowhere) as down:
        sent = await down.post(
            "/v1/cases/JN-ANY-1/examination-results",
            json={"event_id": "r-1", "summary": "结果"},
            headers=bearer(tokens.hospital),
        )
        assert "Temporal cannot be reached" in refusal(sent, 503, "temporal_unavailable")
        assert sent.headers["Retry-After"] == "30"
        # A webhook that passes every check of the gateway's own, then finds no Temporal.
        webhook = await post_webhook(down, tracking(case.handle.id, shipment.waybill_no))
        refusal(webhook, 503, "temporal_unavailable")
        assert webhook.headers["Retry-After"] == "30"
        assert (await down.get("/healthz")).json() == {"status": "ok"}


async def test_openapi_and_unknown_paths(gateway: httpx.AsyncClient) -> None:
    spec = (await gateway.get("/openapi.json")).json()
    assert {
        "/v1/postal/webhooks",
        "/v1/cases/{case_id}/examination-results",
        "/v1/cases/{case_id}/re-appraisal-requests",
        "/v1/ledger",
    } <= set(spec["paths"])
    webhook_body: Any = spec["paths"]["/v1/postal/webhooks"]["post"]["requestBody"]
    assert "waybill_no" in json.dumps(webhook_body)
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert (await gateway.get("/docs")).status_code == 200
    refusal(await gateway.get("/v1/nothing-here"), 404, "not_found")
    refusal(await gateway.get("/v1/postal/webhooks"), 405, "method_not_allowed")


async def test_503_with_retry_after_while_postgresql_is_gone(
    stack: Stack, database_url: str, tokens: Tokens
) -> None:
    config = Settings(temporal_address=stack.address, database_url=database_url)
    app = create_app(config)
    pool = await db.create_pool(database_url)
    await pool.close()  # as if the server went away under the gateway
    app.state.gateway = Gateway(config, pool, case_door.Cases(config))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        sent = await http.get("/v1/ledger", headers=bearer(tokens.hotline))
    assert "PostgreSQL cannot be reached" in refusal(sent, 503, "database_unavailable")
    assert sent.headers["Retry-After"] == "30"


async def test_the_courier_moves_to_a_new_webhook_secret(stack: Stack, database_url: str) -> None:
    body = tracking("JN-ANY-2", "EA000000000CN")  # passes the signature, then an unknown waybill
    raw = encoded(body)
    async with running_gateway(
        stack,
        database_url,
        postal_webhook_secret="the-new-secret",
        postal_webhook_previous_secret=SECRET,
    ) as moving:
        for secret in ("the-new-secret", SECRET):
            headers = signed_headers(raw, body["event_id"], secret)
            sent = await moving.post("/v1/postal/webhooks", content=raw, headers=headers)
            refusal(sent, 422, "unknown_waybill")
        headers = signed_headers(raw, body["event_id"], "a-third-secret")
        sent = await moving.post("/v1/postal/webhooks", content=raw, headers=headers)
        assert "does not match" in refusal(sent, 401, "bad_signature")
