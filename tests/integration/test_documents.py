"""The conclusion letter stored in PostgreSQL (append-only, with its SHA-256) and fetched with
`appraisal document` run as a real subprocess. Every case here is new (uuid-based)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import uuid
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import structlog
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import documents
from activities.documents import (
    Documents,
    LetterProcesses,
    fetch_document,
    render_conclusion_letter,
)
from activities.storage import Storage
from infra.fonts import find_letter_fonts
from schemas.application import AppraisalMode, CaseType, Jurisdiction
from schemas.documents import ConclusionLetter, DocumentRef
from schemas.steps import CaseRegistration, Stage
from tests.helpers import random_citizen_id
from tests.unit.test_documents import letter, text_of

ROOT = Path(__file__).resolve().parents[2]
KEY = "documents-test-key"


async def new_case(pool: asyncpg.Pool) -> tuple[str, str]:
    """A registered case (the documents' foreign key) and its worker's citizen ID."""
    case_id, citizen_id = f"JN-T-{uuid.uuid4().hex[:10]}", random_citizen_id("19850312")
    registration = CaseRegistration(
        case_id=case_id,
        stage=Stage.acceptance,
        case_type=CaseType.initial,
        citizen_id=citizen_id,
        green_channel=False,
        mode=AppraisalMode.on_site,
        jurisdiction=Jurisdiction.city,
        received_at=datetime.now(UTC),
        injury_key=case_id,
    )
    await ActivityEnvironment().run(Storage(pool, KEY).register_case, registration)
    return case_id, citizen_id


async def issue(pool: asyncpg.Pool, conclusion: ConclusionLetter) -> DocumentRef:
    ref: DocumentRef = await ActivityEnvironment().run(
        Documents(pool).issue_conclusion_letter, conclusion
    )
    return ref


async def cli(database_url: str, *args: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from starter.documents_cli import app; app()",
        *args,
        env={**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def refused(database_url: str, *args: str) -> str:
    code, out, err = await cli(database_url, *args)
    assert code == 1, out + err
    assert err.startswith("refused: ") and len(err.strip().splitlines()) == 1, err
    return err


async def test_the_letter_is_stored_once_with_its_sha256(db_pool: asyncpg.Pool) -> None:
    case_id, citizen_id = await new_case(db_pool)
    conclusion = letter(case_id=case_id, citizen_id=citizen_id)
    with structlog.testing.capture_logs() as logs:
        ref = await issue(db_pool, conclusion)
    assert ref.document_id == f"{case_id}/conclusion-letter"
    assert (ref.case_id, ref.kind) == (case_id, "conclusion-letter")
    stored = await fetch_document(db_pool, ref.document_id)
    assert stored is not None
    assert stored[0] == ref
    assert hashlib.sha256(stored[1]).hexdigest() == ref.sha256
    assert len(stored[1]) == ref.size and stored[1].startswith(b"%PDF-")

    # A retry (or a replayed worker) gets the stored letter back, not a second one.
    assert await issue(db_pool, conclusion) == ref
    assert await db_pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case_id) == 1
    assert (
        await db_pool.fetchval("SELECT conclusion_document FROM cases WHERE case_id = $1", case_id)
        == ref.document_id
    )
    assert await db_pool.fetchval(
        "SELECT media_type FROM documents WHERE document_id = $1", ref.document_id
    ) == ("application/pdf")

    (line,) = [entry for entry in logs if entry["event"] == "conclusion letter stored"]
    assert line["sha256"] == ref.sha256 and line["size"] == ref.size
    assert line["case_id"] == case_id and line["stage"] == "conclusion"
    assert not any(conclusion.worker_name in str(e) or citizen_id in str(e) for e in logs)


async def test_a_letter_rendered_in_a_letter_process_is_the_one_rendered_here(
    db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's letters render in processes of their own (this one parses no font), which
    come back when one dies."""
    case_id, citizen_id = await new_case(db_pool)
    conclusion = letter(case_id=case_id, citizen_id=citizen_id)
    here: dict[object, object] = {}
    monkeypatch.setattr(documents, "_blanks", here)
    with LetterProcesses(1) as renderer:
        ref = await ActivityEnvironment().run(
            Documents(db_pool, renderer=renderer).issue_conclusion_letter, conclusion
        )
        process = renderer.submit(os.getpid).result()
        assert process != os.getpid()
        # A letter process that dies fails its letter (retryable) and is replaced.
        with pytest.raises(BrokenProcessPool):
            renderer.submit(os._exit, 1).result()
        assert renderer.submit(os.getpid).result() not in (process, os.getpid())
    assert here == {}
    stored = await fetch_document(db_pool, ref.document_id)
    assert stored is not None
    assert stored[1] == render_conclusion_letter(conclusion, find_letter_fonts())


async def test_documents_are_append_only(db_pool: asyncpg.Pool) -> None:
    case_id, citizen_id = await new_case(db_pool)
    ref = await issue(db_pool, letter(case_id=case_id, citizen_id=citizen_id))
    for statement in [
        "UPDATE documents SET content = 'x' WHERE document_id = $1",
        "DELETE FROM documents WHERE document_id = $1",
    ]:
        with pytest.raises(asyncpg.RaiseError, match="documents is append-only"):
            await db_pool.execute(statement, ref.document_id)


async def test_a_missing_font_is_a_retryable_failure_and_stores_nothing(
    db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id, citizen_id = await new_case(db_pool)
    monkeypatch.setenv("CJK_FONT", "/nonexistent/font.ttf")
    with pytest.raises(ApplicationError) as failed:
        await issue(db_pool, letter(case_id=case_id, citizen_id=citizen_id))
    assert failed.value.type == "FontMissing" and not failed.value.non_retryable
    assert "apt-get install fonts-noto-cjk fonts-wqy-zenhei" in str(failed.value)
    assert await db_pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case_id) == 0


async def test_a_rare_name_goes_through_the_real_activity(db_pool: asyncpg.Pool) -> None:
    # 𪚥 (U+2A6A5, CJK Extension B) is neither in Noto nor in Zen Hei: drawn from HanaMin.
    case_id, citizen_id = await new_case(db_pool)
    ref = await issue(db_pool, letter(case_id=case_id, citizen_id=citizen_id, worker_name="王𪚥"))
    stored = await fetch_document(db_pool, ref.document_id)
    assert stored is not None and hashlib.sha256(stored[1]).hexdigest() == ref.sha256
    assert "姓名王𪚥" in text_of(stored[1])


async def test_missing_fallback_fonts_are_a_retryable_failure(
    db_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id, citizen_id = await new_case(db_pool)
    monkeypatch.setenv("CJK_FALLBACK_FONTS", "/nonexistent/HanaMinB.ttf")
    with pytest.raises(ApplicationError) as failed:
        await issue(db_pool, letter(case_id=case_id, citizen_id=citizen_id))
    assert failed.value.type == "FontMissing" and not failed.value.non_retryable
    assert "apt-get install fonts-hanazono" in str(failed.value)
    assert await db_pool.fetchval("SELECT count(*) FROM documents WHERE case_id = $1", case_id) == 0


async def test_a_letter_for_an_unregistered_case_is_refused(db_pool: asyncpg.Pool) -> None:
    with pytest.raises(ApplicationError) as failed:
        await issue(db_pool, letter(case_id=f"JN-T-{uuid.uuid4().hex[:10]}"))
    assert failed.value.type == "CaseUnknown" and failed.value.non_retryable


async def test_the_cli_writes_the_verified_letter_and_lists_it(
    db_pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    case_id, citizen_id = await new_case(db_pool)
    ref = await issue(db_pool, letter(case_id=case_id, citizen_id=citizen_id))

    target = tmp_path / "letter.pdf"
    code, out, err = await cli(database_url, "get", case_id, "-o", str(target))
    assert code == 0, err
    assert hashlib.sha256(target.read_bytes()).hexdigest() == ref.sha256
    assert str(target) in out and ref.sha256 in out

    code, out, err = await cli(database_url, "get", case_id, cwd=tmp_path)  # default name
    assert code == 0, err
    default = tmp_path / f"{case_id}-conclusion-letter.pdf"
    assert hashlib.sha256(default.read_bytes()).hexdigest() == ref.sha256

    code, out, err = await cli(database_url, "list", case_id)
    assert code == 0, err
    header, _, row, count = out.splitlines()
    assert header.split() == ["kind", "bytes", "sha256", "stored"] and count == "1 documents"
    assert row.split()[:3] == ["conclusion-letter", str(ref.size), ref.sha256]
    assert row.endswith(" 北京时间")
    code, out, err = await cli(database_url, "list", case_id, "--json")
    (listed,) = json.loads(out)
    assert code == 0 and listed["sha256"] == ref.sha256 and listed["created_at"].endswith("+08:00")


async def test_the_cli_refuses_clearly(db_pool: asyncpg.Pool, database_url: str) -> None:
    unknown = f"JN-T-{uuid.uuid4().hex[:10]}"
    assert f"no case {unknown}" in await refused(database_url, "get", unknown)
    assert f"no case {unknown}" in await refused(database_url, "list", unknown)
    case_id, _ = await new_case(db_pool)
    assert "has no conclusion-letter" in await refused(database_url, "get", case_id)
    assert "is not valid" in await refused(database_url, "get", "../etc/passwd")
    code, out, _ = await cli(database_url, "list", case_id)
    assert code == 0 and "0 documents" in out


async def test_the_cli_refuses_a_tampered_letter(db_pool: asyncpg.Pool, database_url: str) -> None:
    async with db_pool.acquire() as conn:
        if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            pytest.skip("bypassing the append-only trigger needs a superuser")
        case_id, citizen_id = await new_case(db_pool)
        ref = await issue(db_pool, letter(case_id=case_id, citizen_id=citizen_id))
        # What only someone bypassing the trigger can do: one byte changed, length kept.
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "UPDATE documents SET content = set_byte(content, 200, get_byte(content, 200) # 255)"
                " WHERE document_id = $1",
                ref.document_id,
            )
    message = await refused(database_url, "get", case_id, "-o", os.devnull)
    assert "altered or damaged" in message and ref.sha256 in message
