"""Working days on China's official holiday calendar, and due dates counted on it.

Per year, the first of these decides:
1. a schedule file `<year>.json` in the schedule directory (so an official notice or a correction
   applies without waiting for a package release);
2. the `chinesecalendar` package (official schedules 2004 to its last release year);
3. weekends only, with a warning in every result that used it (never silent).

The workflow gets due dates from the `compute_due` activity, so this table stays out of workflow
code and a new schedule file changes only future computations, not replays."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import chinese_calendar
from pydantic import ValidationError
from temporalio import activity

from infra.settings import settings
from schemas.workdays import DayKind, DayStatus, DayUnit, DueDate, DueRequest, HolidaySchedule

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = f"chinesecalendar {version('chinesecalendar')}"
FALLBACK = "weekends only (fallback)"
# The package names holidays in English; clerks read Chinese.
CHINESE_NAMES: dict[str, str] = {h.value: h.chinese for h in chinese_calendar.Holiday}


def holiday_schedule_dir() -> Path:
    """Setting HOLIDAY_SCHEDULE_DIR (default config/holidays)."""
    return settings().holiday_schedule_dir


class ScheduleError(ValueError):
    """A schedule file that cannot be used; the message names the file and the problem."""


def shown(path: Path) -> str:
    """A path as clerks and logs should see it: relative to the repo when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Year:
    """How one year is decided: by a schedule file, the package, or weekends only."""

    kind: Literal["file", "package", "fallback"]
    source: str
    warning: str | None = None
    holidays: dict[date, str] = field(default_factory=dict)
    workdays: dict[date, str] = field(default_factory=dict)


def load_schedule(path: Path, year: int) -> Year:
    try:
        schedule = HolidaySchedule.model_validate_json(path.read_bytes())
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in error.errors()
        )
        raise ScheduleError(f"holiday schedule {shown(path)} is not valid: {problems}") from None
    except OSError as error:
        raise ScheduleError(f"holiday schedule {shown(path)} cannot be read: {error}") from None
    if schedule.year != year:
        raise ScheduleError(
            f"holiday schedule {shown(path)} says year {schedule.year}; the file name says {year}"
        )
    return Year(
        kind="file",
        source=f"schedule file {shown(path)}",
        holidays={d.date: d.name for d in schedule.holidays},
        workdays={d.date: d.name for d in schedule.adjusted_workdays},
    )


def package_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:  # the package's way of saying "no data for this year"
        return False
    return True


class HolidayCalendar:
    """China's working days. Loaded years are cached for the life of the object (a worker
    picks up a new or corrected schedule file on restart); failed loads are not cached, so a
    retried activity sees a fixed file."""

    def __init__(self, schedule_dir: Path | None = None) -> None:
        self.schedule_dir = schedule_dir if schedule_dir is not None else holiday_schedule_dir()
        self._years: dict[int, Year] = {}

    def year(self, year: int) -> Year:
        if year not in self._years:
            path = self.schedule_dir / f"{year}.json"
            if path.is_file():
                self._years[year] = load_schedule(path, year)
            elif package_covers(year):
                self._years[year] = Year(kind="package", source=PACKAGE)
            else:
                self._years[year] = Year(
                    kind="fallback",
                    source=FALLBACK,
                    warning=(
                        f"{year}年节假日安排未载入, 仅按周末计算, 法定节假日和调休未计 "
                        f"({year} is not covered by {PACKAGE} nor a schedule file"
                        f" ({shown(path)}): weekends only, holidays ignored)"
                    ),
                )
        return self._years[year]

    def is_workday(self, day: date) -> bool:
        year = self.year(day.year)
        if year.kind == "file":
            return day in year.workdays or (day.weekday() < 5 and day not in year.holidays)
        if year.kind == "package":
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def explain(self, day: date) -> DayStatus:
        year = self.year(day.year)
        workday = self.is_workday(day)
        name: str | None = None
        if year.kind == "file":
            name = (year.workdays if workday else year.holidays).get(day) or None
        elif year.kind == "package":
            _, english = chinese_calendar.get_holiday_detail(day)
            name = CHINESE_NAMES.get(english, english) if english else None
        weekend = day.weekday() >= 5
        if workday:
            kind = DayKind.adjusted_workday if weekend else DayKind.weekday
        elif name or day in year.holidays:
            kind = DayKind.holiday
        else:
            kind = DayKind.weekend
        return DayStatus(
            day=day, workday=workday, kind=kind, name=name, source=year.source, warning=year.warning
        )


def due_date(request: DueRequest, calendar: HolidayCalendar) -> DueDate:
    """Pure: the same request and calendar always give the same due date."""
    step = timedelta(days=1)
    moved_from: date | None = None
    if request.unit is DayUnit.working_days:
        first = request.start + step  # the starting day is not counted
        day, left = request.start, request.days
        while left:
            day += step
            if calendar.is_workday(day):
                left -= 1
    else:
        first = day = request.start + timedelta(days=request.days)
        while not calendar.is_workday(day):  # a last day off moves to the next working day
            day += step
        if day != first:
            moved_from = first
    # Report every calendar consulted, once, in date order.
    years = [calendar.year(y) for y in range(first.year, day.year + 1)]
    return DueDate(
        start=request.start,
        days=request.days,
        unit=request.unit,
        due=day,
        moved_from=moved_from,
        sources=list(dict.fromkeys(y.source for y in years)),
        warnings=[y.warning for y in years if y.warning],
    )


class Workdays:
    def __init__(self, calendar: HolidayCalendar) -> None:
        self.calendar = calendar

    @activity.defn(name="compute_due")
    async def compute_due(self, request: DueRequest) -> DueDate:
        # Only reads small schedule files (once per year, cached): no side effects to retry.
        return due_date(request, self.calendar)
