"""Working days and due dates on the official calendar (Civil Procedure Law art. 85 counting).

Expected dates come from the State Council's 2026 notice as chinesecalendar 1.11.0 has it:
National Day 10-01 (Thu) .. 10-07 (Wed) off; Sunday 09-20 and Saturday 10-10 are working days;
Mid-Autumn 09-25 (Fri) .. 09-27 (Sun) off. Each calendar here reads schedule files from its own
empty directory, so a file someone drops into config/holidays cannot change these results."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from activities.workdays import (
    FALLBACK,
    PACKAGE,
    ROOT,
    HolidayCalendar,
    ScheduleError,
    Workdays,
    due_date,
    holiday_schedule_dir,
)
from infra.settings import settings as app_settings
from schemas.workdays import DayKind, DayUnit, DueDate, DueRequest

D = date.fromisoformat
WD, CD = DayUnit.working_days, DayUnit.calendar_days
EXAMPLE_2026 = ROOT / "config" / "holidays" / "example-2026.json"


@pytest.fixture
def calendar(tmp_path: Path) -> HolidayCalendar:
    return HolidayCalendar(tmp_path)


def due(calendar: HolidayCalendar, start: str, days: int, unit: DayUnit) -> DueDate:
    return due_date(DueRequest(start=D(start), days=days, unit=unit), calendar)


def write(directory: Path, year: int, doc: object) -> Path:
    path = directory / f"{year}.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_national_day_2026_as_the_package_has_it(calendar: HolidayCalendar) -> None:
    days = [D("2026-09-18") + timedelta(n) for n in range(27)]
    for day in days:  # shown with -s; the facts the expected dates below rest on
        print(
            day,
            day.strftime("%a"),
            calendar.is_workday(day),
            chinese_calendar.get_holiday_detail(day),
        )
    off = {day for day in days if not calendar.is_workday(day)}
    assert off == {
        D("2026-09-19"),  # Sat
        *(D("2026-09-25") + timedelta(n) for n in range(3)),  # Mid-Autumn Fri..Sun
        *(D("2026-10-01") + timedelta(n) for n in range(7)),  # National Day Thu..Wed
        D("2026-10-11"),  # Sun
    }
    assert calendar.is_workday(D("2026-09-20"))  # Sunday, adjusted working day
    assert calendar.is_workday(D("2026-10-10"))  # Saturday, adjusted working day
    assert calendar.is_workday(D("2026-10-08"))  # Thursday after the holiday
    status = calendar.explain(D("2026-10-10"))
    assert (status.kind, status.name, status.source) == (
        DayKind.adjusted_workday,
        "国庆节",
        PACKAGE,
    )
    status = calendar.explain(D("2026-10-05"))
    assert (status.kind, status.name, status.workday) == (DayKind.holiday, "国庆节", False)
    assert calendar.explain(D("2026-10-11")).kind is DayKind.weekend
    assert calendar.explain(D("2026-10-12")).kind is DayKind.weekday


def test_five_working_days_from_2026_09_30(calendar: HolidayCalendar) -> None:
    # 09-30 not counted; 10-01..07 off; 10-08 Thu (1), 10-09 Fri (2), 10-10 Sat adjusted (3),
    # 10-11 Sun off, 10-12 Mon (4), 10-13 Tue (5).
    result = due(calendar, "2026-09-30", 5, WD)
    assert result.due == D("2026-10-13")
    assert result.moved_from is None
    assert result.sources == [PACKAGE]
    assert result.warnings == []
    assert due(calendar, "2026-09-30", 1, WD).due == D("2026-10-08")
    assert due(calendar, "2026-10-09", 1, WD).due == D("2026-10-10")  # adjusted Saturday counts


def test_adjusted_working_sunday_counts(calendar: HolidayCalendar) -> None:
    # Supplement notice for an application received Friday 09-18: 09-19 Sat off, 09-20 Sun
    # adjusted (1), 09-21..09-24 Mon..Thu (2..5).
    assert due(calendar, "2026-09-18", 5, WD).due == D("2026-09-24")
    assert due(calendar, "2026-09-18", 1, WD).due == D("2026-09-20")


def test_calendar_days_ending_on_a_holiday_move(calendar: HolidayCalendar) -> None:
    # 09-30 + 4 = 10-04, National Day: the next working day is Thu 10-08.
    result = due(calendar, "2026-09-30", 4, CD)
    assert (result.due, result.moved_from) == (D("2026-10-08"), D("2026-10-04"))
    # Delivery: 15 days from a conclusion on 09-16 ends 10-01, moves to 10-08.
    result = due(calendar, "2026-09-16", 15, CD)
    assert (result.due, result.moved_from) == (D("2026-10-08"), D("2026-10-01"))


def test_calendar_days_ending_on_a_weekend_move(calendar: HolidayCalendar) -> None:
    result = due(calendar, "2026-10-14", 3, CD)  # 10-17 Sat → Mon 10-19
    assert (result.due, result.moved_from) == (D("2026-10-19"), D("2026-10-17"))


def test_calendar_days_ending_on_an_adjusted_working_weekend_stay(
    calendar: HolidayCalendar,
) -> None:
    result = due(calendar, "2026-10-07", 3, CD)  # 10-10 Sat is a working day
    assert (result.due, result.moved_from) == (D("2026-10-10"), None)
    assert due(calendar, "2026-09-15", 5, CD).due == D("2026-09-20")  # Sun, a working day


def test_calendar_days_ending_on_a_working_day_stay(calendar: HolidayCalendar) -> None:
    result = due(calendar, "2026-01-05", 60, CD)  # 03-06 is a Friday
    assert (result.due, result.moved_from) == (D("2026-03-06"), None)


def test_uncovered_year_is_weekends_only_with_a_warning(calendar: HolidayCalendar) -> None:
    # 2031-01-01 is New Year's Day in reality, but no calendar knows 2031: a Wednesday counts.
    result = due(calendar, "2030-12-31", 1, CD)
    assert (result.due, result.moved_from) == (D("2031-01-01"), None)
    assert result.sources == [FALLBACK]
    assert len(result.warnings) == 1
    assert "2031 is not covered by chinesecalendar" in result.warnings[0]
    assert "weekends only" in result.warnings[0]
    assert due(calendar, "2031-01-02", 1, WD).due == D("2031-01-03")  # Fri
    assert due(calendar, "2031-01-03", 1, WD).due == D("2031-01-06")  # Sat, Sun skipped
    status = calendar.explain(D("2031-01-01"))
    assert status.workday and status.warning and status.source == FALLBACK


def test_period_across_years_reports_each_calendar(calendar: HolidayCalendar) -> None:
    # 2026-12-31 Thu, +10 working days: into 2027, which only the fallback covers.
    result = due(calendar, "2026-12-28", 10, WD)
    assert result.sources == [PACKAGE, FALLBACK]
    assert [w[:4] for w in result.warnings] == ["2027"]


SCHEDULE_2031 = {
    "year": 2031,
    "source": "test schedule (not an official one)",
    "holidays": [{"date": "2031-01-01", "name": "元旦"}, {"date": "2031-01-02"}],
    "adjusted_workdays": [{"date": "2031-01-04", "name": "元旦"}],
}


def test_schedule_file_covers_a_new_year(tmp_path: Path) -> None:
    path = write(tmp_path, 2031, SCHEDULE_2031)
    calendar = HolidayCalendar(tmp_path)
    result = due(calendar, "2030-12-31", 1, CD)  # 01-01 and 01-02 off, 01-03 Fri
    assert (result.due, result.moved_from) == (D("2031-01-03"), D("2031-01-01"))
    assert result.sources == [f"schedule file {path}"]
    assert result.warnings == []
    assert due(calendar, "2031-01-03", 1, WD).due == D("2031-01-04")  # adjusted Saturday
    assert not calendar.is_workday(D("2031-01-05"))  # an ordinary Sunday
    status = calendar.explain(D("2031-01-02"))
    assert (status.kind, status.name) == (DayKind.holiday, None)
    assert calendar.explain(D("2031-01-04")).name == "元旦"


def test_schedule_file_wins_over_the_package(tmp_path: Path) -> None:
    # A file replaces the package for its whole year, so a correction is the full 2026 schedule
    # plus the change: here 10-08 made a day off, so one working day after 09-30 is now 10-09.
    corrected = json.loads(EXAMPLE_2026.read_text(encoding="utf-8"))
    corrected["holidays"].append({"date": "2026-10-08", "name": "更正"})
    path = write(tmp_path, 2026, corrected)
    calendar = HolidayCalendar(tmp_path)
    result = due(calendar, "2026-09-30", 1, WD)
    assert result.due == D("2026-10-09")
    assert result.sources == [f"schedule file {path}"]
    assert due(calendar, "2026-09-30", 5, WD).due == D("2026-10-14")  # one later than 10-13


def test_example_file_is_the_2026_package_schedule(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE_2026, tmp_path / "2026.json")
    from_file, from_package = HolidayCalendar(tmp_path), HolidayCalendar(tmp_path / "none")
    for n in range(365):
        day = D("2026-01-01") + timedelta(n)
        assert from_file.is_workday(day) == from_package.is_workday(day), day
    assert from_file.year(2026).kind == "file"
    assert from_file.explain(D("2026-10-10")).name == "国庆节"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "Invalid JSON"),
        ({"year": 2030, "holidays": []}, "says year 2030; the file name says 2031"),
        ({"year": 2031}, "holidays: Field required"),
        ({"year": 2031, "holidays": [{"date": "2031-02-30"}]}, "holidays.0.date"),
        ({"year": 2031, "holidays": [{"date": "2032-01-01"}]}, "2032-01-01 is not in year 2031"),
        (
            {"year": 2031, "holidays": [], "adjusted_workdays": [{"date": "2031-01-06"}]},
            "adjusted working day 2031-01-06 is not a Saturday or Sunday",
        ),
        (
            {
                "year": 2031,
                "holidays": [{"date": "2031-01-04"}],
                "adjusted_workdays": [{"date": "2031-01-04"}],
            },
            "2031-01-04 is listed twice",
        ),
        (
            {"year": 2031, "holidays": [], "adjusted_working_days": []},
            "adjusted_working_days: Extra inputs",
        ),
    ],
)
def test_malformed_schedule_file_names_file_and_problem(
    tmp_path: Path, content: object, problem: str
) -> None:
    path = write(tmp_path, 2031, content)
    calendar = HolidayCalendar(tmp_path)
    with pytest.raises(ScheduleError) as raised:
        due(calendar, "2031-03-02", 1, WD)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)
    # Not cached: once the file is fixed, the same calendar (a retried activity) uses it.
    write(tmp_path, 2031, SCHEDULE_2031)
    assert due(calendar, "2031-03-02", 1, WD).sources == [f"schedule file {path}"]


def test_setting_and_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HOLIDAY_SCHEDULE_DIR", raising=False)
    app_settings.cache_clear()
    assert holiday_schedule_dir() == ROOT / "config" / "holidays"
    monkeypatch.setenv("HOLIDAY_SCHEDULE_DIR", str(tmp_path))
    app_settings.cache_clear()
    try:
        assert holiday_schedule_dir() == tmp_path
        assert HolidayCalendar().schedule_dir == tmp_path
    finally:
        monkeypatch.delenv("HOLIDAY_SCHEDULE_DIR")
        app_settings.cache_clear()


def test_request_bounds() -> None:
    for days in (0, -1, 3661):
        with pytest.raises(ValidationError):
            DueRequest(start=D("2026-01-01"), days=days, unit=WD)


async def test_activity(calendar: HolidayCalendar) -> None:
    request = DueRequest(start=D("2026-09-30"), days=4, unit=CD)
    result = await ActivityEnvironment().run(Workdays(calendar).compute_due, request)
    assert isinstance(result, DueDate)
    assert (result.due, result.moved_from) == (D("2026-10-08"), D("2026-10-04"))
    # What the workflow receives survives the pydantic data converter unchanged.
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([request, result])
    assert converter.from_payloads(payloads, [DueRequest, DueDate]) == [request, result]


# Properties, over package years (2004-2026), fallback years (2003, 2027-2030, 2032+) and a
# schedule-file year (2031).
@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> HolidayCalendar:
    directory = tmp_path_factory.mktemp("schedules")
    write(directory, 2031, SCHEDULE_2031)
    return HolidayCalendar(directory)


starts = st.dates(min_value=D("2003-01-01"), max_value=D("2033-12-31"))


def between(start: date, end: date) -> list[date]:
    """Days in [start, end)."""
    return [start + timedelta(n) for n in range((end - start).days)]


@settings(max_examples=300, deadline=None)
@given(start=starts, days=st.integers(min_value=1, max_value=400))
def test_working_days_property(mixed: HolidayCalendar, start: date, days: int) -> None:
    result = due_date(DueRequest(start=start, days=days, unit=WD), mixed)
    assert result.due > start
    assert mixed.is_workday(result.due)
    counted = between(start + timedelta(1), result.due + timedelta(1))
    assert sum(mixed.is_workday(day) for day in counted) == days
    assert result.moved_from is None
    assert bool(result.warnings) == (FALLBACK in result.sources)


@settings(max_examples=300, deadline=None)
@given(start=starts, days=st.integers(min_value=1, max_value=3660))
def test_calendar_days_property(mixed: HolidayCalendar, start: date, days: int) -> None:
    result = due_date(DueRequest(start=start, days=days, unit=CD), mixed)
    last = start + timedelta(days)
    assert result.due >= last
    assert mixed.is_workday(result.due)
    assert not any(mixed.is_workday(day) for day in between(last, result.due))
    assert result.moved_from == (last if result.due != last else None)
    assert bool(result.warnings) == (FALLBACK in result.sources)
