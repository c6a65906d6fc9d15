"""Acceptance rules that need no I/O: the materials checklist and the eligibility texts.

Pure functions, so they are unit-tested directly and run unchanged inside the workflow."""

from __future__ import annotations

from datetime import date

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.application import (
        ApplicantRole,
        AppraisalApplication,
        CaseType,
        Cause,
        Jurisdiction,
        MaterialKind,
        PriorConclusion,
    )
    from schemas.steps import PriorRecord

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


# 近亲属 (Civil Code art. 1045): spouse, parents, children, siblings, grandparents, grandchildren.
CLOSE_RELATIVES = frozenset(
    [
        "配偶",
        "妻子",
        "丈夫",
        "父母",
        "父亲",
        "母亲",
        "子女",
        "儿子",
        "女儿",
        "兄弟姐妹",
        "哥哥",
        "姐姐",
        "弟弟",
        "妹妹",
        "祖父母",
        "祖父",
        "祖母",
        "外祖父母",
        "外祖父",
        "外祖母",
        "孙子女",
        "孙子",
        "孙女",
        "外孙子女",
        "外孙子",
        "外孙女",
    ]
)


def application_problems(app: AppraisalApplication) -> list[str]:
    """What a valid application still gets wrong against the rules of issue #8: who applies,
    就近办 and the green channel. The case checks these on start (cases started before the
    rules were not held to them: their recorded inputs must replay), and so does the CLI."""
    problems = []
    applicant, worker = app.applicant, app.worker
    if applicant.role is ApplicantRole.worker and applicant.name != worker.name:
        problems.append(
            "applicant.name: 申请人身份为职工本人, 姓名须与职工姓名一致; 他人代为申请请选近亲属"
            "或用人单位 (role worker: the applicant is the worker and has the worker's name)"
        )
    if applicant.role is ApplicantRole.employer and applicant.name != app.employer.name:
        problems.append(
            "applicant.name: 用人单位申请, 申请人须为该用人单位 (role employer: the applicant's "
            "name is the employer's name)"
        )
    if applicant.role is ApplicantRole.relative:
        if applicant.relationship not in CLOSE_RELATIVES:
            problems.append(
                "applicant.relationship: 近亲属指配偶、父母、子女、兄弟姐妹、祖父母、外祖父母、"
                "孙子女、外孙子女 (a relative is a spouse, parent, child, sibling, grandparent "
                "or grandchild of the worker)"
            )
        if applicant.name == worker.name:
            problems.append(
                "applicant.name: 近亲属与职工同名, 职工本人申请请选 worker (role relative "
                "names someone other than the worker)"
            )
    if app.jurisdiction is Jurisdiction.province and app.appraised_for is not Cause.illness:
        problems.append(
            "jurisdiction: 就近办仅适用于省直参保职工的因病鉴定, 工伤职工的鉴定由省劳动能力鉴定"
            "委员会办理 (jurisdiction province is the illness-appraisal pilot: a work-injury "
            "case of a province-insured worker goes to the provincial committee)"
        )
    if app.green_channel and app.green_channel_grant is None:
        problems.append(
            "green_channel_grant: 绿色通道须注明批准人和理由 (green_channel needs "
            "green_channel_grant: granted_by and reason)"
        )
    return problems


def missing_materials(case_type: CaseType, handed_in: set[MaterialKind]) -> list[MaterialKind]:
    """The checklist of cases started before it moved into the policy (DeadlinePolicy.materials)."""
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


def recorded_prior_problem(prior: PriorConclusion, record: PriorRecord) -> str | None:
    """The prior conclusion as this system recorded it, against what the application says:
    the same worker, a conclusion issued, on the date typed."""
    if not record.same_worker:
        return (
            f"案件 {record.case_id} 不是本职工的鉴定, 不能作为复查或再次鉴定的依据 "
            "(the prior case named is another worker's)"
        )
    if record.concluded_on is None:
        how = f" ({record.closed_reason})" if record.closed_reason else ""
        return (
            f"案件 {record.case_id} 未作出鉴定结论{how}, 不能申请复查或再次鉴定 "
            "(the prior case has no conclusion)"
        )
    if prior.concluded_on != record.concluded_on:
        return (
            f"结论作出日期与本系统记录不符: 案件 {record.case_id} 的结论作出于 {record.concluded_on}, "
            f"申请填写 {prior.concluded_on} (the conclusion date typed differs from the one "
            f"recorded: {record.concluded_on})"
        )
    return None


def recorded_receipt_problem(
    received: date, delivered: date, case_id: str, deemed: bool = False
) -> str | None:
    """A re-appraisal: the conclusion cannot have been received before it was signed for (or,
    served by public notice, before it was deemed delivered)."""
    if received >= delivered:
        return None
    served = f"经公告送达, 视为送达于 {delivered}" if deemed else f"于 {delivered} 签收"
    return (
        f"收到结论日期早于本系统记录的送达日期: 案件 {case_id} 的结论书{served}, "
        f"申请填写收到于 {received} (the receipt date typed precedes the recorded delivery: "
        f"{delivered})"
    )
