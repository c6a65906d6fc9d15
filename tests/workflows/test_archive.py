"""The archive package (issue #9): a delivered case sealed with every part and its SHA-256, the
digest recomputed here by an independent canonical JSON; `appraisal archive verify` naming a
changed document, an edited, a deleted and an inserted event row; a review or re-appraisal
application checked against the prior conclusion as recorded. The seal (issue #10): a verdict
rewritten by the database's owner with every hash recomputed is caught by the signature, a
forged letter with its hash rewritten is refused by `document get`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from activities import package
from activities.chain import CHAIN_COLUMNS, GENESIS, breaks, event_hash
from infra import seal
from infra.temporal import data_converter
from schemas.application import AppraisalApplication
from schemas.clock import CHINA_TZ
from schemas.status import CaseStatus
from schemas.steps import Stage
from schemas.vocabulary import CloseReason
from tests.conftest import CaseEnv
from tests.helpers import Driver, example
from workflows.case import AppraisalCase
from workflows.rules import add_years

APPRAISAL = Path(sys.executable).parent / "appraisal"
ROOT = Path(__file__).resolve().parents[2]
PARTS = {
    "case",
    "documents",
    "materials",
    "events",
    "decisions",
    "panel_draws",
    "delivery",
    "referral",
    "outbox",
    "history",
}


def jcs(value: Any) -> str:
    """RFC 8785 written out for the values a package holds (objects, arrays, strings, integers,
    floats such as the history's 2.0 and the policy's 0.8, booleans, null), independently of
    `rfc8785`: keys sorted by UTF-16 code units, no whitespace, strings escaped as JSON does."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{jcs(k)}:{jcs(value[k])}" for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, float):  # integral ones as integers, others in positional form
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        assert 1e-4 <= abs(value) < 1e15, value  # where ECMAScript and repr() agree
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        assert abs(value) < 2**53
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def sha(value: Any) -> str:
    return hashlib.sha256(jcs(value).encode()).hexdigest()


async def archived(env: Any, application: AppraisalApplication | None = None) -> Driver:
    """A case from application to archive: attended, concluded, both letters signed for."""
    case = await Driver.start(env, application or example("initial_complete"))
    await case.attend()
    await case.conclude()
    final = await case.deliver()
    assert final.stage is Stage.archived and final.closed is CloseReason.delivered
    return case


async def package_of(pool: asyncpg.Pool, case_id: str) -> tuple[asyncpg.Record, dict[str, Any]]:
    row = await pool.fetchrow("SELECT * FROM archives WHERE case_id = $1", case_id)
    assert row is not None and row["format"] == 2
    parts = {**json.loads(row["case_file"]), "history": json.loads(row["history"])}
    return row, parts


async def sealed(
    pool: asyncpg.Pool, final: CaseStatus
) -> tuple[asyncpg.Record, dict[str, Any], dict[str, Any]]:
    """The case's package, checked complete: every part with its SHA-256, the digest over the
    manifest recomputed here and as the case reported it; the row, parts and manifest."""
    row, parts = await package_of(pool, final.case_id)
    manifest = json.loads(row["manifest"])
    assert set(parts) == set(manifest["parts"]) == PARTS
    for name, value in parts.items():
        assert manifest["parts"][name]["sha256"] == sha(value), name
    assert sha(manifest) == row["sha256"] == final.archive_sha256
    return row, parts, manifest


def auditor(database_url: str, temporal: str = "") -> dict[str, str]:
    """The environment of someone who checks archives: the published public key of the run's
    signing key, not the key itself (no ARCHIVE_SIGNING_KEY, no make-run key file)."""
    key = seal.parse_signing_key(os.environ["ARCHIVE_SIGNING_KEY"], "test")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")},
        "ARCHIVE_VERIFY_KEYS": key.public_text(),
        "DATA_DIR": str(ROOT / ".data-none"),  # never make run's, with its dev key
        "DATABASE_URL": database_url,
        **({"TEMPORAL_ADDRESS": temporal} if temporal else {}),
    }


async def appraisal(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(APPRAISAL),
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def verify(database_url: str, *args: str, temporal: str = "") -> tuple[int, str, str]:
    return await appraisal(auditor(database_url, temporal), "archive", "verify", *args)


async def test_a_delivered_case_is_sealed_as_a_complete_package(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str
) -> None:
    async with case_env() as env:
        case = await archived(env)
        final: CaseStatus = await case.result()
    case_id = case.handle.id
    # Every part, each with its SHA-256; the digest over the manifest, recomputed here.
    row, parts, manifest = await sealed(db_pool, final)
    archived_on = row["archived_at"].astimezone(CHINA_TZ).date()
    assert row["retain_until"] == add_years(archived_on, 50)
    assert manifest["retain_until"] == row["retain_until"].isoformat()

    # The parts hold what the file must: case, documents, materials, decisions, draws, delivery.
    assert parts["case"]["case_id"] == case_id and parts["case"]["stage"] == "archived"
    letter = await db_pool.fetchrow("SELECT * FROM documents WHERE case_id = $1", case_id)
    assert [(d["document_id"], d["sha256"]) for d in parts["documents"]] == [
        (letter["document_id"], hashlib.sha256(letter["content"]).hexdigest())
    ]
    assert [(m["kind"], m["handed_in"]) for m in parts["materials"]] == [
        (m.kind.value, "application") for m in example("initial_complete").materials
    ]
    actors = {(d["kind"], d["actor"]) for d in parts["decisions"]}
    assert {("review.approved", s) for s in ("S0101", "S0102", "S0103")} <= actors
    assert ("conclusion.decided", "C0201") in actors
    assert final.panel is not None
    assert {("opinion.recorded", m.expert_id) for m in final.panel.members} <= actors
    assert [d["attempt"] for d in parts["panel_draws"]] == [1]
    assert parts["panel_draws"][0]["members"] and parts["panel_draws"][0]["seed"]
    shipments = parts["delivery"]["shipments"]
    assert sorted(s["recipient"] for s in shipments) == ["employer", "worker"]
    assert all(s["signer"] == "本人" and s["delivered_at"] and s["waybill_no"] for s in shipments)
    kinds = [e["kind"] for e in parts["delivery"]["events"]]
    assert kinds.count("letter.sent") == 2 and kinds.count("postal.delivered") == 2
    assert parts["referral"] == []

    # The event log with its chain, up to the seal; then only `case.archived` naming the digest.
    rows = await db_pool.fetch(
        f"SELECT {CHAIN_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
    )
    assert breaks(rows) == []
    assert [e["id"] for e in parts["events"]] == [r["id"] for r in rows[:-1]]
    assert rows[-1]["kind"] == "case.archived"
    assert json.loads(rows[-1]["data"])["sha256"] == row["sha256"]
    assert manifest["events_through"] == {"seq": rows[-2]["seq"], "hash": rows[-2]["hash"]}

    # The Temporal history, exported up to the archiving activity (not its completion).
    history = parts["history"]["events"]
    assert history[0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    scheduled = [
        e["eventId"]
        for e in history
        if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
        and e["activityTaskScheduledEventAttributes"]["activityType"]["name"] == "archive_case"
    ]
    assert len(scheduled) == 1  # its own scheduling is in, its completion is not
    assert all(
        e["eventType"] != "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"
        or e["activityTaskCompletedEventAttributes"]["scheduledEventId"] != scheduled[0]
        for e in history
    )
    assert history[-1]["eventType"] != "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert manifest["history_through_event"] == history[-1]["eventId"]
    replayed = await Replayer(
        workflows=[AppraisalCase], data_converter=data_converter()
    ).replay_workflow(WorkflowHistory.from_json(case_id, parts["history"]))
    assert replayed.replay_failure is None  # the export replays on this code

    code, out, err = await verify(database_url, case_id, "--json")
    assert code == 0, err
    [check] = json.loads(out)
    assert check["ok"] and check["altered"] == [] and check["sha256"] == row["sha256"]


async def tamper(pool: asyncpg.Pool, table: str, statement: str, *args: Any) -> None:
    """What a table owner can do: switch the append-only trigger off, write, switch it on."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        await conn.execute(statement, *args)
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


async def altered(database_url: str, case_id: str) -> list[dict[str, Any]]:
    code, out, err = await verify(database_url, case_id, "--json")
    assert code == 4, (code, out, err)
    [check] = json.loads(out)
    assert not check["ok"]
    found: list[dict[str, Any]] = check["altered"]
    return found


async def test_verify_names_a_changed_document_and_edited_deleted_and_inserted_rows(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str
) -> None:
    async with case_env() as env:
        case = await archived(env)
    case_id = case.handle.id
    assert (await verify(database_url, case_id))[0] == 0
    rows = await db_pool.fetch(
        "SELECT id, kind FROM case_events WHERE case_id = $1 ORDER BY seq", case_id
    )
    opinion = next(r["id"] for r in rows if r["kind"] == "opinion.recorded")
    signoff = next(r["id"] for r in rows if r["kind"] == "review.approved")

    # An edited row: the opinion changed to another grade.
    await tamper(
        db_pool,
        "case_events",
        """UPDATE case_events SET data = jsonb_set(data, '{outcome,verdict}', '"grade_5"')
           WHERE id = $1""",
        opinion,
    )
    found = await altered(database_url, case_id)
    assert [(a["part"], a["row_id"]) for a in found] == [("events", opinion)]
    assert "edited" in found[0]["what"]

    # A deleted row: a review sign-off removed.
    await tamper(db_pool, "case_events", "DELETE FROM case_events WHERE id = $1", signoff)
    found = await altered(database_url, case_id)
    named = {(a["part"], a["row_id"]) for a in found}
    assert {("events", opinion), ("events", signoff)} <= named
    assert any(a["row_id"] == signoff and "deleted" in a["what"] for a in found)

    # An inserted row, chained by the trigger as any append: after the seal, so named.
    inserted = await db_pool.fetchval(
        """INSERT INTO case_events (case_id, event_key, stage, kind, actor, occurred_at, data)
           VALUES ($1, 'late', 'conclusion', 'opinion.corrected', 'EXP-001', now(), '{}')
           RETURNING id""",
        case_id,
    )
    found = await altered(database_url, case_id)
    assert any(a["row_id"] == inserted and "inserted" in a["what"] for a in found)

    # A changed document: one byte of the conclusion letter.
    await tamper(
        db_pool,
        "documents",
        "UPDATE documents SET content = overlay(content placing '\\x25'::bytea from 20)"
        " WHERE case_id = $1",
        case_id,
    )
    letter = await db_pool.fetchval("SELECT document_id FROM documents WHERE case_id = $1", case_id)
    found = await altered(database_url, case_id)
    assert ("documents", letter) in {(a["part"], a["item"]) for a in found}

    # --all checks every archive and fails on this one; the text names the part and row.
    code, out, _ = await verify(database_url, "--all")
    assert code == 4 and f"events: event row {opinion}" in out and "archives," in out
    code, _, err = await verify(database_url, "NO-SUCH-CASE")
    assert code == 1 and err.startswith("refused: 无此案件 NO-SUCH-CASE (no case NO-SUCH-CASE)")
    code, _, err = await verify(database_url, case_id, "--all")
    assert code == 1 and "give one case number or --all" in err
    open_case = f"{case_id}-open"
    await db_pool.execute(
        """INSERT INTO cases (case_id, case_type, worker_ref, mode, jurisdiction, stage,
                              received_at)
           VALUES ($1, 'initial', $1, 'on_site', 'city', 'organizing', now())""",
        open_case,
    )
    code, _, err = await verify(database_url, open_case)
    assert code == 1 and f"(case {open_case} is not archived: stage organizing)" in err


def applying(
    prior: AppraisalApplication, name: str, **prior_conclusion: Any
) -> AppraisalApplication:
    """A review or re-appraisal application of the prior case's worker."""
    data = example(name).model_dump(mode="json")
    worker = prior.worker.model_dump(mode="json")
    data["worker"] = worker
    data["applicant"] = {"role": "worker", "name": worker["name"], "mobile": worker["mobile"]}
    data["prior_conclusion"] = prior_conclusion
    data.pop("received_on", None)
    return AppraisalApplication.model_validate(data)


async def test_review_and_re_appraisal_are_checked_against_the_recorded_conclusion(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    prior = example("initial_complete")
    async with case_env() as env:
        # Signed for the day after the conclusion, so a receipt typed as the conclusion's
        # date (the earliest an application accepts) precedes the recorded delivery.
        case = await Driver.start(env, prior)
        await case.attend()
        await case.conclude()
        await case.skip_to(await env.get_current_time() + timedelta(days=1))
        assert (await case.deliver()).closed is CloseReason.delivered
        prior_id = case.handle.id
        issued = await db_pool.fetchval(
            "SELECT occurred_at FROM case_events WHERE case_id = $1 AND kind = 'conclusion.issued'",
            prior_id,
        )
        concluded = issued.astimezone(CHINA_TZ).date()
        signed = await db_pool.fetchval(
            """SELECT min((data->>'occurred_at')::timestamptz) FROM case_events
               WHERE case_id = $1 AND kind = 'postal.delivered'""",
            prior_id,
        )
        delivered = signed.astimezone(CHINA_TZ).date()
        assert delivered > concluded
        # Refused at once: no time passes meanwhile (result() would let the server skip).
        with env.auto_time_skipping_disabled():
            # A wrong typed conclusion date: refused, naming the recorded one.
            wrong = concluded - timedelta(days=400)
            review = await Driver.start(
                env, applying(prior, "review", case_id=prior_id, concluded_on=wrong.isoformat())
            )
            result = await review.until(lambda s: s.stage is Stage.archived)
            assert result.closed is CloseReason.refused and result.closed_reason
            assert f"的结论作出于 {concluded}, 申请填写 {wrong}" in result.closed_reason

            # The right date, too early: the one-year rule counted from the recorded date.
            early = await Driver.start(
                env, applying(prior, "review", case_id=prior_id, concluded_on=concluded.isoformat())
            )
            result = await early.until(lambda s: s.stage is Stage.archived)
            assert result.closed is CloseReason.refused and result.closed_reason
            assert (
                f"结论作出 {concluded}, 最早可申请 {add_years(concluded, 1)}"
                in result.closed_reason
            ), (await env.get_current_time(), result.closed_reason)

            # A re-appraisal that says it received the letter before it was signed for.
            re_appraisal = await Driver.start(
                env,
                applying(
                    prior,
                    "re_appraisal",
                    case_id=prior_id,
                    concluded_on=concluded.isoformat(),
                    received_on=concluded.isoformat(),
                ),
            )
            result = await re_appraisal.until(lambda s: s.stage is Stage.archived)
            assert result.closed is CloseReason.refused and result.closed_reason
            assert (
                f"结论书于 {delivered} 签收, 申请填写收到于 {concluded}" in result.closed_reason
            ), (
                await env.get_current_time(),
                result.closed_reason,
            )

        # A year on, the review with the recorded date is accepted.
        await env.sleep(timedelta(days=366).total_seconds())
        late = await Driver.start(
            env, applying(prior, "review", case_id=prior_id, concluded_on=concluded.isoformat())
        )
        status = await late.until(lambda s: s.stage is Stage.organizing)
        assert status.closed is None
        await late.handle.terminate("test over")
    checked = await db_pool.fetchval(
        """SELECT data FROM case_events WHERE case_id = $1 AND kind = 'prior_conclusion.checked'""",
        late.handle.id,
    )
    record = json.loads(checked)
    assert record["case_id"] == prior_id and record["same_worker"] and record["archived"]
    assert record["concluded_on"] == concluded.isoformat() and record["outcome"] == "grade_8"


VERDICT_KINDS = ("opinion.recorded", "conclusion.decided", "conclusion.issued")


async def forge(pool: asyncpg.Pool, case_id: str, verdict: str = "grade_5") -> None:
    """What PostgreSQL's owner can do with care (issue #10): with every trigger bypassed
    (`session_replication_role = replica`), change the verdict wherever it is written (the
    experts' opinions, the committee's decision, the issued conclusion, the case row), then
    recompute every hash: the chain, the package's parts, its manifest and digest, and the
    `case.archived` row naming it."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            """UPDATE case_events
               SET data = jsonb_set(data, '{outcome,verdict}', to_jsonb($2::text))
               WHERE case_id = $1 AND kind = ANY($3::text[])""",
            case_id,
            verdict,
            list(VERDICT_KINDS),
        )
        await conn.execute(
            "UPDATE cases SET outcome = $2, outcome_label = '五级伤残' WHERE case_id = $1",
            case_id,
            verdict,
        )

        async def rechain() -> None:
            prev = GENESIS
            for row in await conn.fetch(
                f"SELECT {CHAIN_COLUMNS} FROM case_events WHERE case_id = $1 ORDER BY seq",
                case_id,
            ):
                new = event_hash({**dict(row), "prev_hash": prev})
                await conn.execute(
                    "UPDATE case_events SET prev_hash = $2, hash = $3 WHERE id = $1",
                    row["id"],
                    prev,
                    new,
                )
                prev = new

        await rechain()
        stored = await conn.fetchrow("SELECT * FROM archives WHERE case_id = $1", case_id)
        parts = json.loads(stored["case_file"])
        manifest = json.loads(stored["manifest"])
        log = (await package.events(conn, case_id))[:-1]  # without `case.archived`
        parts["case"] = await package.case_record(conn, case_id)
        parts["events"] = log
        parts["decisions"] = package.of_families(log, package.DECISION_FAMILIES)
        for name in ("case", "events", "decisions"):
            manifest["parts"][name]["sha256"] = package.sha256(parts[name])
        manifest["events_through"] = {"seq": log[-1]["seq"], "hash": log[-1]["hash"]}
        digest = package.sha256(manifest)
        await conn.execute(
            """UPDATE archives SET sha256 = $2, case_file = $3::jsonb, manifest = $4::jsonb
               WHERE case_id = $1""",
            case_id,
            digest,
            json.dumps(parts, ensure_ascii=False),
            json.dumps(manifest, ensure_ascii=False),
        )
        await conn.execute(
            """UPDATE case_events SET data = jsonb_set(data, '{sha256}', to_jsonb($2::text))
               WHERE case_id = $1 AND kind = 'case.archived'""",
            case_id,
            digest,
        )
        await rechain()


async def reseal(pool: asyncpg.Pool, case_id: str, key: seal.SigningKey | None) -> None:
    """The forger's ways with the seal: remove it, or sign the forged archive with a key of
    their own (the statement as the worker would write it)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        if key is None:
            await conn.execute(
                """UPDATE archives SET seal = NULL, seal_key_id = NULL, seal_signature = NULL
                   WHERE case_id = $1""",
                case_id,
            )
            return
        row = await conn.fetchrow(
            "SELECT seal::text AS seal, sha256, manifest FROM archives WHERE case_id = $1",
            case_id,
        )
        statement = {
            **json.loads(row["seal"]),
            "digest": row["sha256"],
            "events_through": json.loads(row["manifest"])["events_through"],
            "key_id": key.key_id,
        }
        await conn.execute(
            """UPDATE archives SET seal = $2::jsonb, seal_key_id = $3, seal_signature = $4
               WHERE case_id = $1""",
            case_id,
            json.dumps(statement),
            key.key_id,
            key.sign(statement),
        )


async def test_a_verdict_rewritten_by_the_database_owner_is_caught_by_the_seal(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str
) -> None:
    """Issue #10: the database's owner rewrites the verdict in case_events, cases and archives
    with every hash recomputed; `archive verify`, without `--anchor` and with the public key
    alone, names it through the signature, whatever the forger does with the seal."""
    async with case_env() as env:
        case = await archived(env)
        final = await case.result()
    case_id = case.handle.id
    # The seal is in the case's Temporal result too, signed over the digest it reports.
    public = seal.parse_verify_keys(auditor(database_url)["ARCHIVE_VERIFY_KEYS"], "test")
    assert final.archive_seal is not None
    statement = final.archive_seal.statement
    assert statement.digest == final.archive_sha256 and statement.format == 2
    assert (
        seal.check(public, statement.model_dump(mode="json"), final.archive_seal.signature) is None
    )
    code, out, err = await verify(database_url, case_id)
    assert code == 0, (out, err)
    assert "seal: Ed25519 signature by key test-run, signed when sealed: verifies" in out
    head = statement.events_through
    assert head is not None

    await forge(db_pool, case_id)
    assert await db_pool.fetchval("SELECT outcome FROM cases WHERE case_id = $1", case_id) == (
        "grade_5"
    )
    code, out, err = await verify(database_url, case_id, "--json")
    assert code == 4, (out, err)
    [check] = json.loads(out)
    # The digest and the chain head are not the signed ones (the package names the new head).
    assert [a["part"] for a in check["altered"]] == ["seal", "manifest", "events"], check
    assert "differs from its signed statement: digest: signed" in check["altered"][0]["what"]
    assert "chain head differs from the signed one" in check["altered"][1]["what"]
    assert f"row at seq {head.seq} no longer has the signed hash" in check["altered"][2]["what"]
    assert check["seal"].endswith("valid, but the archive no longer matches it")
    code, out, _ = await verify(database_url, case_id)
    assert code == 4 and "已被改动 (ALTERED):\n  - seal: 与签名不符" in out

    # Whatever the forger does with the seal, it does not verify.
    for key, says in (
        (seal.parse_signing_key(seal.new_key_text("forger"), "t"), "unknown key id 'forger'"),
        (seal.parse_signing_key(seal.new_key_text("test-run"), "t"), "signature does not match"),
        (None, "未签名 (unsigned"),
    ):
        await reseal(db_pool, case_id, key)
        code, out, err = await verify(database_url, case_id, "--json")
        assert code == 4, (out, err)
        [check] = json.loads(out)
        assert [a["part"] for a in check["altered"]] == ["seal"], check["altered"]
        assert says in check["altered"][0]["what"]

    # Without any verification key, verify refuses rather than skip the signature.
    keyless = {**auditor(database_url), "ARCHIVE_VERIFY_KEYS": ""}
    code, _, err = await appraisal(keyless, "archive", "verify", case_id)
    assert code == 1 and err.startswith(
        "refused: no archive verification key: set ARCHIVE_VERIFY_KEYS"
    )


async def test_a_forged_letter_with_its_hash_rewritten_is_refused_by_document_get(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    async with case_env() as env:
        case = await archived(env)
    case_id = case.handle.id
    out_file = tmp_path / "letter.pdf"
    env_ = auditor(database_url)
    code, out, err = await appraisal(env_, "document", "get", case_id, "-o", str(out_file))
    assert code == 0, err
    genuine = out_file.read_bytes()
    out_file.unlink()

    # Another PDF in its place, its SHA-256 and size recomputed in `documents`.
    forged = genuine.replace(b"/Producer", b"/Producex", 1) + b"\n%forged"
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(
            """UPDATE documents SET content = $2, sha256 = $3, size = $4
               WHERE case_id = $1 AND kind = 'conclusion-letter'""",
            case_id,
            forged,
            hashlib.sha256(forged).hexdigest(),
            len(forged),
        )
    code, out, err = await appraisal(env_, "document", "get", case_id, "-o", str(out_file))
    assert code == 1 and not out_file.exists(), (out, err)
    assert err.startswith("refused: 已被改动 (altered): ")
    assert (
        f"hashes to {hashlib.sha256(forged).hexdigest()}, the case's signed archive lists " in err
    )
    assert f"{hashlib.sha256(genuine).hexdigest()}: it was altered; do not deliver it" in err

    # The list of documents rewritten too, with the digest: the signature no longer matches.
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        stored = await conn.fetchrow("SELECT * FROM archives WHERE case_id = $1", case_id)
        parts, manifest = json.loads(stored["case_file"]), json.loads(stored["manifest"])
        parts["documents"] = await package.documents(conn, case_id)
        manifest["parts"]["documents"]["sha256"] = package.sha256(parts["documents"])
        await conn.execute(
            """UPDATE archives SET sha256 = $2, case_file = $3::jsonb, manifest = $4::jsonb
               WHERE case_id = $1""",
            case_id,
            package.sha256(manifest),
            json.dumps(parts, ensure_ascii=False),
            json.dumps(manifest, ensure_ascii=False),
        )
    code, out, err = await appraisal(env_, "document", "get", case_id, "-o", str(out_file))
    assert code == 1 and not out_file.exists(), (out, err)
    assert "the case's archive does not verify: 与签名不符" in err and "digest: signed" in err

    # No verification key: refused, saying what to set.
    env_["ARCHIVE_VERIFY_KEYS"] = ""
    code, _, err = await appraisal(env_, "document", "get", case_id, "-o", str(out_file))
    assert code == 1 and "no archive verification key: set ARCHIVE_VERIFY_KEYS" in err


async def test_an_archive_rewritten_with_every_hash_is_caught_by_the_temporal_anchor(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str
) -> None:
    """The digest the case's Temporal history recorded when it sealed the package shows a
    rewrite too, while Temporal keeps the history. An archive sealed before signatures is
    signed later (`sign-legacy`) only when it checks out against that anchor."""
    async with case_env() as env:
        case = await archived(env)
        case_id = case.handle.id
        temporal = env.client.service_client.config.target_host
        code, out, err = await verify(database_url, case_id, "--anchor", temporal=temporal)
        assert code == 0 and "anchor: matches" in out, (out, err)

        # Sealed before signatures, as it were: `sign-legacy` signs it, the anchor matching.
        await reseal(db_pool, case_id, None)
        assert (await verify(database_url, case_id))[0] == 4
        worker = {
            **auditor(database_url, temporal),
            "ARCHIVE_SIGNING_KEY": os.environ["ARCHIVE_SIGNING_KEY"],
        }
        code, out, err = await appraisal(worker, "archive", "sign-legacy", case_id)
        assert code == 0 and f"signed {case_id} (format 2, key test-run; anchor: matches" in out, (
            out,
            err,
        )
        code, out, err = await verify(database_url, case_id)
        assert code == 0 and "key test-run, signed later, on " in out, (out, err)
        code, _, err = await appraisal(
            auditor(database_url, temporal), "archive", "sign-legacy", case_id
        )
        assert code == 1 and "no archive signing key here" in err

        await forge(db_pool, case_id)
        code, out, err = await verify(
            database_url, case_id, "--anchor", "--json", temporal=temporal
        )
        assert code == 4, (out, err)
        [check] = json.loads(out)
        assert [a["part"] for a in check["altered"]] == ["seal", "manifest", "events", "anchor"]
        assert check["anchor"].startswith("differs")

        # A rewritten archive stripped of its seal is not signed again: the anchor differs.
        await reseal(db_pool, case_id, None)
        code, out, err = await appraisal(worker, "archive", "sign-legacy", case_id)
    assert code == 4 and f"NOT signed, altered: {case_id}" in out, (out, err)
    assert "0 of 1 unsigned archives signed" in out
