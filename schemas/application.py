"""The application (鉴定申请) an operator pastes into the UI or hands to `appraisal start`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.clock import today
from schemas.identifiers import CitizenId, CreditCode, Mobile, PostalCode
from schemas.printable import Printable, PrintableText
from schemas.strict import Day, Whole, YesNo

Text = Annotated[str, Field(min_length=1, max_length=500), Printable]
# pydantic's error text repeats the input (`input_value=…`): hidden, so that no citizen ID ends
# up in a failure message stored in Temporal's history.
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)


class CaseType(StrEnum):
    initial = "initial"  # 初次鉴定
    re_appraisal = "re_appraisal"  # 再次鉴定
    review = "review"  # 复查鉴定
    illness = "illness"  # 因病鉴定


class Cause(StrEnum):
    """What the appraisal is about; it chooses the scale and the standard (DOMAIN.md, Outcomes).

    A re-appraisal or review of an illness conclusion stays an illness appraisal."""

    work_injury = "work_injury"  # 工伤职工: GB/T 16180-2014, grade and self-care
    illness = "illness"  # 因病或非因工致残: 劳社部发〔2002〕8号, degree of lost work ability


class ApplicantRole(StrEnum):
    worker = "worker"
    employer = "employer"
    relative = "relative"  # 近亲属, for a worker who cannot apply
    agency = "agency"  # 社会保险经办机构: a review appraisal (复查鉴定) only


class AppraisalMode(StrEnum):
    on_site = "on_site"  # 现场鉴定
    home_visit = "home_visit"  # 上门鉴定
    remote = "remote"  # 远程鉴定


class Jurisdiction(StrEnum):
    city = "city"
    province = "province"  # 就近办: province-insured, appraised by the city


class Specialty(StrEnum):
    orthopedics = "orthopedics"
    neurology = "neurology"
    neurosurgery = "neurosurgery"
    general_surgery = "general_surgery"
    ophthalmology = "ophthalmology"
    otolaryngology = "otolaryngology"
    internal_medicine = "internal_medicine"
    respiratory = "respiratory"
    cardiology = "cardiology"
    psychiatry = "psychiatry"
    burns_plastic = "burns_plastic"
    occupational_disease = "occupational_disease"
    rehabilitation = "rehabilitation"
    stomatology = "stomatology"


class MaterialKind(StrEnum):
    application_form = "application_form"  # 鉴定申请表
    diagnosis = "diagnosis"  # 诊断证明
    medical_records = "medical_records"  # 完整病历
    identity_document = "identity_document"  # 身份证或社保卡
    injury_determination = "injury_determination"  # 工伤认定决定书
    prior_conclusion = "prior_conclusion"  # 原鉴定结论书
    other = "other"


class GreenReason(StrEnum):
    """Why the green channel (绿色通道) was granted: a fixed list, so figures can count them."""

    critical_illness = "critical_illness"  # 急危重症
    terminal = "terminal"  # 终末期
    severe_injury = "severe_injury"  # 重伤
    other = "other"  # 其他: said in `note`


GREEN_REASON_LABELS = {
    GreenReason.critical_illness: "急危重症",
    GreenReason.terminal: "终末期",
    GreenReason.severe_injury: "重伤",
    GreenReason.other: "其他",
}


class GreenChannelGrant(BaseModel):
    """Who granted the green channel and why; kept in the case's record and archive."""

    model_config = STRICT

    granted_by: Annotated[
        str,
        Field(min_length=2, max_length=40, description="the staff member who granted it"),
        Printable,
    ]
    reason: GreenReason
    note: Text | None = Field(default=None, description="required when reason is other")

    @model_validator(mode="after")
    def other_is_explained(self) -> Self:
        if self.reason is GreenReason.other and not self.note:
            raise ValueError("绿色通道理由为其他时须说明 (reason other needs a note)")
        return self

    def label(self) -> str:
        """For the UI: the reason and who granted it (the note may hold medical detail)."""
        return f"{GREEN_REASON_LABELS[self.reason]} ({self.reason.value}), 批准人 {self.granted_by}"


class Address(BaseModel):
    model_config = STRICT

    text: Annotated[
        str, Field(min_length=6, max_length=200, description="省市区街道门牌"), Printable
    ]
    postal_code: PostalCode


class Worker(BaseModel):
    model_config = STRICT

    name: Annotated[str, Field(min_length=2, max_length=40), Printable]
    citizen_id: CitizenId
    mobile: Mobile
    address: Address
    other_address: Address | None = Field(
        default=None, description="另一已知地址: tried when the letter to `address` comes back"
    )


class Employer(BaseModel):
    model_config = STRICT

    name: Annotated[str, Field(min_length=2, max_length=100), Printable]
    credit_code: CreditCode
    address: Address
    contact_mobile: Mobile | None = None
    other_address: Address | None = Field(
        default=None, description="另一已知地址: tried when the letter to `address` comes back"
    )


class Applicant(BaseModel):
    model_config = STRICT

    role: ApplicantRole
    name: Annotated[str, Field(min_length=2, max_length=100), Printable]
    relationship: PrintableText | None = Field(
        default=None, description="近亲属与职工的关系, required for a relative"
    )
    mobile: Mobile | None = None

    @model_validator(mode="after")
    def relative_states_relationship(self) -> Self:
        if self.role is ApplicantRole.relative and not self.relationship:
            raise ValueError(
                "近亲属代为申请须写明与职工的关系 (a relative must state the relationship)"
            )
        return self


class InjuryFacts(BaseModel):
    model_config = STRICT

    occurred_on: Day = Field(description="受伤或确诊日期")
    description: Text
    diagnosis: Text
    body_parts: list[Annotated[str, Field(min_length=1, max_length=40), Printable]] = Field(
        min_length=1
    )
    specialties: list[Specialty] = Field(min_length=1, description="鉴定需要的专家专业")
    determination_no: PrintableText | None = Field(default=None, description="工伤认定决定书文号")
    treating_hospitals: list[Annotated[str, Field(min_length=2, max_length=100), Printable]] = (
        Field(default_factory=list, description="hospitals that treated the worker (recusal)")
    )
    treating_doctors: list[Annotated[str, Field(min_length=2, max_length=40), Printable]] = Field(
        default_factory=list, description="doctors who treated the worker (recusal)"
    )

    @model_validator(mode="after")
    def not_in_future(self) -> Self:
        if self.occurred_on > today():
            raise ValueError("受伤日期不能晚于今天 (the injury date is in the future)")
        return self


class Material(BaseModel):
    model_config = STRICT

    kind: MaterialKind
    title: Text
    pages: Annotated[int, Field(ge=1, le=2000), Whole] = 1


class PriorConclusion(BaseModel):
    """The conclusion a re-appraisal disputes or a review re-examines."""

    model_config = STRICT

    case_id: Annotated[
        str, Field(min_length=3, max_length=40, description="its case number"), Printable
    ]
    concluded_on: Day = Field(description="date of the conclusion")
    received_on: Day | None = Field(
        default=None, description="date the applicant received it (re-appraisal: required)"
    )

    @model_validator(mode="after")
    def received_after_concluded(self) -> Self:
        if self.received_on and self.received_on < self.concluded_on:
            raise ValueError("收到结论日期早于结论作出日期 (received_on is before concluded_on)")
        return self


class AppraisalApplication(BaseModel):
    """One application = one case. Personal data in here is sensitive (PIPL)."""

    model_config = STRICT

    case_type: CaseType
    cause: Cause | None = Field(
        default=None,
        description="工伤 or 因病: the scale of the conclusion; default: illness for case_type "
        "illness, else work_injury (a re-appraisal or review of an illness conclusion: illness)",
    )
    applicant: Applicant
    worker: Worker
    employer: Employer
    injury: InjuryFacts
    materials: list[Material] = Field(min_length=1)
    green_channel: YesNo = Field(default=False, description="绿色通道: critical or severe case")
    green_channel_grant: GreenChannelGrant | None = Field(
        default=None, description="绿色通道: who granted it and why (required with green_channel)"
    )
    mobility_impaired: YesNo = Field(
        default=False, description="cannot travel to the appraisal site"
    )
    mode: AppraisalMode = AppraisalMode.on_site
    jurisdiction: Jurisdiction = Jurisdiction.city
    severe: YesNo = Field(default=False, description="severe or complex: a panel of 5 instead of 3")
    prior_conclusion: PriorConclusion | None = Field(
        default=None, description="re-appraisal and review: the conclusion concerned"
    )
    received_on: Day | None = Field(
        default=None,
        description="date the committee received it (default: the day the case starts)",
    )
    posted_on: Day | None = Field(
        default=None,
        description="邮戳日期: the postmark of a mailed application; time in transit is not "
        "counted, so a window is kept when it was posted in time",
    )

    @property
    def appraised_for(self) -> Cause:
        """The scale this case is appraised on."""
        if self.cause is not None:
            return self.cause
        return Cause.illness if self.case_type is CaseType.illness else Cause.work_injury

    @model_validator(mode="after")
    def grant_with_green_channel(self) -> Self:
        if self.green_channel_grant is not None and not self.green_channel:
            raise ValueError(
                "填写了绿色通道批准信息却未选绿色通道 (green_channel_grant needs green_channel true)"
            )
        return self

    @model_validator(mode="after")
    def cause_fits_case_type(self) -> Self:
        if self.case_type is CaseType.illness and self.cause is Cause.work_injury:
            raise ValueError("因病鉴定不适用工伤标准 (case_type illness has cause illness)")
        if self.case_type is CaseType.initial and self.cause is Cause.illness:
            raise ValueError(
                "因病鉴定的首次申请请选择 case_type illness (a first illness appraisal is "
                "case_type illness, not initial)"
            )
        return self

    @model_validator(mode="after")
    def prior_conclusion_where_needed(self) -> Self:
        needs_prior = self.case_type in (CaseType.re_appraisal, CaseType.review)
        if needs_prior and self.prior_conclusion is None:
            raise ValueError(
                f"{self.case_type.value} 须注明原鉴定结论 (prior_conclusion: case_id, concluded_on)"
            )
        if not needs_prior and self.prior_conclusion is not None:
            raise ValueError(f"{self.case_type.value} 不应填写原鉴定结论 (prior_conclusion)")
        if self.applicant.role is ApplicantRole.agency and self.case_type is not CaseType.review:
            raise ValueError(
                "社会保险经办机构只能申请复查鉴定 (the insurance agency applies for a review only)"
            )
        prior = self.prior_conclusion
        if self.case_type is CaseType.re_appraisal and prior and prior.received_on is None:
            raise ValueError("再次鉴定须注明收到原结论的日期 (prior_conclusion.received_on)")
        if self.received_on and self.received_on > today():
            raise ValueError("受理日期不能晚于今天 (received_on is in the future)")
        if self.posted_on and self.posted_on > (self.received_on or today()):
            raise ValueError(
                "邮戳日期不能晚于收到日期 (posted_on is after the application was received)"
            )
        return self

    @model_validator(mode="after")
    def consistent(self) -> Self:
        born = self.worker.citizen_id[6:14]
        if self.injury.occurred_on.strftime("%Y%m%d") < born:
            raise ValueError(
                "受伤日期早于职工出生日期 (injury date is before the worker's birth date)"
            )
        if self.mobility_impaired and self.mode is AppraisalMode.on_site:
            raise ValueError(
                "行动不便者应选择上门或远程鉴定 (mobility_impaired needs mode home_visit or remote)"
            )
        return self
