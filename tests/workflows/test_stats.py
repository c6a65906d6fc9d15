"""`appraisal stats` on a known mix of cases run through the real workflow (time-skipping
server, real activities, a PostgreSQL database of their own): every figure, its JSON, its CSV
and the report's embedded data are checked against what the test made happen.

The mix, received Monday 2 November 2026: an on-site initial appraisal (a panel member
recused; the worker's letter returned from both known addresses, so public notice, deemed
delivered in December, the delivery clock breached), a green-channel home visit, an illness
appraisal of a province-insured worker (就近办), each concluded on one day, the other letters
signed for that day; a duplicate of the first and an ineligible re-appraisal (refused); an
incomplete application whose supplement deadline passes (abandoned in December)."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import logging
import os
import re
import statistics
import sys
import warnings
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from activities.ledger import add_entry, advance_entry, escalate_overdue
from infra import db
from infra.settings import ROOT, Settings
from schemas.application import AppraisalApplication, AppraisalMode, CaseType
from schemas.clock import CHINA_TZ
from schemas.events import RecusalRequest
from schemas.ledger import (
    Advance,
    LedgerCategory,
    LedgerFigures,
    LedgerSource,
    LedgerState,
    NewEntry,
)
from schemas.outcome import VERDICT_LABELS, Outcome, Verdict
from schemas.status import CaseStatus
from schemas.steps import Recipient, RecusalParty, Stage
from schemas.vocabulary import CLOCK_LABELS, ClockName
from starter.stats import collect
from starter.stats.compute import (
    CASE_TYPE_LABELS,
    CHANNEL_LABELS,
    CYCLE_LABELS,
    EXCLUSION_LABELS,
    MODE_LABELS,
    REFUSAL_LABELS,
    SPECIALTY_LABELS,
    china_day,
)
from starter.stats.model import (
    Breakdowns,
    Cases,
    ClockFigures,
    Count,
    Cycle,
    Delivery,
    ExpertEvaluation,
    Figures,
    Grouping,
    PeriodRow,
    Pool,
    Split,
)
from starter.stats.policy import PoolPolicy
from starter.stats.render import csv_text, tidy
from starter.stats.report import CHARTS, sample_png, write_report
from tests.conftest import TASK_QUEUE, case_worker, database_of_its_own, time_skipping
from tests.helpers import GRADE_8, Driver, china, example, new_id
from tests.workflows.test_acceptance import MISSING, notice
from tests.workflows.test_delivery import OTHER, courier, delivery, waybill, webhook
from workflows.case import AppraisalCase

START = china(2026, 11, 2)  # a Monday; November 2026 has no public holiday
FIRST, LAST = date(2026, 11, 1), date(2026, 12, 31)
MAJOR_LOSS = Outcome(verdict=Verdict.major_loss)
POLICY = PoolPolicy(version="test", review_below=3.0, min_evaluations=3)
GENERATED = datetime(2027, 1, 1, 9, 0, tzinfo=CHINA_TZ)
BIN = Path(sys.executable).parent


@dataclass
class Case:
    driver: Driver
    application: AppraisalApplication
    appraised_on: date | None = None  # the site appraisal (attendance recorded)
    archived_on: date | None = None  # as the case itself saw it (its stages)
    delivered_on: date | None = None  # its last letter's delivery date, as the case holds it


@dataclass
class Mix:
    dsn: str
    cases: dict[str, Case]
    concluded_on: date  # the day the three appraised cases were concluded and signed for
    evaluations: dict[str, list[int]]  # expert → current scores recorded in November


@pytest.fixture(scope="module")
async def own_database(database_url: str) -> AsyncIterator[str]:
    """A database of its own: the figures count every row."""
    async with database_of_its_own(database_url, "stats") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def mix(own_database: str, postal_url: str, roomy_sessions: Path) -> AsyncIterator[Mix]:
    pool = await db.create_pool(own_database)
    config = Settings(
        database_url=own_database,
        postal_url=postal_url,
        task_queue=TASK_QUEUE,
        sessions_file=roomy_sessions,
    )
    try:
        async with (
            httpx.AsyncClient(base_url=postal_url, timeout=5.0) as http,
            time_skipping(START) as env,
            case_worker(env, pool, config),
        ):
            cases, concluded_on = await run_mix(env, http)
        evaluations = await evaluate(pool, cases["on_site"])
        await hard_questions(pool, cases["on_site"])
    finally:
        await pool.close()
    yield Mix(own_database, cases, concluded_on, evaluations)


async def run_mix(
    env: WorkflowEnvironment, http: httpx.AsyncClient
) -> tuple[dict[str, Case], date]:
    on_site = example("initial_complete")
    # The worker's letter comes back from the first address; the case tries the other one.
    on_site = on_site.model_copy(
        update={"worker": on_site.worker.model_copy(update={"other_address": OTHER})}
    )
    duplicate = example("duplicate", fresh_worker=False).model_copy(
        update={"worker": on_site.worker}
    )
    applications = {
        "on_site": on_site,
        "green_home": example("green_channel"),
        "province": example("province_insured"),
        "incomplete": example("initial_incomplete"),
        "ineligible": example("re_appraisal_ineligible"),
    }
    cases = {k: Case(await Driver.start(env, a), a) for k, a in applications.items()}
    first = cases["on_site"].driver
    await first.until(lambda s: s.stage is Stage.organizing)  # open: the next is its duplicate
    cases["duplicate"] = Case(await Driver.start(env, duplicate), duplicate)
    for refused in ("duplicate", "ineligible"):
        await cases[refused].driver.until(lambda s: s.stage is Stage.archived)
    incomplete = cases["incomplete"].driver
    await incomplete.until(lambda s: bool(s.deadlines))
    await incomplete.update(AppraisalCase.issue_supplement_notice, notice(*MISSING))

    appraised = [cases[k] for k in ("on_site", "green_home", "province")]
    await recuse_one(first)
    booked = {}
    for case in appraised:
        status = await case.driver.until(lambda s: s.appointment is not None)
        assert status.appointment is not None
        booked[id(case)] = status.appointment.starts_at
    appraised.sort(key=lambda c: booked[id(c)])
    for case in appraised:  # in the order of their appointments: time only moves forward
        await case.driver.attended()
        case.appraised_on = china_day(booked[id(case)])
    concluded_at = await env.get_current_time()
    for case, outcome in zip(appraised, outcomes(appraised), strict=True):
        await case.driver.decide(outcome)
        status = await case.driver.posted()
        if case is cases["on_site"]:  # the worker's letter under public notice
            status = await returned_twice(case.driver, http)
        await case.driver.sign(status)
    windows = {ClockName.dispute_window_worker, ClockName.dispute_window_employer}
    ends = []
    for case in appraised:
        if case is cases["on_site"]:
            continue  # its worker's window opens only once the notice period has run
        status = await case.driver.until(lambda s: windows <= {d.name for d in s.deadlines})
        ends += [d.due_at for d in status.deadlines if d.name in windows]
    status = await incomplete.status()
    ends += [d.due_at for d in status.deadlines if d.name == ClockName.supplement]
    status = await first.status()
    ends += [d.due_at for d in status.deadlines if d.name == ClockName.public_notice_worker]
    await first.skip_to(max(ends) + timedelta(minutes=5))  # the notice period ends
    status = await first.until(
        lambda s: ClockName.dispute_window_worker in {d.name for d in s.deadlines}
    )
    await first.skip_to(max(d.due_at for d in status.deadlines if d.name in windows))
    for case in cases.values():
        status = await case.driver.until(lambda s: s.stage is Stage.archived)
        case.archived_on = china_day(status.stages[-1].entered_at)
        delivered = [d.delivered_on for d in status.deliveries if d.delivered_on]
        case.delivered_on = max(delivered) if delivered else None
    return cases, china_day(concluded_at)


async def returned_twice(case: Driver, http: httpx.AsyncClient) -> CaseStatus:
    """The worker's letter returned (address unknown), posted to the other known address,
    returned again (nobody there): public notice, deemed delivered 30 days after. The answer
    holds only the employer's letter, for signing."""
    for attempt, reason in enumerate(("unknown_address", "nobody_home"), start=2):
        status = await case.status()
        event = await courier(
            case, http, waybill(status, Recipient.worker), "returned", reason=reason
        )
        await webhook(case, event)
        if attempt == 2:
            await case.until(lambda s: len(s.shipments) == 3)
    status = await case.until(lambda s: delivery(s, Recipient.worker).public_notice is not None)
    employer = [s for s in status.shipments if s.recipient is Recipient.employer]
    return status.model_copy(update={"shipments": employer})


async def recuse_one(case: Driver) -> None:
    """The worker asks for a panel member's recusal before the appraisal: that seat is redrawn."""
    status = await case.until(lambda s: s.panel is not None and s.appointment is not None)
    assert status.panel is not None
    request = RecusalRequest(
        event_id=new_id("rc"),
        actor="W0101",
        expert_id=status.panel.members[0].expert_id,
        requested_by=RecusalParty.worker,
        reason="该专家曾为职工主治医生",
    )
    assert "已准许" in await case.update(AppraisalCase.request_recusal, request)


def outcomes(cases: list[Case]) -> list[Outcome]:
    return [MAJOR_LOSS if c.application.case_type is CaseType.illness else GRADE_8 for c in cases]


async def evaluate(pool: asyncpg.Pool, case: Case) -> dict[str, list[int]]:
    """Evaluations of the on-site case's panel, recorded in November: the first member low by
    three evaluators (flagged), one of them corrected (only the latest counts); the second
    high by two (too few to flag)."""
    members = await pool.fetchval(
        "SELECT members FROM panel_draws WHERE case_id = $1 ORDER BY attempt DESC LIMIT 1",
        case.driver.handle.id,
    )
    low, high = [
        m["expert_id"] for m in (json.loads(members) if isinstance(members, str) else members)
    ][:2]
    at = datetime(2026, 11, 20, 10, tzinfo=CHINA_TZ)
    rows = [
        (low, 4, "C0201", at),
        (low, 2, "C0201", at + timedelta(hours=1)),  # corrected: this one counts
        (low, 2, "C0202", at),
        (low, 3, "C0203", at),
        (high, 5, "C0201", at),
        (high, 4, "C0202", at),
    ]
    await pool.executemany(
        """INSERT INTO expert_evaluations (expert_id, case_id, score, evaluator, recorded_at)
           VALUES ($1, $2, $3, $4, $5)""",
        [(e, case.driver.handle.id, s, who, when) for e, s, who, when in rows],
    )
    return {low: [2, 2, 3], high: [5, 4]}


async def hard_questions(pool: asyncpg.Pool, case: Case) -> None:
    """The ledger in the period: a hotline question on the on-site case closed in 3 days, a
    window question whose follow-up ran out (escalated), and one from October (outside)."""

    def asked(source: str, category: str, case_id: str | None = None) -> NewEntry:
        return NewEntry(
            source=source, category=category, question="问题", owner="W0101", case_id=case_id
        )

    async with pool.acquire() as conn:
        quick, _ = await add_entry(
            conn, asked("12345", "delivery", case.driver.handle.id), "W0101", at=china(2026, 11, 5)
        )
        for to, day in (("during", 6), ("after", 7), ("closed", 8)):
            due = date(2026, 11, 20) if to == "after" else None
            move = Advance(to=to, note="已办", follow_up_due=due)
            await advance_entry(conn, quick.id, move, "W0101", at=china(2026, 11, day))
        late = asked("window", "materials").model_copy(update={"follow_up_due": date(2026, 11, 25)})
        await add_entry(conn, late, "W0101", at=china(2026, 11, 20))
        await add_entry(conn, asked("online", "other"), "W0101", at=china(2026, 10, 30))
    await escalate_overdue(pool, china(2026, 11, 26))


async def figures_of(dsn: str, by: Grouping = Grouping.month) -> Figures:
    conn = await asyncpg.connect(dsn)
    try:
        return await collect(conn, FIRST, LAST, by, POLICY, GENERATED)
    finally:
        await conn.close()


def splits(cases: list[Case], concluded: list[Case], keys: dict[str, Any]) -> list[Split]:
    labels = {**CHANNEL_LABELS, **{k.value: v for k, v in (CASE_TYPE_LABELS | MODE_LABELS).items()}}
    return [
        Split(
            key=key,
            label=labels[key],
            received=sum(test(c.application) for c in cases),
            concluded=sum(test(c.application) for c in concluded),
        )
        for key, test in keys.items()
    ]


def tally(found: Counter[str], labels: dict[Any, str]) -> list[Count]:
    return [
        Count(key=k, label=labels[k], count=n)
        for k, n in sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def cycle(name: str, days: list[int]) -> Cycle:
    ordered = sorted(days)
    return Cycle(
        name=name,
        label=CYCLE_LABELS[name],
        cases=len(days),
        median_days=float(statistics.median(days)),
        p90_days=ordered[-1] if len(days) <= 10 else None,  # nearest rank of ≤ 10: the largest
        within_5_days=round(sum(d <= 5 for d in days) / len(days), 4),
        within_60_days=1.0,
        histogram={str(d): n for d, n in sorted(Counter(days).items())},
    )


async def pool_facts(
    dsn: str, appraised: list[Case]
) -> tuple[int, Counter[str], Counter[str], dict[str, Any]]:
    """The pool as the database holds it on the last day, the stored draws' exclusions (once
    per case, expert, reason), and the evaluated experts' rows."""
    conn = await asyncpg.connect(dsn)
    try:
        serving = await conn.fetch(
            "SELECT specialties FROM experts WHERE active AND term_start <= $1 AND term_end >= $1",
            LAST,
        )
        draws = await conn.fetch(
            "SELECT case_id, exclusions FROM panel_draws WHERE case_id = ANY($1)",
            [c.driver.handle.id for c in appraised],
        )
        experts = {r["expert_id"]: r for r in await conn.fetch("SELECT * FROM experts")}
    finally:
        await conn.close()
    specialties = Counter(s for row in serving for s in row["specialties"])
    excluded = {
        (d["case_id"], x["expert_id"], x["reason"])
        for d in draws
        for x in json.loads(d["exclusions"])
    }
    return len(serving), specialties, Counter(r for _, _, r in excluded), experts


async def expected_figures(mix: Mix) -> Figures:
    """The figures of November-December 2026 from what the test made happen."""
    everyone = list(mix.cases.values())
    appraised = [mix.cases[k] for k in ("on_site", "green_home", "province")]
    received = START.date()
    acceptance_days = [(mix.concluded_on - received).days for _ in appraised]
    site_days = [(mix.concluded_on - c.appraised_on).days for c in appraised if c.appraised_on]
    abandoned_on = mix.cases["incomplete"].archived_on  # closed, then archived, at once
    assert abandoned_on is not None
    in_term, specialties, exclusions, experts = await pool_facts(mix.dsn, appraised)
    types = {t.value: (lambda a, t=t: a.case_type is t) for t in CaseType}
    modes = {m.value: (lambda a, m=m: a.mode is m) for m in AppraisalMode}
    channels = {
        "green_channel": lambda a: a.green_channel,
        "province": lambda a: a.jurisdiction.value == "province",
        "home_or_remote": lambda a: a.mode is not AppraisalMode.on_site,
    }
    scores = {e: round(statistics.fmean(v), 2) for e, v in mix.evaluations.items()}
    every_score = [s for v in mix.evaluations.values() for s in v]

    def judged(clock: ClockName, n: int, late: int = 0) -> ClockFigures:
        return ClockFigures(
            clock=clock.value,
            label=CLOCK_LABELS[clock],
            judged=n,
            on_time=n - late,
            late=late,
            on_time_rate=round((n - late) / n, 4) if n else None,
            breaches=late,
        )

    rated = {
        ClockName.supplement_notice: judged(ClockName.supplement_notice, 1),
        ClockName.conclusion: judged(ClockName.conclusion, 3),
        ClockName.green_conclusion: judged(ClockName.green_conclusion, 1),
        ClockName.site_promise: judged(ClockName.site_promise, 3),
        # The letter under public notice is delivered after the 15 days, by law: late.
        ClockName.delivery: judged(ClockName.delivery, 3, late=1),
    }
    clocks = [
        rated.get(k) or judged(k, 0).model_copy(update={"on_time_rate": None}) for k in ClockName
    ]
    delivery_days = [(c.delivered_on - mix.concluded_on).days for c in appraised if c.delivered_on]

    def month(key: str, first: date, last: date) -> PeriodRow:
        def inside(day: date | None) -> bool:
            return day is not None and first <= day <= last

        came = [c for c in everyone if inside(received)]
        done = inside(mix.concluded_on)
        return PeriodRow(
            period=key,
            start=first,
            end=last,
            received=len(came),
            accepted=3 if inside(received) else 0,
            concluded=3 if done else 0,
            delivered=sum(inside(c.delivered_on) for c in appraised),
            archived=sum(inside(c.archived_on) for c in everyone),
            green_channel=sum(c.application.green_channel for c in came),
            province=sum(c.application.jurisdiction.value == "province" for c in came),
            home_or_remote=sum(c.application.mode is not AppraisalMode.on_site for c in came),
            by_case_type={
                t.value: sum(c.application.case_type is t for c in came) for t in CaseType
            },
            by_mode={m.value: sum(c.application.mode is m for c in came) for m in AppraisalMode},
            cycle_median_days=float(statistics.median(acceptance_days)) if done else None,
            site_median_days=float(statistics.median(site_days)) if done else None,
            within_5_days=1.0 if done else None,
        )

    return Figures(
        start=FIRST,
        end=LAST,
        by=Grouping.month,
        generated_at=GENERATED,
        cases=Cases(
            received=6,
            accepted=3,
            refused=2,
            abandoned=1,
            terminated=0,
            concluded=3,
            delivered=3,
            archived=6,
            refused_by_rule=tally(Counter(["duplicate", "eligibility"]), REFUSAL_LABELS),
        ),
        breakdowns=Breakdowns(
            by_case_type=splits(everyone, appraised, types),
            by_mode=splits(everyone, appraised, modes),
            by_channel=splits(everyone, appraised, channels),
            by_outcome=tally(Counter(o.verdict.value for o in outcomes(appraised)), VERDICT_LABELS),
        ),
        cycles=[cycle("acceptance", acceptance_days), cycle("site", site_days)],
        clocks=clocks,
        pool=Pool(
            as_of=LAST,
            in_term=in_term,
            by_specialty=tally(specialties, SPECIALTY_LABELS),
            draws=4,  # one each, and the on-site case's seat drawn again after the recusal
            cases_drawn=3,
            shortages=0,
            exclusions_by_reason=tally(exclusions, EXCLUSION_LABELS),
            recusals_requested=[Count(key="worker", label="职工申请", count=1)],
            evaluations=len(every_score),
            mean_score=round(statistics.fmean(every_score), 2),
            experts=sorted(
                (
                    ExpertEvaluation(
                        expert_id=e,
                        name=experts[e]["name"],
                        term_end=experts[e]["term_end"],
                        count=len(v),
                        mean=scores[e],
                        for_review=len(v) >= 3 and scores[e] < 3,
                    )
                    for e, v in mix.evaluations.items()
                ),
                key=lambda x: (x.mean, x.expert_id),
            ),
            for_review=1,
            policy=POLICY,
        ),
        delivery=Delivery(
            letters_signed=5,  # every letter but the on-site worker's (public notice)
            letters_returned=2,
            returns_by_reason=[
                Count(key="nobody_home", label="无人签收", count=1),
                Count(key="unknown_address", label="查无此人/地址不详", count=1),
            ],
            public_notices=1,
            deemed_delivered=1,
            cases_delivered=3,
            median_days_to_delivery=float(statistics.median(delivery_days)),
            p90_days_to_delivery=max(delivery_days),  # nearest rank of three: the largest
        ),
        ledger=LedgerFigures(
            start=FIRST,
            end=LAST,
            received=2,
            by_source={LedgerSource.hotline: 1, LedgerSource.window: 1},
            by_category={LedgerCategory.delivery: 1, LedgerCategory.materials: 1},
            by_state={LedgerState.before: 1, LedgerState.closed: 1},  # most first, then by name
            closed=1,
            overdue=1,
            escalated=1,
            median_days_to_close=3.0,
        ),
        periods=[
            month("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
            month("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ],
    )


async def test_every_figure_of_the_known_mix(mix: Mix) -> None:
    found = await figures_of(mix.dsn)
    expected = await expected_figures(mix)
    assert found.cases == expected.cases
    assert found.breakdowns == expected.breakdowns
    assert found.cycles == expected.cycles
    assert found.clocks == expected.clocks
    assert found.pool == expected.pool
    assert found.delivery == expected.delivery
    assert found.periods == expected.periods
    assert found == expected
    # What the mix is, spelled out: the figures the city reports.
    assert found.cases.received == 6 and found.breakdowns.by_channel[1].received == 1  # 就近办
    assert [s.received for s in found.breakdowns.by_mode] == [5, 1, 0]  # one home visit
    assert found.pool.exclusions_by_reason and "recused" in {
        c.key for c in found.pool.exclusions_by_reason
    }
    assert [e.for_review for e in found.pool.experts] == [True, False]
    assert (found.delivery.public_notices, found.delivery.deemed_delivered) == (1, 1)
    assert [p.delivered for p in found.periods] == [2, 1]  # deemed delivered in December


async def test_json_and_csv_carry_every_figure(mix: Mix) -> None:
    found = await figures_of(mix.dsn)
    expected = (await expected_figures(mix)).model_dump(mode="json")
    assert json.loads(found.model_dump_json()) == expected
    text = csv_text(found)
    assert text.startswith("\ufeffsection,metric,key,value\r\n")  # Excel reads the BOM as UTF-8
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["section", "metric", "key", "value"]
    expected_rows = [
        [s, m, k, "" if v is None else str(v)]
        for s, m, k, v in tidy(Figures.model_validate(expected))
    ]
    assert rows[1:] == expected_rows
    by_cell = {(s, m, k): v for s, m, k, v in rows[1:]}
    assert by_cell[("cases", "received", "")] == "6"
    assert by_cell[("breakdowns", "by_channel.received", "province")] == "1"
    assert by_cell[("clocks", "on_time_rate", "conclusion")] == "1.0"
    assert by_cell[("periods", "archived", "2026-12")] == "2"  # the abandoned, the noticed
    assert by_cell[("clocks", "late", "delivery")] == "1"
    assert by_cell[("delivery", "public_notices", "")] == "1"
    low = found.pool.experts[0].expert_id
    assert by_cell[("pool", "experts.for_review", low)] == "True"
    assert len(by_cell) == len(rows) - 1  # (section, metric, key) names each value once


def embedded(page: str) -> Any:
    found = re.search(r'<script type="application/json" id="figures">(.*?)</script>', page, re.S)
    assert found, "no embedded figures"
    return json.loads(found[1])


async def test_report_embeds_the_figures_and_draws_chinese(
    mix: Mix, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    found = await figures_of(mix.dsn)
    expected = (await expected_figures(mix)).model_dump(mode="json")
    html_file, pdf_file = tmp_path / "figures.html", tmp_path / "figures.pdf"
    with warnings.catch_warnings(record=True) as warned, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        write_report(found, html_file)
        write_report(found, pdf_file)
    # A glyph the font lacks is a warning ("Glyph … missing from font(s)"): none, no tofu.
    assert [str(w.message) for w in warned] == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("matplotlib")] == []
    page = html_file.read_text(encoding="utf-8")
    assert embedded(page) == expected
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(CHARTS)
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page  # one file, nothing fetched
    assert "收到申请" in page and "就近办" in page  # the tables, in Chinese
    assert len(PdfReader(pdf_file).pages) == len(CHARTS)
    # STATS_SAMPLE_PNG=docs/stats/sample-report.png refreshes the README's picture.
    sample = Path(os.environ.get("STATS_SAMPLE_PNG") or tmp_path / "sample.png")
    sample_png(found, sample)
    assert sample.read_bytes().startswith(b"\x89PNG")


async def stats_cli(mix: Mix, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    policy = tmp_path / "pool_policy.toml"
    policy.write_text(
        f'version = "{POLICY.version}"\nreview_below = {POLICY.review_below}\n'
        f"min_evaluations = {POLICY.min_evaluations}\n",
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        str(BIN / "appraisal"),
        *args,
        env={**os.environ, "DATABASE_URL": mix.dsn, "POOL_POLICY_FILE": str(policy)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode("utf-8"), err.decode()


PERIOD = ("--from", FIRST.isoformat(), "--to", LAST.isoformat())


def without_time(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "generated_at"}


async def test_the_command_line(mix: Mix, tmp_path: Path) -> None:
    expected = (await expected_figures(mix)).model_dump(mode="json")
    low = min(mix.evaluations, key=lambda e: statistics.fmean(mix.evaluations[e]))
    report = tmp_path / "stats.html"
    wrong = (
        (("--from", "2026-13-01"), "refused: --from '2026-13-01' is not a date"),
        ((*PERIOD, "--json", "--csv"), "give --json or --csv, not both"),
    )  # the other refusals: tests/unit/test_stats.py
    runs = await asyncio.gather(  # side by side: each is a process of its own
        stats_cli(mix, tmp_path, "stats", *PERIOD, "--json"),
        stats_cli(mix, tmp_path, "stats", *PERIOD),
        stats_cli(mix, tmp_path, "stats", *PERIOD, "--csv"),
        stats_cli(mix, tmp_path, "stats", *PERIOD, "--report", str(report)),
        stats_cli(mix, tmp_path, "experts", "show", low),
        *(stats_cli(mix, tmp_path, "stats", *args) for args, _ in wrong),
    )
    (as_json, tables, as_csv, reported, shown), refusals = runs[:5], runs[5:]
    assert all((code, err) == (0, "") for code, _, err in runs[:5]), runs[:5]

    assert without_time(json.loads(as_json[1])) == without_time(expected)

    out = tables[1]
    assert "2026-11-01 ~ 2026-12-31 (北京时间, inclusive)" in out
    assert re.search(r"^收到申请\s+received\s+6$", out, re.M)
    assert re.search(r"^province\s+就近办 \(省直参保\)\s+1\s+1$", out, re.M)
    assert re.search(rf"^{low}\s.*待复核 for review$", out, re.M)

    assert as_csv[1].startswith("\ufeffsection,metric,key,value")
    rows = list(csv.reader(io.StringIO(as_csv[1].removeprefix("\ufeff"))))
    wanted = [
        [s, m, k, "" if v is None else str(v)]
        for s, m, k, v in tidy(Figures.model_validate(expected))
        if m != "generated_at"
    ]
    assert [r for r in rows[1:] if r[1] != "generated_at"] == wanted

    assert reported[1] == f"report written: {report}\n"
    assert without_time(embedded(report.read_text(encoding="utf-8"))) == without_time(expected)

    assert "期满考核时复核 for review at the end of term" in shown[1]

    for (code, out, err), (_, says) in zip(refusals, wrong, strict=True):
        assert (code, out) == (1, "") and len(err.splitlines()) == 1, err
        assert err.startswith("refused: ") and says in err, err
