"""The deadline policy: every clock of DOMAIN.md in one versioned model.

Loaded from a config file by an activity and captured in the case history at acceptance, so a
configuration change never alters a running case."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.application import AppraisalApplication, CaseType, Cause, MaterialKind

Days = Annotated[int, Field(ge=1, le=3650)]


class GreenChannelClocks(BaseModel):
    """Shorter internal clocks for critical cases (绿色通道); legal limits still apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    supplement_notice_working_days: Days = 1
    conclusion_days: Days = 20
    site_promise_days: Days = 3
    appointment_notice_days: Annotated[int, Field(ge=0, le=30)] = 1


K = MaterialKind
COMMON_MATERIALS = [K.application_form, K.diagnosis, K.medical_records, K.identity_document]


def default_materials() -> dict[CaseType, list[MaterialKind]]:
    """The checklist of the rules in force; the policy file states it explicitly."""
    return {
        CaseType.initial: [*COMMON_MATERIALS, K.injury_determination],
        # 2014 rule (人社部令第21号), kept by the 2025 rule: the work-injury determination
        # and the first conclusion.
        CaseType.re_appraisal: [*COMMON_MATERIALS, K.injury_determination, K.prior_conclusion],
        CaseType.review: [*COMMON_MATERIALS, K.prior_conclusion],
        CaseType.illness: list(COMMON_MATERIALS),
    }


class DeadlinePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(min_length=1, max_length=40)]
    basis: str = "《劳动能力鉴定管理办法》(人社部、国家卫健委令第55号, 2025)"
    supplement_notice_working_days: Days = 5
    supplement_wait_days: Days = 30
    conclusion_days: Days = 60
    conclusion_extension_days: Days = 30
    site_promise_days: Days = 5
    delivery_days: Days = 15
    public_notice_days: Days = 30
    dispute_window_days: Days = 15
    # A letter with no tracking news for this long is looked up at the courier (a lost webhook).
    tracking_poll_hours: Annotated[int, Field(ge=1, le=720)] = 12
    # A returned letter with no other known address waits this long for the office's
    # corrected address, then goes to public notice.
    address_correction_days: Days = 5
    re_appraisal_window_days: Days = 15
    review_after_years: Annotated[int, Field(ge=1, le=10)] = 1
    examination_wait_days: Days = 15
    appointment_notice_days: Annotated[int, Field(ge=0, le=30)] = 3
    reminder_fractions: list[Annotated[float, Field(gt=0, lt=1)]] = [0.8]
    review_rounds_max: Annotated[int, Field(ge=1, le=10)] = 3
    # 案卷保管期限: retain_until = archiving + this many years (a case file is kept 50 years).
    archive_retention_years: Annotated[int, Field(ge=1, le=200)] = 50
    green_channel: GreenChannelClocks = GreenChannelClocks()
    # 受理材料清单 per case type. A work-injury determination is asked of work-injury
    # appraisals only: an illness re-appraisal or review has none.
    materials: dict[CaseType, list[MaterialKind]] = Field(default_factory=default_materials)

    @model_validator(mode="after")
    def every_case_type_has_a_checklist(self) -> DeadlinePolicy:
        if missing := [t.value for t in CaseType if not self.materials.get(t)]:
            raise ValueError(f"materials: no checklist for {', '.join(missing)}")
        return self

    def checklist(self, application: AppraisalApplication) -> list[MaterialKind]:
        required = self.materials[application.case_type]
        if application.appraised_for is Cause.illness:
            return [kind for kind in required if kind is not K.injury_determination]
        return required

    def supplement_notice(self, green: bool) -> int:
        return (
            self.green_channel.supplement_notice_working_days
            if green
            else self.supplement_notice_working_days
        )

    def site_promise(self, green: bool) -> int:
        return self.green_channel.site_promise_days if green else self.site_promise_days

    def appointment_notice(self, green: bool) -> int:
        return self.green_channel.appointment_notice_days if green else self.appointment_notice_days
