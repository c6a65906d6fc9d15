"""`appraisal archive`: check sealed case files (案卷) against what PostgreSQL holds now.

`verify CASE` (or `--all`) checks the seal (a worker's Ed25519 signature over the digest and
the event chain's head, infra/seal.py), recomputes the package digest, each part's SHA-256,
every document's SHA-256 and the event chain, and names what was altered. Everything in
PostgreSQL can be rewritten by its owner, hashes included, but not signed; `--anchor` also
compares the digest with the one the case's Temporal history recorded. Exit codes: 0 intact,
4 altered, and as every command 1 refused (unknown or unarchived case, no verification key),
3 error (PostgreSQL, or Temporal with `--anchor`, unreachable).

`sign-legacy` signs the archives sealed before signatures, where the workers' key is;
`new-key` makes a signing key."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.archive import sign_legacy
from activities.verify import Alteration, ArchiveCheck, verify_case
from infra import seal
from infra.settings import settings
from schemas.status import CaseStatus
from starter.app import (
    ANSWER_TIMEOUT,
    AsJson,
    Refusal,
    database,
    print_json,
    refuse,
    run,
    temporal,
    workflow_state,
)

app = typer.Typer(
    help="案卷 archives: verify a sealed case file (tamper evidence)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ALTERED = 4  # the archive does not verify (1: refused, 2: usage, 3: service unreachable)
CASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def configured_keys() -> seal.Keyring:
    try:
        return seal.verify_keys(settings())
    except seal.KeyProblem as problem:
        refuse(str(problem))


async def check_one(conn: asyncpg.Connection, case_id: str, keys: seal.Keyring) -> ArchiveCheck:
    found = await verify_case(conn, case_id, keys)
    if found is None:
        stage = await conn.fetchval("SELECT stage FROM cases WHERE case_id = $1", case_id)
        if stage is None:
            raise Refusal(f"无此案件 {case_id} (no case {case_id})")
        raise Refusal(f"案件 {case_id} 尚未归档 (case {case_id} is not archived: stage {stage})")
    return found


async def check_all(conn: asyncpg.Connection, keys: seal.Keyring) -> list[ArchiveCheck]:
    ids = [r["case_id"] for r in await conn.fetch("SELECT case_id FROM archives ORDER BY case_id")]
    return [await check_one(conn, case_id, keys) for case_id in ids]


@app.command()
def verify(
    case_id: Annotated[str | None, typer.Argument(help="the case number")] = None,
    every: Annotated[bool, typer.Option("--all", help="every archived case")] = False,
    anchor: Annotated[
        bool,
        typer.Option(
            "--anchor", help="also compare the digest with the one in the case's Temporal history"
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Recompute an archive's digest and hashes; name every part and event row altered."""
    if every == (case_id is not None):
        refuse("请给出一个案号或 --all, 二者择一 (give one case number or --all, not both)")
    if case_id is not None and not CASE_ID.fullmatch(case_id):
        refuse(
            f"案号 {case_id!r} 无效 (case id {case_id!r} is not valid: letters, digits, - and _)"
        )

    keys = configured_keys()

    async def go() -> list[ArchiveCheck]:
        async with database() as conn:
            found = (
                await check_all(conn, keys)
                if case_id is None
                else [await check_one(conn, case_id, keys)]
            )
        if anchor:
            client = await temporal()
            for check in found:
                await anchor_to(client, check)
        return found

    checks = run(go())
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


async def anchor_to(client: Client, check: ArchiveCheck) -> None:
    """The digest the archiving activity returned to the case, in the case's result."""
    handle = client.get_workflow_handle(check.case_id, result_type=CaseStatus)
    try:  # the raw describe: the status alone, whatever the search attributes hold
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=check.case_id)
            )
        )
        state = WorkflowExecutionStatus(described.workflow_execution_info.status)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        check.anchor = "not retained: Temporal no longer holds this case's history"
        return
    if state is not WorkflowExecutionStatus.COMPLETED:
        check.anchor = f"not available: the case's workflow is {workflow_state(state)}"
        return
    async with asyncio.timeout(ANSWER_TIMEOUT.total_seconds()):
        recorded = (await handle.result()).archive_sha256
    if recorded == check.sha256:
        check.anchor = f"matches the digest in the case's Temporal history ({recorded})"
        return
    check.anchor = f"differs: the case's Temporal history recorded {recorded}"
    check.altered.append(
        Alteration(
            part="anchor",
            what=f"摘要与 Temporal 历史记录的 {recorded} 不符 (the digest differs from the one "
            "the case's history recorded: the archive was rewritten)",
        )
    )


def describe(check: ArchiveCheck) -> str:
    head = f"{check.case_id}  format {check.format}  sha256 {check.sha256}  保管至 {check.retain_until}"
    if check.seal:
        head += f"\n  seal: {check.seal}"
    if check.anchor:
        head += f"\n  anchor: {check.anchor}"
    if check.ok:
        return f"{head}\n  完好 (intact): {', '.join(check.checked)}"
    lines = [f"{head}\n  已被改动 (ALTERED):"]
    for a in check.altered:
        where = a.part + (f" {a.item}" if a.item else "")
        lines.append(f"  - {where}: {a.what}")
    return "\n".join(lines)


@app.command("sign-legacy")
def sign_legacy_(
    case_ids: Annotated[
        list[str] | None, typer.Argument(help="these cases only; default every unsigned one")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Sign the archives sealed before signatures, each once, after checking it (PostgreSQL and
    the Temporal anchor). Run it once, at the upgrade, where the workers' signing key is."""
    for case_id in case_ids or []:
        if not CASE_ID.fullmatch(case_id):
            refuse(f"案号 {case_id!r} 无效 (case id {case_id!r} is not valid)")
    try:
        key = seal.signing_key(settings())
    except seal.KeyProblem as problem:
        refuse(str(problem))
    if key is None:
        refuse(
            "no archive signing key here: run it where the workers' key is (ARCHIVE_SIGNING_KEY "
            "or ARCHIVE_SIGNING_KEY_FILE), e.g. docker compose exec worker appraisal archive "
            "sign-legacy"
        )
    keys = configured_keys()

    async def go() -> list[tuple[ArchiveCheck, bool]]:
        client = await temporal()
        done = []
        async with database() as conn:
            unsigned = await conn.fetch(
                """SELECT case_id FROM archives
                   WHERE seal IS NULL AND ($1::text[] IS NULL OR case_id = ANY($1))
                   ORDER BY case_id""",
                case_ids or None,
            )
            for row in unsigned:
                check = await check_one(conn, row["case_id"], keys)
                check.altered = [a for a in check.altered if a.part != "seal"]
                await anchor_to(client, check)
                signed = check.ok and await sign_legacy(conn, check.case_id, key) is not None
                done.append((check, signed))
        return done

    done = run(go())
    if as_json:
        print_json([{**c.model_dump(mode="json"), "signed": signed} for c, signed in done])
    else:
        for check, signed in done:
            if signed:
                typer.echo(
                    f"signed {check.case_id} (format {check.format}, key {key.key_id}; "
                    f"anchor: {check.anchor})"
                )
            else:
                typer.echo(f"NOT signed, altered: {describe(check)}")
        typer.echo(f"{sum(s for _, s in done)} of {len(done)} unsigned archives signed")
    if not all(signed for _, signed in done):
        raise typer.Exit(ALTERED)


@app.command("new-key")
def new_key(
    key_id: Annotated[str, typer.Argument(help="a name for the key, e.g. jn-archive-2026")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="file for the private key (created, 0600)")
    ],
) -> None:
    """Make an archive signing key: the private key goes to a new file for the workers
    (ARCHIVE_SIGNING_KEY_FILE); the public one is printed, for ARCHIVE_VERIFY_KEYS."""
    try:
        text = seal.new_key_text(key_id)
    except seal.KeyProblem as problem:
        refuse(str(problem))
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        refuse(f"cannot create {output}: {error.strerror}")
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    typer.echo(seal.parse_signing_key(text, str(output)).public_text())
