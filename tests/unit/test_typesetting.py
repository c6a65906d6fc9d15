"""Chinese line breaking (避头尾), with every character one unit wide: no line begins with a
closing mark, Chinese or ASCII, none ends with an opening mark, codes and numbers stay whole."""

from __future__ import annotations

import pytest

from activities.typesetting import break_runs, break_text


def lines(text: str, width: int) -> list[str]:
    return break_text(text, width, len)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("一二三四五六", ["一二三", "四五六"]),  # nothing to move
        ("一二三，四五", ["一二", "三，四", "五"]),  # the comma would begin line 2
        ("一二三。”四", ["一二", "三。”", "四"]),  # two closing marks: both stay with 三
        ("一二三……四", ["一二", "三……", "四"]),
        ("一二三、）四", ["一二", "三、）", "四"]),
        ("一二（三四", ["一二", "（三四"]),  # an opening mark never ends a line
        ("一二《三》", ["一二", "《三》"]),
        ("ab,cd", ["ab,", "cd"]),  # ASCII: a word ends at the comma
        ("一二三;四", ["一二", "三;四"]),
        ("一二三)四", ["一二", "三)四"]),
        ("一二三%四", ["一二", "三%四"]),
        ("一 二三 ，四", ["一 二", "三 ，", "四"]),
    ],
)
def test_closing_marks_never_begin_a_line(text: str, expected: list[str]) -> None:
    assert lines(text, 3) == expected


def test_codes_and_numbers_stay_whole_unless_longer_than_a_line() -> None:
    assert lines("依据GB/T 16180-2014第5.9.2.3条", 12) == [
        "依据GB/T",
        "16180-2014第",
        "5.9.2.3条",
    ]
    assert lines("代码91370102MA3C4K7T2C", 8) == ["代码913701", "02MA3C4K", "7T2C"]


def test_a_line_of_closing_marks_only_still_breaks() -> None:
    assert lines("，，，，，", 2) == ["，，", "，，", "，"]
    assert lines("一，，，", 2) == ["一，", "，，"]


def test_runs_keep_their_fonts_across_lines() -> None:
    measured = break_runs(
        [("hei", "审核："), ("song", "面检组，总检组李四")], 6, lambda _, t: len(t)
    )
    assert measured == [
        [("hei", "审核："), ("song", "面检")],
        [("song", "组，总检组李")],
        [("song", "四")],
    ]
