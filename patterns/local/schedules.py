"""Fire a local run's EventBridge Scheduler schedules (``AWS::Scheduler::Schedule``) at their times.

moto stores schedules but never fires them, so the local run does what Scheduler and Lambda do:

* **When**: ``cron(...)`` and ``at(...)`` fire at the wall-clock times of the schedule's time zone
  (``patterns.schedule_expression``: daylight-saving gaps skipped, repeated hours fired once);
  ``rate(...)`` fires when the run starts (Scheduler fires a rate schedule without a start date
  when it is created) and then every interval, divided by ``rate_scale`` to see a daily job run in
  seconds. Start and end dates are honoured; disabled schedules do not fire (``trigger`` still runs them).
* **What**: the target's ``Input`` with Scheduler's context attributes filled in
  (``<aws.scheduler.scheduled-time>`` is the nominal time, ISO 8601 in UTC to the second).
* **Failures**: Scheduler invokes Lambda asynchronously, so a run that fails is retried the way
  Lambda retries an asynchronous event (``MaximumRetryAttempts`` of the function's
  ``EventInvokeConfig``, default 2; the pause between attempts is ``retry_delay_seconds``, on AWS
  about one then two minutes) and then sent to the function's dead-letter queue as Lambda sends it
  (the event as the body; ``RequestID``, ``ErrorCode``, ``ErrorMessage`` attributes). A target that
  cannot be invoked at all (not a local function, no worker can start) is what Scheduler retries
  and dead-letters itself: the payload goes to the schedule's ``DeadLetterConfig`` queue with the
  attributes Scheduler sets (``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``,
  ``RETRY_ATTEMPTS``, ``SCHEDULE_ARN``, ``TARGET_ARN``, ``INVOCATION_ID``).

Not emulated: flexible time windows (a schedule fires at the start of its window), Scheduler's
own delivery retries (one attempt locally), the ``MaximumEventAgeInSeconds`` cut-off.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ..schedule_expression import Rate, fire_times, parse, time_zone
from .endpoint import local_client
from .intrinsics import Resolver, Unresolvable, pseudo_parameters
from .model import ACCOUNT, Invocation, LocalEnvironment, LocalFunction, LocalRunError, LocalStack
from .workers import FunctionPool

Log = Callable[[str], None]

#: Lambda's retries of a failed asynchronous invocation when the function sets none.
DEFAULT_FUNCTION_RETRIES = 2
#: Longest the firing thread sleeps at once, so that ``stop()`` returns promptly.
_TICK_SECONDS = 1.0
_SECOND = timedelta(seconds=1)
# CDK's logical id of a ScheduledJob's schedule: the owner's path, "Schedule", an 8-digit hash.
_SCHEDULE_LOGICAL_ID = re.compile(r"^(?P<owner>[A-Za-z0-9]+)Schedule[0-9A-F]{8}$")


@dataclass
class LocalSchedule:
    """An ``AWS::Scheduler::Schedule`` of a template, resolved against the local run."""

    stack: str
    logical_id: str
    path: str  # the construct path, e.g. "ScheduledJobDemo/NightlyPurge/Schedule/Resource"
    name: str
    group: str
    arn: str
    expression: str
    time_zone: str
    target_arn: str
    function: LocalFunction | None
    input: str
    enabled: bool = True
    start: datetime | None = None
    end: datetime | None = None
    dead_letter_arn: str | None = None
    function_retries: int = DEFAULT_FUNCTION_RETRIES
    function_dead_letter_arn: str | None = None

    @property
    def job_name(self) -> str:
        """The name to give ``trigger``: the construct owning the schedule (``NightlyPurge``, from the construct
        path, or from the logical id CDK made of it), else the schedule's name."""
        parts = self.path.split("/")
        if len(parts) >= 3 and parts[-2:] == ["Schedule", "Resource"]:
            return parts[-3]
        match = _SCHEDULE_LOGICAL_ID.match(self.logical_id)
        return match["owner"] if match else self.name

    def matches(self, name: str) -> bool:
        """Whether ``name`` names this schedule: its name, logical id, job name or a part of its construct path."""
        return name in (self.name, self.logical_id, self.job_name) or name in self.path.split("/")


@dataclass
class Firing:
    """What one firing did: ``outcome`` is ``succeeded``, ``failed`` (the run failed every attempt) or
    ``undeliverable`` (the target could not be invoked)."""

    schedule: LocalSchedule
    scheduled_time: str
    event: Any
    outcome: str
    invocations: list[Invocation] = field(default_factory=list)
    dead_letter_arn: str | None = None  # where the event went, if it went to a dead-letter queue


def read_schedules(environment: LocalEnvironment) -> list[LocalSchedule]:
    """Every schedule of the environment's stacks (raises :class:`LocalRunError` for one it cannot read)."""
    return [schedule for stack in environment.stacks for schedule in _stack_schedules(stack, environment)]


def _stack_schedules(stack: LocalStack, environment: LocalEnvironment) -> list[LocalSchedule]:
    resources = stack.template.get("Resources", {})
    resolver = Resolver(
        stack.refs,
        stack.attributes,
        pseudo_parameters(stack.name, environment.region),
        stack.template.get("Conditions"),
    )
    schedules = []
    for logical_id, definition in resources.items():
        if definition.get("Type") != "AWS::Scheduler::Schedule":
            continue
        try:
            properties = resolver.resolve(definition.get("Properties", {}), logical_id)
        except Unresolvable as problem:
            raise LocalRunError(
                f"stack {stack.name}: schedule {logical_id} cannot be read locally: {problem}"
            ) from None
        target = properties.get("Target", {})
        name = str(stack.refs.get(logical_id, logical_id))
        group = properties.get("GroupName") or "default"
        function = environment.function_for_arn(target.get("Arn", ""))
        retries, function_dlq = _async_settings(resources, resolver, function)
        schedules.append(
            LocalSchedule(
                stack=stack.name,
                logical_id=logical_id,
                path=definition.get("Metadata", {}).get("aws:cdk:path", logical_id),
                name=name,
                group=group,
                arn=f"arn:aws:scheduler:{environment.region}:{ACCOUNT}:schedule/{group}/{name}",
                expression=properties["ScheduleExpression"],
                time_zone=properties.get("ScheduleExpressionTimezone") or "UTC",
                target_arn=target.get("Arn", ""),
                function=function,
                input=target.get("Input", "{}"),
                enabled=properties.get("State", "ENABLED") == "ENABLED",
                start=_date(properties.get("StartDate")),
                end=_date(properties.get("EndDate")),
                dead_letter_arn=(target.get("DeadLetterConfig") or {}).get("Arn"),
                function_retries=retries,
                function_dead_letter_arn=function_dlq,
            )
        )
    return schedules


def _async_settings(
    resources: dict[str, Any], resolver: Resolver, function: LocalFunction | None
) -> tuple[int, str | None]:
    """Lambda's asynchronous retries and dead-letter queue of ``function``, from its template."""
    if function is None:
        return DEFAULT_FUNCTION_RETRIES, None
    retries = DEFAULT_FUNCTION_RETRIES
    for logical_id, definition in resources.items():
        if definition.get("Type") != "AWS::Lambda::EventInvokeConfig":
            continue
        properties = definition.get("Properties", {})
        try:
            target = str(resolver.resolve(properties.get("FunctionName"), logical_id))
        except Unresolvable:
            continue
        if function.name in (target, target.split(":")[-1]):
            retries = int(properties.get("MaximumRetryAttempts", DEFAULT_FUNCTION_RETRIES))
    dead_letter = resources.get(function.logical_id, {}).get("Properties", {}).get("DeadLetterConfig", {})
    try:
        arn = resolver.resolve(dead_letter.get("TargetArn"), f"{function.logical_id}.DeadLetterConfig")
    except Unresolvable:
        arn = None
    return retries, arn if isinstance(arn, str) else None


def _date(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def scheduled_time_text(moment: datetime) -> str:
    """A time as Scheduler's ``<aws.scheduler.scheduled-time>`` writes it: UTC, to the second, with Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ScheduleFirer:
    """Fires one schedule once: builds the event, runs the target as Lambda runs asynchronous events."""

    def __init__(
        self, environment: LocalEnvironment, pool: FunctionPool, log: Log = print, retry_delay_seconds: float = 1.0
    ) -> None:
        self.environment = environment
        self.pool = pool
        self.log = log
        self.retry_delay_seconds = retry_delay_seconds

    def fire(self, schedule: LocalSchedule, scheduled_time: datetime | None = None) -> Firing:
        when = scheduled_time_text(scheduled_time or datetime.now(UTC))
        execution_id = str(uuid.uuid4())
        text = (
            schedule.input.replace("<aws.scheduler.schedule-arn>", schedule.arn)
            .replace("<aws.scheduler.scheduled-time>", when)
            .replace("<aws.scheduler.execution-id>", execution_id)
            .replace("<aws.scheduler.attempt-number>", "1")
        )
        try:
            event: Any = json.loads(text)
        except json.JSONDecodeError:
            event = text  # Scheduler passes a non-JSON input as a string
        prefix = f"[{schedule.stack}/{schedule.job_name}]"
        self.log(f"{prefix} firing for {when}")
        firing = Firing(schedule, when, event, "succeeded")
        if schedule.function is None:
            self._undeliverable(
                firing,
                execution_id,
                "ResourceNotFoundException",
                f"target {schedule.target_arn} is not a function of this local run",
            )
            return firing
        for attempt in range(schedule.function_retries + 1):
            if attempt:
                time.sleep(self.retry_delay_seconds)
            try:
                invocation = self.pool.invoke(schedule.function, event)
            except OSError as error:
                self._undeliverable(firing, execution_id, "InternalServerError", f"cannot start the target: {error}")
                return firing
            firing.invocations.append(invocation)
            if invocation.ok:
                return firing
        firing.outcome = "failed"
        last_error = firing.invocations[-1].error or {}
        self._dead_letter_failed_run(firing, last_error)
        return firing

    def _dead_letter_failed_run(self, firing: Firing, error: dict[str, Any]) -> None:
        """What Lambda does with an asynchronous event that failed every attempt."""
        schedule = firing.schedule
        prefix = f"[{schedule.stack}/{schedule.job_name}]"
        attempts = len(firing.invocations)
        if schedule.function_dead_letter_arn is None:
            self.log(
                f"{prefix} run for {firing.scheduled_time} failed {attempts} times; the function has no "
                "dead-letter queue, so the event is dropped, as on AWS"
            )
            return
        self._send(
            schedule.function_dead_letter_arn,
            json.dumps(firing.event),
            {
                "RequestID": firing.invocations[-1].request_id,
                "ErrorCode": "200",
                "ErrorMessage": str(error.get("errorMessage", ""))[:256],
            },
        )
        firing.dead_letter_arn = schedule.function_dead_letter_arn
        self.log(
            f"{prefix} run for {firing.scheduled_time} failed {attempts} times; event sent to "
            f"{schedule.function_dead_letter_arn}"
        )

    def _undeliverable(self, firing: Firing, invocation_id: str, code: str, message: str) -> None:
        """What Scheduler does with an event it could not deliver."""
        schedule = firing.schedule
        firing.outcome = "undeliverable"
        prefix = f"[{schedule.stack}/{schedule.job_name}]"
        if schedule.dead_letter_arn is None:
            self.log(f"{prefix} {message}; the schedule has no dead-letter queue, the event is dropped")
            return
        payload = firing.event if isinstance(firing.event, str) else json.dumps(firing.event)
        self._send(
            schedule.dead_letter_arn,
            payload,
            {
                "ERROR_CODE": code,
                "ERROR_MESSAGE": message,
                "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttemptsExceeded",
                "RETRY_ATTEMPTS": "0",
                "SCHEDULE_ARN": schedule.arn,
                "TARGET_ARN": schedule.target_arn,
                "INVOCATION_ID": invocation_id,
            },
        )
        firing.dead_letter_arn = schedule.dead_letter_arn
        self.log(f"{prefix} {message}; event sent to the schedule's dead-letter queue")

    def _send(self, queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        sqs = local_client("sqs", self.environment.endpoint, self.environment.region)
        _, _, _, _, account, name = queue_arn.split(":", 5)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={key: {"DataType": "String", "StringValue": value} for key, value in attributes.items()},
        )


class ScheduleClock:
    """A thread firing every enabled schedule at its next time, until :meth:`stop`.

    Each firing runs on a thread of its own, so a long job does not hold up the others.
    """

    def __init__(
        self,
        schedules: list[LocalSchedule],
        firer: ScheduleFirer,
        log: Log = print,
        rate_scale: float = 1.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if rate_scale <= 0:
            raise ValueError("rate_scale must be positive")
        self.schedules = [schedule for schedule in schedules if schedule.enabled]
        self.firer = firer
        self.rate_scale = rate_scale
        self._log = log
        self._now = now
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="schedules", daemon=True)
        self._firings: list[threading.Thread] = []
        self._next: dict[str, datetime | None] = {}
        started = now()
        for schedule in schedules:
            if not schedule.enabled:
                log(f"[{schedule.stack}/{schedule.job_name}] schedule is disabled; not firing it")
                continue
            self._next[schedule.arn] = self._first(schedule, started)
            self._announce(schedule)

    def start(self) -> ScheduleClock:
        self._thread.start()
        return self

    def stop(self, timeout: float = 2 * _TICK_SECONDS) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        for firing in self._firings:
            firing.join(timeout)

    def next_time(self, schedule: LocalSchedule) -> datetime | None:
        """When ``schedule`` fires next (UTC), None if never again."""
        return self._next.get(schedule.arn)

    def _first(self, schedule: LocalSchedule, now: datetime) -> datetime | None:
        expression = parse(schedule.expression)
        if isinstance(expression, Rate):
            return max(now, schedule.start) if schedule.start else now
        return self._after(schedule, now)

    def _after(self, schedule: LocalSchedule, moment: datetime) -> datetime | None:
        expression = parse(schedule.expression)
        if isinstance(expression, Rate):
            following: datetime | None = moment + (expression.seconds / self.rate_scale) * _SECOND
        else:
            after = max(moment, schedule.start - _SECOND) if schedule.start else moment
            following = next(iter(fire_times(expression, time_zone(schedule.time_zone), after)), None)
        if following is None or (schedule.end is not None and following > schedule.end):
            return None
        return following

    def _announce(self, schedule: LocalSchedule) -> None:
        upcoming = self._next[schedule.arn]
        prefix = f"[{schedule.stack}/{schedule.job_name}] {schedule.expression} ({schedule.time_zone})"
        if upcoming is None:
            self._log(f"{prefix}: never fires again")
            return
        local = upcoming.astimezone(time_zone(schedule.time_zone))
        is_rate = schedule.expression.startswith("rate(")
        scaled = f", rate divided by {self.rate_scale:g}" if self.rate_scale != 1 and is_rate else ""
        self._log(
            f"{prefix}: next run {local:%Y-%m-%d %H:%M:%S %Z} ({scheduled_time_text(upcoming)}){scaled}; "
            f"run it now: python -m patterns.local trigger {schedule.job_name}"
        )

    def _run(self) -> None:
        while not self._stopping.is_set():
            now = self._now()
            for schedule in self.schedules:
                due = self._next.get(schedule.arn)
                if due is None or due > now:
                    continue
                self._next[schedule.arn] = self._after(schedule, due)
                thread = threading.Thread(target=self._fire, args=(schedule, due), daemon=True)
                self._firings = [t for t in self._firings if t.is_alive()] + [thread]
                thread.start()
            upcoming = [moment for moment in self._next.values() if moment is not None]
            wait = min([(moment - self._now()).total_seconds() for moment in upcoming] + [_TICK_SECONDS])
            self._stopping.wait(max(0.01, wait))

    def _fire(self, schedule: LocalSchedule, due: datetime) -> None:
        try:
            self.firer.fire(schedule, due)
        except Exception as error:  # the endpoint went away: say so, keep the clock running
            self._log(f"[{schedule.stack}/{schedule.job_name}] firing failed: {type(error).__name__}: {error}")


def start_schedules(
    environment: LocalEnvironment,
    pool: FunctionPool,
    log: Log = print,
    retry_delay_seconds: float | None = 1.0,
    rate_scale: float = 1.0,
) -> ScheduleClock | None:
    """Start firing the environment's schedules; None when it has none."""
    schedules = read_schedules(environment)
    if not schedules:
        return None
    delay = 60.0 if retry_delay_seconds is None else retry_delay_seconds  # Lambda's first async retry: ~1 minute
    firer = ScheduleFirer(environment, pool, log, retry_delay_seconds=delay)
    return ScheduleClock(schedules, firer, log, rate_scale).start()
