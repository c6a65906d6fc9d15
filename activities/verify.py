"""Check a sealed archive against what PostgreSQL holds now (`appraisal archive verify`, and
`appraisal audit` through `verify_case`).

Checks the seal first: a worker's Ed25519 signature over the digest and the event chain's head
(infra/seal.py), which PostgreSQL's owner cannot make. Then recomputes the package digest over
the manifest, each part's SHA-256 over its stored content, every document's SHA-256 over its
bytes, and the case's event chain; then compares the live rows (events, expert draws, the case
row) with the package. Names each alteration: the part and, for the event log, the row id."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from pydantic import BaseModel

from activities import chain, package
from activities.archive import canonical as dump_canonical
from activities.storage import Executor
from infra import seal as seals
from infra.settings import settings
from schemas.steps import SealStatement


class Alteration(BaseModel):
    part: str  # events, documents, panel_draws, case, history, manifest, …
    row_id: int | None = None  # case_events.id for the event log
    item: str | None = None  # a document id, a draw attempt
    what: str


class ArchiveCheck(BaseModel):
    case_id: str
    format: int
    sha256: str
    retain_until: date
    checked: list[str]
    altered: list[Alteration]
    # Who signed the seal and when, or why it does not verify.
    seal: str | None = None
    # The digest the case's Temporal history recorded (`--anchor`): matches, differs, or the
    # history is no longer retained; None when not asked.
    anchor: str | None = None

    @property
    def ok(self) -> bool:
        return not self.altered


ARCHIVE_ROW = """SELECT format, sha256, retain_until, case_file::text AS case_file,
                         manifest::text AS manifest, history::text AS history,
                         seal::text AS seal, seal_key_id, seal_signature
                  FROM archives WHERE case_id = $1"""


async def verify_case(
    conn: Executor, case_id: str, keys: seals.Keyring | None = None
) -> ArchiveCheck | None:
    """None when the case has no archive. `keys`: the verification keys by key id; None for
    the configured ones (ARCHIVE_VERIFY_KEYS, …; `seals.KeyProblem` when there are none)."""
    keys = seals.verify_keys(settings()) if keys is None else keys
    row = await conn.fetchrow(ARCHIVE_ROW, case_id)
    if row is None:
        return None
    live_events = await conn.fetch(
        f"SELECT {chain.CHAIN_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
    )
    signed, found = seal_check(case_id, row, keys)
    case_file = json.loads(row["case_file"])
    manifest = json.loads(row["manifest"]) if row["format"] == 2 else {}
    if manifest:
        found += sealed(
            row["sha256"], manifest, {**case_file, "history": json.loads(row["history"])}
        )
    found += [
        Alteration(part="events", row_id=b.row_id, what=b.text()) for b in chain.breaks(live_events)
    ]
    if signed is not None:
        found += signed_head(signed, row["format"], manifest, live_events)
    if row["format"] == 1:  # before the package: a digest over the dump, and the chain
        if hashlib.sha256(dump_canonical(case_file)).hexdigest() != row["sha256"]:
            found.append(Alteration(part="case_file", what="存档内容被修改 (the dump was altered)"))
        checked = ["seal", "digest (format 1)", "events chain"]
    else:
        found += await live(conn, case_id, row["sha256"], manifest, case_file, live_events)
        checked = [
            "seal",
            "digest",
            "parts",
            "documents",
            "events chain",
            "events",
            "panel_draws",
            "case",
        ]
    return ArchiveCheck(
        case_id=case_id,
        format=row["format"],
        sha256=row["sha256"],
        retain_until=row["retain_until"],
        checked=checked,
        altered=unique(found),
        seal=describe_seal(signed, found),
    )


def seal_check(
    case_id: str, row: Any, keys: seals.Keyring
) -> tuple[SealStatement | None, list[Alteration]]:
    """The signed statement when its signature verifies, and what does not match it: the
    case, the format, the digest. An archive without a seal is a finding: every archive is
    signed when sealed, or later with `archive sign-legacy` if sealed before signatures, so a
    missing one was removed (or never added)."""

    def finding(what: str) -> list[Alteration]:
        return [Alteration(part="seal", what=what)]

    if row["seal"] is None:
        return None, finding(
            "未签名 (unsigned: the signature was removed, or the archive was sealed before "
            "signatures and never signed with `appraisal archive sign-legacy`)"
        )
    raw = json.loads(row["seal"])
    if problem := seals.check(keys, raw, row["seal_signature"] or ""):
        return None, finding(f"签名无效 ({problem})")
    statement = SealStatement.model_validate(raw)
    differs = [
        f"{name}: signed {signed!r}, stored {stored!r}"
        for name, signed, stored in (
            ("case", statement.case_id, case_id),
            ("format", statement.format, row["format"]),
            ("key id", statement.key_id, row["seal_key_id"]),
            ("digest", statement.digest, row["sha256"]),
        )
        if signed != stored
    ]
    if differs:
        return statement, finding(
            f"与签名不符 (the archive differs from its signed statement: {'; '.join(differs)}: "
            "it was rewritten)"
        )
    return statement, []


def signed_head(
    statement: SealStatement, format_: int, manifest: dict[str, Any], events: list[Any]
) -> list[Alteration]:
    """The event chain as signed: the row at the signed head still has the signed hash (each
    hash covers every row before it), and the package names the same head."""
    found = []
    head = statement.events_through
    if format_ == 2 and manifest.get("events_through") != (head.model_dump() if head else None):
        found.append(
            Alteration(
                part="manifest",
                what="清单的链头与签名不符 (the manifest's chain head differs from the signed one)",
            )
        )
    if head is None:
        return found
    at = next((r for r in events if r["seq"] == head.seq), None)
    if at is None or at["hash"] != head.hash:
        found.append(
            Alteration(
                part="events",
                row_id=at["id"] if at else None,
                what=f"事件链被改写 (the chain's row at seq {head.seq} no longer has the signed "
                f"hash {head.hash[:16]}…: the event log was rewritten)",
            )
        )
    if format_ == 1:  # the package checks its own tail (event_rows)
        for r in events:
            closing = (
                r["kind"] == "case.archived"
                and r["seq"] == head.seq + 1
                and json.loads(r["data"]).get("sha256") == statement.digest
            )
            if r["seq"] > head.seq and not closing:
                found.append(
                    Alteration(
                        part="events",
                        row_id=r["id"],
                        what=f"event row {r['id']} (seq {r['seq']}, {r['kind']}): "
                        "归档后被插入 (inserted after the archive was sealed)",
                    )
                )
    return found


def describe_seal(statement: SealStatement | None, found: list[Alteration]) -> str:
    if statement is None:
        return "none that verifies (see the seal finding)"
    when = (
        "when sealed"
        if statement.signed == "at_seal"
        else f"later, on {statement.signed_at[:10]} (sealed before signatures)"
    )
    verdict = (
        "valid, but the archive no longer matches it"
        if any(a.part == "seal" for a in found)
        else "verifies"
    )
    return f"Ed25519 signature by key {statement.key_id}, signed {when}: {verdict}"


def sealed(digest: str, manifest: dict[str, Any], parts: dict[str, Any]) -> list[Alteration]:
    """The package as stored: its digest, and each part against the manifest."""
    found = []
    if package.sha256(manifest) != digest:
        found.append(
            Alteration(
                part="manifest", what="清单与摘要不符 (the manifest does not give the digest)"
            )
        )
    listed = manifest.get("parts", {})
    for name in sorted(set(listed) | set(parts)):
        if name not in parts or name not in listed:
            found.append(Alteration(part=name, what="部分缺失 (a part is missing)"))
        elif package.sha256(parts[name]) != listed[name].get("sha256"):
            found.append(
                Alteration(part=name, what="存档部分被修改 (its stored content was altered)")
            )
    return found


async def live(
    conn: Executor,
    case_id: str,
    digest: str,
    manifest: dict[str, Any],
    parts: dict[str, Any],
    events: list[Any],
) -> list[Alteration]:
    """What PostgreSQL holds now against the package."""
    found = await documents(conn, parts.get("documents", []), case_id)
    found += event_rows(parts.get("events", []), events, digest, manifest)
    draws = {d["attempt"]: d for d in await package.panel_draws(conn, case_id)}
    for attempt in sorted(set(draws) | {d["attempt"] for d in parts.get("panel_draws", [])}):
        kept = next((d for d in parts.get("panel_draws", []) if d["attempt"] == attempt), None)
        if (
            kept is None
            or attempt not in draws
            or package.sha256(kept) != package.sha256(draws[attempt])
        ):
            found.append(
                Alteration(
                    part="panel_draws",
                    item=f"attempt {attempt}",
                    what="专家抽取记录与存档不符 (the draw differs from the archive)",
                )
            )
    row = await package.case_record(conn, case_id)
    kept_case = parts.get("case", {})
    if changed := sorted(k for k in set(row) | set(kept_case) if row.get(k) != kept_case.get(k)):
        found.append(
            Alteration(
                part="case",
                what=f"案件记录与存档不符: {', '.join(changed)} (the case row differs from the archive)",
            )
        )
    return found


async def documents(conn: Executor, kept: list[dict[str, Any]], case_id: str) -> list[Alteration]:
    found = []
    rows = {
        r["document_id"]: r
        for r in await conn.fetch(
            "SELECT document_id, sha256, content FROM documents WHERE case_id = $1", case_id
        )
    }
    for doc in kept:
        stored = rows.pop(doc["document_id"], None)
        if stored is None:
            what = "文书被删除 (the document was deleted)"
        elif hashlib.sha256(stored["content"]).hexdigest() != doc["sha256"]:
            what = "文书内容与存档的 SHA-256 不符 (the document's bytes were altered)"
        elif stored["sha256"] != doc["sha256"]:
            what = "文书记录的 SHA-256 被修改 (the document's recorded SHA-256 was altered)"
        else:
            continue
        found.append(Alteration(part="documents", item=doc["document_id"], what=what))
    for added in rows:
        found.append(
            Alteration(part="documents", item=added, what="归档后新增的文书 (added after sealing)")
        )
    return found


def event_rows(
    kept: list[dict[str, Any]], rows: list[Any], digest: str, manifest: dict[str, Any]
) -> list[Alteration]:
    """Each event row against the package: deleted, edited, or added after sealing (only the
    `case.archived` row naming this digest may follow the sealed head)."""
    found = []
    live_rows = {r["id"]: r for r in rows}
    for event in kept:
        row = live_rows.pop(event["id"], None)
        if row is None:
            what = "已删除 (deleted)"
        elif (
            row["hash"] != event["hash"]
            or chain.event_hash(row) != event["hash"]
            or package.canonical(json.loads(row["data"])) != package.canonical(event["data"])
        ):
            what = "内容被修改 (edited)"
        else:
            continue
        found.append(
            Alteration(
                part="events",
                row_id=event["id"],
                what=f"event row {event['id']} (seq {event['seq']}, {event['kind']}): {what}",
            )
        )
    head = (manifest.get("events_through") or {}).get("seq", 0)
    for row in live_rows.values():
        closing = row["kind"] == "case.archived" and row["seq"] == head + 1
        if closing and json.loads(row["data"]).get("sha256") == digest:
            continue
        found.append(
            Alteration(
                part="events",
                row_id=row["id"],
                what=f"event row {row['id']} (seq {row['seq']}, {row['kind']}): "
                "归档后被插入 (inserted after the archive was sealed)",
            )
        )
    return found


def unique(found: list[Alteration]) -> list[Alteration]:
    """One line per part and row: the first, most precise, finding."""
    seen: set[tuple[str, int | None, str | None]] = set()
    kept = []
    for a in found:
        key = (a.part, a.row_id, a.item)
        if key not in seen:
            seen.add(key)
            kept.append(a)
    return kept


async def sealed_document(
    conn: Executor,
    case_id: str,
    document_id: str,
    content: bytes,
    keys: seals.Keyring | None = None,
) -> str | None:
    """Why a document of an archived case must not be handed out, or None: its bytes against
    the SHA-256 the signed package lists (a forged document with its hash rewritten in
    `documents` passes its own check, not this one). None too when the case is not archived
    (its stored SHA-256 is all there is) or its archive is of format 1 (no documents listed)."""
    row = await conn.fetchrow(
        """SELECT format, sha256, manifest::text AS manifest,
                  (case_file->'documents')::text AS documents,
                  seal::text AS seal, seal_key_id, seal_signature
           FROM archives WHERE case_id = $1""",
        case_id,
    )
    if row is None:
        return None
    keys = seals.verify_keys(settings()) if keys is None else keys
    _, found = seal_check(case_id, row, keys)
    if found:
        return f"the case's archive does not verify: {found[0].what}"
    if row["format"] == 1:
        return None
    manifest = json.loads(row["manifest"])
    listed = json.loads(row["documents"] or "[]")
    if package.sha256(manifest) != row["sha256"] or package.sha256(listed) != manifest.get(
        "parts", {}
    ).get("documents", {}).get("sha256"):
        return "the archive's list of documents was altered (it no longer gives the signed digest)"
    kept = next((d for d in listed if d.get("document_id") == document_id), None)
    if kept is None:
        return f"{document_id} is not in the case's signed archive (added after sealing)"
    actual = hashlib.sha256(content).hexdigest()
    if actual != kept["sha256"]:
        return (
            f"{document_id} hashes to {actual}, the case's signed archive lists "
            f"{kept['sha256']}: it was altered"
        )
    return None
