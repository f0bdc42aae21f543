"""The cron field matcher that the local EventBridge and the maintenance windows share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from clonesquad_interact.schedules import (
    DAYS,
    MONTHS,
    check_schedule,
    cron_field_matches,
    cron_value,
    time_zone,
)

#: Each field's range and names, as in a cron expression.
MINUTES: tuple[int, int, Sequence[str]] = (0, 59, ())
HOURS: tuple[int, int, Sequence[str]] = (0, 23, ())
DAY_OF_MONTH: tuple[int, int, Sequence[str]] = (1, 31, ())
MONTH: tuple[int, int, Sequence[str]] = (1, 12, MONTHS)
DAY_OF_WEEK: tuple[int, int, Sequence[str]] = (1, 7, DAYS)


@pytest.mark.parametrize(
    ("text", "field", "value", "expected"),
    [
        # * and ?: any value
        ("*", MINUTES, 0, True),
        ("*", MINUTES, 59, True),
        ("?", DAY_OF_MONTH, 31, True),
        ("?", DAY_OF_WEEK, 1, True),
        # one value
        ("8", HOURS, 8, True),
        ("8", HOURS, 9, False),
        ("0", MINUTES, 0, True),
        # names: JAN is 1, SUN is 1
        ("NOV", MONTH, 11, True),
        ("JAN", MONTH, 1, True),
        ("NOV", MONTH, 12, False),
        ("SUN", DAY_OF_WEEK, 1, True),
        ("MON", DAY_OF_WEEK, 2, True),
        ("SAT", DAY_OF_WEEK, 7, True),
        # ranges, both ends in
        ("6-9", HOURS, 6, True),
        ("6-9", HOURS, 9, True),
        ("6-9", HOURS, 10, False),
        ("MON-FRI", DAY_OF_WEEK, 2, True),
        ("MON-FRI", DAY_OF_WEEK, 6, True),
        ("MON-FRI", DAY_OF_WEEK, 7, False),
        ("MON-FRI", DAY_OF_WEEK, 1, False),
        ("JUN-AUG", MONTH, 7, True),
        # lists
        ("6,18", HOURS, 18, True),
        ("6,18", HOURS, 12, False),
        ("SAT,SUN", DAY_OF_WEEK, 1, True),
        ("SAT,SUN", DAY_OF_WEEK, 2, False),
        ("1-3,20", DAY_OF_MONTH, 20, True),
        # steps: */n from the field's start, a/n from a to the field's end, a-b/n in a to b
        ("*/15", MINUTES, 45, True),
        ("*/15", MINUTES, 50, False),
        ("5/15", MINUTES, 50, True),
        ("5/15", MINUTES, 0, False),
        ("5/15", MINUTES, 5, True),
        ("6-18/3", HOURS, 15, True),
        ("6-18/3", HOURS, 21, False),
        ("6-18/3", HOURS, 16, False),
        ("*/2", DAY_OF_MONTH, 1, True),  # from 1: odd days
        ("*/2", DAY_OF_MONTH, 2, False),
        ("0,*/20", MINUTES, 40, True),
    ],
)
def test_a_field_takes_the_values_it_names(
    text: str, field: tuple[int, int, Sequence[str]], value: int, expected: bool
) -> None:
    low, high, words = field
    assert cron_field_matches(text, value, low, high, words) is expected


@pytest.mark.parametrize("text", ["L", "15W", "LW", "3L", "2#1", "FUNDAY", "-MON", "*/x"])
def test_what_the_matcher_does_not_read_is_a_value_error(text: str) -> None:
    """``L``, ``W`` and ``#`` are for the callers that play them to read first."""
    low, high, words = DAY_OF_WEEK
    with pytest.raises(ValueError, match="invalid literal"):
        cron_field_matches(text, 1, low, high, words)


def test_a_value_is_a_number_or_a_name() -> None:
    assert cron_value("8", 0) == 8
    assert cron_value("MON", 1, DAYS) == 2
    assert cron_value("DEC", 1, MONTHS) == 12
    assert cron_value("3", 1, DAYS) == 3
    with pytest.raises(ValueError, match="invalid literal"):
        cron_value("MON", 1)  # a field without names
    with pytest.raises(ValueError, match="invalid literal"):
        cron_value("", 1, DAYS)


@pytest.mark.parametrize("text", ["*/0", "5/0", "6-18/0"])
def test_a_step_of_0_is_refused_on_write_and_a_value_error_when_matched(text: str) -> None:
    low, high, words = MINUTES
    with pytest.raises(ValueError, match="at least 1"):
        cron_field_matches(text, 5, low, high, words)
    problem = check_schedule(f"cron({text} 8 * * ? *)")
    assert problem is not None
    assert "at least 1" in problem


def test_the_zone_is_the_settings_else_the_regions_else_utc() -> None:
    assert time_zone("Asia/Tokyo", "eu-west-3") == ZoneInfo("Asia/Tokyo")
    assert time_zone(None, "eu-west-3") == ZoneInfo("Europe/Paris")
    assert time_zone("", "us-east-1") == ZoneInfo("America/New_York")
    assert time_zone(None, "eu-west-1") == ZoneInfo("Europe/Dublin")
    assert time_zone(None, "ap-southeast-3") is UTC  # a region CloneSquad does not know
    assert time_zone(None, None) is UTC
    assert time_zone("Not/AZone", "eu-west-3") is UTC
