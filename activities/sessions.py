"""Appraisal sessions (鉴定场次) and bookings.

Regular sessions come from config/sessions.toml and are created on the day a case first needs
them; green-channel cases may take seats held back for them, so they are scheduled first.
Home visits and clerk-chosen times get a single-seat session of their own."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import asyncpg
from pydantic import BaseModel, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.storage import Executor
from activities.workdays import HolidayCalendar
from schemas.application import AppraisalMode
from schemas.clock import CHINA_TZ
from schemas.steps import Appointment, AppointmentRequest

LOOKAHEAD_DAYS = 60  # how far ahead regular sessions are created when searching for a seat


class RegularSession(BaseModel):
    mode: AppraisalMode
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(min_length=1)
    time: time
    place: Annotated[str, Field(min_length=2)]
    capacity: Annotated[int, Field(ge=1)]
    green_reserved: Annotated[int, Field(ge=0)] = 0


class SessionPlan(BaseModel):
    regular: list[RegularSession] = Field(default_factory=list)


def read_plan(path: Path) -> SessionPlan:
    return SessionPlan.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))


def regular_sessions_on(day: date, plan: SessionPlan) -> list[tuple[str, RegularSession, datetime]]:
    return [
        (
            f"{r.mode.value.upper()}-{day:%Y%m%d}-{r.time:%H%M}",
            r,
            datetime.combine(day, r.time, CHINA_TZ),
        )
        for r in plan.regular
        if day.isoweekday() in r.weekdays
    ]


async def free_seats(
    conn: Executor, session_id: str, capacity: int, reserved: int, green: bool
) -> int:
    taken = await conn.fetchval(
        "SELECT count(*) FROM session_bookings WHERE session_id = $1", session_id
    )
    return capacity - int(taken) - (0 if green else reserved)


class Sessions:
    def __init__(self, pool: asyncpg.Pool, plan: SessionPlan, calendar: HolidayCalendar) -> None:
        self.pool = pool
        self.plan = plan
        self.calendar = calendar

    @activity.defn(name="book_appointment")
    async def book_appointment(self, request: AppointmentRequest) -> Appointment | None:
        """The booked appointment, or None when no seat is free (the case escalates)."""
        async with self.pool.acquire() as conn, conn.transaction():
            # One booking decision at a time: seats are counted, then taken.
            await conn.execute("SELECT pg_advisory_xact_lock(4711)")
            booked = await self._booked(conn, request)
            if booked:
                return booked
            session_id = await self._choose(conn, request)
            if session_id is None:
                return None
            await conn.execute(
                "INSERT INTO session_bookings (case_id, attempt, session_id, green) VALUES ($1, $2, $3, $4)",
                request.case_id,
                request.attempt,
                session_id,
                request.green_channel,
            )
            # The seat of an earlier appointment of this case is free again.
            await conn.execute(
                "DELETE FROM session_bookings WHERE case_id = $1 AND attempt < $2",
                request.case_id,
                request.attempt,
            )
            return await self._booked(conn, request)

    async def _booked(self, conn: Executor, request: AppointmentRequest) -> Appointment | None:
        row = await conn.fetchrow(
            """SELECT s.session_id, s.mode, s.starts_at, s.place FROM session_bookings b
               JOIN appraisal_sessions s USING (session_id)
               WHERE b.case_id = $1 AND b.attempt = $2""",
            request.case_id,
            request.attempt,
        )
        return Appointment(**dict(row)) if row else None

    async def _choose(self, conn: Executor, request: AppointmentRequest) -> str | None:
        if request.session_id is not None:
            return await self._chosen(conn, request, request.session_id)
        if request.at is not None or request.mode is AppraisalMode.home_visit:
            return await self._own_session(conn, request)
        return await self._regular(conn, request)

    async def _chosen(self, conn: Executor, request: AppointmentRequest, session_id: str) -> str:
        row = await conn.fetchrow(
            "SELECT capacity, green_reserved FROM appraisal_sessions WHERE session_id = $1",
            session_id,
        )
        if row is None:
            raise ApplicationError(
                f"没有场次 {session_id} (no such session)",
                type="SessionUnavailable",
                non_retryable=True,
            )
        seats = await free_seats(
            conn, session_id, row["capacity"], row["green_reserved"], request.green_channel
        )
        if seats <= 0:
            raise ApplicationError(
                f"场次 {session_id} 已满 (session is full)",
                type="SessionUnavailable",
                non_retryable=True,
            )
        return session_id

    async def _regular(self, conn: Executor, request: AppointmentRequest) -> str | None:
        """The earliest regular or extra session of the mode with a seat for this case."""
        for day in self._working_days(request.earliest):
            for session_id, regular, starts_at in regular_sessions_on(day, self.plan):
                if regular.mode is not request.mode:
                    continue
                await conn.execute(
                    """INSERT INTO appraisal_sessions (session_id, mode, starts_at, place, capacity, green_reserved)
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO NOTHING""",
                    session_id,
                    regular.mode.value,
                    starts_at,
                    regular.place,
                    regular.capacity,
                    regular.green_reserved,
                )
            extra = await conn.fetch(
                """SELECT session_id, capacity, green_reserved FROM appraisal_sessions
                   WHERE mode = $1 AND starts_at >= $2 AND starts_at < $3 ORDER BY starts_at, session_id""",
                request.mode.value,
                datetime.combine(day, time(0), CHINA_TZ),
                datetime.combine(day + timedelta(days=1), time(0), CHINA_TZ),
            )
            for row in extra:
                if (
                    await free_seats(
                        conn,
                        row["session_id"],
                        row["capacity"],
                        row["green_reserved"],
                        request.green_channel,
                    )
                    > 0
                ):
                    return str(row["session_id"])
        return None

    async def _own_session(self, conn: Executor, request: AppointmentRequest) -> str:
        """A single-seat session: a home visit (first working day, 09:00) or the clerk's time."""
        if request.at is not None:
            starts_at = request.at
        else:
            day = next(self._working_days(request.earliest))
            starts_at = datetime.combine(day, time(9), CHINA_TZ)
        place = request.place or (
            "上门鉴定（职工住所）" if request.mode is AppraisalMode.home_visit else ""
        )
        if not place:
            raise ApplicationError(
                "须注明鉴定地点 (place is required with a time)", type="NoPlace", non_retryable=True
            )
        session_id = f"{request.mode.value.upper()}-{request.case_id}-{request.attempt}"
        await conn.execute(
            """INSERT INTO appraisal_sessions (session_id, mode, starts_at, place, capacity)
               VALUES ($1, $2, $3, $4, 1) ON CONFLICT (session_id) DO NOTHING""",
            session_id,
            request.mode.value,
            starts_at,
            place,
        )
        return session_id

    def _working_days(self, start: date) -> Iterator[date]:
        for offset in range(LOOKAHEAD_DAYS):
            day = start + timedelta(days=offset)
            if self.calendar.is_workday(day):
                yield day
