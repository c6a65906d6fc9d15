"""The hash chain of a case's event log (case_events), recomputed outside the database.

PostgreSQL chains each row as it is inserted (migration 012, `case_event_hash`); this module
computes the same hash in Python, so a check does not trust the database's own function, and
walks a case's chain naming every row that does not fit: edited, inserted or missing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # prev_hash of a case's first row

# A row as the chain sees it: `data` is PostgreSQL's rendering of the jsonb (`data::text`).
CHAIN_COLUMNS = """id, case_id, seq, prev_hash, hash, kind, event_key, actor, occurred_at, stage,
                   data::text AS data"""


def event_hash(row: dict[str, Any] | Any) -> str:
    """SHA-256 over the row's content, each field "<bytes>:<value>;" (no field can run into
    the next), in the order of the SQL function."""
    occurred: datetime = row["occurred_at"]
    fields = [
        row["case_id"],
        str(row["seq"]),
        row["prev_hash"],
        row["kind"],
        row["event_key"],
        row["actor"],
        occurred.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        row["stage"],
        row["data"],
    ]
    content = "".join(f"{len(f.encode())}:{f};" for f in fields)
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    """A row that does not fit the chain; `row_id` is case_events.id."""

    row_id: int
    seq: int
    kind: str
    what: str  # edited | inserted | missing_before | relinked

    def text(self) -> str:
        where = f"event row {self.row_id} (seq {self.seq}, {self.kind})"
        return {
            "edited": f"{where}: 内容被修改 (edited: its content no longer gives its hash)",
            "inserted": f"{where}: 被插入 (inserted: the chain runs past it)",
            "missing_before": f"{where}: 之前的记录被删除 (a row before it was deleted)",
            "relinked": f"{where}: 链接被改写 (its link to the row before was rewritten)",
        }[self.what]


def breaks(rows: Sequence[Any]) -> list[Break]:
    """Walk one case's rows in chain order (seq) and name each row that does not fit.

    A row whose content no longer gives its stored hash was edited, unless the next row skips
    it (links to the row before it): then it was inserted. A row whose prev_hash matches no
    row before it has lost its predecessor (deleted)."""
    found: list[Break] = []
    ordered = sorted(rows, key=lambda r: (r["seq"], r["id"]))
    stored = {r["hash"] for r in ordered}
    expected_prev = GENESIS
    for i, row in enumerate(ordered):
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        intact = event_hash(row) == row["hash"]
        if nxt is not None and nxt["prev_hash"] == expected_prev:  # the chain skips it
            found.append(Break(row["id"], row["seq"], row["kind"], "inserted"))
            continue  # the chain goes on from the row before it
        if not intact:
            found.append(Break(row["id"], row["seq"], row["kind"], "edited"))
        elif row["prev_hash"] != expected_prev:
            what = "relinked" if row["prev_hash"] in stored else "missing_before"
            found.append(Break(row["id"], row["seq"], row["kind"], what))
        expected_prev = row["hash"]
    return found
