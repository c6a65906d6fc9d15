"""The demo expert pool after all migrations (008 moves it to Jining): Jining hospitals, one
name per expert, and 003's demo recusals still showing on examples/initial_complete.json."""

from __future__ import annotations

import uuid
from datetime import date

import asyncpg
from temporalio.testing import ActivityEnvironment

from activities.experts import Experts
from infra import db
from infra.settings import Settings
from schemas.application import Specialty
from schemas.steps import ExclusionReason, Panel, PanelDrawRequest, Stage
from tests.helpers import example
from tests.unit.test_jining_defaults import JINING_HOSPITALS

DEMO = [f"EXP-{n:03d}" for n in range(1, 42)]


async def test_demo_experts_work_in_jining_hospitals_under_unique_names(
    db_pool: asyncpg.Pool,
) -> None:
    rows = await db_pool.fetch(
        "SELECT expert_id, name, hospital FROM experts WHERE expert_id = ANY($1)", DEMO
    )
    assert len(rows) == len(DEMO)
    names = [r["name"] for r in rows]
    assert sorted(n for n in names if names.count(n) > 1) == []
    assert {r["hospital"] for r in rows} <= JINING_HOSPITALS


async def test_the_demo_recusals_follow_the_initial_complete_example(
    db_pool: asyncpg.Pool,
) -> None:
    application = example("initial_complete", fresh_worker=False)
    case_id = f"JN-T-{uuid.uuid4().hex[:10]}"
    await db_pool.execute(
        """INSERT INTO cases (case_id, case_type, worker_ref, mode, jurisdiction, stage,
                              received_at)
           VALUES ($1, 'initial', $2, 'on_site', 'city', 'organizing', now())""",
        case_id,
        uuid.uuid4().hex,
    )
    request = PanelDrawRequest(
        case_id=case_id,
        stage=Stage.organizing,
        specialties=[Specialty.orthopedics, Specialty.neurology],
        size=3,
        seed=20261201,
        on=date(2026, 12, 1),
        citizen_id=application.worker.citizen_id,
        employer_credit_code=application.employer.credit_code,
    )
    key = Settings.model_fields["worker_ref_key"].default  # 003 hashed with the dev key
    panel: Panel = await ActivityEnvironment().run(Experts(db_pool, key).draw_panel, request)
    demo = {x.expert_id: x.reason for x in panel.exclusions if x.expert_id in DEMO}
    assert {
        "EXP-004": ExclusionReason.on_leave,
        "EXP-006": ExclusionReason.relative,
        "EXP-008": ExclusionReason.employer_tie,
        "EXP-010": ExclusionReason.declared_conflict,
    }.items() <= demo.items()


async def test_the_move_touches_a_demo_row_only_where_an_operator_left_it(
    db_pool: asyncpg.Pool,
) -> None:
    [sql] = [text for name, text in db.migration_files() if name.startswith("008_")]
    async with db_pool.acquire() as conn:
        transaction = conn.transaction()  # rolled back: the shared pool stays as migrated
        await transaction.start()
        try:
            # EXP-014 as 002 created it; EXP-036 with its demo name, a hospital an operator set.
            await conn.execute(
                "UPDATE experts SET name = '刘玉兰', hospital = '济南市中心医院'"
                " WHERE expert_id = 'EXP-014'"
            )
            await conn.execute(
                "UPDATE experts SET name = '何红霞', hospital = '运营设定医院'"
                " WHERE expert_id = 'EXP-036'"
            )
            await conn.execute(sql)
            rows = await conn.fetch(
                "SELECT expert_id, name, hospital FROM experts"
                " WHERE expert_id IN ('EXP-014', 'EXP-036') ORDER BY expert_id"
            )
        finally:
            await transaction.rollback()
    assert [tuple(r) for r in rows] == [
        ("EXP-014", "刘雅琴", "济宁市第一人民医院"),
        ("EXP-036", "何晓燕", "运营设定医院"),
    ]
