"""`appraisal document`: the documents a case has issued (the conclusion letter 鉴定结论书),
as stored in PostgreSQL. `get` checks the stored SHA-256 before writing anything and, once the
case is archived, the SHA-256 its signed archive lists (PostgreSQL's owner can rewrite both the
document and its stored hash, not the signature)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated

import asyncpg
import typer

from activities.documents import fetch_document, list_documents
from activities.verify import sealed_document
from infra.seal import KeyProblem
from schemas.documents import CONCLUSION_LETTER, DocumentRef
from starter.app import AsJson, Refusal, china_time, print_json, refuse, run_on_db, table

app = typer.Typer(
    help="文书 documents: the conclusion letter (鉴定结论书) as stored, checked by its SHA-256",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Both end up in a file name: no slashes, no dots.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def checked(value: str, what: str) -> str:
    if not NAME.fullmatch(value):
        refuse(f"{what} {value!r} is not valid (letters, digits, - and _ only)")
    return value


async def known_case(conn: asyncpg.Connection, case_id: str) -> None:
    if not await conn.fetchval("SELECT 1 FROM cases WHERE case_id = $1", case_id):
        raise Refusal(f"no case {case_id}")


@app.command()
def get(
    case_id: str,
    kind: Annotated[str, typer.Option(help="the document kind")] = CONCLUSION_LETTER,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="file to write; default <case>-<kind>.pdf here"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Write a case's document to a file, after checking it against its stored SHA-256."""
    case_id, kind = checked(case_id, "case id"), checked(kind, "kind")

    async def go(conn: asyncpg.Connection) -> tuple[str, bytes]:
        await known_case(conn, case_id)
        found = await fetch_document(conn, f"{case_id}/{kind}")
        if found is None:
            raise Refusal(f"case {case_id} has no {kind} (not issued yet?)")
        ref, content = found
        actual = hashlib.sha256(content).hexdigest()
        if actual != ref.sha256 or len(content) != ref.size:
            raise Refusal(
                f"{ref.document_id} does not match its stored SHA-256 {ref.sha256} "
                f"(content hashes to {actual}): it was altered or damaged; do not deliver it"
            )
        try:
            problem = await sealed_document(conn, case_id, ref.document_id, content)
        except KeyProblem as missing:
            raise Refusal(
                f"cannot check {ref.document_id} against its case's signed archive: {missing}"
            ) from None
        if problem:
            raise Refusal(f"已被改动 (altered): {problem}; do not deliver it")
        return actual, content

    digest, content = run_on_db(go)
    path = output or Path(f"{case_id}-{kind}.pdf")
    try:
        path.write_bytes(content)
    except OSError as error:
        refuse(f"cannot write {path}: {error.strerror}")
    if as_json:
        print_json(
            {
                "case_id": case_id,
                "kind": kind,
                "path": str(path),
                "size": len(content),
                "sha256": digest,
            }
        )
    else:
        typer.echo(f"wrote {path} ({len(content)} bytes) sha256 {digest}")


@app.command("list")
def list_(case_id: str, as_json: AsJson = False) -> None:
    """A case's documents: kind, size, SHA-256, when stored."""
    case_id = checked(case_id, "case id")

    async def go(conn: asyncpg.Connection) -> list[DocumentRef]:
        await known_case(conn, case_id)
        return await list_documents(conn, case_id)

    documents = run_on_db(go)
    if as_json:
        print_json([d.model_dump() for d in documents])
        return
    rows = [[d.kind, d.size, d.sha256, china_time(d.created_at)] for d in documents]
    typer.echo(table(["kind", "bytes", "sha256", "stored"], rows))
    typer.echo(f"{len(documents)} documents")
