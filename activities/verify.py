"""Check a sealed archive against what PostgreSQL holds now (`appraisal archive verify`).

Recomputes the package digest over the manifest, each part's SHA-256 over its stored
content, every document's SHA-256 over its bytes, and the case's event chain; then compares
the live rows (events, expert draws, the case row) with the package. Names each alteration:
the part and, for the event log, the row id."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from pydantic import BaseModel

from activities import chain, package
from activities.archive import canonical as dump_canonical
from activities.storage import Executor


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
    # The digest the case's Temporal history recorded (`--anchor`): matches, differs, or the
    # history is no longer retained; None when not asked.
    anchor: str | None = None

    @property
    def ok(self) -> bool:
        return not self.altered


async def verify_case(conn: Executor, case_id: str) -> ArchiveCheck | None:
    """None when the case has no archive."""
    row = await conn.fetchrow(
        """SELECT format, sha256, retain_until, case_file::text AS case_file,
                  manifest::text AS manifest, history::text AS history
           FROM archives WHERE case_id = $1""",
        case_id,
    )
    if row is None:
        return None
    live_events = await conn.fetch(
        f"SELECT {chain.CHAIN_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
    )
    found = [
        Alteration(part="events", row_id=b.row_id, what=b.text()) for b in chain.breaks(live_events)
    ]
    case_file = json.loads(row["case_file"])
    if row["format"] == 1:  # before the package: a digest over the dump, and the chain
        if hashlib.sha256(dump_canonical(case_file)).hexdigest() != row["sha256"]:
            found.append(Alteration(part="case_file", what="存档内容被修改 (the dump was altered)"))
        checked = ["digest (format 1)", "events chain"]
    else:
        manifest = json.loads(row["manifest"])
        parts = {**case_file, "history": json.loads(row["history"])}
        found = [*sealed(row["sha256"], manifest, parts), *found]
        found += await live(conn, case_id, row["sha256"], manifest, case_file, live_events)
        checked = ["digest", "parts", "documents", "events chain", "events", "panel_draws", "case"]
    return ArchiveCheck(
        case_id=case_id,
        format=row["format"],
        sha256=row["sha256"],
        retain_until=row["retain_until"],
        checked=checked,
        altered=unique(found),
    )


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
