"""The expert draw (专家抽取): random among active experts of the needed specialties.

The draw is reproducible from its seed and the pool snapshot, and stored once per case, so a
retried activity returns the panel already drawn instead of drawing again."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

from schemas.steps import Panel, PanelDrawRequest, PanelMember


def draw(pool: Sequence[PanelMember], request: PanelDrawRequest, pool_size: int) -> Panel:
    """Pure draw: the same pool snapshot and seed always give the same panel."""
    needed = set(request.specialties)
    eligible = sorted((e for e in pool if needed & set(e.specialties)), key=lambda e: e.expert_id)
    if len(eligible) < request.size:
        raise ApplicationError(
            f"专家库中符合专业要求的专家不足: 需要 {request.size} 名, 仅有 {len(eligible)} 名"
            f" (specialties {sorted(needed)})",
            type="PanelShortage",
            non_retryable=True,
        )
    members = random.Random(request.seed).sample(eligible, request.size)
    return Panel(seed=request.seed, pool_size=pool_size, eligible=len(eligible), members=members)


class Experts:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @activity.defn(name="draw_panel")
    async def draw_panel(self, request: PanelDrawRequest) -> Panel:
        async with self.pool.acquire() as conn, conn.transaction():
            # Serialize draws for one case so two attempts never both insert.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", request.case_id)
            stored = await conn.fetchrow(
                "SELECT seed, pool_size, eligible, members FROM panel_draws WHERE case_id = $1",
                request.case_id,
            )
            if stored:
                return Panel(
                    seed=stored["seed"],
                    pool_size=stored["pool_size"],
                    eligible=stored["eligible"],
                    members=json.loads(stored["members"]),
                )
            rows = await conn.fetch(
                "SELECT expert_id, name, title, specialties, active FROM experts"
            )
            active = [
                PanelMember(
                    expert_id=r["expert_id"],
                    name=r["name"],
                    title=r["title"],
                    specialties=r["specialties"],
                )
                for r in rows
                if r["active"]
            ]
            panel = draw(active, request, pool_size=len(rows))
            await conn.execute(
                """INSERT INTO panel_draws (case_id, seed, pool_size, eligible, members)
                   VALUES ($1, $2, $3, $4, $5::jsonb)""",
                request.case_id,
                panel.seed,
                panel.pool_size,
                panel.eligible,
                json.dumps([m.model_dump(mode="json") for m in panel.members], ensure_ascii=False),
            )
            return panel
