"""Senior professional titles (高级职称): an appraisal expert must hold one (《工伤保险条例》
art. 24). Health-care series (卫生系列: 医师, 中医师, 药师, 护师, 技师), universities and research
institutes, each at the full (正高) and the associate (副高) level. Checked when an expert is
added or changed (`appraisal experts`) and at every draw (`activities/experts.py`)."""

from __future__ import annotations

SENIOR_TITLES = frozenset(
    {
        "主任医师",
        "副主任医师",
        "主任中医师",
        "副主任中医师",
        "主任药师",
        "副主任药师",
        "主任护师",
        "副主任护师",
        "主任技师",
        "副主任技师",
        "教授",
        "副教授",
        "研究员",
        "副研究员",
    }
)


def is_senior(title: str) -> bool:
    """True for a senior title, written as the list has it (spaces anywhere ignored)."""
    return "".join(title.split()) in SENIOR_TITLES


def title_problem(title: str) -> str | None:
    """Why `title` may not sit on a panel, in the clerk's words; None when it may."""
    if is_senior(title):
        return None
    return (
        f"职称 {title} 不是高级职称, 鉴定专家须具有高级职称 (《工伤保险条例》第二十四条; "
        f"如主任医师、副主任医师、主任技师、教授) "
        f"(an appraisal expert needs a senior professional title)"
    )
