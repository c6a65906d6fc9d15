"""The hard-question ledger (疑难问题台账): what an entry holds, how it moves, what the CLI and
the gateway take and answer, and the committee's figures.

An entry is a hard question from the hotline (12345), online, the window or the phone, with a
category, an owner on the staff roster and a case where there is one. It moves one state at a
time: before (事前 prevention) → during (事中 explanation) → after (事后 follow-up, which needs a
due date) → closed (the follow-up done). Each move is a dated step with a note and who did it.
A follow-up not closed by the end of its due day (China time) is escalated once.

The question and the notes may hold personal data: they are shown to the people who work the
ledger, never logged."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from schemas.clock import CHINA_TZ
from schemas.strict import Day, Lines, OneLine

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)
# Every time the ledger shows is China time, ISO 8601 with its offset.
ChinaTime = Annotated[
    datetime, PlainSerializer(lambda at: at.astimezone(CHINA_TZ).isoformat(), return_type=str)
]


class LedgerSource(StrEnum):
    hotline = "12345"  # 12345 政务服务便民热线
    online = "online"  # 网上咨询
    window = "window"  # 窗口
    phone = "phone"  # 来电 (the office's own line)


class LedgerCategory(StrEnum):
    """What the question is about, in the order a case meets it."""

    eligibility = "eligibility"  # 申请条件: who may apply, when
    materials = "materials"  # 申请材料
    deadlines = "deadlines"  # 期限: how long each step takes
    appraisal = "appraisal"  # 鉴定安排: sessions, examinations, attendance
    conclusion = "conclusion"  # 鉴定结论: grades, self-care, the panel's reasons
    delivery = "delivery"  # 送达: the conclusion letter, the post
    re_appraisal = "re_appraisal"  # 再次鉴定 and review (复查)
    benefits = "benefits"  # 工伤待遇: what the conclusion means for benefits
    other = "other"  # 其他

    @property
    def label(self) -> str:
        return CATEGORY_LABELS[self]


CATEGORY_LABELS = {
    LedgerCategory.eligibility: "申请条件",
    LedgerCategory.materials: "申请材料",
    LedgerCategory.deadlines: "办理期限",
    LedgerCategory.appraisal: "鉴定安排",
    LedgerCategory.conclusion: "鉴定结论",
    LedgerCategory.delivery: "结论送达",
    LedgerCategory.re_appraisal: "再次鉴定",
    LedgerCategory.benefits: "工伤待遇",
    LedgerCategory.other: "其他",
}


class LedgerState(StrEnum):
    before = "before"  # 事前 prevention
    during = "during"  # 事中 explanation
    after = "after"  # 事后 follow-up (回访), due by `follow_up_due`
    closed = "closed"  # the follow-up done

    @property
    def label(self) -> str:
        return STATE_LABELS[self]


STATE_LABELS = {
    LedgerState.before: "事前 prevention",
    LedgerState.during: "事中 explanation",
    LedgerState.after: "事后 follow-up",
    LedgerState.closed: "closed 已办结",
}
# The one move from each state; anything else is refused.
NEXT = {
    LedgerState.before: LedgerState.during,
    LedgerState.during: LedgerState.after,
    LedgerState.after: LedgerState.closed,
}


class StepKind(StrEnum):
    recorded = "recorded"
    advanced = "advanced"
    escalated = "escalated"


# A roster id (schemas of migration 014): upper-case letters and digits, e.g. W0101.
StaffId = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{1,39}$"), OneLine]
CaseId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$"), OneLine]
# An idempotency key: the gateway client's event id, or the CLI's --key / --event.
Key = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[\w.-]+$"), OneLine]
Question = Annotated[str, Field(min_length=2, max_length=4000), Lines]
Note = Annotated[str, Field(min_length=2, max_length=2000), Lines]


class EntryFields(BaseModel):
    """A hard question for the ledger, as the CLI and the gateway take it."""

    model_config = STRICT
    source: LedgerSource = Field(description="12345, online, window or phone")
    category: LedgerCategory = Field(description="what the question is about")
    question: Question = Field(description="the question, and what the caller needs")
    owner: StaffId = Field(description="the staff id on the roster who works it")
    case_id: CaseId | None = Field(default=None, description="the case it is about, if any")
    follow_up_due: Day | None = Field(
        default=None, description="the follow-up's last day (China time), YYYY-MM-DD"
    )


class NewEntry(EntryFields):
    key: Key | None = Field(default=None, description="repeat it to retry safely")


class Advance(BaseModel):
    """One move of an entry to its next state."""

    model_config = STRICT
    to: LedgerState = Field(description="during, after or closed: the next state")
    note: Note = Field(description="what was done (explained, called back, ...)")
    follow_up_due: Day | None = Field(
        default=None, description="set or move the follow-up's last day (China time)"
    )


class LedgerStep(BaseModel):
    kind: StepKind
    from_state: LedgerState | None
    to_state: LedgerState
    note: str
    follow_up_due: date | None
    actor: str
    at: ChinaTime


class LedgerEntry(BaseModel):
    id: int
    source: LedgerSource
    category: LedgerCategory
    question: str
    case_id: str | None
    owner: str | None = Field(description="none only on entries from before the roster")
    state: LedgerState
    follow_up_due: date | None
    overdue: bool = Field(description="not closed, and its follow-up due day has passed")
    escalated_at: ChinaTime | None
    closed_at: ChinaTime | None
    recorded_by: str
    client_id: str | None = Field(description="the gateway client that sent it, if one did")
    entry_key: str | None = Field(description="its idempotency key (the client's event id)")
    created_at: ChinaTime
    steps: list[LedgerStep] | None = Field(default=None, description="its history (one entry)")


class LedgerFigures(BaseModel):
    """The ledger in a period, for the committee's statistics: the entries received from
    `start` to `end` (China-time days, both included), as they stand at the moment asked
    (the statistics' `generated_at`)."""

    start: date
    end: date
    received: int
    by_source: dict[LedgerSource, int]
    by_category: dict[LedgerCategory, int]
    by_state: dict[LedgerState, int]
    closed: int
    overdue: int = Field(description="not closed, follow-up due day passed")
    escalated: int = Field(description="escalated to the supervisor (once each)")
    median_days_to_close: float | None = Field(description="from received to closed, in days")
