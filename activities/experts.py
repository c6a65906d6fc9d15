"""The expert draw (专家抽取) with recusal (回避): auditable and reproducible.

The draw is a pure function of a pool snapshot and the draw criteria (the request with the
worker as a keyed hash). The activity stores both with the result per (case, attempt), so a
retried activity returns the stored panel and an auditor can redo the draw (`verify_draw`).

Rules, in the order an exclusion's reason is chosen (the first that applies is recorded):
inactive, no senior title (when `senior_only`), out of term, on leave (both on `on`, the
appraisal day), relative of the worker, treating doctor, treating hospital, tie to the
employer, declared conflict, recused at a party's request; last, no needed specialty. Experts
whose only problem is specialty are counted (`wrong_specialty`), not listed: they were never
candidates.

Selection: from the eligible in expert_id order, `random.Random(seed)` first picks one
expert for each needed specialty not yet covered, in the request's order (primary first),
then fills the panel at random from the rest. With too few eligible nobody is drawn and
`short_by` says how many are missing: a partial panel must never be used by mistake.

A standing panel (`standing`: the appraisal moved, or a party asked for a recusal) is checked
by the same rules on `on`; its members who may still sit keep their seats (specialty is not
asked again) and count towards the specialties covered, and only the other seats are drawn."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict
from temporalio import activity

from activities.storage import Executor, worker_ref
from infra.db import json_column
from schemas.application import Specialty
from schemas.staff import ActorCheck, ActorFacts, StaffRole
from schemas.steps import (
    RECUSAL_PARTY_LABELS,
    Exclusion,
    ExclusionReason,
    Panel,
    PanelDrawRequest,
    PanelMember,
    Recusal,
    StaffCheck,
    StaffConflict,
)
from schemas.titles import is_senior

ConflictKind = Literal["relative", "employer", "declared"]
# A stored `panel_draws` row: from asyncpg, or a dict (tests, exports).
Row = asyncpg.Record | Mapping[str, Any]


class Leave(BaseModel):
    model_config = ConfigDict(frozen=True)

    starts: date
    ends: date
    reason: str = ""


class Conflict(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: ConflictKind
    subject: str  # worker_ref (keyed hash of a citizen ID) or a credit code
    note: str = ""


class ExpertFacts(BaseModel):
    """One expert as the draw saw it. No worker's personal data: conflicts name workers only
    by their keyed hash."""

    model_config = ConfigDict(frozen=True)

    expert_id: str
    name: str
    title: str
    hospital: str
    specialties: list[Specialty]
    active: bool
    term_start: date
    term_end: date
    leaves: list[Leave] = []
    conflicts: list[Conflict] = []


class DrawCriteria(BaseModel):
    """What the draw decides on, as stored: the request without the plain citizen ID."""

    model_config = ConfigDict(frozen=True)

    specialties: list[Specialty]
    size: int
    seed: int
    attempt: int
    on: date
    worker_ref: str
    employer_credit_code: str
    treating_hospitals: list[str] = []
    treating_doctors: list[str] = []
    # Defaults: criteria stored before these rules redo as they were drawn.
    standing: list[str] = []
    recused: list[Recusal] = []
    senior_only: bool = False

    @classmethod
    def of(cls, request: PanelDrawRequest, worker_ref: str) -> DrawCriteria:
        return cls(
            specialties=request.specialties,
            size=request.size,
            seed=request.seed,
            attempt=request.attempt,
            on=request.on,
            worker_ref=worker_ref,
            employer_credit_code=request.employer_credit_code,
            treating_hospitals=request.treating_hospitals,
            treating_doctors=request.treating_doctors,
            standing=request.standing,
            recused=request.recused,
            senior_only=request.senior_only,
        )


def _plain(text: str) -> str:
    """Names and hospitals compared without any spaces (full-width ones included)."""
    return "".join(text.split())


def _note(note: str) -> str:
    return f"（{note}）" if note else ""


def canonical(snapshot: Sequence[ExpertFacts]) -> list[ExpertFacts]:
    """One order for everything, so row order from the database never changes the draw."""
    return [
        e.model_copy(
            update={
                "specialties": sorted(set(e.specialties)),
                "leaves": sorted(e.leaves, key=lambda x: (x.starts, x.ends, x.reason)),
                "conflicts": sorted(e.conflicts, key=lambda c: (c.kind, c.subject, c.note)),
            }
        )
        for e in sorted(snapshot, key=lambda e: e.expert_id)
    ]


def snapshot_json(snapshot: Sequence[ExpertFacts]) -> str:
    """The canonical JSON whose SHA-256 is the panel's `pool_sha256`."""
    return json.dumps(
        [e.model_dump(mode="json") for e in canonical(snapshot)],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def exclusion(expert: ExpertFacts, criteria: DrawCriteria) -> Exclusion | None:
    """The first reason this expert may not sit on the panel, or None."""

    def out(reason: ExclusionReason, detail: str) -> Exclusion:
        return Exclusion(expert_id=expert.expert_id, reason=reason, detail=detail)

    on = criteria.on
    if not expert.active:
        return out(ExclusionReason.inactive, "专家已停用")
    if criteria.senior_only and not is_senior(expert.title):
        return out(ExclusionReason.not_senior, f"职称 {expert.title} 非高级职称")
    if not expert.term_start <= on <= expert.term_end:
        return out(
            ExclusionReason.out_of_term,
            f"聘期 {expert.term_start} 至 {expert.term_end}，不含鉴定日 {on}",
        )
    for leave in expert.leaves:
        if leave.starts <= on <= leave.ends:
            return out(
                ExclusionReason.on_leave,
                f"请假 {leave.starts} 至 {leave.ends}{_note(leave.reason)}",
            )
    employer = criteria.employer_credit_code.strip().upper()

    def conflict(kind: ConflictKind, subjects: set[str]) -> Conflict | None:
        return next((c for c in expert.conflicts if c.kind == kind and c.subject in subjects), None)

    if found := conflict("relative", {criteria.worker_ref}):
        return out(ExclusionReason.relative, "系被鉴定职工近亲属" + _note(found.note))
    if _plain(expert.name) in {_plain(d) for d in criteria.treating_doctors}:
        # Same-name experts are all excluded: recusal errs on the safe side.
        return out(ExclusionReason.treating_doctor, f"系职工诊治医生 {expert.name}")
    if _plain(expert.hospital) in {_plain(h) for h in criteria.treating_hospitals}:
        return out(ExclusionReason.treating_hospital, f"任职于诊治医院 {expert.hospital}")
    if found := conflict("employer", {employer}):
        return out(
            ExclusionReason.employer_tie, f"与用人单位 {employer} 有利害关系" + _note(found.note)
        )
    if found := conflict("declared", {criteria.worker_ref, employer}):
        whom = "被鉴定职工" if found.subject == criteria.worker_ref else f"用人单位 {employer} "
        return out(
            ExclusionReason.declared_conflict,
            f"本人申报回避: 与{whom}有利害关系" + _note(found.note),
        )
    if recusal := next((r for r in criteria.recused if r.expert_id == expert.expert_id), None):
        party = RECUSAL_PARTY_LABELS[recusal.requested_by]
        return out(ExclusionReason.recused, f"{party}申请回避: {recusal.reason}")
    return None


def draw(snapshot: Sequence[ExpertFacts], criteria: DrawCriteria) -> Panel:
    """Pure draw: the same snapshot (in any order) and criteria always give the same panel."""
    pool = canonical(snapshot)
    needed = list(dict.fromkeys(criteria.specialties))
    eligible: list[ExpertFacts] = []
    exclusions: list[Exclusion] = []
    wrong_specialty = 0
    standing = set(criteria.standing)
    for expert in pool:
        # Specialty first: exclusions then list only candidates, which is what auditors read.
        # A standing member was drawn for a specialty once: only the rules may unseat them.
        if expert.expert_id not in standing and not set(needed) & set(expert.specialties):
            wrong_specialty += 1
        elif excluded := exclusion(expert, criteria):
            exclusions.append(excluded)
        else:
            eligible.append(expert)

    chosen: list[ExpertFacts] = []
    short_by = max(0, criteria.size - len(eligible))
    if not short_by:
        by_id = {e.expert_id: e for e in eligible}
        kept = [by_id[x] for x in dict.fromkeys(criteria.standing) if x in by_id]
        chosen = kept[: criteria.size]  # they stay
        rng = random.Random(criteria.seed)
        for specialty in needed:
            if len(chosen) == criteria.size:
                break
            if any(specialty in e.specialties for e in chosen):
                continue
            candidates = [e for e in eligible if specialty in e.specialties and e not in chosen]
            if candidates:
                chosen.append(rng.choice(candidates))
        rest = [e for e in eligible if e not in chosen]
        chosen += rng.sample(rest, criteria.size - len(chosen))

    return Panel(
        seed=criteria.seed,
        attempt=criteria.attempt,
        pool_size=len(pool),
        pool_sha256=hashlib.sha256(snapshot_json(pool).encode()).hexdigest(),
        eligible=len(eligible),
        wrong_specialty=wrong_specialty,
        exclusions=exclusions,
        members=[
            PanelMember(
                expert_id=e.expert_id,
                name=e.name,
                title=e.title,
                hospital=e.hospital,
                specialties=e.specialties,
            )
            for e in chosen
        ],
        short_by=short_by,
    )


def draw_record(
    case_id: str, criteria: DrawCriteria, snapshot: Sequence[ExpertFacts], panel: Panel
) -> dict[str, Any]:
    """The `panel_draws` row for a draw (jsonb columns as JSON text)."""
    return {
        "case_id": case_id,
        "attempt": panel.attempt,
        "seed": panel.seed,
        "pool_size": panel.pool_size,
        "pool_sha256": panel.pool_sha256,
        "eligible": panel.eligible,
        "wrong_specialty": panel.wrong_specialty,
        "short_by": panel.short_by,
        "members": json.dumps(
            [m.model_dump(mode="json") for m in panel.members], ensure_ascii=False
        ),
        "exclusions": json.dumps(
            [x.model_dump(mode="json") for x in panel.exclusions], ensure_ascii=False
        ),
        "criteria": criteria.model_dump_json(),
        "snapshot": snapshot_json(snapshot),
    }


def stored_panel(row: Row) -> Panel:
    return Panel(
        seed=row["seed"],
        attempt=row["attempt"],
        pool_size=row["pool_size"],
        pool_sha256=row["pool_sha256"] or "",
        eligible=row["eligible"],
        wrong_specialty=row["wrong_specialty"],
        exclusions=json_column(row["exclusions"]),
        members=json_column(row["members"]),
        short_by=row["short_by"],
    )


def verify_draw(row: Row) -> bool:
    """Redo a stored draw from its snapshot and criteria: True if it gives the stored panel
    and the snapshot still has its digest. Draws stored before migration 003 kept no snapshot
    and cannot be verified (False)."""
    if row["snapshot"] is None or row["criteria"] is None:
        return False
    snapshot = [ExpertFacts.model_validate(e) for e in json_column(row["snapshot"])]
    criteria = DrawCriteria.model_validate(json_column(row["criteria"]))
    return draw(snapshot, criteria) == stored_panel(row)


async def load_snapshot(conn: Executor, criteria: DrawCriteria) -> list[ExpertFacts]:
    """The whole pool, with only the leaves covering the appraisal date and the conflicts
    naming this worker or employer: the facts the draw uses, nothing about other workers."""
    experts = await conn.fetch(
        """SELECT expert_id, name, title, hospital, specialties, active, term_start, term_end
           FROM experts ORDER BY expert_id"""
    )
    leaves = await conn.fetch(
        "SELECT expert_id, starts, ends, reason FROM expert_leaves WHERE starts <= $1 AND $1 <= ends",
        criteria.on,
    )
    conflicts = await conn.fetch(
        "SELECT expert_id, kind, subject, note FROM expert_conflicts WHERE subject = ANY($1::text[])",
        [criteria.worker_ref, criteria.employer_credit_code.strip().upper()],
    )
    known = set(Specialty)
    return [
        ExpertFacts(
            expert_id=e["expert_id"],
            name=e["name"],
            title=e["title"],
            hospital=e["hospital"],
            # A specialty outside the enum can never be needed: dropping it changes nothing.
            specialties=[Specialty(s) for s in e["specialties"] if s in known],
            active=e["active"],
            term_start=e["term_start"],
            term_end=e["term_end"],
            leaves=[
                Leave(starts=x["starts"], ends=x["ends"], reason=x["reason"])
                for x in leaves
                if x["expert_id"] == e["expert_id"]
            ],
            conflicts=[
                Conflict(kind=c["kind"], subject=c["subject"], note=c["note"])
                for c in conflicts
                if c["expert_id"] == e["expert_id"]
            ],
        )
        for e in experts
    ]


class Experts:
    def __init__(self, pool: asyncpg.Pool, worker_ref_key: str) -> None:
        self.pool = pool
        self.worker_ref_key = worker_ref_key

    @activity.defn(name="draw_panel")
    async def draw_panel(self, request: PanelDrawRequest) -> Panel:
        async with self.pool.acquire() as conn, conn.transaction():
            # Serialize draws for one case so a retry waits for, then returns, the first one.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", request.case_id)
            stored = await conn.fetchrow(
                "SELECT * FROM panel_draws WHERE case_id = $1 AND attempt = $2",
                request.case_id,
                request.attempt,
            )
            if stored:
                return stored_panel(stored)
            criteria = DrawCriteria.of(request, worker_ref(request.citizen_id, self.worker_ref_key))
            snapshot = await load_snapshot(conn, criteria)
            panel = draw(snapshot, criteria)
            row = draw_record(request.case_id, criteria, snapshot, panel)
            await conn.execute(
                f"""INSERT INTO panel_draws ({", ".join(row)})
                    VALUES ({", ".join(f"${i}" for i in range(1, len(row) + 1))})
                    ON CONFLICT (case_id, attempt) DO NOTHING""",
                *row.values(),
            )
            activity.logger.info(
                "panel drawn: case %s attempt %s, %s eligible, short by %s",
                request.case_id,
                panel.attempt,
                panel.eligible,
                panel.short_by,
            )
            return panel

    @activity.defn(name="check_staff_conflict")
    async def check_staff_conflict(self, check: StaffCheck) -> StaffConflict | None:
        """The conflict `check.actor` declared with this case's worker or employer, if any
        (`staff_conflicts`, recorded with `appraisal staff conflict`). Cases started before
        proven actors call it; later ones get the conflict from `check_actor`."""
        return await self.conflict(check)

    @activity.defn(name="check_actor")
    async def check_actor(self, check: ActorCheck) -> ActorFacts:
        """Who `check.actor` is, in one call: its roster entry (roles, retired or not), its
        gateway client (scopes, revoked or not) and a conflict it declared with this case's
        worker or employer (art. 27). The case decides with these facts (workflows/actors.py)."""
        staff = await self.pool.fetchrow(
            "SELECT roles, active FROM staff WHERE staff_id = $1", check.actor
        )
        client = await self.pool.fetchrow(
            "SELECT scopes FROM gateway_clients WHERE client_id = $1 AND revoked_at IS NULL",
            check.actor,
        )
        known = set(StaffRole)
        return ActorFacts(
            actor=check.actor,
            on_roster=staff is not None,
            active=bool(staff and staff["active"]),
            roles=[StaffRole(r) for r in (staff["roles"] if staff else []) if r in known],
            client=client is not None,
            scopes=list(client["scopes"]) if client else [],
            conflict=await self.conflict(check) if staff else None,
        )

    async def conflict(self, check: StaffCheck | ActorCheck) -> StaffConflict | None:
        found = await self.pool.fetchrow(
            """SELECT staff_id, kind, note FROM staff_conflicts
               WHERE staff_id = $1 AND subject = ANY($2::text[])
               ORDER BY kind DESC, id LIMIT 1""",
            check.actor,
            [
                worker_ref(check.citizen_id, self.worker_ref_key),
                check.employer_credit_code.strip().upper(),
            ],
        )
        return StaffConflict(**dict(found)) if found else None
