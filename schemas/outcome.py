"""Outcome scales: disability grade with self-care level (GB/T 16180-2014) for work injury,
degree of lost work ability for illness (劳社部发〔2002〕8号)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from schemas.application import CaseType


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
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    self_care: SelfCare = SelfCare.none

    def label(self) -> str:
        text = VERDICT_LABELS[self.verdict]
        return (
            text
            if self.self_care is SelfCare.none
            else f"{text}，{SELF_CARE_LABELS[self.self_care]}"
        )

    def scale_problem(self, case_type: CaseType) -> str | None:
        """Why this outcome is off the case type's scale, or None."""
        if case_type is CaseType.illness:
            if self.verdict not in ILLNESS_VERDICTS:
                return "因病鉴定的结论应为 complete_loss, major_loss 或 below_standard"
        elif self.verdict not in INJURY_VERDICTS:
            return "工伤鉴定的结论应为 grade_1 … grade_10 或 below_grade"
        return None
