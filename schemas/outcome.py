"""Outcome scales: disability grade with self-care level (GB/T 16180-2014) for work injury,
degree of lost work ability for illness (劳社部发〔2002〕8号)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from schemas.application import Cause


class Verdict(StrEnum):
    grade_1 = "grade_1"
    grade_2 = "grade_2"
    grade_3 = "grade_3"
    grade_4 = "grade_4"
    grade_5 = "grade_5"
    grade_6 = "grade_6"
    grade_7 = "grade_7"
    grade_8 = "grade_8"
    grade_9 = "grade_9"
    grade_10 = "grade_10"
    below_grade = "below_grade"  # 未达等级
    complete_loss = "complete_loss"  # 完全丧失劳动能力
    major_loss = "major_loss"  # 大部分丧失劳动能力
    below_standard = "below_standard"  # 未达标准


class SelfCare(StrEnum):
    none = "none"
    partial = "partial"  # 部分 (1-2 of 5 activities)
    major = "major"  # 大部分 (3-4)
    complete = "complete"  # 完全 (all 5)


# The standard each scale is graded by: the basis the letter cites unless the decision names one.
STANDARDS = {
    Cause.work_injury: "GB/T 16180-2014《劳动能力鉴定 职工工伤与职业病致残等级》",
    Cause.illness: "劳社部发〔2002〕8号《职工非因工伤残或因病丧失劳动能力鉴定标准（试行）》",
}
# What a basis must mention to be the right standard for the scale.
STANDARD_MARKS = {Cause.work_injury: "16180", Cause.illness: "劳社部发〔2002〕8号"}

ILLNESS_VERDICTS = frozenset({Verdict.complete_loss, Verdict.major_loss, Verdict.below_standard})
INJURY_VERDICTS = frozenset(Verdict) - ILLNESS_VERDICTS

VERDICT_LABELS = {
    **{Verdict(f"grade_{n}"): f"{'一二三四五六七八九十'[n - 1]}级" for n in range(1, 11)},
    Verdict.below_grade: "未达等级",
    Verdict.complete_loss: "完全丧失劳动能力",
    Verdict.major_loss: "大部分丧失劳动能力",
    Verdict.below_standard: "未达标准",
}
SELF_CARE_LABELS = {
    SelfCare.none: "无生活自理障碍",
    SelfCare.partial: "部分生活自理障碍",
    SelfCare.major: "大部分生活自理障碍",
    SelfCare.complete: "完全生活自理障碍",
}


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    verdict: Verdict
    self_care: SelfCare = SelfCare.none

    def label(self) -> str:
        text = VERDICT_LABELS[self.verdict]
        return (
            text
            if self.self_care is SelfCare.none
            else f"{text}，{SELF_CARE_LABELS[self.self_care]}"
        )

    def scale_problem(self, cause: Cause, self_care_checked: bool = True) -> str | None:
        """Why this outcome is off the scale of an appraisal for `cause`, or None.

        Self-care levels belong to graded work-injury outcomes only (`self_care_checked` is
        False when replaying cases started before that rule)."""
        if cause is Cause.illness:
            if self.verdict not in ILLNESS_VERDICTS:
                return (
                    "因病鉴定的结论应为完全丧失、大部分丧失劳动能力或未达标准 (an illness "
                    "appraisal concludes complete_loss, major_loss or below_standard)"
                )
        elif self.verdict not in INJURY_VERDICTS:
            return (
                "工伤鉴定的结论应为一级至十级伤残或未达等级 (a work-injury appraisal concludes "
                "grade_1 … grade_10 or below_grade)"
            )
        graded = self.verdict in INJURY_VERDICTS - {Verdict.below_grade}
        if self_care_checked and self.self_care is not SelfCare.none and not graded:
            return (
                f"{VERDICT_LABELS[self.verdict]}不评定生活自理障碍 (self_care applies only to "
                "a disability grade 1-10: use none)"
            )
        return None


def basis_problem(basis: str, cause: Cause) -> str | None:
    """A basis that cites the other scale's standard (an illness letter citing GB/T 16180)."""
    if STANDARD_MARKS[cause] in basis:
        return None
    return (
        f"鉴定依据应为{STANDARDS[cause]} (the basis must cite the standard of this "
        f"{cause.value} appraisal)"
    )
