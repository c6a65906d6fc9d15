"""Due dates of procedural periods (期间), counted by Civil Procedure Law art. 85: the starting
day is not counted, and a period whose last day is not a working day ends on the next one."""

from __future__ import annotations

import datetime as dt
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DayUnit(StrEnum):
    working_days = "working_days"  # 工作日: only official working days count
    calendar_days = "calendar_days"  # 日: every day counts; only the last day must be a workday


class DueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date  # the event that starts the clock; this day itself is not counted
    days: int = Field(ge=1, le=3660)  # 3660: ten years of calendar days is far above any clock
    unit: DayUnit


class DueDate(BaseModel):
    start: date
    days: int
    unit: DayUnit
    due: date
    # Calendar-day period whose last day was not a working day: that original last day.
    moved_from: date | None = None
    # Which calendars decided the days consulted, e.g. ["chinesecalendar 1.11.0"].
    sources: list[str]
    # Never silent: a year counted on weekends only says so here.
    warnings: list[str] = Field(default_factory=list)


class ScheduleDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: dt.date  # `dt.`: a field named `date` would shadow the type
    name: str = ""  # the festival, e.g. "国庆节"; shown to clerks


class HolidaySchedule(BaseModel):
    """One year of the State Council's holiday notice, as a file `<year>.json`.

    `holidays`: days off, as the notice lists them (weekend days inside a holiday run may be
    listed too; they change nothing). `adjusted_workdays`: weekend days that are working days
    (调休上班)."""

    model_config = ConfigDict(extra="forbid")

    year: int
    source: str = ""  # the notice it transcribes, e.g. "国办发明电〔2026〕N号"
    holidays: list[ScheduleDay]
    adjusted_workdays: list[ScheduleDay] = Field(default_factory=list)

    @model_validator(mode="after")
    def consistent(self) -> HolidaySchedule:
        seen: set[date] = set()
        for entry in [*self.holidays, *self.adjusted_workdays]:
            if entry.date.year != self.year:
                raise ValueError(f"{entry.date} is not in year {self.year}")
            if entry.date in seen:
                raise ValueError(f"{entry.date} is listed twice")
            seen.add(entry.date)
        for entry in self.adjusted_workdays:
            # Only a weekend day can be made a working day; a weekday here is a typo.
            if entry.date.weekday() < 5:
                raise ValueError(f"adjusted working day {entry.date} is not a Saturday or Sunday")
        return self


class DayKind(StrEnum):
    weekday = "weekday"
    weekend = "weekend"
    holiday = "holiday"  # 法定节假日 or its 调休 days off
    adjusted_workday = "adjusted_workday"  # 调休上班: a weekend day that is a working day


class DayStatus(BaseModel):
    """Why one day is or is not a working day (for clerks)."""

    day: date
    workday: bool
    kind: DayKind
    name: str | None = None  # the festival, e.g. "国庆节", when the calendar names one
    source: str
    warning: str | None = None
