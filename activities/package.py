"""The archive package (案卷): every part of a case's file, each with its SHA-256, and one
digest over them, in RFC 8785 canonical JSON so anyone can recompute it in any language.

Parts: the case record, the documents with their SHA-256, the materials list, the event log
with its hash chain, decisions and sign-offs with their actors, the expert draws, delivery
proof, the referral, the outbox, and the Temporal history export. Delivery and referral are
taken from the event log by the kind's family (the part before the first dot), so kinds added
later (public notice, referral to the province) land in their part without a change here."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import rfc8785

from activities.storage import Executor
from schemas.steps import ArchiveRequest

FORMAT = "appraisal-archive/2"
RETENTION_YEARS = 50  # the default when the case captured no policy key (DOMAIN.md)

# Event kind families (the part of `kind` before the first dot) of each derived part.
DECISION_FAMILIES = {
    "application",
    "supplement",
    "green_channel",
    "recusal",
    "attendance",
    "examination",
    "opinion",
    "review",
    "conclusion",
    "case",
    "prior_conclusion",
}
DELIVERY_FAMILIES = {
    "letter",
    "postal",
    "address",
    "delivery",
    "notice",  # notice.published: 公告送达, where, when, deemed delivered on
    "dispute_window",  # dispute_window.ended
}
REFERRAL_FAMILIES = {"referral", "re_appraisal"}


def plain(value: Any) -> Any:
    """A JSON value: instants in UTC ISO 8601, dates ISO, records as objects."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS): sorted keys, no whitespace, ECMAScript numbers, UTF-8."""
    return rfc8785.dumps(value)


def sha256(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def family(kind: str) -> str:
    return kind.split(".", 1)[0]


async def case_record(conn: Executor, case_id: str) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    return {k: plain(v) for k, v in dict(row or {}).items() if k != "updated_at"}


async def documents(conn: Executor, case_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT document_id, kind, media_type, size, sha256, created_at FROM documents
           WHERE case_id = $1 ORDER BY document_id""",
        case_id,
    )
    return [plain(dict(r)) for r in rows]


async def events(conn: Executor, case_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, seq, event_key, stage, kind, actor, occurred_at, data::text AS data,
                  prev_hash, hash
           FROM case_events WHERE case_id = $1 ORDER BY seq""",
        case_id,
    )
    return [plain({**dict(r), "data": json.loads(r["data"])}) for r in rows]


async def panel_draws(conn: Executor, case_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT attempt, seed, pool_size, pool_sha256, eligible, wrong_specialty, short_by,
                  members::text AS members, exclusions::text AS exclusions,
                  criteria::text AS criteria, snapshot::text AS snapshot, drawn_at
           FROM panel_draws WHERE case_id = $1 ORDER BY attempt""",
        case_id,
    )
    parsed = ("members", "exclusions", "criteria", "snapshot")
    return [
        plain({k: json.loads(v) if k in parsed and v is not None else v for k, v in r.items()})
        for r in rows
    ]


async def outbox(conn: Executor, case_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT message_key, channel, recipient, subject, created_at FROM outbox
           WHERE case_id = $1 ORDER BY message_key""",
        case_id,
    )
    return [plain(dict(r)) for r in rows]


def of_families(log: list[dict[str, Any]], families: set[str]) -> list[dict[str, Any]]:
    return [
        {k: e[k] for k in ("id", "seq", "kind", "actor", "occurred_at", "data")}
        for e in log
        if family(e["kind"]) in families
    ]


async def collect(
    conn: Executor, request: ArchiveRequest, history: dict[str, Any]
) -> dict[str, Any]:
    """Every part of the package, as JSON values."""
    log = await events(conn, request.case_id)
    materials = [
        {**m.model_dump(mode="json"), "handed_in": when}
        for when, items in (
            ("application", request.materials),
            ("supplemented", request.supplemented),
        )
        for m in items
    ]
    return {
        "case": await case_record(conn, request.case_id),
        "documents": await documents(conn, request.case_id),
        "materials": materials,
        "events": log,
        "decisions": of_families(log, DECISION_FAMILIES),
        "panel_draws": await panel_draws(conn, request.case_id),
        "delivery": {
            "shipments": [s.model_dump(mode="json") for s in request.shipments],
            "events": of_families(log, DELIVERY_FAMILIES),
            # 公告送达: each publication (recipient, place, time, deemed-delivered date, the
            # notice document and its SHA-256), as the case recorded it.
            "public_notices": [e["data"] for e in log if e["kind"] == "notice.published"],
        },
        "referral": of_families(log, REFERRAL_FAMILIES),
        "outbox": await outbox(conn, request.case_id),
        "history": history,
    }


def manifest(request: ArchiveRequest, retain_until: date, parts: dict[str, Any]) -> dict[str, Any]:
    """What the digest covers: the case, dates, and each part's SHA-256."""
    history_events = parts["history"].get("events", [])
    log = parts["events"]
    return {
        "format": FORMAT,
        "case_id": request.case_id,
        "archived_at": plain(request.archived_at),
        "retain_until": retain_until.isoformat(),
        "canonicalization": "RFC 8785 (JCS); part and package hashes are SHA-256 of it",
        # The chain's head when sealed: the `case.archived` row follows, nothing else.
        "events_through": {"seq": log[-1]["seq"], "hash": log[-1]["hash"]} if log else None,
        # The export is the history up to the archiving activity (scheduled, not completed).
        "history_through_event": history_events[-1]["eventId"] if history_events else None,
        "parts": {name: {"sha256": sha256(value)} for name, value in parts.items()},
    }
