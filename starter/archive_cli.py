"""`appraisal archive`: check sealed case files (案卷) against what PostgreSQL holds now.

`verify CASE` (or `--all`) recomputes the package digest, each part's SHA-256, every
document's SHA-256 and the event chain, and names what was altered. Exit codes: 0 intact,
4 altered, and as every command 1 refused (unknown or unarchived case), 3 error."""

from __future__ import annotations

import re
from typing import Annotated

import asyncpg
import typer

from activities.verify import ArchiveCheck, verify_case
from starter.app import AsJson, Refusal, print_json, refuse, run_on_db

app = typer.Typer(
    help="案卷 archives: verify a sealed case file (tamper evidence)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ALTERED = 4  # the archive does not verify (1: refused, 2: usage, 3: service unreachable)
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


async def check_one(conn: asyncpg.Connection, case_id: str) -> ArchiveCheck:
    found = await verify_case(conn, case_id)
    if found is None:
        stage = await conn.fetchval("SELECT stage FROM cases WHERE case_id = $1", case_id)
        if stage is None:
            raise Refusal(f"no case {case_id}")
        raise Refusal(f"案件 {case_id} 尚未归档 (case {case_id} is not archived: stage {stage})")
    return found


async def check_all(conn: asyncpg.Connection) -> list[ArchiveCheck]:
    ids = [r["case_id"] for r in await conn.fetch("SELECT case_id FROM archives ORDER BY case_id")]
    return [await check_one(conn, case_id) for case_id in ids]


@app.command()
def verify(
    case_id: Annotated[str | None, typer.Argument(help="the case number")] = None,
    every: Annotated[bool, typer.Option("--all", help="every archived case")] = False,
    as_json: AsJson = False,
) -> None:
    """Recompute an archive's digest and hashes; name every part and event row altered."""
    if every == (case_id is not None):
        refuse("give one case number or --all (a case number or --all is required, not both)")
    if case_id is not None and not CASE_ID.fullmatch(case_id):
        refuse(f"case id {case_id!r} is not valid (letters, digits, - and _ only)")

    async def go(conn: asyncpg.Connection) -> list[ArchiveCheck]:
        return await check_all(conn) if case_id is None else [await check_one(conn, case_id)]

    checks = run_on_db(go)
    if as_json:
        print_json([{**c.model_dump(mode="json"), "ok": c.ok} for c in checks])
    else:
        for check in checks:
            typer.echo(describe(check))
        if every:
            bad = sum(not c.ok for c in checks)
            typer.echo(f"{len(checks)} archives, {bad} altered")
    if any(not c.ok for c in checks):
        raise typer.Exit(ALTERED)


def describe(check: ArchiveCheck) -> str:
    head = f"{check.case_id}  format {check.format}  sha256 {check.sha256}  保管至 {check.retain_until}"
    if check.ok:
        return f"{head}\n  完好 (intact): {', '.join(check.checked)}"
    lines = [f"{head}\n  已被改动 (ALTERED):"]
    for a in check.altered:
        where = a.part + (f" {a.item}" if a.item else "")
        lines.append(f"  - {where}: {a.what}")
    return "\n".join(lines)
