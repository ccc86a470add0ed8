"""The example python tool handlers behind dialplans/appointments.yaml."""

from __future__ import annotations

import pytest

from bridge.errors import ToolError
from bridge.tools.examples import book_appointment, free_slots


def test_free_slots_by_weekday_or_date() -> None:
    assert free_slots("Monday") == {"day": "Monday", "slots": ["09:00", "10:30", "14:00", "15:30"]}
    assert free_slots(" friday ") == {"day": "Friday", "slots": ["09:30", "11:30"]}
    assert free_slots("2025-03-14") == {"day": "Friday", "slots": ["09:30", "11:30"]}  # a Friday
    assert free_slots("SUNDAY") == {"day": "Sunday", "slots": [], "note": "The practice is closed at weekends."}


def test_free_slots_rejects_an_unknown_day() -> None:
    with pytest.raises(ToolError) as info:
        free_slots("blursday")
    assert str(info.value) == "unknown day 'blursday': give a weekday such as Monday or a date such as 2025-03-14"


async def test_book_appointment_confirms_with_a_stable_reference() -> None:
    booked = await book_appointment(" Ann Lee ", "monday", "9:00")
    assert booked == {"booked": True, "name": "Ann Lee", "day": "Monday", "time": "09:00", "reference": "APT-F3A8CF"}
    # The same booking (however it is written) gets the same reference; another gets another.
    assert (await book_appointment("ann lee", "Monday", "09:00"))["reference"] == "APT-F3A8CF"
    assert (await book_appointment("Ann Lee", "Monday", "10:30"))["reference"] != "APT-F3A8CF"


@pytest.mark.parametrize(
    ("name", "day", "time", "message"),
    [
        ("Ann", "monday", "09:30", "09:30 is not free on Monday; free times: 09:00, 10:30, 14:00, 15:30"),
        (
            "Ann",
            "saturday",
            "09:00",
            "09:00 is not free on Saturday; free times: none, the practice is closed that day",
        ),
        ("Ann", "monday", "9am", "unknown time '9am': give a 24-hour time such as 14:00"),
        ("Ann", "monday", "24:00", "unknown time '24:00': give a 24-hour time such as 14:00"),
        ("Ann", "monday", "9:5", "unknown time '9:5': give a 24-hour time such as 14:00"),
        (
            "Ann",
            "someday",
            "09:00",
            "unknown day 'someday': give a weekday such as Monday or a date such as 2025-03-14",
        ),
        ("  ", "monday", "09:00", "the caller's name is empty: ask for their name first"),
    ],
)
async def test_book_appointment_refuses_what_it_cannot_book(name: str, day: str, time: str, message: str) -> None:
    with pytest.raises(ToolError) as info:
        await book_appointment(name, day, time)
    assert str(info.value) == message
