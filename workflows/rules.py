"""Acceptance rules that need no I/O: the materials checklist and the eligibility texts.

Pure functions, so they are unit-tested directly and run unchanged inside the workflow."""

from __future__ import annotations

from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.application import AppraisalApplication, CaseType, MaterialKind

COMMON_MATERIALS = (
    MaterialKind.application_form,
    MaterialKind.diagnosis,
    MaterialKind.medical_records,
    MaterialKind.identity_document,
)
CHECKLIST: dict[CaseType, tuple[MaterialKind, ...]] = {
    CaseType.initial: (*COMMON_MATERIALS, MaterialKind.injury_determination),
    CaseType.re_appraisal: (*COMMON_MATERIALS, MaterialKind.prior_conclusion),
    CaseType.review: (*COMMON_MATERIALS, MaterialKind.prior_conclusion),
    CaseType.illness: COMMON_MATERIALS,
}
MATERIAL_LABELS = {
    MaterialKind.application_form: "劳动能力鉴定申请表",
    MaterialKind.diagnosis: "诊断证明",
    MaterialKind.medical_records: "完整病历",
    MaterialKind.identity_document: "身份证或社会保障卡",
    MaterialKind.injury_determination: "工伤认定决定书",
    MaterialKind.prior_conclusion: "原鉴定结论书",
    MaterialKind.other: "其他材料",
}


def missing_materials(case_type: CaseType, handed_in: set[MaterialKind]) -> list[MaterialKind]:
    return [kind for kind in CHECKLIST[case_type] if kind not in handed_in]


def add_years(day: date, years: int) -> date:
    """The same calendar date `years` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def determination_problem(application: AppraisalApplication) -> str | None:
    if application.case_type is CaseType.initial and not application.injury.determination_no:
        return (
            "初次鉴定须先取得工伤认定决定书 (an initial appraisal needs the work-injury "
            "determination: injury.determination_no is empty)"
        )
    return None


def re_appraisal_problem(
    received: date, window_end: date, days: int, applied: date, posted: bool = False
) -> str | None:
    """`applied` is the postmark date when the application was mailed (`posted`), else the
    date the committee received it."""
    if applied <= window_end:
        return None
    how = "邮寄于 (邮戳)" if posted else "受理于"
    return (
        f"再次鉴定须在收到鉴定结论之日起{days}日内申请: 收到结论 {received}, "
        f"期限届满 {window_end}, 本申请{how} {applied} (re-appraisal only within {days} days "
        f"of receiving the conclusion)"
    )


def review_problem(concluded: date, years: int, applied: date) -> str | None:
    earliest = add_years(concluded, years)
    if applied >= earliest:
        return None
    return (
        f"复查鉴定须在鉴定结论作出满{years}年后申请: 结论作出 {concluded}, 最早可申请 {earliest}, "
        f"本申请受理于 {applied} (review only {years} year(s) or more after the conclusion)"
    )
