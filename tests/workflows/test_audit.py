"""`appraisal audit` through the real CLI (a subprocess, as an auditor runs it) on cases driven
to their end on the time-skipping server with the real worker: a delivered case (its archive
then altered, and read back once Temporal no longer has the case), a refused case, a
breached-deadline case, a case with a returned review; and a history changed by hand."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.testing import WorkflowEnvironment

from schemas.clock import CHINA_TZ
from schemas.events import ReviewLayer
from tests.conftest import CaseEnv
from tests.helpers import G8, G9, Driver, decision, example, opinion, signoff
from tests.workflows.test_archive import archived, forge, tamper
from tests.workflows.test_paths import MONDAY, PATHS, panel
from workflows.case import AppraisalCase

APPRAISAL = Path(sys.executable).parent / "appraisal"
ROOT = Path(__file__).resolve().parents[2]
HISTORY = ROOT / "tests" / "histories" / "v5" / "returned_review.json"
# The example worker's personal data (the tests give each case its own citizen ID).
PERSONAL = ["张建军", "13805370001", "红星中路100号", "右胫腓骨骨折", "施工中从脚手架坠落"]


async def audit(database_url: str, env: WorkflowEnvironment, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(APPRAISAL),
        "audit",
        *args,
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


async def audit_json(database_url: str, env: WorkflowEnvironment, case_id: str) -> dict[str, Any]:
    code, out, err = await audit(database_url, env, case_id, "--json")
    report: dict[str, Any] = json.loads(out)
    assert code == report["exit_code"], err
    return report


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in report["checks"]}


def clock(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["clocks"] if c["clock"] == name)


def no_personal_data(*outputs: str) -> None:
    for text in outputs:
        for secret in PERSONAL:
            assert secret not in text, secret


async def test_a_delivered_case_its_archive_altered_and_its_history_from_the_archive(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str, tmp_path: Path
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        await case.conclude()
        await case.deliver()
        case_id = case.handle.id
        report = await audit_json(database_url, env, case_id)
        page = tmp_path / "report.html"
        code, text, err = await audit(database_url, env, case_id, "--html", str(page))
    assert code == 0, (text, err)
    assert report["replay"] == {
        "outcome": "clean",
        "source": "temporal",
        "workflow_type": "AppraisalCase",
        "events": report["replay"]["events"],
        "event_id": None,
        "event_type": None,
        "message": None,
    }
    assert set(statuses(report).values()) == {"passed"}, report["checks"]
    assert [s["stage"] for s in report["stages"]] == [
        "acceptance",
        "organizing",
        "conclusion",
        "delivery",
        "archiving",
    ]
    # Times in China time; each clock met or, for the dispute windows, run out.
    assert all(e["at"].endswith("+08:00") for e in report["events"])
    outcomes = {c["clock"]: c["outcome"] for c in report["clocks"]}
    assert outcomes == {
        "conclusion": "met",
        "site_promise": "met",
        "attendance": "met",
        "delivery": "met",
        "dispute_window_worker": "ended",
        "dispute_window_employer": "ended",
    }
    letter = await db_pool.fetchrow(
        "SELECT document_id, sha256 FROM documents WHERE case_id = $1", case_id
    )
    assert [(d["document_id"], d["sha256"], d["intact"]) for d in report["documents"]] == [
        (letter["document_id"], letter["sha256"], True)
    ]
    assert sorted((x["recipient"], x["signer"], x["status"]) for x in report["letters"]) == [
        ("employer", "本人", "签收"),
        ("worker", "本人", "签收"),
    ]
    assert report["case"]["archive_sha256"] and report["refusals"] == []
    for section in ("阶段 (stages)", "事件 (events)", "期限 (clocks)", "评查项目 (checks)"):
        assert section in text
    assert "北京时间" in text and "结果 (result): 全部通过 (clean), exit 0" in text
    html = page.read_text(encoding="utf-8")
    assert case_id in html and "劳动能力鉴定案卷评查报告" in html and "评查项目" in html
    no_personal_data(text, html, json.dumps(report, ensure_ascii=False))

    # Temporal's retention has passed (here: another server, which never held the case):
    # the history comes from the archive's export, sealed before archiving completed.
    async with case_env(MONDAY) as elsewhere:
        later = await audit_json(database_url, elsewhere, case_id)
        # Someone deletes a sign-off: the archive, the chain and the history all say so.
        signed = await db_pool.fetchrow(
            "SELECT id, event_key FROM case_events WHERE case_id = $1 AND kind = 'review.approved'",
            case_id,
        )
        await tamper(db_pool, "case_events", "DELETE FROM case_events WHERE id = $1", signed["id"])
        code, out, _ = await audit(database_url, elsewhere, case_id)
        altered = await audit_json(database_url, elsewhere, case_id)
    assert later["replay"]["source"] == "archive" and later["replay"]["outcome"] == "clean"
    assert set(statuses(later).values()) == {"passed"}, later["checks"]
    assert code == 4 and "案卷已被改动 (ALTERED), exit 4" in out
    found = statuses(altered)
    assert (found["archive"], found["event_chain"], found["history"]) == ("failed",) * 3
    assert found["signoffs"] == "failed"  # the conclusion now lacks one of its three sign-offs
    history = next(c for c in altered["checks"] if c["name"] == "history")
    assert f"事件日志缺少 {signed['event_key']}" in history["reason"]


async def test_a_refused_case_lists_its_refusals(case_env: CaseEnv, database_url: str) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("re_appraisal_ineligible"))
        await case.result()
        report = await audit_json(database_url, env, case.handle.id)
        code, text, _ = await audit(database_url, env, case.handle.id)
    assert report["exit_code"] == 0 and code == 0
    assert report["case"]["closed"] == "refused"
    assert "15日内申请" in report["case"]["closed_reason"]
    assert [(r["kind"], r["reason"][:9]) for r in report["refusals"]] == [
        ("application.refused", "eligibili"),
        ("case.refused", "再次鉴定须在收到鉴"),
    ]
    assert statuses(report) == {
        "clocks": "not_applicable",
        "panel": "not_applicable",
        "majority": "not_applicable",
        "signoffs": "not_applicable",
        "delivery": "not_applicable",
        "archive": "passed",
        "event_chain": "passed",
        "history": "passed",
    }
    assert "拒绝与退回 (refusals)" in text and "case.refused" in text


async def test_a_breached_deadline_is_on_the_timeline_and_recorded(
    case_env: CaseEnv, database_url: str
) -> None:
    _, drive, _ = PATHS["breached"]
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await drive(case)
        report = await audit_json(database_url, env, case.handle.id)
        code, text, _ = await audit(database_url, env, case.handle.id)
    assert code == 0 and report["exit_code"] == 0  # breached, and the breach on record
    legal = clock(report, "conclusion")
    assert (legal["due_on"], legal["outcome"]) == ("2026-12-11", "breached")
    assert (
        legal["breach_at"].startswith("2026-12-12T00:00:00")
        and legal["done_at"] > legal["breach_at"]
    )
    assert clock(report, "site_promise")["outcome"] == "breached"
    clocks_check = next(c for c in report["checks"] if c["name"] == "clocks")
    assert clocks_check["status"] == "passed"
    assert (
        "鉴定结论法定期限 (2026-12-11 届满, 记录于 2026-12-12 00:00 北京时间)"
        in clocks_check["reason"]
    )
    assert "逾期 (已记录) breached" in text and "逾期记录 2026-12-12 00:00 北京时间" in text


async def test_a_running_case_shows_its_clocks_running(
    case_env: CaseEnv, database_url: str
) -> None:
    # A running case's clocks are read against the wall clock: its server starts today.
    async with case_env(datetime.now(CHINA_TZ)) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()  # in the conclusion stage: opinions not yet in
        report = await audit_json(database_url, env, case.handle.id)
    assert report["exit_code"] == 0 and report["case"]["closed"] is None
    assert report["replay"]["outcome"] == "clean"
    assert clock(report, "conclusion")["outcome"] == "running"
    assert clock(report, "attendance")["outcome"] == "met"
    found = statuses(report)
    assert (found["majority"], found["delivery"], found["archive"]) == ("not_applicable",) * 3
    assert (found["clocks"], found["panel"], found["history"]) == ("passed",) * 3


async def test_a_returned_review_and_what_the_clerk_typed_masked(
    case_env: CaseEnv, database_url: str, tmp_path: Path
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        a, b, c = await panel(case)
        for expert in (a, b, c):
            await case.update(AppraisalCase.record_opinion, opinion(expert, G8))
        why = "与张建军电话13805370001核实, 测量有误"  # personal data typed into a reason
        returned = signoff(ReviewLayer.examination, False, why)
        await case.update(AppraisalCase.sign_off_review, returned)
        await case.update(AppraisalCase.record_opinion, opinion(c, G9))
        await case.update(AppraisalCase.record_opinion, opinion(c, G8))
        await case.review()
        await case.update(AppraisalCase.issue_conclusion, decision(G8))
        await case.deliver()
        report = await audit_json(database_url, env, case.handle.id)
        page = tmp_path / "returned.html"
        code, text, _ = await audit(database_url, env, case.handle.id, "--html", str(page))
    assert code == 0 and set(statuses(report).values()) == {"passed"}, report["checks"]
    signoffs = next(c for c in report["checks"] if c["name"] == "signoffs")
    assert signoffs["reason"].startswith("第2轮: 面检组 S0101 → 总检组 S0102 → 复核组 S0103")
    assert "此前退回 1 次 (面检组)" in signoffs["reason"]
    kinds = [e["kind"] for e in report["events"]]
    assert kinds.count("review.returned") == 1 and kinds.count("opinion.corrected") == 2
    returned_line = next(e for e in report["events"] if e["kind"] == "review.returned")
    assert returned_line["what"] == "面检组 第1轮 退回: 与张**电话1********核实, 测量有误"
    no_personal_data(text, page.read_text(encoding="utf-8"), json.dumps(report, ensure_ascii=False))


def removed(history: dict[str, Any], kind: str, renumber: bool) -> dict[str, Any]:
    """The history with its 4th event of `kind` taken out by hand; `renumber` closes the gap
    (event ids and the references to them), as a careful forger would."""
    events = copy.deepcopy(history["events"])
    victim = [e for e in events if e["eventType"] == kind][3]
    events.remove(victim)
    if not renumber:
        return {"events": events}
    new = {int(e["eventId"]): n for n, e in enumerate(events, start=1)}

    def fix(value: Any) -> None:
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(key, str) and key.endswith("EventId") and int(item) in new:
                value[key] = str(new[int(item)])
            elif isinstance(item, dict | list):
                fix(item)

    fix(events)
    for n, e in enumerate(events, start=1):
        e["eventId"] = str(n)
    return {"events": events}


async def test_a_history_changed_by_hand_is_reported_where_it_diverges(
    case_env: CaseEnv, database_url: str, tmp_path: Path
) -> None:
    stored = json.loads(HISTORY.read_text(encoding="utf-8"))
    scheduled = "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    gone = int([e for e in stored["events"] if e["eventType"] == scheduled][3]["eventId"])
    files = {}
    for name, history in {
        "as_stored": stored,
        "gap": removed(stored, scheduled, renumber=False),
        "renumbered": removed(stored, scheduled, renumber=True),
    }.items():
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(history), encoding="utf-8")
    async with case_env(MONDAY) as env:
        results = {
            name: await audit(
                database_url, env, "returned_review", "--history", str(path), "--json"
            )
            for name, path in files.items()
        }
        code, text, _ = await audit(
            database_url, env, "returned_review", "--history", str(files["renumbered"])
        )
    reports = {name: json.loads(out) for name, (_, out, _) in results.items()}
    assert reports["as_stored"]["replay"]["outcome"] == "clean" and results["as_stored"][0] == 0
    assert reports["as_stored"]["case"] is None  # this database never held that case
    gap = reports["gap"]["replay"]
    assert results["gap"][0] == 6 and gap["outcome"] == "diverged"
    assert gap["event_id"] == gone and f"event {gone} is missing" in gap["message"]
    assert gap["event_type"] is None  # that event is gone
    moved = reports["renumbered"]["replay"]
    assert results["renumbered"][0] == 6 and moved["source"] == "file"
    assert "Nondeterminism" in moved["message"] and moved["event_id"] == gone
    assert moved["event_type"] == "UpsertWorkflowSearchAttributes"  # what came instead
    assert (
        code == 6 and f"不一致 (DIVERGES) at event {gone} (UpsertWorkflowSearchAttributes)" in text
    )


async def test_a_verdict_rewritten_by_the_database_owner_is_caught_by_the_audit(
    case_env: CaseEnv, db_pool: asyncpg.Pool, database_url: str
) -> None:
    """Issue #10: the database's owner rewrites the verdict with every hash recomputed (triggers
    bypassed); the audit, like `archive verify`, catches it through the archive's seal."""
    async with case_env(MONDAY) as env:
        case = await archived(env)
        await forge(db_pool, case.handle.id)
        report = await audit_json(database_url, env, case.handle.id)
    assert report["exit_code"] == 4
    archive = next(c for c in report["checks"] if c["name"] == "archive")
    assert archive["status"] == "failed" and "seal" in archive["reason"], archive
