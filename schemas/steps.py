"""Inputs and results of activities. Each input names the case and the stage it serves, so
logs carry both and every write has a stable idempotency key (case id + step)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.application import (
    Address,
    AppraisalMode,
    CaseType,
    Jurisdiction,
    Material,
    Specialty,
)
from schemas.outcome import Outcome
from schemas.vocabulary import Channel, EventKind, Party, PostalStatus


class Stage(StrEnum):
    acceptance = "acceptance"  # 材料受理
    organizing = "organizing"  # 组织鉴定
    conclusion = "conclusion"  # 结论出具
    delivery = "delivery"  # 结论送达
    archiving = "archiving"  # 案卷归档
    archived = "archived"  # the file is closed


STAGE_LABELS = {
    Stage.acceptance: "材料受理",
    Stage.organizing: "组织鉴定",
    Stage.conclusion: "结论出具",
    Stage.delivery: "结论送达",
    Stage.archiving: "案卷归档",
    Stage.archived: "已归档",
}


class CaseStep(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    case_id: str
    stage: Stage


class CaseRegistration(CaseStep):
    """The projection row of a new case. The worker is kept as a keyed hash, not in plain text."""

    case_type: CaseType
    worker_ref: str | None = None  # filled by the activity from the citizen ID
    citizen_id: str = Field(repr=False)
    green_channel: bool
    mode: AppraisalMode
    jurisdiction: Jurisdiction
    received_at: AwareDatetime
    injury_key: str = Field(description="what makes two applications the same: the injury date")
    first_run_id: str | None = Field(
        default=None, description="the run that owns this case number (kept by continue-as-new)"
    )


class TakenNumber(BaseModel):
    """The case that already holds a case number another run tried to use."""

    case_id: str
    stage: Stage
    received_at: datetime
    closed_reason: str | None = None


class Registration(BaseModel):
    """`duplicate_of` names the open case for the same worker, injury and case type;
    `taken` the other case holding this number (then nothing was written)."""

    duplicate_of: str | None = None
    taken: TakenNumber | None = None


class StageTransition(CaseStep):
    """Entering `stage` at `at`; recorded once per (case, stage)."""

    write: Literal["stage"] = "stage"
    at: AwareDatetime
    actor: str = "system"
    reason: str | None = None


class Milestone(CaseStep):
    write: Literal["milestone"] = "milestone"
    name: Literal["application_complete", "site_appraisal_done"]
    at: AwareDatetime
    actor: str = "system"
    data: dict[str, Any] = Field(default_factory=dict)


class EventRecord(CaseStep):
    """One line of the append-only case event log; `key` makes a repeat a no-op."""

    write: Literal["event"] = "event"
    key: str
    kind: EventKind
    actor: str
    at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)


class RecusalParty(StrEnum):
    """Who may ask for an expert's recusal (回避): the parties of the case."""

    worker = "worker"  # the worker, or a close relative acting for the worker
    employer = "employer"


RECUSAL_PARTY_LABELS = {RecusalParty.worker: "职工", RecusalParty.employer: "用人单位"}


class Recusal(BaseModel):
    """A party's granted request that an expert withdraw from the case (回避): the expert is
    excluded from every later draw of the case."""

    expert_id: str
    requested_by: RecusalParty
    reason: str


class PanelDrawRequest(CaseStep):
    """Everything the draw needs to pick and to recuse (回避). `attempt` counts redraws.
    With `standing` (the sitting panel's expert ids) only the seats of members excluded on
    `on` are drawn again; the others stay."""

    specialties: list[Specialty]
    size: Annotated[int, Field(ge=3, le=5)]
    seed: int
    attempt: int = 1
    on: date = Field(description="the appraisal date: experts must be in term and not on leave")
    citizen_id: str = Field(repr=False, description="hashed by the activity to find relatives")
    employer_credit_code: str
    treating_hospitals: list[str] = Field(default_factory=list)
    treating_doctors: list[str] = Field(default_factory=list)
    # Optional, so draws requested before these rules keep their meaning.
    standing: list[str] = Field(default_factory=list, description="members who stay if able")
    recused: list[Recusal] = Field(default_factory=list, description="granted party recusals")
    senior_only: bool = Field(
        default=False, description="only senior titles may sit (《工伤保险条例》 art. 24)"
    )


class StaffCheck(CaseStep):
    """Is `actor` (a clerk, a review group member, the committee) free of a declared conflict
    with this case's worker or employer? (回避, 《工伤保险条例》 art. 27)"""

    actor: str
    citizen_id: str = Field(repr=False, description="hashed by the activity")
    employer_credit_code: str


class StaffConflict(BaseModel):
    """A declared conflict that bars a person from acting on a case: the kind only (the
    subject is this case's worker or employer)."""

    staff_id: str
    kind: Literal["worker", "employer"]
    note: str = ""


class PanelMember(BaseModel):
    expert_id: str
    name: str
    specialties: list[Specialty]
    title: str
    hospital: str = ""


class ExclusionReason(StrEnum):
    inactive = "inactive"
    out_of_term = "out_of_term"
    on_leave = "on_leave"
    relative = "relative"  # 近亲属
    treating_doctor = "treating_doctor"
    treating_hospital = "treating_hospital"
    employer_tie = "employer_tie"
    declared_conflict = "declared_conflict"
    not_senior = "not_senior"  # no senior professional title (art. 24)
    recused = "recused"  # a party's request, granted


class Exclusion(BaseModel):
    expert_id: str
    reason: ExclusionReason
    detail: str = ""


class Panel(BaseModel):
    """An auditable draw: the pool it saw (digest here, full snapshot in PostgreSQL), every
    exclusion with its reason, the seed, the result. `short_by` > 0 means too few eligible."""

    seed: int
    attempt: int = 1
    pool_size: int
    pool_sha256: str = ""
    eligible: int
    wrong_specialty: int = 0
    exclusions: list[Exclusion] = Field(default_factory=list)
    members: list[PanelMember]
    short_by: int = 0


class AppointmentRequest(CaseStep):
    """Book the appraisal: the earliest seat on or after `earliest`, or the clerk's choice."""

    attempt: int
    mode: AppraisalMode
    green_channel: bool
    earliest: date
    session_id: str | None = None
    at: AwareDatetime | None = None
    place: str | None = None


class Appointment(BaseModel):
    session_id: str
    mode: AppraisalMode
    starts_at: datetime
    place: str


class Recipient(StrEnum):
    worker = "worker"
    employer = "employer"


class LetterRequest(CaseStep):
    """A conclusion letter to one party; the postal API sees `idempotency_key` only once."""

    recipient: Recipient
    name: str
    mobile: str | None
    address: Address
    document_ref: str
    attempt: int = Field(default=1, ge=1, description="a new attempt after a corrected address")

    @property
    def idempotency_key(self) -> str:
        key = f"{self.case_id}:letter:{self.recipient}"
        return key if self.attempt == 1 else f"{key}:{self.attempt}"


class Shipment(BaseModel):
    recipient: Recipient
    waybill_no: str
    status: PostalStatus = PostalStatus.accepted
    delivered_at: datetime | None = None
    signer: str | None = None


class OutboxMessage(CaseStep):
    """A message for another party (benefits agency, the worker): queued once per key."""

    write: Literal["message"] = "message"
    key: str
    channel: Channel
    recipient: Party
    subject: str
    body: dict[str, Any] = Field(default_factory=dict)


class ConclusionRecord(CaseStep):
    write: Literal["conclusion"] = "conclusion"
    outcome: Outcome
    basis: str
    issued_at: AwareDatetime
    issued_by: str


# One write of a lean case's transition (`Storage.record_transition`), told apart by `write`.
CaseWrite = Annotated[
    StageTransition | Milestone | EventRecord | OutboxMessage | ConclusionRecord,
    Field(discriminator="write"),
]


class Transition(CaseStep):
    """What one step of a lean case writes, in order, in one PostgreSQL transaction: the
    stage, milestones and the conclusion on the case row, events, outbox messages."""

    writes: list[CaseWrite]


class ArchiveRequest(CaseStep):
    closed_reason: str
    archived_at: AwareDatetime
    # The archive package (patch `archive-package`); without it the digest over a JSON dump.
    package: bool = False
    materials: list[Material] = Field(default_factory=list)  # handed in with the application
    supplemented: list[Material] = Field(default_factory=list)  # after the supplement notice
    shipments: list[Shipment] = Field(default_factory=list)  # delivery proof: waybill, signer
    retention_years: int | None = None  # the captured policy's; None: the default 50


class ChainHead(BaseModel):
    """A row of a case's hash-chained event log: its place and its hash."""

    seq: int
    hash: str


class SealStatement(BaseModel):
    """What a case's archive was sealed with, as signed (infra/seal.py): the signature is over
    this model's JSON (`model_dump(mode="json")`) in RFC 8785."""

    kind: Literal["appraisal-archive-seal/1"] = "appraisal-archive-seal/1"
    case_id: str
    format: int  # 1: a digest over a dump; 2: the package (a downgrade breaks the signature)
    digest: str  # archives.sha256
    events_through: ChainHead | None  # the chain's head the archive covers
    archived_at: str  # UTC, ISO 8601
    signed: Literal["at_seal", "later"]  # later: sealed before signatures (`sign-legacy`)
    signed_at: str  # UTC, ISO 8601, the signing worker's clock
    key_id: str


class ArchiveSeal(BaseModel):
    statement: SealStatement
    signature: str  # base64 Ed25519 by the key `statement.key_id`


class ArchiveReceipt(BaseModel):
    case_id: str
    sha256: str
    events: int
    retain_until: date | None = None  # the package's; None for a format-1 archive
    # The signed seal, so the case's history keeps it too; None in histories from before.
    seal: ArchiveSeal | None = None


class PriorQuery(CaseStep):
    """The prior conclusion a review or re-appraisal application names, looked up by its case
    number; the worker as given, to tell whether that case is this worker's."""

    prior_case_id: str
    citizen_id: str = Field(repr=False)


class PriorRecord(BaseModel):
    """What this system recorded of a prior case: its conclusion and its deliveries."""

    case_id: str
    same_worker: bool
    archived: bool
    concluded_on: date | None = None  # China date of the conclusion issued; None: none issued
    outcome: str | None = None  # e.g. grade_7
    outcome_label: str | None = None  # e.g. 七级
    closed_reason: str | None = None
    delivered_on: dict[str, date] = Field(default_factory=dict)  # by recipient (worker, employer)
    # Recipients whose delivered_on is the date deemed delivered by public notice (公告送达).
    deemed: list[str] = Field(default_factory=list)
