"""The local schedule clock: rate schedules at their (scaled) interval, start and end dates, disabled schedules."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

from polling import eventually

from patterns.local.schedules import LocalSchedule, ScheduleClock


class RecordingFirer:
    def __init__(self) -> None:
        self.fired: list[tuple[str, datetime]] = []
        self.lock = threading.Lock()

    def fire(self, schedule: LocalSchedule, scheduled_time: datetime) -> None:
        with self.lock:
            self.fired.append((schedule.name, scheduled_time))


def schedule(name: str, expression: str, **overrides) -> LocalSchedule:
    return LocalSchedule(
        stack="Demo",
        logical_id=f"{name}ScheduleABCDEF12",
        path=f"Demo/{name}/Schedule/Resource",
        name=name,
        group="default",
        arn=f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{name}",
        expression=expression,
        time_zone="UTC",
        target_arn="",
        function=None,
        input="{}",
        **overrides,
    )


def test_a_rate_schedule_fires_at_start_then_every_scaled_interval_and_disabled_ones_never():
    firer, lines = RecordingFirer(), []
    clock = ScheduleClock(
        [schedule("Every", "rate(1 minute)"), schedule("Off", "rate(1 minute)", enabled=False)],
        firer,
        lines.append,
        rate_scale=120,  # a minute every half second
    )

    def every() -> list[datetime]:
        return [when for name, when in list(firer.fired) if name == "Every"]

    clock.start()
    try:
        eventually(lambda: len(every()) >= 3, timeout=10)
    finally:
        clock.stop()
    times = every()[:3]
    # Fired at start, then every half second of nominal time (the scheduled times, not the thread's timing).
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [0.5, 0.5]
    assert not [name for name, _ in firer.fired if name == "Off"]
    assert any("Off] schedule is disabled" in line for line in lines)
    assert any("rate divided by 120" in line and "trigger Every" in line for line in lines)


def test_start_and_end_dates_bound_the_firings():
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    later = schedule("Later", "cron(0 * * * ? *)", start=now + timedelta(days=2))
    ended = schedule("Ended", "cron(0 * * * ? *)", end=now - timedelta(days=1))
    clock = ScheduleClock([later, ended], RecordingFirer(), lambda line: None, now=lambda: now)
    assert clock.next_time(later) == now + timedelta(days=2)
    assert clock.next_time(ended) is None
