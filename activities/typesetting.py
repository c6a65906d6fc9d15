"""Line breaking for the conclusion letter by the Chinese rules (避头尾): no line begins with a
closing mark (，。、；：？！）》」』】〉… and the ASCII , . ; : ? ! ) ] } %), none ends with an
opening one (（《「『【〈“‘ and ( [ {), and a run of ASCII letters and digits (GB/T, 16180-2014,
5.9.2.3) is not split unless it is longer than a line.

Lines are filled by measured width; where the next line would begin with a closing mark (or
this one end with an opening mark) the last character of this line moves down with it, so a
line is at most one character short and never runs into the margin."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

CLOSING = frozenset("，。、；：？！）》」』】〉〕〗〙〛…‥’”％‰．,.;:?!)]}%")
OPENING = frozenset("（《「『【〈〔〖〘〚‘“([{")
# Kept together on one line: ASCII letters, digits and what joins them in codes and numbers.
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9./*_+#-]*|.", re.DOTALL)

Run = tuple[str, str]  # (font, text): a stretch of text set in one font
Measure = Callable[[str, str], float]  # (font, text) -> width


def _units(runs: Sequence[Run], width: float, measure: Measure) -> list[tuple[str, str, float]]:
    """The unbreakable pieces with their widths; a word wider than a line goes by characters."""
    units = []
    for font, text in runs:
        for piece in WORD.findall(text):
            size = measure(font, piece)
            if size > width and len(piece) > 1:
                units += [(font, char, measure(font, char)) for char in piece]
            else:
                units.append((font, piece, size))
    return units


def _kept(line: list[tuple[str, str, float]], unit: tuple[str, str, float]) -> int:
    """How many units stay on a full line: the most that leave an allowed break (all of them
    when none does, as in a line of closing marks only)."""
    for kept in range(len(line), 0, -1):
        follows = line[kept][1] if kept < len(line) else unit[1]
        if follows[0] not in CLOSING and line[kept - 1][1][-1] not in OPENING:
            return kept
    return len(line)


def break_runs(runs: Sequence[Run], width: float, measure: Measure) -> list[list[Run]]:
    """The lines, each a list of runs (consecutive pieces in one font joined)."""
    lines: list[list[tuple[str, str, float]]] = []
    line: list[tuple[str, str, float]] = []
    used = 0.0
    for unit in _units(runs, width, measure):
        if line and used + unit[2] > width:
            kept = _kept(line, unit)
            lines.append(line[:kept])
            line = line[kept:]
            used = sum(u[2] for u in line)
        if not line and unit[1] == " ":  # a line never begins with a space
            continue
        line.append(unit)
        used += unit[2]
    lines.append(line)
    return [_joined(line) for line in lines]


def _joined(line: list[tuple[str, str, float]]) -> list[Run]:
    runs: list[Run] = []
    for font, text, _ in line:
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + text)
        else:
            runs.append((font, text))
    if runs:  # a line never ends with a space either (it would shift a right-aligned line)
        runs[-1] = (runs[-1][0], runs[-1][1].rstrip(" "))
    return [run for run in runs if run[1]]


def break_text(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """One font: the lines as strings."""
    lines = break_runs([("", text)], width, lambda _, piece: measure(piece))
    return ["".join(text for _, text in line) for line in lines]
