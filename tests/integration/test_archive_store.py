"""The archive in PostgreSQL: sealing a package twice (a retried activity) writes it once,
signed; an archive sealed before the package (format 1) still verifies its digest and its
chain, and is signed too; no key, no seal; an archive sealed before signatures is signed once,
later (`archive sign-legacy`), and nothing else of the row can change."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError

from activities.archive import Archive, sign_legacy
from activities.storage import insert_event
from activities.verify import verify_case
from infra import seal
from schemas.steps import ArchiveRequest, Stage
from tests.integration.test_event_chain import event, new_case

HISTORY = {"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}


def keyring(key: seal.SigningKey) -> seal.Keyring:
    return seal.parse_verify_keys(key.public_text(), "test")


def archive_request(case_id: str, package: bool = False) -> ArchiveRequest:
    """Sealing a delivered case on 30 November 2026 (as a package, or as a format-1 dump)."""
    return ArchiveRequest(
        case_id=case_id,
        stage=Stage.archiving,
        closed_reason="delivered",
        archived_at=datetime(2026, 11, 30, 2, 0, tzinfo=UTC),
        package=package,
    )


async def test_a_retried_seal_writes_the_package_once(
    db_pool: asyncpg.Pool, archive_signing_key: seal.SigningKey
) -> None:
    case_id = await new_case(db_pool)
    for n in range(3):
        await insert_event(db_pool, event(case_id, n))
    request = ArchiveRequest(
        case_id=case_id,
        stage=Stage.archiving,
        closed_reason="delivered",
        archived_at=datetime(2028, 2, 29, 4, 0, tzinfo=UTC),
        package=True,
        retention_years=50,
    )
    archive = Archive(db_pool, archive_signing_key)
    first = await archive.seal_package(request, HISTORY)
    again = await archive.seal_package(request, HISTORY)
    assert again == first and first.events == 3
    # The seal: the digest and the chain's head the package covers, signed when sealed.
    assert first.seal is not None
    statement = first.seal.statement
    head = await db_pool.fetchrow(
        "SELECT seq, hash FROM case_events WHERE case_id = $1 AND seq = 3", case_id
    )
    assert (statement.case_id, statement.format, statement.digest) == (case_id, 2, first.sha256)
    assert statement.events_through is not None
    assert head is not None
    assert (statement.events_through.seq, statement.events_through.hash) == tuple(head)
    assert (statement.signed, statement.key_id) == ("at_seal", "test-run")
    assert statement.archived_at == "2028-02-29T04:00:00+00:00"
    public = keyring(archive_signing_key)
    assert seal.check(public, statement.model_dump(mode="json"), first.seal.signature) is None
    assert first.retain_until is not None and first.retain_until.isoformat() == "2078-02-28"
    assert await db_pool.fetchval("SELECT count(*) FROM archives WHERE case_id = $1", case_id) == 1
    kinds = [
        r["kind"]
        for r in await db_pool.fetch(
            "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
        )
    ]
    assert kinds.count("case.archived") == 1
    check = await verify_case(db_pool, case_id, public)
    assert check is not None and check.ok and check.format == 2
    assert check.seal == "Ed25519 signature by key test-run, signed when sealed: verifies"


async def test_an_archive_sealed_before_the_package_verifies_its_digest(
    db_pool: asyncpg.Pool, archive_signing_key: seal.SigningKey
) -> None:
    case_id = await new_case(db_pool)
    await insert_event(db_pool, event(case_id, 0))
    request = archive_request(case_id)
    receipt = await Archive(db_pool, archive_signing_key).seal_dump(request)
    public = keyring(archive_signing_key)
    check = await verify_case(db_pool, case_id, public)
    assert check is not None
    assert check.format == 1 and check.ok, check.altered
    assert check.retain_until.isoformat() == "2076-11-30"
    assert receipt.seal is not None and receipt.seal.statement.format == 1
    assert receipt.seal.statement.events_through is not None
    assert receipt.seal.statement.events_through.seq == 1  # the row before `case.archived`
    # A row appended after the seal is named: the signed head says where the log ended.
    await insert_event(db_pool, event(case_id, 7))
    check = await verify_case(db_pool, case_id, public)
    assert check is not None and [a.part for a in check.altered] == ["events"]
    assert "inserted after the archive was sealed" in check.altered[0].what
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE archives DISABLE TRIGGER USER")
        await conn.execute(
            """UPDATE archives SET case_file = jsonb_set(case_file, '{case,stage}', '"organizing"')
               WHERE case_id = $1""",
            case_id,
        )
        await conn.execute("ALTER TABLE archives ENABLE TRIGGER USER")
    check = await verify_case(db_pool, case_id, public)
    assert check is not None
    assert {a.part for a in check.altered} == {"case_file", "events"}


async def test_without_a_signing_key_nothing_is_sealed(db_pool: asyncpg.Pool) -> None:
    case_id = await new_case(db_pool)
    await insert_event(db_pool, event(case_id, 0))
    request = archive_request(case_id, package=True)
    archive = Archive(db_pool, None)
    for attempt in (archive.seal_package(request, HISTORY), archive.seal_dump(request)):
        with pytest.raises(ApplicationError) as refused:
            await attempt
        assert refused.value.type == "SigningKeyMissing" and not refused.value.non_retryable
        assert "set ARCHIVE_SIGNING_KEY or ARCHIVE_SIGNING_KEY_FILE" in refused.value.message
    assert await db_pool.fetchval("SELECT count(*) FROM archives WHERE case_id = $1", case_id) == 0
    assert (await db_pool.fetchrow("SELECT stage FROM cases WHERE case_id = $1", case_id))[
        "stage"
    ] == "acceptance"


async def test_an_archive_sealed_before_signatures_is_signed_once_later(
    db_pool: asyncpg.Pool, archive_signing_key: seal.SigningKey
) -> None:
    """What an archive sealed by the code before signatures looks like: no seal. `verify`
    names it (a removed seal looks the same); `sign-legacy` signs it once, as it stands."""
    case_id = await new_case(db_pool)
    for n in range(2):
        await insert_event(db_pool, event(case_id, n))
    request = archive_request(case_id, package=True)
    await Archive(db_pool, archive_signing_key).seal_package(request, HISTORY)
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            """UPDATE archives SET seal = NULL, seal_key_id = NULL, seal_signature = NULL
               WHERE case_id = $1""",
            case_id,
        )
    public = keyring(archive_signing_key)
    check = await verify_case(db_pool, case_id, public)
    assert check is not None and [a.part for a in check.altered] == ["seal"]
    assert check.seal == "none that verifies (see the seal finding)"
    assert check.altered[0].what.startswith("未签名 (unsigned")

    # Receiving a seal is the only change the trigger lets through, and only alone.
    with pytest.raises(asyncpg.RaiseError, match="archives is append-only"):
        await db_pool.execute(
            """UPDATE archives SET seal = '{}', seal_key_id = 'k', seal_signature = 'AAAA',
                                   sha256 = repeat('0', 64)
               WHERE case_id = $1""",
            case_id,
        )
    later = seal.parse_signing_key(seal.new_key_text("k-later"), "test")
    async with db_pool.acquire() as conn:
        signed = await sign_legacy(conn, case_id, later)
        assert signed is not None and signed.statement.signed == "later"
        assert await sign_legacy(conn, case_id, later) is None  # once
    both = public | keyring(later)
    check = await verify_case(db_pool, case_id, both)
    assert check is not None
    assert check.ok, check.altered
    assert check.seal is not None and check.seal.startswith(
        "Ed25519 signature by key k-later, signed later, on "
    )
    # Without the key that signed it, the seal is not taken on trust.
    check = await verify_case(db_pool, case_id, public)
    assert check is not None and [a.part for a in check.altered] == ["seal"]
    assert "unknown key id 'k-later' (verification keys: test-run)" in check.altered[0].what

    # Append-only still: the seal cannot be replaced, nor anything else changed with it.
    for statement in (
        "UPDATE archives SET seal_signature = 'AAAA' WHERE case_id = $1",
        "UPDATE archives SET sha256 = repeat('0', 64) WHERE case_id = $1",
        "DELETE FROM archives WHERE case_id = $1",
    ):
        with pytest.raises(asyncpg.RaiseError, match="archives is append-only"):
            await db_pool.execute(statement, case_id)


async def test_a_package_passed_off_as_an_older_format_keeps_its_signed_format(
    db_pool: asyncpg.Pool, archive_signing_key: seal.SigningKey
) -> None:
    """A forger who turns a signed package into a format-1 dump (whose digest they can
    recompute) still carries the signed format 2; without the seal it is unsigned."""
    case_id = await new_case(db_pool)
    await insert_event(db_pool, event(case_id, 0))
    request = archive_request(case_id, package=True)
    await Archive(db_pool, archive_signing_key).seal_package(request, HISTORY)
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("UPDATE archives SET format = 1 WHERE case_id = $1", case_id)
    check = await verify_case(db_pool, case_id, keyring(archive_signing_key))
    assert check is not None and check.altered[0].part == "seal"
    assert "format: signed 2, stored 1" in check.altered[0].what
