"""Example python tool handlers, used by ``dialplans/appointments.yaml``.

A python tool is any callable named as ``module:function`` in a dialplan. The model's JSON arguments
arrive as keyword arguments; the return value (any JSON value) goes back to the model; a ToolError's
message goes back as the error. Handlers may be plain or ``async`` functions. These two are pure and
deterministic (a fixed weekly timetable, no storage) so they work the same in every demo and test.
"""

from __future__ import annotations

import datetime
import zlib

from bridge.errors import ToolError

__all__ = ["book_appointment", "free_slots"]

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The practice's fixed week: free times per weekday (closed at weekends).
_TIMETABLE: dict[str, tuple[str, ...]] = {
    "monday": ("09:00", "10:30", "14:00", "15:30"),
    "tuesday": ("09:30", "11:00", "16:00"),
    "wednesday": ("10:00", "13:30", "15:00", "16:30"),
    "thursday": ("09:00", "12:00", "14:30"),
    "friday": ("09:30", "11:30"),
    "saturday": (),
    "sunday": (),
}


def _weekday(day: str) -> str:
    """A weekday name (``Monday``, any case) or an ISO date (``2025-03-14``) -> ``monday``."""
    text = day.strip().lower()
    if text in _DAYS:
        return text
    try:
        return _DAYS[datetime.date.fromisoformat(text).weekday()]
    except ValueError:
        raise ToolError(f"unknown day {day!r}: give a weekday such as Monday or a date such as 2025-03-14") from None


def _clock_time(time: str) -> str:
    """``9:30`` or ``09:30`` -> ``09:30``."""
    hours, _, minutes = time.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60):
        raise ToolError(f"unknown time {time!r}: give a 24-hour time such as 14:00")
    return f"{int(hours):02d}:{minutes}"


def free_slots(day: str) -> dict[str, object]:
    """List the free appointment times on a day (a weekday name or a date like 2025-03-14)."""
    weekday = _weekday(day)
    slots = list(_TIMETABLE[weekday])
    result: dict[str, object] = {"day": weekday.capitalize(), "slots": slots}
    if not slots:
        result["note"] = "The practice is closed at weekends."
    return result


async def book_appointment(name: str, day: str, time: str) -> dict[str, object]:
    """Book an appointment for the caller at one of the free times on a day."""
    if not name.strip():
        raise ToolError("the caller's name is empty: ask for their name first")
    weekday = _weekday(day)
    slot = _clock_time(time)
    free = _TIMETABLE[weekday]
    if slot not in free:
        offer = ", ".join(free) if free else "none, the practice is closed that day"
        raise ToolError(f"{slot} is not free on {weekday.capitalize()}; free times: {offer}")
    # A stable reference the caller can quote later; the same booking always gets the same one.
    reference = f"APT-{zlib.crc32(f'{name.strip().lower()}|{weekday}|{slot}'.encode()):08X}"[:10]
    return {"booked": True, "name": name.strip(), "day": weekday.capitalize(), "time": slot, "reference": reference}
