"""EventBridge Scheduler expressions: parsing, fire times in a time zone, DST, and the gaps between firings."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

import pytest

from patterns.schedule_expression import At, Cron, Rate, fire_times, gaps, next_fire, parse, time_zone

UTC = UTC
JAN_1 = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def times(expression: str, zone: str = "UTC", after: datetime = JAN_1, count: int = 3) -> list[datetime]:
    return list(islice(fire_times(parse(expression), time_zone(zone), after), count))


def test_rates_count_24_hour_days_from_their_start():
    assert (
        parse("rate(1 minute)") == Rate(60)
        and parse("rate(2 hours)") == Rate(7200)
        and parse("rate(3 days)") == Rate(259200)
    )
    start = utc(2026, 1, 1, 0, 0, 30)
    assert list(islice(fire_times(Rate(3600), time_zone("UTC"), utc(2026, 1, 1, 1, 0), start), 2)) == [
        utc(2026, 1, 1, 1, 0, 30),
        utc(2026, 1, 1, 2, 0, 30),
    ]


def test_cron_fields_names_steps_and_ranges():
    assert times("cron(0/20 8-9 ? * MON-FRI *)", count=4) == [
        utc(2026, 1, 1, 8, 0),
        utc(2026, 1, 1, 8, 20),
        utc(2026, 1, 1, 8, 40),
        utc(2026, 1, 1, 9, 0),
    ]
    assert times("cron(0 12 * JAN,MAR ? *)", after=utc(2026, 1, 31, 13), count=1) == [utc(2026, 3, 1, 12)]
    assert times("cron(0 0 1 1 ? 2028-2029)", count=2) == [utc(2028, 1, 1), utc(2029, 1, 1)]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 1 L * ? *)", [utc(2026, 1, 31, 1), utc(2026, 2, 28, 1), utc(2026, 3, 31, 1)]),
        ("cron(0 1 LW * ? *)", [utc(2026, 1, 30, 1), utc(2026, 2, 27, 1), utc(2026, 3, 31, 1)]),
        ("cron(0 1 1W * ? *)", [utc(2026, 1, 1, 1), utc(2026, 2, 2, 1), utc(2026, 3, 2, 1)]),  # Feb 1 is a Sunday
        ("cron(0 1 ? * 2#1 *)", [utc(2026, 1, 5, 1), utc(2026, 2, 2, 1), utc(2026, 3, 2, 1)]),  # first Monday
        ("cron(0 1 ? * 6L *)", [utc(2026, 1, 30, 1), utc(2026, 2, 27, 1), utc(2026, 3, 27, 1)]),  # last Friday
    ],
)
def test_last_weekday_and_nth_day_of_week(expression, expected):
    assert times(expression) == expected


def test_cron_runs_on_the_wall_clock_of_its_zone():
    # 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
    assert next_fire(parse("cron(0 9 * * ? *)"), time_zone("America/New_York"), JAN_1) == utc(2026, 1, 1, 14)
    assert next_fire(parse("cron(0 9 * * ? *)"), time_zone("America/New_York"), utc(2026, 7, 1)) == utc(2026, 7, 1, 13)


def test_a_time_that_clocks_skip_does_not_fire_and_a_repeated_one_fires_once():
    berlin = "Europe/Berlin"
    # 2026-03-29: clocks go from 02:00 to 03:00, so 02:30 does not exist that day.
    assert times("cron(30 2 * * ? *)", berlin, utc(2026, 3, 27, 12), 3) == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]
    # 2026-10-25: 02:30 happens twice (CEST, then CET); it fires the first time only.
    assert times("cron(30 2 * * ? *)", berlin, utc(2026, 10, 24, 12), 2) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]


def test_at_fires_once_in_its_zone():
    assert parse("at(2030-01-31T09:00:00)") == At(datetime(2030, 1, 31, 9))
    assert times("at(2030-01-31T09:00:00)", "Asia/Tokyo", count=5) == [utc(2030, 1, 31, 0)]
    assert times("at(2020-01-31T09:00:00)", count=5) == []


def test_gaps_between_firings():
    assert gaps(parse("rate(15 minutes)"), time_zone("UTC"), JAN_1) == (900, 900)
    assert gaps(parse("cron(0 9 ? * MON-FRI *)"), time_zone("UTC"), JAN_1) == (86400, 3 * 86400)
    assert gaps(parse("cron(30 3 * * ? *)"), time_zone("Europe/Berlin"), JAN_1) == (23 * 3600, 25 * 3600)
    assert gaps(parse("cron(30 2 * * ? *)"), time_zone("Europe/Berlin"), JAN_1)[1] == 47 * 3600
    assert gaps(parse("at(2030-01-31T09:00:00)"), time_zone("UTC"), JAN_1) is None


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 hours)",
        "rate(2 hour)",
        "rate(5 seconds)",
        "cron(0 3 * * *)",
        "cron(0 3 * * ? * *)",
        "cron(0 3 * * 1 *)",
        "cron(0 3 ? * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 3 32 * ? *)",
        "cron(0 3 ? * 8 *)",
        "cron(0 3 ? * 2#6 *)",
        "cron(0 3 5-1 * ? *)",
        "cron(0 3 * * ? 1969)",
        "cron(0 3 ? * MON/2 *)",
        "at(2030-13-01T00:00:00)",
        "at(2030-01-01)",
        "0 3 * * *",
    ],
)
def test_malformed_expressions_raise(expression):
    with pytest.raises(ValueError):
        parse(expression)


def test_unknown_time_zones_raise():
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        time_zone("Mars/Olympus")
    assert isinstance(parse("cron(0 3 * * ? *)"), Cron)
