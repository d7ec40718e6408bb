"""``python -m patterns.local trigger NAME``: fire one schedule of a synthesized app now.

    python -m patterns.local trigger NightlyPurge --endpoint http://127.0.0.1:PORT
    python -m patterns.local trigger NightlyPurge --time 2026-11-23T02:30:00Z   # a run for that time

NAME is the schedule's construct (``NightlyPurge``), its logical id or its local name. The stacks
are provisioned on ``--endpoint`` (the endpoint a running ``python -m patterns.local`` printed: its
tables and queues are reused as they are), or on a moto server started for this command. The target
runs in a local worker exactly as a scheduled firing runs it (retries, then the dead-letter queue);
the outcome is printed as JSON. Exit status 0 when the run succeeded, 1 when it did not.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from .assembly import load_assembly
from .endpoint import MotoServer, wait_until_up
from .model import REGION, LocalRunError
from .provision import provision
from .schedules import ScheduleFirer, read_schedules
from .workers import FunctionPool


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m patterns.local trigger",
        description="Fire one schedule of a synthesized app now, as a scheduled firing runs it; "
        "print the outcome as JSON.",
    )
    parser.add_argument("name", help="the schedule: its construct (e.g. NightlyPurge), logical id or local name")
    parser.add_argument("--assembly", type=Path, default=Path("cdk.out"), help="the cloud assembly (default: cdk.out)")
    parser.add_argument("--stack", action="append", dest="stacks", metavar="NAME", help="a stack to load (repeatable)")
    parser.add_argument("--endpoint", help="the local AWS endpoint of a running local run (default: start one)")
    parser.add_argument("--time", dest="scheduled_time", help="the scheduled time to run for, ISO 8601 (default: now)")
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="pause between Lambda's retries of a failed run (default: 1)",
    )
    return parser


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LocalRunError(f"--time must be an ISO 8601 time such as 2026-11-23T02:30:00Z, got {text!r}") from None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # stdout carries the outcome only


def trigger(argv: Sequence[str]) -> int:
    """Run the command; returns the exit status."""
    args = _parser().parse_args(argv)
    scheduled_time = _time(args.scheduled_time)
    stacks = load_assembly(args.assembly, args.stacks)
    server = None
    if args.endpoint:
        wait_until_up(args.endpoint, timeout=10)
        endpoint = args.endpoint.rstrip("/")
    else:
        server = MotoServer().start()
        endpoint = server.endpoint
    try:
        environment = provision(stacks, endpoint, region=REGION)
        matches = [schedule for schedule in read_schedules(environment) if schedule.matches(args.name)]
        if len(matches) != 1:
            known = ", ".join(sorted(s.job_name for s in read_schedules(environment))) or "none"
            found = "no schedule" if not matches else f"{len(matches)} schedules"
            raise LocalRunError(f"{found} named {args.name!r} (schedules: {known}); add --stack to choose")
        with FunctionPool(endpoint, region=REGION, log=_log) as pool:
            firer = ScheduleFirer(environment, pool, _log, retry_delay_seconds=args.retry_delay)
            firing = firer.fire(matches[0], scheduled_time)
    finally:
        if server is not None:
            server.stop()
    outcome = {
        "schedule": firing.schedule.name,
        "scheduled_time": firing.scheduled_time,
        "outcome": firing.outcome,
        "attempts": len(firing.invocations),
        "result": firing.invocations[-1].payload if firing.invocations and firing.invocations[-1].ok else None,
        "error": next((i.error for i in reversed(firing.invocations) if i.error), None),
        "dead_letter_queue": firing.dead_letter_arn,
    }
    print(json.dumps(outcome, indent=2))
    return 0 if firing.outcome == "succeeded" else 1
