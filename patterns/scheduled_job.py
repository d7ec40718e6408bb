"""EventBridge Scheduler -> Lambda: a periodic job that runs once per scheduled time and never stops silently."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jsii
from aws_cdk import (
    Annotations,
    Duration,
    RemovalPolicy,
    Stack,
    TimeZone,
)
from aws_cdk import (
    aws_cloudwatch as cloudwatch,
)
from aws_cdk import (
    aws_dynamodb as dynamodb,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from . import schedule_expression as expressions
from .blocks import SecureFunction, SecureTable, acknowledge
from .blocks.alarms import function_errors_alarm
from .blocks.compliance_resources import rotating_key
from .blocks.managed_policies import managed_policy_role, separate_policy
from .blocks.queue import dead_letter_alarm, function_timeout, standalone_dead_letter_queue

#: CloudWatch namespace of every job's heartbeat; each job's own dimensions keep them apart.
HEARTBEAT_NAMESPACE = "ServerlessPatterns/ScheduledJob"
HEARTBEAT_METRIC = "Heartbeat"
#: Environment variables the bundled runner (``lambda_src/scheduled_job/run_once.py``) reads.
CLAIM_TABLE_VARIABLE = "RUN_ONCE_TABLE_NAME"
HEARTBEAT_NAMESPACE_VARIABLE = "HEARTBEAT_NAMESPACE"
CLAIM_RETENTION_VARIABLE = "RUN_ONCE_RETENTION_SECONDS"
#: DynamoDB actions the runner calls on the claim table (claim, complete and fail are all updates).
CLAIM_TABLE_ACTIONS = ("dynamodb:UpdateItem",)
#: The attribute holding a claim's expiry (epoch seconds) for DynamoDB's TTL.
CLAIM_EXPIRY_ATTRIBUTE = "expires_at"
DEFAULT_RETRY_ATTEMPTS = 10
DEFAULT_MAX_EVENT_AGE = Duration.hours(1)
#: The longest Lambda keeps an asynchronous event (its EventInvokeConfig's MaximumEventAgeInSeconds).
LAMBDA_MAX_EVENT_AGE = Duration.hours(6)
#: The shortest claim retention: Scheduler may deliver up to a day late (max_event_age), and Lambda
#: may hold the event up to 6 hours more before its last retry.
MIN_CLAIM_RETENTION = Duration.hours(30)
#: Where the gaps between a cron's firings are measured from when no start date is given (fixed, so a
#: synth gives the same template whatever day it runs).
GAP_REFERENCE = datetime(2026, 1, 1, tzinfo=UTC)
_SEVEN_DAYS = 7 * 86400


class ScheduledJob(Construct):
    """A function run on an EventBridge Scheduler schedule, with a run-once claim and a dead man's switch.

    The schedule invokes the target with this payload (Scheduler fills in the ``<aws.scheduler.*>``
    context attributes per run)::

        {"schedule_arn": ..., "scheduled_time": "2026-11-23T03:00:00Z", "execution_id": ...,
         "attempt_number": "1", "job": {your payload}}

    The schedule's name and group are the last two parts of ``schedule_arn``. The bundled runner
    (``lambda_src/scheduled_job/run_once.py``; decorate your handler with ``@run_once``) claims each
    scheduled time once in ``claim_table``, so a duplicate delivery does nothing, and publishes the
    heartbeat when the run succeeds.

    Attributes (all read-only):
        schedule: the ``scheduler.Schedule``.
        function: the target (yours if you passed ``function=``).
        secure_function: the ``SecureFunction`` when this construct made the target, else None.
        dead_letter_queue: encrypted queue for events Scheduler could not deliver and, for a target
            made here, runs that failed after Lambda's retries.
        role: the role Scheduler assumes: it may invoke only the target's exact ARN (the alias's or
            version's ARN for one) and send only to ``dead_letter_queue``.
        key: the customer-managed key of the schedule's payload and of the DLQ.
        claim_table: the run-once claims (partition key ``id``, TTL ``expires_at``).
        runner_environment: the environment variables the runner needs; a target made here has them.
        heartbeat_metric: the heartbeat (dimensions ``ScheduleGroup`` and ``Schedule``).
        heartbeat_window: how long without a heartbeat raises ``heartbeat_alarm``; None for at().
        heartbeat_alarm: no heartbeat within ``heartbeat_window`` (missing data breaches); None for
            at(), a schedule with an ``end`` (it would page forever after the end) or
            ``heartbeat_alarm=False``.
        errors_alarm: the target returned errors. dead_letter_alarm: the DLQ holds a message (the
            made function's own ``dead_letter_alarm`` when this construct made the target: one
            alarm per queue).
        alarms: every alarm made here (with the made function's throttles alarm and the made
            claim table's alarms).

    Args:
        schedule: ``rate(1 day)``, ``cron(0 3 * * ? *)`` (EventBridge's six fields, one of
            day-of-month and day-of-week ``?``) or ``at(2030-01-31T09:00:00)``. Required.
        time_zone: IANA name the cron or at() is read in. Default ``"UTC"``.
        start / end: timezone-aware datetimes bounding the schedule. Default none. ``start`` may not
            be in the past (Scheduler refuses a start date more than 5 minutes old; drop it once it
            has passed); a future one warns that the heartbeat alarm pages until the first run. With
            ``end`` there is no heartbeat alarm.
        flexible_window: let Scheduler fire up to this much later (whole minutes, 1 minute..1 day, not
            more than the shortest time between firings). Default off: a job on a clock should run on it.
        schedule_group: a ``scheduler.ScheduleGroup``. Default: the account's ``default`` group.
        enabled: Default True. The heartbeat alarm takes no actions while the schedule is disabled.
        encryption_key: customer-managed key for the payload and the DLQ. Default: a new key (rotating).
        function: an existing ``IFunction`` (a function, alias or version) instead of ``code``. Give
            it ``runner_environment`` and decorate its handler; its own async settings are left alone.
        code / handler (default ``"app.handler"``) / environment / timeout (default 1 minute) /
            memory_size (default 256): a ``SecureFunction`` made here.
        payload: JSON-serializable object passed as ``job`` in every event. Default ``{}``.
        retry_attempts: Scheduler's retries of a delivery it could not make (throttling, the target
            unavailable), 0..185. Default 10: such failures are transient, and ten backed-off retries
            outlast them without keeping a run alive for a day.
        max_event_age: give up delivering (and send to the DLQ) after this, 1 minute..1 day.
            Default one hour, or the interval of a faster rate: a run delivered after the next one is
            due only competes with it. A target made here gets it as Lambda's event age too, at most
            6 hours (Lambda's limit).
        function_retry_attempts: Lambda's retries of a failed asynchronous run (0..2) of a target
            made here (not with ``function=``). Default 2 (Lambda's own default): the claim makes
            retries safe.
        claim_table: an existing table (partition key ``id`` string, TTL on ``expires_at``). Default: new.
        claim_retention: how long a claim is kept (its TTL), at least 30 hours. Default 7 days, well
            beyond any redelivery (Scheduler's ``max_event_age`` is at most a day, Lambda keeps an
            event at most 6 hours more).
        heartbeat_alarm: make the dead man's switch. Default True.
        heartbeat_tolerance: slack added to the longest time between firings (plus the flexible
            window and the target's timeout). Default 10% of that time, at least 5 minutes, at most
            an hour. The window is capped at 7 days (CloudWatch's longest look-back), so a weekly
            job gets none.
        removal_policy: of the claim table made here (not with ``claim_table=``). Default RETAIN.
        description: of the schedule.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        schedule: str,
        time_zone: str = "UTC",
        start: datetime | None = None,
        end: datetime | None = None,
        flexible_window: Duration | None = None,
        schedule_group: scheduler.IScheduleGroup | None = None,
        enabled: bool = True,
        encryption_key: kms.IKey | None = None,
        function: lambda_.IFunction | None = None,
        code: lambda_.Code | None = None,
        handler: str | None = None,
        environment: Mapping[str, str] | None = None,
        timeout: Duration | None = None,
        memory_size: int | None = None,
        payload: Mapping[str, Any] | None = None,
        retry_attempts: int = DEFAULT_RETRY_ATTEMPTS,
        max_event_age: Duration | None = None,
        function_retry_attempts: int | None = None,
        claim_table: dynamodb.ITable | None = None,
        claim_retention: Duration = Duration.days(7),
        heartbeat_alarm: bool = True,
        heartbeat_tolerance: Duration | None = None,
        removal_policy: RemovalPolicy | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        plan = _Plan.checked(schedule, time_zone, start, end, flexible_window)
        _check_target(function, code, handler, environment, timeout, memory_size, function_retry_attempts)
        if claim_table is not None and removal_policy is not None:
            raise ValueError(
                "claim_table= was given, so removal_policy cannot be: it applies to a claim table made here"
            )
        if not 0 <= retry_attempts <= 185:
            raise ValueError(f"retry_attempts must be between 0 and 185, got {retry_attempts}")
        if function_retry_attempts is None:
            function_retry_attempts = 2
        if not 0 <= function_retry_attempts <= 2:
            raise ValueError(f"function_retry_attempts must be between 0 and 2, got {function_retry_attempts}")
        max_event_age = max_event_age or plan.default_max_event_age()
        if not 60 <= max_event_age.to_seconds() <= 86400:
            raise ValueError(f"max_event_age must be between 1 minute and 1 day, got {max_event_age.to_seconds()} s")
        _check_payload(payload)
        if claim_retention.to_seconds() < MIN_CLAIM_RETENTION.to_seconds():
            raise ValueError(
                "claim_retention must be at least 30 hours (Scheduler may deliver a day late and Lambda may retry "
                "6 hours after that), or a late redelivery could run again"
            )
        target_timeout = (timeout or Duration.minutes(1)) if function is None else function_timeout(function)
        heartbeat_window = plan.heartbeat_window(flexible_window, target_timeout, heartbeat_tolerance)
        # A schedule with an end stops firing: missing data breaching would page from then on, forever.
        make_heartbeat_alarm = heartbeat_alarm and heartbeat_window is not None and end is None
        if make_heartbeat_alarm:
            plan.check_heartbeat_reach()

        self.key: kms.IKey = encryption_key or rotating_key(
            self,
            "Key",
            description=f"Encrypts the schedule payload and dead letters of {self.node.path}",
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.dead_letter_queue: sqs.Queue = standalone_dead_letter_queue(
            self,
            "DeadLetterQueue",
            encryption_key=self.key,
            dead_letter_queue_of=None
            if function is None
            else "the schedule's dead-letter queue (Scheduler's DeadLetterConfig)",
        )
        self._claims: SecureTable | None = None
        if claim_table is None:
            self._claims = SecureTable(
                self,
                "Claims",
                time_to_live_attribute=CLAIM_EXPIRY_ATTRIBUTE,
                removal_policy=removal_policy or RemovalPolicy.RETAIN,
            )
            claim_table = self._claims.table
        self.claim_table: dynamodb.ITable = claim_table
        self.runner_environment: dict[str, str] = {
            CLAIM_TABLE_VARIABLE: self.claim_table.table_name,
            HEARTBEAT_NAMESPACE_VARIABLE: HEARTBEAT_NAMESPACE,
            CLAIM_RETENTION_VARIABLE: str(int(claim_retention.to_seconds())),
        }

        self.secure_function: SecureFunction | None = None
        if function is None:
            assert code is not None
            self.secure_function = SecureFunction(
                self,
                "Job",
                code=code,
                handler=handler or "app.handler",
                environment={**(environment or {}), **self.runner_environment},
                timeout=timeout or Duration.minutes(1),
                memory_size=memory_size or 256,
                service_name=id,
                description=f"Scheduled job {self.node.path}",
                dead_letter_queue=self.dead_letter_queue,
            )
            function = self.secure_function.function
            function.configure_async_invoke(
                retry_attempts=function_retry_attempts,
                max_event_age=Duration.seconds(min(max_event_age.to_seconds(), LAMBDA_MAX_EVENT_AGE.to_seconds())),
            )
            acknowledge(
                function.node.find_child("EventInvokeConfig"),
                "Serverless-LambdaAsyncFailureDestination",
                "A failed run goes to the function's dead-letter queue (DeadLetterConfig), the job's DLQ, as the "
                "event itself, the shape Scheduler's undelivered events have there; an on-failure destination as "
                "well would deliver every failure twice.",
            )
        self.function: lambda_.IFunction = function
        self._grant_runner(function)

        self.role: iam.Role = self._scheduler_role(schedule_group)
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule=scheduler.ScheduleExpression.expression(plan.text, TimeZone.of(plan.zone_name)),
            target=_ExactLambdaTarget(
                function,
                role=self.role,
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=retry_attempts,
                max_event_age=max_event_age,
                payload=dict(payload or {}),
            ),
            schedule_group=schedule_group,
            enabled=enabled,
            start=start,
            end=end,
            key=self.key,
            time_window=scheduler.TimeWindow.flexible(flexible_window)
            if flexible_window
            else scheduler.TimeWindow.off(),
            description=description,
        )

        group_name = schedule_group.schedule_group_name if schedule_group is not None else "default"
        self.heartbeat_metric = cloudwatch.Metric(
            namespace=HEARTBEAT_NAMESPACE,
            metric_name=HEARTBEAT_METRIC,
            dimensions_map={"ScheduleGroup": group_name, "Schedule": self.schedule.schedule_name},
            statistic="Sum",
        )
        self.heartbeat_window: Duration | None = heartbeat_window
        self.heartbeat_alarm: cloudwatch.Alarm | None = None
        if make_heartbeat_alarm:
            assert heartbeat_window is not None
            self.heartbeat_alarm = self._heartbeat_alarm(heartbeat_window, enabled)
            if start is not None:
                Annotations.of(self).add_warning_v2(
                    "serverless-patterns:scheduled-job-future-start",
                    f"the heartbeat alarm is in ALARM from the deployment until the first run after start "
                    f"({start.isoformat()}) succeeds; deploy closer to start, or route its alarms once it runs",
                )
        if self.secure_function is not None:
            # The made function already alarms on its dead-letter queue, this very queue: one alarm, one page.
            assert self.secure_function.dead_letter_alarm is not None
            self.errors_alarm = self.secure_function.errors_alarm
            self.dead_letter_alarm = self.secure_function.dead_letter_alarm
        else:
            self.errors_alarm = function_errors_alarm(
                self, "ErrorsAlarm", function, consequence=": a scheduled run failed"
            )
            self.dead_letter_alarm = dead_letter_alarm(self, self.dead_letter_queue)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm made here: heartbeat, target errors, DLQ, and those of the function and table made here."""
        alarms = [] if self.heartbeat_alarm is None else [self.heartbeat_alarm]
        if self.secure_function is not None:
            alarms += self.secure_function.alarms
        else:
            alarms += [self.errors_alarm, self.dead_letter_alarm]
        if self._claims is not None:
            alarms += self._claims.alarms
        return alarms

    def _grant_runner(self, function: lambda_.IFunction) -> None:
        """What the runner calls: claim updates on the table (and its key), the heartbeat metric."""
        self.claim_table.grant(function, *CLAIM_TABLE_ACTIONS)
        if self.claim_table.encryption_key is not None:
            self.claim_table.encryption_key.grant(function, "kms:Decrypt")
        role = function.role
        if role is None:  # an imported function without its role: the user grants it
            return
        metrics = separate_policy(
            self,
            "HeartbeatPolicy",
            statements=[
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": HEARTBEAT_NAMESPACE}},
                )
            ],
            roles=[role],
        )
        acknowledge(
            metrics,
            "AwsSolutions-IAM5",
            "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the "
            f"heartbeat namespace {HEARTBEAT_NAMESPACE} by the cloudwatch:namespace condition.",
            findings=["Resource::*"],
        )

    def _scheduler_role(self, schedule_group: scheduler.IScheduleGroup | None) -> iam.Role:
        stack = Stack.of(self)
        group_arn = (
            schedule_group.schedule_group_arn
            if schedule_group is not None
            else stack.format_arn(service="scheduler", resource="schedule-group", resource_name="default")
        )
        # Scheduler names the schedule's group as the source: no other account's or group's schedule may use it.
        return managed_policy_role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account, "aws:SourceArn": group_arn}},
            ),
            description=f"Assumed by EventBridge Scheduler to run {self.node.path}",
        )

    def _heartbeat_alarm(self, window: Duration, enabled: bool) -> cloudwatch.Alarm:
        period, periods = heartbeat_periods(int(window.to_seconds()))
        return cloudwatch.Alarm(
            self,
            "HeartbeatAlarm",
            metric=self.heartbeat_metric.with_(period=Duration.seconds(period)),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            actions_enabled=enabled,
            alarm_description=(
                f"{self.node.path}: no successful run for {int(window.to_seconds())} s; "
                "the job stopped or keeps failing"
            ),
        )


def heartbeat_periods(window_seconds: int) -> tuple[int, int]:
    """The alarm period and number of periods that together span at least ``window_seconds``.

    CloudWatch evaluates at most a day of periods shorter than an hour, and at most 7 days in all.
    """
    if window_seconds > _SEVEN_DAYS:
        raise ValueError(
            f"a heartbeat window of {window_seconds} s is over the 7 days a CloudWatch alarm can look back; "
            "schedule the job more often or pass heartbeat_alarm=False"
        )
    period = 60 if window_seconds <= 3600 else 300 if window_seconds <= 86400 else 3600
    return period, math.ceil(window_seconds / period)


class _Plan:
    """The schedule expression and its time zone, checked, and what they imply."""

    def __init__(self, text: str, zone_name: str, expression: expressions.Expression, gaps: tuple[int, int] | None):
        self.text = text
        self.zone_name = zone_name
        self.expression = expression
        self.gaps = gaps

    @classmethod
    def checked(
        cls,
        text: str,
        zone_name: str,
        start: datetime | None,
        end: datetime | None,
        flexible_window: Duration | None,
    ) -> _Plan:
        try:
            expression = expressions.parse(text)
        except ValueError as problem:
            raise ValueError(f"schedule: {problem}") from None
        zone = expressions.time_zone(zone_name)
        for label, moment in (("start", start), ("end", end)):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{label} must be a timezone-aware datetime (e.g. datetime(..., tzinfo=timezone.utc))")
        if start is not None and end is not None and end <= start:
            raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
        if start is not None and start < datetime.now(UTC):
            raise ValueError(
                f"start ({start.isoformat()}) is in the past: Scheduler refuses a start date more than 5 minutes "
                "old, so the deployment would fail; drop start (the schedule starts when it is created)"
            )
        gaps = expressions.gaps(expression, zone, start or GAP_REFERENCE)
        if isinstance(expression, expressions.Cron) and gaps is None:
            raise ValueError(f"schedule: {text!r} fires at most once; use at(...) for a one-time job")
        if flexible_window is not None:
            if flexible_window.to_seconds(integral=False) % 60:
                raise ValueError(
                    f"flexible_window must be whole minutes (Scheduler's MaximumWindowInMinutes), "
                    f"got {flexible_window.to_seconds(integral=False)} s"
                )
            minutes = flexible_window.to_minutes()
            if not 1 <= minutes <= 1440:
                raise ValueError(f"flexible_window must be between 1 minute and 1 day, got {minutes} minutes")
            if gaps is not None and flexible_window.to_seconds() > gaps[0]:
                raise ValueError(
                    f"flexible_window ({flexible_window.to_seconds()} s) is longer than the interval between "
                    f"firings ({gaps[0]} s): runs would overlap and arrive out of order"
                )
        return cls(text.strip(), zone_name, expression, gaps)

    def default_max_event_age(self) -> Duration:
        if self.gaps is None:
            return DEFAULT_MAX_EVENT_AGE
        return Duration.seconds(max(60, min(DEFAULT_MAX_EVENT_AGE.to_seconds(), self.gaps[0])))

    def heartbeat_window(
        self, flexible_window: Duration | None, timeout: Duration | None, tolerance: Duration | None
    ) -> Duration | None:
        if self.gaps is None:
            return None
        longest = self.gaps[1]
        slack = tolerance.to_seconds() if tolerance is not None else min(3600, max(300, longest // 10))
        if tolerance is not None and slack < 60:
            raise ValueError("heartbeat_tolerance must be at least a minute")
        extra = (flexible_window.to_seconds() if flexible_window else 0) + (timeout.to_seconds() if timeout else 900)
        window = math.ceil((longest + slack + extra) / 60) * 60
        if longest <= _SEVEN_DAYS:
            # CloudWatch looks back 7 days at most: a weekly job's window is the week itself, without slack.
            window = min(window, _SEVEN_DAYS)
        return Duration.seconds(window)

    def check_heartbeat_reach(self) -> None:
        """Raise when firings can be further apart than a CloudWatch alarm looks back (7 days)."""
        if self.gaps is not None and self.gaps[1] > _SEVEN_DAYS:
            raise ValueError(
                f"schedule: {self.text!r} in {self.zone_name} can go {self.gaps[1]} s ({self.gaps[1] / 86400:.2f} days) "
                "without firing, over the 7 days a CloudWatch alarm can look back, so no heartbeat alarm can watch it. "
                "Run it at least weekly (a weekly cron in a time zone with daylight saving is 7 days + 1 hour apart "
                "once a year: schedule it in UTC) or pass heartbeat_alarm=False"
            )


def _check_payload(payload: Mapping[str, Any] | None) -> None:
    if payload is None:
        return
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload must be a mapping (a JSON object), got {type(payload).__name__}")
    try:
        json.dumps(dict(payload))
    except (TypeError, ValueError) as problem:
        raise ValueError(f"payload must be JSON-serializable: {problem}") from None


def _check_target(
    function: lambda_.IFunction | None,
    code: lambda_.Code | None,
    handler: str | None,
    environment: Mapping[str, str] | None,
    timeout: Duration | None,
    memory_size: int | None,
    function_retry_attempts: int | None,
) -> None:
    if function is None and code is None:
        raise ValueError("give the job's code= (and handler=) or an existing function=")
    if function is not None:
        given = [
            name
            for name, value in (
                ("code", code),
                ("handler", handler),
                ("environment", environment),
                ("timeout", timeout),
                ("memory_size", memory_size),
                ("function_retry_attempts", function_retry_attempts),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"function= was given, so {', '.join(given)} cannot be: they configure a function made here "
                "(set your function's own settings, e.g. configure_async_invoke, yourself)"
            )


@jsii.implements(scheduler.IScheduleTarget)
class _ExactLambdaTarget:
    """Invoke one function ARN, nothing wider.

    ``aws_scheduler_targets.LambdaInvoke`` grants through ``grant_invoke``, which on a function also
    covers every version and alias (``function:name:*``); this target grants the role
    ``lambda:InvokeFunction`` on the exact ARN Scheduler calls, and ``sqs:SendMessage`` (with the
    queue key's ``kms:GenerateDataKey`` and ``kms:Decrypt``) on the DLQ only.
    """

    def __init__(
        self,
        function: lambda_.IFunction,
        *,
        role: iam.IRole,
        dead_letter_queue: sqs.IQueue,
        retry_attempts: int,
        max_event_age: Duration,
        payload: dict[str, Any],
    ) -> None:
        self._function = function
        self._role = role
        self._queue = dead_letter_queue
        self._retry_attempts = retry_attempts
        self._max_event_age = max_event_age
        self._payload = payload

    def bind(self, _schedule: scheduler.ISchedule) -> scheduler.ScheduleTargetConfig:
        iam.Grant.add_to_principal(
            grantee=self._role, actions=["lambda:InvokeFunction"], resource_arns=[self._function.function_arn]
        )
        iam.Grant.add_to_principal(
            grantee=self._role, actions=["sqs:SendMessage"], resource_arns=[self._queue.queue_arn]
        )
        if self._queue.encryption_master_key is not None:
            self._queue.encryption_master_key.grant(self._role, "kms:GenerateDataKey", "kms:Decrypt")
        return scheduler.ScheduleTargetConfig(
            arn=self._function.function_arn,
            role=self._role,
            dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self._queue.queue_arn),
            retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                maximum_event_age_in_seconds=int(self._max_event_age.to_seconds()),
                maximum_retry_attempts=self._retry_attempts,
            ),
            input=scheduler.ScheduleTargetInput.from_object(
                {
                    "schedule_arn": scheduler.ContextAttribute.schedule_arn,
                    "scheduled_time": scheduler.ContextAttribute.scheduled_time,
                    "execution_id": scheduler.ContextAttribute.execution_id,
                    "attempt_number": scheduler.ContextAttribute.attempt_number,
                    "job": self._payload,
                }
            ),
        )
