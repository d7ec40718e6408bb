"""EventBridge Scheduler's schedule expressions: parsed, checked, and their fire times computed.

Pure Python (no CDK import): ``ScheduledJob`` checks its expression at synth with it, and the local
run (``patterns.local.schedules``) computes when each schedule fires.

* ``rate(N unit)``: unit ``minute``/``hour``/``day`` for N = 1, ``minutes``/``hours``/``days`` above.
  A day is 24 hours whatever the time zone does, as on Scheduler.
* ``cron(minutes hours day-of-month month day-of-week year)``: EventBridge's six fields, one of
  day-of-month and day-of-week being ``?``; day-of-week 1-7 is SUN-SAT. Supported: ``*``, ``,``,
  ``-``, ``/``, names (JAN, MON), ``L`` (last day; ``5L`` last Thursday), ``W`` (``15W`` nearest
  weekday, ``LW`` last weekday) and ``#`` (``2#1`` first Monday).
* ``at(yyyy-mm-ddThh:mm:ss)``: once, in the schedule's time zone.

Fire times follow Scheduler in a time zone with daylight saving: a local time that does not
exist (clocks go forward) is skipped, one that happens twice (clocks go back) fires once, the first time.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minutes?|hours?|days?)\)$")
_CRON = re.compile(r"^cron\((?P<fields>[^()]*)\)$")
_AT = re.compile(r"^at\((?P<when>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
_WEEKDAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MIN_YEAR, _MAX_YEAR = 1970, 2199


@dataclass(frozen=True)
class Rate:
    """``rate(...)``: every ``seconds`` from the schedule's start."""

    seconds: int


@dataclass(frozen=True)
class At:
    """``at(...)``: once, at ``when`` (a wall-clock time of the schedule's time zone, naive)."""

    when: datetime


@dataclass(frozen=True)
class Cron:
    """``cron(...)``: the wall-clock times its six fields allow."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    day_of_month: str | None  # the field's text, None when '?'
    day_of_week: str | None

    def matches_day(self, day: date) -> bool:
        """Whether ``day`` is one the expression fires on."""
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.day_of_month is not None:
            return _day_of_month_matches(self.day_of_month, day)
        assert self.day_of_week is not None
        return _day_of_week_matches(self.day_of_week, day)


Expression = Rate | Cron | At


def parse(expression: str) -> Expression:
    """Parse a Scheduler expression; ``ValueError`` says what is wrong with a malformed one."""
    text = expression.strip()
    if match := _RATE.match(text):
        value, unit = int(match["value"]), match["unit"]
        if value < 1:
            raise ValueError(f"{expression!r}: a rate needs a positive value")
        if (value == 1) == unit.endswith("s"):
            expected = unit.rstrip("s") if value == 1 else unit + ("" if unit.endswith("s") else "s")
            raise ValueError(f"{expression!r}: write rate({value} {expected})")
        return Rate(value * _UNIT_SECONDS[unit.rstrip("s")])
    if match := _AT.match(text):
        try:
            return At(datetime.fromisoformat(match["when"]))
        except ValueError:
            raise ValueError(f"{expression!r}: not a real date and time") from None
    if match := _CRON.match(text):
        return _parse_cron(expression, match["fields"].split())
    raise ValueError(
        f"{expression!r} is not a schedule expression: use rate(5 minutes), "
        "cron(0 3 * * ? *) (six fields, EventBridge style) or at(2030-01-31T09:00:00)"
    )


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``ValueError`` when it is unknown (or this machine has no tz database)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    if not available_timezones():
        raise ValueError(
            f"cannot check time zone {name!r}: this machine has no time zone database "
            "(install the 'tzdata' package: pip install tzdata)"
        )
    raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'UTC', 'Europe/Berlin', 'America/New_York'")


def fire_times(
    expression: Expression, zone: ZoneInfo, after: datetime, start: datetime | None = None
) -> Iterator[datetime]:
    """The times (aware, UTC) ``expression`` fires strictly after ``after`` (aware), in order.

    ``start``: a rate schedule counts its intervals from it (default: ``after``, the first firing
    being one interval later). Infinite for rate, ends for at() and year-bounded crons.
    """
    after = after.astimezone(UTC)
    if isinstance(expression, Rate):
        step = timedelta(seconds=expression.seconds)
        if start is None:
            moment = after + step
        elif after < start:
            moment = start.astimezone(UTC)
        else:
            moment = start.astimezone(UTC) + ((after - start) // step + 1) * step
        while True:
            yield moment
            moment += step
    if isinstance(expression, At):
        when = _existing(expression.when, zone)
        if when is not None and when > after:
            yield when
        return
    yield from _cron_times(expression, zone, after)


def next_fire(
    expression: Expression, zone: ZoneInfo, after: datetime, start: datetime | None = None
) -> datetime | None:
    """The first fire time strictly after ``after``, or None if the expression never fires again."""
    return next(iter(fire_times(expression, zone, after, start)), None)


#: How far ahead the gaps between a cron's firings are measured: a year and more, DST changes included.
_GAP_HORIZON = timedelta(days=400)
_GAP_SAMPLES = 20_000


def gaps(expression: Expression, zone: ZoneInfo, reference: datetime) -> tuple[int, int] | None:
    """The shortest and longest time, in seconds, between two firings; None for at() (fires once).

    A cron's gaps are measured over 400 days of firings from ``reference`` (or its first 20,000
    firings; then an hour is added to the longest gap when the zone observes daylight saving),
    so a daily job at a wall-clock time that a DST change skips shows its 48-hour gap.
    """
    if isinstance(expression, At):
        return None
    if isinstance(expression, Rate):
        return expression.seconds, expression.seconds
    shortest: float | None = None
    longest = 0.0
    previous: datetime | None = None
    end: datetime | None = None
    count = 0
    for moment in fire_times(expression, zone, reference):
        if previous is not None:
            gap = (moment - previous).total_seconds()
            shortest = gap if shortest is None else min(shortest, gap)
            longest = max(longest, gap)
        else:
            end = moment + _GAP_HORIZON
        previous = moment
        count += 1
        if (end is not None and moment > end) or count >= _GAP_SAMPLES:
            break
    if shortest is None:
        return None  # fires once at most
    if count >= _GAP_SAMPLES and _observes_dst(zone, reference.year):
        longest += 3600
    return int(shortest), int(longest)


# -- cron ---------------------------------------------------------------------------------------------


def _parse_cron(expression: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise ValueError(
            f"{expression!r}: EventBridge cron has six fields (minutes hours day-of-month month day-of-week "
            f"year), got {len(fields)}; e.g. cron(0 3 * * ? *)"
        )
    minute, hour, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ValueError(f"{expression!r}: exactly one of day-of-month and day-of-week must be '?'")
    try:
        cron = Cron(
            minutes=tuple(sorted(_values(minute, 0, 59, {}))),
            hours=tuple(sorted(_values(hour, 0, 23, {}))),
            months=frozenset(_values(month, 1, 12, _MONTHS)),
            years=frozenset(_values(year, _MIN_YEAR, _MAX_YEAR, {})),
            day_of_month=None if day_of_month == "?" else _checked_day_of_month(day_of_month),
            day_of_week=None if day_of_week == "?" else _checked_day_of_week(day_of_week),
        )
    except ValueError as problem:
        raise ValueError(f"{expression!r}: {problem}") from None
    return cron


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise ValueError(f"{text!r} is not a number{' or name' if names else ''}")
        value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is outside {low}-{high}")
    return value


def _values(field: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The values a list of ``*``, ``a``, ``a-b``, ``a/n``, ``a-b/n``, ``*/n`` items allows."""
    values: set[int] = set()
    for item in field.split(","):
        base, slash, step_text = item.partition("/")
        step = _number(step_text, 1, high - low + 1, {}) if slash else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first, last = _number(first_text, low, high, names), _number(last_text, low, high, names)
            if first > last:
                raise ValueError(f"range {base!r} runs backwards")
        else:
            first = _number(base, low, high, names)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return values


def _checked_day_of_month(field: str) -> str:
    for item in field.split(","):
        if item in ("L", "LW"):
            continue
        if item.endswith("W"):
            _number(item[:-1], 1, 31, {})
            continue
        _values(item, 1, 31, {})
    return field


def _checked_day_of_week(field: str) -> str:
    for item in field.split(","):
        if "#" in item:
            weekday, _, nth = item.partition("#")
            _number(weekday, 1, 7, _WEEKDAYS)
            _number(nth, 1, 5, {})
        elif item.endswith("L") and item != "L":
            _number(item[:-1], 1, 7, _WEEKDAYS)
        elif item == "L":
            continue
        else:
            if "/" in item:
                raise ValueError(f"day-of-week takes no '/' step, got {item!r}")
            _values(item, 1, 7, _WEEKDAYS)
    return field


def _day_of_month_matches(field: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    for item in field.split(","):
        if item == "L":
            if day.day == last:
                return True
        elif item == "LW":
            if day == _nearest_weekday(day.replace(day=last)):
                return True
        elif item.endswith("W"):
            wanted = min(int(item[:-1]), last)
            if day == _nearest_weekday(day.replace(day=wanted)):
                return True
        elif day.day in _values(item, 1, 31, {}):
            return True
    return False


def _nearest_weekday(day: date) -> date:
    """The weekday nearest ``day`` within its month (Saturday -> Friday, Sunday -> Monday)."""
    if day.weekday() == 5:
        return day - timedelta(days=1) if day.day > 1 else day + timedelta(days=2)
    if day.weekday() == 6:
        last = calendar.monthrange(day.year, day.month)[1]
        return day + timedelta(days=1) if day.day < last else day - timedelta(days=2)
    return day


def _day_of_week_matches(field: str, day: date) -> bool:
    weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday 0; EventBridge: Sunday 1 .. Saturday 7
    last = calendar.monthrange(day.year, day.month)[1]
    for item in field.split(","):
        if "#" in item:
            wanted, _, nth = item.partition("#")
            if weekday == _number(wanted, 1, 7, _WEEKDAYS) and (day.day - 1) // 7 + 1 == int(nth):
                return True
        elif item == "L":
            if weekday == 7:
                return True
        elif item.endswith("L"):
            if weekday == _number(item[:-1], 1, 7, _WEEKDAYS) and day.day + 7 > last:
                return True
        elif weekday in _values(item, 1, 7, _WEEKDAYS):
            return True
    return False


def _cron_times(cron: Cron, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    day = after.astimezone(zone).date() - timedelta(days=1)  # a fold may put a firing on the previous local date
    while day.year <= _MAX_YEAR:
        if day.year not in cron.years:
            day = date(day.year + 1, 1, 1)
            continue
        if day.month not in cron.months:
            day = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            continue
        if cron.matches_day(day):
            for hour in cron.hours:
                for minute in cron.minutes:
                    moment = _existing(datetime(day.year, day.month, day.day, hour, minute), zone)
                    if moment is not None and moment > after:
                        yield moment
        day += timedelta(days=1)


def _existing(wall_clock: datetime, zone: ZoneInfo) -> datetime | None:
    """``wall_clock`` in ``zone`` as UTC, its first occurrence when clocks went back; None when skipped."""
    local = wall_clock.replace(tzinfo=zone, fold=0)
    moment = local.astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != wall_clock:
        return None  # clocks went forward over it
    return moment


def _observes_dst(zone: ZoneInfo, year: int) -> bool:
    offsets = {datetime(year, month, 1, tzinfo=zone).utcoffset() for month in (1, 7)}
    return len(offsets) > 1
