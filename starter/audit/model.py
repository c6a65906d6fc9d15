"""The case-file review report (案卷评查报告): what `appraisal audit` prints, as text, JSON
and HTML. Instants are aware datetimes (JSON: ISO 8601, China time with +08:00)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

# Exit codes of `appraisal audit` (1 refused, 2 usage and 3 error as every command).
CLEAN = 0
ALTERED = 4  # the archive does not verify (as `archive verify`)
CHECK_FAILED = 5  # a check of the case-file review failed
DIVERGED = 6  # the history does not replay on the current workflow code


class Source(StrEnum):
    temporal = "temporal"
    archive = "archive"  # the history export sealed in the archive package
    file = "file"  # a history file the auditor gave (`--history`)


SOURCE_LABELS = {
    Source.temporal: "Temporal",
    Source.archive: "案卷中的历史导出 (the archive's history export)",
    Source.file: "历史文件 (history file)",
}


class ReplayOutcome(StrEnum):
    clean = "clean"
    diverged = "diverged"
    unavailable = "unavailable"  # no history to replay


class Replay(BaseModel):
    outcome: ReplayOutcome
    source: Source | None = None
    workflow_type: str | None = None
    events: int = 0
    # Where it diverges: the history event the current code did not expect, and why.
    event_id: int | None = None
    event_type: str | None = None
    message: str | None = None


class CheckStatus(StrEnum):
    passed = "passed"
    failed = "failed"
    not_applicable = "not_applicable"


CHECK_STATUS_LABELS = {
    CheckStatus.passed: "通过",
    CheckStatus.failed: "未通过",
    CheckStatus.not_applicable: "不适用",
}


class Check(BaseModel):
    name: str
    label: str
    status: CheckStatus
    reason: str


class ClockOutcome(StrEnum):
    met = "met"  # done before the end of the due day
    breached = "breached"  # missed, and the breach was recorded (escalated)
    late_unrecorded = "late_unrecorded"  # missed, and no breach recorded
    running = "running"
    stopped = "stopped"  # the case closed before it was due
    ended = "ended"  # a period that ran its course (public notice, dispute window)
    early = "early"  # a period cut short: its consequence came before it ended


CLOCK_OUTCOME_LABELS = {
    ClockOutcome.met: "按期",
    ClockOutcome.breached: "逾期 (已记录)",
    ClockOutcome.late_unrecorded: "逾期未记录",
    ClockOutcome.running: "进行中",
    ClockOutcome.stopped: "案件已结束",
    ClockOutcome.ended: "期间届满",
    ClockOutcome.early: "期间未满即处理",
}


class ClockLine(BaseModel):
    clock: str
    label: str
    started_on: date | None
    due_on: date
    due_source: str  # recorded (the case's own due date) or counted (by the counting rule)
    outcome: ClockOutcome
    done_at: datetime | None = None
    breach_at: datetime | None = None
    extended_days: int = 0
    shift_days: int = 0
    note: str = ""
    problem: str | None = None  # what an auditor must take up: the `clocks` check fails


class StageLine(BaseModel):
    stage: str
    label: str
    entered_at: datetime
    actor: str


class EventLine(BaseModel):
    seq: int
    at: datetime
    stage: str
    kind: str
    label: str
    actor: str
    what: str


class RefusalLine(BaseModel):
    seq: int
    at: datetime
    kind: str
    actor: str
    reason: str


class DocumentLine(BaseModel):
    document_id: str
    kind: str
    media_type: str
    size: int
    sha256: str
    created_at: datetime
    intact: bool  # its bytes still give its SHA-256


class LetterLine(BaseModel):
    recipient: str
    waybill_no: str | None  # None: a public notice (公告送达)
    sent_at: datetime | None
    status: str
    delivered_on: date | None = None
    signed_at: datetime | None = None
    signer: str | None = None
    proof: str


class DrawLine(BaseModel):
    attempt: int
    on: date | None
    size: int | None
    members: list[str]
    exclusions: list[str]  # "EXP-008 employer_tie": who was kept out, and why
    short_by: int
    reproduced: bool | None  # None: stored before draws kept their pool snapshot


class CaseLine(BaseModel):
    case_type: str
    case_type_label: str
    green_channel: bool
    mode: str
    jurisdiction: str
    stage: str
    closed: str | None
    closed_label: str | None
    closed_reason: str | None
    outcome: str | None
    outcome_label: str | None
    policy_version: str | None
    archive_sha256: str | None
    retain_until: date | None


class AuditReport(BaseModel):
    case_id: str
    audited_at: datetime
    case: CaseLine | None  # None: PostgreSQL holds no record of the case
    replay: Replay
    stages: list[StageLine] = Field(default_factory=list)
    events: list[EventLine] = Field(default_factory=list)
    clocks: list[ClockLine] = Field(default_factory=list)
    refusals: list[RefusalLine] = Field(default_factory=list)
    documents: list[DocumentLine] = Field(default_factory=list)
    letters: list[LetterLine] = Field(default_factory=list)
    panel: list[DrawLine] = Field(default_factory=list)
    checks: list[Check] = Field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """When several apply, the lowest: 4 altered, 5 a check failed, 6 diverged."""
        failed = {c.name for c in self.checks if c.status is CheckStatus.failed}
        if "archive" in failed:
            return ALTERED
        if failed:
            return CHECK_FAILED
        if self.replay.outcome is ReplayOutcome.diverged:
            return DIVERGED
        return CLEAN
