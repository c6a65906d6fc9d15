"""Documents the committee issues: the conclusion letter (鉴定结论书) and its stored reference."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, Field

from schemas.application import CaseType, Cause
from schemas.identifiers import CitizenId, CreditCode
from schemas.outcome import Outcome
from schemas.steps import CaseStep, Stage

CONCLUSION_LETTER = "conclusion-letter"  # the `kind` of a conclusion letter


def letters_queue(task_queue: str) -> str:
    """The task queue of a new case's conclusion letter, beside the case's own: rendering is
    CPU-heavy, so letters workers serve it and scale apart from the case workers. Derived from
    the case's queue (workflow code reads no configuration)."""
    return f"{task_queue}-letters"


class ConclusionLetter(CaseStep):
    """Everything the letter shows, fixed by the workflow, so a retry renders the same bytes.

    `committee` and `provincial_committee` left None are filled by the activity from
    COMMITTEE_NAME / PROVINCIAL_COMMITTEE_NAME."""

    stage: Stage = Stage.conclusion
    committee: str | None = None
    provincial_committee: str | None = None  # where a re-appraisal is applied for
    case_type: CaseType
    cause: Cause | None = Field(default=None, description="the scale; None: by case type")
    # 就近办: a province-insured worker appraised by the city jointly with the provincial
    # committee, which recognizes the conclusion: the letter is issued in both names.
    with_province: bool = False
    worker_name: str
    citizen_id: CitizenId = Field(repr=False)  # only sex, birth date and a masked form are shown
    employer_name: str
    credit_code: CreditCode
    injury_date: date
    body_parts: list[str]
    diagnosis: str
    description: str = Field(description="the applicant's account: printed only without findings")
    # Absent in cases decided before the Jining rules (issue #8): their letter reads as before.
    findings: str | None = Field(default=None, description="伤情/病情 as the panel found it")
    accepted_on: date | None = Field(default=None, description="受理日期: application complete")
    appraised_on: date | None = Field(default=None, description="鉴定日期: the site appraisal")
    outcome: Outcome
    basis: str = Field(description="e.g. GB/T 16180-2014《劳动能力鉴定 职工工伤与职业病致残等级》")
    clause: str | None = Field(default=None, description="the grading clause applied: 5.9.2.3")
    # Not refused when empty: a ValidationError in the workflow would fail the whole case.
    panel: list[str] = Field(description='"王建国 主任医师" lines')
    reviews: list[str] = Field(default_factory=list, description='"面检组 张三" lines')
    dispute_window_days: int = Field(default=15, ge=1, description="the policy's window")
    issued_at: AwareDatetime

    @property
    def document_id(self) -> str:
        return f"{self.case_id}/{CONCLUSION_LETTER}"


class DocumentRef(BaseModel):
    document_id: str
    case_id: str
    kind: str
    sha256: str
    size: int
    created_at: datetime
