"""`appraisal calendar`: mounted under a root app as the real CLI will, and run as a subprocess.

Schedule files come from a per-test directory (HOLIDAY_SCHEDULE_DIR), so a file someone drops into
config/holidays cannot change these results. 2026 dates: see tests/unit/test_workdays.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from activities.workdays import PACKAGE as PACKAGE_NAME
from starter.calendar_cli import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = f"source: {PACKAGE_NAME}"  # e.g. "source: chinesecalendar 1.11.0"


def cli(schedules: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from starter.calendar_cli import app; app()", *args],
        cwd=ROOT,
        env={**os.environ, "HOLIDAY_SCHEDULE_DIR": str(schedules)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


def test_mounted_as_appraisal_calendar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLIDAY_SCHEDULE_DIR", str(tmp_path))
    root = typer.Typer()
    root.add_typer(app, name="calendar")
    result = CliRunner().invoke(root, ["calendar", "due", "2026-09-30", "--working-days", "5"])
    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == ["2026-10-13 星期二", PACKAGE]
    result = CliRunner().invoke(root, ["calendar", "due", "2026-09-30"])
    assert result.exit_code == 1
    assert "exactly one of --working-days N or --days N" in result.stderr


def test_working_days_across_national_day(tmp_path: Path) -> None:
    # 10-08 (1), 10-09 (2), 10-10 adjusted Saturday (3), 10-12 (4), 10-13 (5).
    run = cli(tmp_path, "due", "2026-09-30", "--working-days", "5")
    assert (run.returncode, run.stderr) == (0, "")
    assert lines(run.stdout) == ["2026-10-13 星期二", PACKAGE]


def test_calendar_days_ending_on_a_holiday_move(tmp_path: Path) -> None:
    run = cli(tmp_path, "due", "2026-09-30", "--days", "4")
    assert run.returncode == 0, run.stderr
    assert lines(run.stdout) == [
        "2026-10-08 星期四",
        "last day 2026-10-04 星期日 is a holiday (国庆节): moved to 2026-10-08",
        PACKAGE,
    ]


def test_calendar_days_ending_on_a_weekend_move(tmp_path: Path) -> None:
    run = cli(tmp_path, "due", "2026-10-14", "--days", "3")
    assert lines(run.stdout)[:2] == [
        "2026-10-19 星期一",
        "last day 2026-10-17 星期六 is a weekend day: moved to 2026-10-19",
    ]


def test_calendar_days_ending_on_an_adjusted_working_saturday_stay(tmp_path: Path) -> None:
    run = cli(tmp_path, "due", "2026-10-07", "--days", "3")
    assert lines(run.stdout) == ["2026-10-10 星期六", PACKAGE]


def test_uncovered_year_warns(tmp_path: Path) -> None:
    run = cli(tmp_path, "due", "2031-03-03", "--days", "4")  # Fri 03-07
    assert run.returncode == 0, run.stderr
    out = lines(run.stdout)
    assert out[:2] == ["2031-03-07 星期五", "source: weekends only (fallback)"]
    assert len(out) == 3
    assert out[2].startswith("warning: 2031年节假日安排未载入, 仅按周末计算")
    assert f"(2031 is not covered by {PACKAGE_NAME}" in out[2]
    assert out[2].endswith("weekends only, holidays ignored)")


def test_schedule_file_used(tmp_path: Path) -> None:
    schedule = {
        "year": 2031,
        "holidays": [{"date": "2031-01-01", "name": "元旦"}],
        "adjusted_workdays": [],
    }
    (tmp_path / "2031.json").write_text(json.dumps(schedule), encoding="utf-8")
    run = cli(tmp_path, "due", "2030-12-31", "--days", "1")
    assert run.returncode == 0, run.stderr
    assert lines(run.stdout) == [
        "2031-01-02 星期四",
        "last day 2031-01-01 星期三 is a holiday (元旦): moved to 2031-01-02",
        f"source: schedule file {tmp_path / '2031.json'}",
    ]
    run = cli(tmp_path, "day", "2031-01-01")
    assert lines(run.stdout) == [
        "2031-01-01 星期三: not a working day, a holiday (元旦)",
        f"source: schedule file {tmp_path / '2031.json'}",
    ]


def test_malformed_schedule_file_refused(tmp_path: Path) -> None:
    (tmp_path / "2031.json").write_text('{"year": 2031, "holidays": [', encoding="utf-8")
    run = cli(tmp_path, "due", "2031-03-03", "--working-days", "2")
    assert (run.returncode, run.stdout) == (1, "")
    assert len(lines(run.stderr)) == 1
    assert run.stderr.startswith(f"refused: holiday schedule {tmp_path / '2031.json'} is not valid")


def test_day(tmp_path: Path) -> None:
    assert lines(cli(tmp_path, "day", "2026-10-10").stdout) == [
        "2026-10-10 星期六: working day, an adjusted working day (调休上班 for 国庆节)",
        PACKAGE,
    ]
    assert lines(cli(tmp_path, "day", "2026-10-05").stdout)[0] == (
        "2026-10-05 星期一: not a working day, a holiday (国庆节)"
    )
    assert lines(cli(tmp_path, "day", "2026-10-11").stdout)[0] == (
        "2026-10-11 星期日: not a working day, a weekend day"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["due", "2026/09/30", "--days", "3"],
            "START '2026/09/30' is not a date; write it as YYYY-MM-DD",
        ),
        (["due", "2026-02-30", "--days", "3"], "START '2026-02-30' is not a date"),
        (["due", "2026-09-30"], "give exactly one of --working-days N or --days N"),
        (["due", "2026-09-30", "--days", "3", "--working-days", "3"], "give exactly one of"),
        (["due", "2026-09-30", "--working-days", "0"], "the period must be at least 1 day, got 0"),
        (["due", "2026-09-30", "--days", "-2"], "the period must be at least 1 day, got -2"),
        (["due", "2026-09-30", "--days", "4000"], "period of 4000 days: Input should be less than"),
        (["day", "tomorrow"], "DATE 'tomorrow' is not a date"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    run = cli(tmp_path, *args)
    assert (run.returncode, run.stdout) == (1, "")
    assert len(lines(run.stderr)) == 1
    assert run.stderr.startswith(f"refused: {message}")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert cli(tmp_path, "due", "2026-09-30", "--days", "three").returncode == 2
    assert cli(tmp_path, "due").returncode == 2
