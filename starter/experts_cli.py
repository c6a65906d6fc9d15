"""`appraisal experts`: the expert pool (专家库), recusal facts and evaluations (考核评价).

Every input goes through a pydantic model (typer takes plain strings), so a mistake gives
one line `refused: ...` and exit code 1. Citizen IDs are stored only as keyed hashes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Self, TypeVar

import asyncpg
import typer
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from activities.storage import worker_ref
from infra.settings import settings
from schemas.application import Specialty
from schemas.clock import today
from schemas.identifiers import CitizenId, CreditCode
from schemas.titles import title_problem
from starter.app import (
    AsJson,
    Refusal,
    china_time,
    print_json,
    problems,
    refuse,
    run_on_db,
    table,
)
from starter.stats.policy import PolicyProblem, load_pool_policy

app = typer.Typer(
    help="专家库 expert pool: experts, recusal facts (回避), leaves, evaluations (考核评价)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
M = TypeVar("M", bound=BaseModel)

ExpertId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def senior(title: str) -> str:
    """An expert needs a senior professional title (《工伤保险条例》 art. 24)."""
    if problem := title_problem(title):
        raise ValueError(problem)
    return title


SeniorTitle = Annotated[Text, AfterValidator(senior)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ExpertKey(Input):
    expert_id: ExpertId


class SpecialtyFilter(Input):
    specialty: Specialty | None = None


class NewExpert(Input):
    expert_id: ExpertId
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
    title: SeniorTitle
    hospital: Text
    specialties: list[Specialty] = Field(min_length=1)
    term_start: date
    term_end: date

    @model_validator(mode="after")
    def term_in_order(self) -> Self:
        if self.term_end < self.term_start:
            raise ValueError(f"聘期结束 {self.term_end} 早于开始 {self.term_start}")
        return self


class ExpertChange(Input):
    expert_id: ExpertId
    title: SeniorTitle | None = None
    hospital: Text | None = None
    add_specialties: list[Specialty] = []
    remove_specialties: list[Specialty] = []
    active: bool | None = None
    term_end: date | None = None


class ConflictInput(Input):
    expert_id: ExpertId
    relative_of: CitizenId | None = None
    employer: CreditCode | None = None
    declared_worker: CitizenId | None = None
    declared_employer: CreditCode | None = None
    note: Note = ""

    @model_validator(mode="after")
    def one_subject(self) -> Self:
        given = [self.relative_of, self.employer, self.declared_worker, self.declared_employer]
        if sum(v is not None for v in given) != 1:
            raise ValueError(
                "请只给一项: --relative-of, --employer, --declared-worker 或 --declared-employer"
            )
        if (self.declared_worker or self.declared_employer) and not self.note:
            raise ValueError("本人申报回避须写明理由 (--note)")
        return self


class LeaveInput(Input):
    expert_id: ExpertId
    starts: date
    ends: date
    reason: Text

    @model_validator(mode="after")
    def in_order(self) -> Self:
        if self.ends < self.starts:
            raise ValueError(f"请假结束 {self.ends} 早于开始 {self.starts}")
        return self


class EvaluationInput(Input):
    expert_id: ExpertId
    case_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    score: int = Field(ge=1, le=5)
    comment: Note = ""
    evaluator: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


def parse(model: type[M], **data: Any) -> M:
    """Validate, or refuse with every problem on one line."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        refuse(problems(error))


async def expert_row(
    conn: asyncpg.Connection, expert_id: str, lock: bool = False
) -> asyncpg.Record:
    sql = "SELECT * FROM experts WHERE expert_id = $1" + (" FOR UPDATE" if lock else "")
    row = await conn.fetchrow(sql, expert_id)
    if row is None:
        raise Refusal(f"no expert {expert_id}")
    return row


def state(r: asyncpg.Record, on: date, on_leave: bool) -> str:
    status = "active" if r["active"] else "inactive"
    if not r["term_start"] <= on <= r["term_end"]:
        status += ", out of term"
    if on_leave:
        status += ", on leave"
    if title_problem(r["title"]):  # added before the check: never drawn (art. 24)
        status += ", not a senior title"
    return status


def line(r: asyncpg.Record, on: date, on_leave: bool) -> str:
    return (
        f"{r['expert_id']}  {r['name']}  {r['title']}  {r['hospital']}  "
        f"{','.join(r['specialties'])}  {r['term_start']}~{r['term_end']}  [{state(r, on, on_leave)}]"
    )


def as_data(r: asyncpg.Record, on: date, on_leave: bool) -> dict[str, Any]:
    keys = ("expert_id", "name", "title", "hospital", "specialties", "active")
    return {
        **{k: r[k] for k in keys},
        "term_start": r["term_start"],
        "term_end": r["term_end"],
        "in_term": r["term_start"] <= on <= r["term_end"],
        "on_leave": on_leave,
        "state": state(r, on, on_leave),
    }


def subject_label(kind: str, subject: str) -> str:
    # Workers appear only as a short prefix of their keyed hash (64 hex digits).
    return f"worker#{subject[:12]}" if len(subject) == 64 else subject


@app.command("list")
def list_experts(
    specialty: Annotated[str | None, typer.Option(help="only this specialty")] = None,
    active: Annotated[bool, typer.Option("--active/--all", help="active experts only")] = True,
    as_json: AsJson = False,
) -> None:
    """List the pool, with each expert's state today (term, leave)."""
    wanted = parse(SpecialtyFilter, specialty=specialty).specialty
    on = today()

    async def go(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        return await conn.fetch(
            """SELECT e.*, EXISTS (SELECT 1 FROM expert_leaves l WHERE l.expert_id = e.expert_id
                                   AND l.starts <= $3 AND $3 <= l.ends) AS on_leave
               FROM experts e
               WHERE ($1 OR e.active) AND ($2::text IS NULL OR $2 = ANY (e.specialties))
               ORDER BY e.expert_id""",
            not active,
            wanted.value if wanted else None,
            on,
        )

    rows = run_on_db(go)
    if as_json:
        print_json([as_data(r, on, r["on_leave"]) for r in rows])
        return
    headers = ["expert", "name", "title", "hospital", "specialties", "term", "state"]
    cells = [
        [
            r["expert_id"],
            r["name"],
            r["title"],
            r["hospital"],
            ",".join(r["specialties"]),
            f"{r['term_start']}~{r['term_end']}",
            state(r, on, r["on_leave"]),
        ]
        for r in rows
    ]
    typer.echo(table(headers, cells))
    typer.echo(f"{len(rows)} experts")


@app.command()
def show(expert_id: str, as_json: AsJson = False) -> None:
    """One expert: details, conflicts, leaves, evaluation summary."""
    key = parse(ExpertKey, expert_id=expert_id).expert_id
    on = today()

    async def go(conn: asyncpg.Connection) -> dict[str, Any]:
        expert = await expert_row(conn, key)
        leaves = await conn.fetch(
            "SELECT * FROM expert_leaves WHERE expert_id = $1 ORDER BY starts, id", key
        )
        conflicts = await conn.fetch(
            "SELECT * FROM expert_conflicts WHERE expert_id = $1 ORDER BY declared_at, id", key
        )
        scores = await conn.fetchrow(
            """SELECT count(*) AS count, round(avg(score), 2)::float AS mean, min(score) AS lowest,
                      max(recorded_at) AS last
               FROM expert_evaluations_current WHERE expert_id = $1""",
            key,
        )
        assert scores is not None
        on_leave = any(x["starts"] <= on <= x["ends"] for x in leaves)
        return {
            **as_data(expert, on, on_leave),
            "conflicts": [
                {
                    "kind": c["kind"],
                    "subject": subject_label(c["kind"], c["subject"]),
                    "note": c["note"],
                    "declared_at": c["declared_at"],
                }
                for c in conflicts
            ],
            "leaves": [{k: x[k] for k in ("starts", "ends", "reason")} for x in leaves],
            "evaluations": dict(scores),
        }

    try:
        policy = load_pool_policy()
    except PolicyProblem as problem:
        refuse(str(problem))
    found = run_on_db(go)
    scores = found["evaluations"]
    # Flagged for the committee's review at the end of term, never removed by a figure.
    scores["for_review"] = policy.for_review(scores["count"], scores["mean"])
    if as_json:
        print_json(found)
        return
    out = [
        f"{found['expert_id']}  {found['name']}  {found['title']}  {found['hospital']}  "
        f"{','.join(found['specialties'])}  {found['term_start']}~{found['term_end']}  "
        f"[{found['state']}]",
        "conflicts (回避):",
    ]
    out += [
        f"  {c['kind']}  {c['subject']}  {c['note']}  ({china_time(c['declared_at'])})"
        for c in found["conflicts"]
    ] or ["  -"]
    out.append("leaves:")
    out += [f"  {x['starts']} ~ {x['ends']}  {x['reason']}" for x in found["leaves"]] or ["  -"]
    out.append(
        f"evaluations: {scores['count']}"
        + (
            f", mean {scores['mean']:g}, lowest {scores['lowest']}, last {china_time(scores['last'])}"
            if scores["count"]
            else ""
        )
    )
    if scores["for_review"]:
        out.append(
            f"期满考核时复核 for review at the end of term ({found['term_end']}): mean below "
            f"{policy.review_below:g} over {scores['count']} evaluations (pool policy "
            f"{policy.version}); the expert stays in the pool"
        )
    typer.echo("\n".join(out))


@app.command()
def add(
    expert_id: str,
    name: Annotated[str, typer.Option()],
    title: Annotated[
        str, typer.Option(help="a senior title (高级职称): 主任医师, 副主任医师, 主任技师, 教授 …")
    ],
    hospital: Annotated[str, typer.Option()],
    specialty: Annotated[list[str], typer.Option(help="repeat for several")],
    term_start: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    term_end: Annotated[str, typer.Option(help="YYYY-MM-DD")],
) -> None:
    """Add an expert to the pool."""
    new = parse(
        NewExpert,
        expert_id=expert_id,
        name=name,
        title=title,
        hospital=hospital,
        specialties=specialty,
        term_start=term_start,
        term_end=term_end,
    )

    async def go(conn: asyncpg.Connection) -> None:
        status = await conn.execute(
            """INSERT INTO experts (expert_id, name, title, hospital, specialties, active,
                                    term_start, term_end)
               VALUES ($1, $2, $3, $4, $5, true, $6, $7) ON CONFLICT (expert_id) DO NOTHING""",
            new.expert_id,
            new.name,
            new.title,
            new.hospital,
            [s.value for s in dict.fromkeys(new.specialties)],
            new.term_start,
            new.term_end,
        )
        if status.endswith(" 0"):
            raise Refusal(f"expert {new.expert_id} already exists (use update)")

    run_on_db(go)
    typer.echo(f"added {new.expert_id}")


@app.command()
def update(
    expert_id: str,
    title: Annotated[str | None, typer.Option()] = None,
    hospital: Annotated[str | None, typer.Option()] = None,
    add_specialty: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
    remove_specialty: Annotated[list[str] | None, typer.Option(help="repeatable")] = None,
    active: Annotated[bool | None, typer.Option("--active/--inactive")] = None,
    term_end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Change an expert's title, hospital, specialties, state or term end."""
    change = parse(
        ExpertChange,
        expert_id=expert_id,
        title=title,
        hospital=hospital,
        add_specialties=add_specialty or [],
        remove_specialties=remove_specialty or [],
        active=active,
        term_end=term_end,
    )
    if change.model_dump(exclude={"expert_id"}, exclude_defaults=True) == {}:
        typer.echo("refused: nothing to change", err=True)
        raise typer.Exit(1)

    async def go(conn: asyncpg.Connection) -> str:
        async with conn.transaction():
            old = await expert_row(conn, change.expert_id, lock=True)
            kept = [s for s in old["specialties"] if s not in change.remove_specialties]
            specialties = list(dict.fromkeys(kept + [s.value for s in change.add_specialties]))
            if not specialties:
                raise Refusal("an expert needs at least one specialty")
            end = change.term_end or old["term_end"]
            if end < old["term_start"]:
                raise Refusal(f"term end {end} is before the term start {old['term_start']}")
            await conn.execute(
                """UPDATE experts SET title = $2, hospital = $3, specialties = $4, active = $5,
                                      term_end = $6 WHERE expert_id = $1""",
                change.expert_id,
                change.title or old["title"],
                change.hospital or old["hospital"],
                specialties,
                old["active"] if change.active is None else change.active,
                end,
            )
            return line(await expert_row(conn, change.expert_id), today(), False)

    typer.echo(f"updated {run_on_db(go)}")


@app.command()
def conflict(
    expert_id: str,
    relative_of: Annotated[
        str | None, typer.Option(help="citizen ID of a worker the expert is related to")
    ] = None,
    employer: Annotated[str | None, typer.Option(help="credit code of a tied employer")] = None,
    declared_worker: Annotated[
        str | None, typer.Option(help="citizen ID: the expert declared a conflict")
    ] = None,
    declared_employer: Annotated[
        str | None, typer.Option(help="credit code: the expert declared a conflict")
    ] = None,
    note: Annotated[
        str, typer.Option(help="why (required when declared); no worker's name or ID here")
    ] = "",
) -> None:
    """Record a conflict of interest (回避): the expert is never drawn for that worker/employer."""
    given = parse(
        ConflictInput,
        expert_id=expert_id,
        relative_of=relative_of,
        employer=employer,
        declared_worker=declared_worker,
        declared_employer=declared_employer,
        note=note,
    )
    key = settings().worker_ref_key
    if given.relative_of:
        kind, subject = "relative", worker_ref(given.relative_of, key)
    elif given.declared_worker:
        kind, subject = "declared", worker_ref(given.declared_worker, key)
    elif given.employer:
        kind, subject = "employer", given.employer
    else:
        kind, subject = "declared", str(given.declared_employer)

    async def go(conn: asyncpg.Connection) -> str:
        await expert_row(conn, given.expert_id)
        status = await conn.execute(
            """INSERT INTO expert_conflicts (expert_id, kind, subject, note)
               VALUES ($1, $2, $3, $4) ON CONFLICT (expert_id, kind, subject) DO NOTHING""",
            given.expert_id,
            kind,
            subject,
            given.note,
        )
        return "recorded" if status.endswith(" 1") else "already recorded"

    typer.echo(f"conflict {run_on_db(go)}: {given.expert_id} {kind} {subject_label(kind, subject)}")


@app.command()
def leave(
    expert_id: str,
    starts: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD")],
    ends: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD")],
    reason: Annotated[str, typer.Option()],
) -> None:
    """Record a leave: the expert is not drawn for appraisals on those days."""
    given = parse(LeaveInput, expert_id=expert_id, starts=starts, ends=ends, reason=reason)

    async def go(conn: asyncpg.Connection) -> None:
        await expert_row(conn, given.expert_id)
        await conn.execute(
            "INSERT INTO expert_leaves (expert_id, starts, ends, reason) VALUES ($1, $2, $3, $4)",
            given.expert_id,
            given.starts,
            given.ends,
            given.reason,
        )

    run_on_db(go)
    typer.echo(f"leave recorded: {given.expert_id} {given.starts} ~ {given.ends}")


@app.command()
def evaluate(
    expert_id: str,
    case: Annotated[str, typer.Option("--case", help="a case the expert sat on")],
    score: Annotated[str, typer.Option(help="1 (poor) to 5 (excellent)")],
    evaluator: Annotated[str, typer.Option(help="who evaluates")],
    comment: Annotated[str, typer.Option()] = "",
) -> None:
    """Record an evaluation (考核评价); a new one by the same evaluator supersedes the last."""
    given = parse(
        EvaluationInput,
        expert_id=expert_id,
        case_id=case,
        score=score,
        comment=comment,
        evaluator=evaluator,
    )

    async def go(conn: asyncpg.Connection) -> None:
        await expert_row(conn, given.expert_id)
        sat = await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM panel_draws WHERE case_id = $1
                              AND members @> jsonb_build_array(jsonb_build_object('expert_id', $2::text)))""",
            given.case_id,
            given.expert_id,
        )
        if not sat:
            raise Refusal(f"expert {given.expert_id} was not drawn for case {given.case_id}")
        await conn.execute(
            """INSERT INTO expert_evaluations (expert_id, case_id, score, comment, evaluator)
               VALUES ($1, $2, $3, $4, $5)""",
            given.expert_id,
            given.case_id,
            given.score,
            given.comment,
            given.evaluator,
        )

    run_on_db(go)
    typer.echo(f"evaluation recorded: {given.expert_id} {given.case_id} score {given.score}")


@app.command()
def evaluations(
    expert_id: str,
    history: Annotated[bool, typer.Option(help="also superseded evaluations")] = False,
    as_json: AsJson = False,
) -> None:
    """An expert's evaluations, latest per (case, evaluator), and their mean."""
    key = parse(ExpertKey, expert_id=expert_id).expert_id
    table_name = "expert_evaluations" if history else "expert_evaluations_current"

    async def go(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        await expert_row(conn, key)
        return await conn.fetch(
            f"SELECT * FROM {table_name} WHERE expert_id = $1 ORDER BY recorded_at, id", key
        )

    rows = run_on_db(go)
    fields = ("case_id", "score", "evaluator", "comment", "recorded_at")
    if as_json:
        print_json([{k: r[k] for k in fields} for r in rows])
        return
    if not rows:
        typer.echo("no evaluations")
        return
    cells = [
        [r["case_id"], r["score"], r["evaluator"], r["comment"], china_time(r["recorded_at"])]
        for r in rows
    ]
    typer.echo(table(["case", "score", "evaluator", "comment", "recorded"], cells))
    if not history:  # a mean over superseded scores would count a case twice
        typer.echo(f"{len(rows)} evaluations, mean {sum(r['score'] for r in rows) / len(rows):.2f}")
