"""Step Functions saga: ordered steps, each retried when transient, compensated in reverse when a later one fails."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Duration, Names, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .blocks import SecureFunction, acknowledge, standalone_dead_letter_queue, threshold_alarm
from .blocks.compliance_resources import logs_key, rotating_key
from .blocks.managed_policies import managed_policy_role, separate_policy
from .blocks.queue import dead_letter_alarm
from .compliance import is_strict
from .compliance import log_retention as compliance_log_retention
from .saga_definition import (
    COMPENSATION_FAILED_DIMENSION,
    COMPENSATION_FAILED_METRIC,
    COMPENSATION_FAILED_NAMESPACE,
    DEFAULT_COMPENSATION_RETRY,
    DEFAULT_RETRY,
    ROLLED_BACK_METRIC,
    SagaRetry,
    SagaStates,
    StepTasks,
    build_states,
)
from .saga_start_api import SagaApiOptions, SagaStartApi

_STEP_NAME = re.compile(r"^[A-Z][A-Za-z0-9]{0,39}$")
_EXPRESS_MAX = Duration.minutes(5)
_DEFAULT_STANDARD_TIMEOUT = Duration.minutes(15)
_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
_STATE_MACHINE_NAME_LIMIT = 80


@dataclass(frozen=True)
class SagaStep:
    """One step of a saga: an action and, optionally, the compensation that undoes it.

    Each function is either yours (``action`` / ``compensation``: any ``IFunction``, alias
    included) or made here as a ``SecureFunction`` from ``action_code`` / ``compensation_code``.
    Every function receives the run's state: the start input plus the run's reserved ``saga`` key
    (``execution_id``: the run's id, to record as the owner of what it writes; ``results.<Step>`` of
    the steps before it). Each must be idempotent (a retry or a repeated compensation must not do it
    twice), and a compensation must accept "nothing to undo": it also runs when its own action failed,
    which may have written before failing, or not at all.

    Args:
        name: ``PascalCase``, unique in the saga (1-40 letters and digits): the state's name.
        action / action_code / action_handler: the action (``action_handler`` default ``app.handler``).
        compensation / compensation_code / compensation_handler: the compensation, if the action
            has an effect to undo.
        environment: environment variables of the functions made here.
        timeout: of the functions made here. Default 10 s.
        retry: the action's retry policy. Default: the saga's ``retry``.
        compensation_retry: the compensation's. Default: the saga's ``compensation_retry``.
    """

    name: str
    action: lambda_.IFunction | None = None
    action_code: lambda_.Code | None = None
    action_handler: str = "app.handler"
    compensation: lambda_.IFunction | None = None
    compensation_code: lambda_.Code | None = None
    compensation_handler: str = "app.handler"
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout: Duration = Duration.seconds(10)
    retry: SagaRetry | None = None
    compensation_retry: SagaRetry | None = None


@dataclass(frozen=True)
class SagaWorkflowStep:
    """A step as built: its functions (``secure_*`` when made here) and its states."""

    name: str
    action: lambda_.IFunction
    compensation: lambda_.IFunction | None
    secure_action: SecureFunction | None
    secure_compensation: SecureFunction | None
    action_state: sfn.CustomState
    compensation_state: sfn.CustomState | None


class SagaWorkflow(Construct):
    """An orchestrated saga: a state machine that runs ordered steps and undoes the completed ones on failure.

    Each action is a Lambda task retried on transient errors; when it still fails, the catch records
    the step, error and cause, the failed step's own compensation and then those of the steps
    completed before it run in reverse order (each retried), and the run ends in ``RolledBack``
    (error ``Saga.RolledBack``) or, when compensations failed too, in ``CompensationFailed`` (error
    ``Saga.CompensationFailed``, and the ``CompensationFailed`` metric the
    ``compensation_failed_alarm`` watches). Both causes name the failed step; the latter every
    compensation that failed. See ``patterns.saga_definition`` for the states.

    The state machine has a fixed name (from the construct path and the type): replacing it (a new
    type, a new name) stops its runs in progress, leaving their sagas half-done; deploy such a change
    when no run is in flight.

    Attributes:
        state_machine: the ``sfn.StateMachine`` (named ``<unique path>-Standard`` or ``-Express``, X-Ray tracing, logging ``ALL`` events to
            ``log_group``, encrypted with ``encryption_key``).
        steps: the ``SagaWorkflowStep`` s in order (action and compensation functions and states).
        states: every state by role (``saga_definition.SagaStates``).
        log_group: the state machine's own log group (``/aws/vendedlogs/states/...``).
        role: the state machine's role: it may invoke exactly its steps' functions (their ARNs, an
            alias's qualified ARN), write its logs and traces, and put the ``CompensationFailed`` metric.
        encryption_key: the customer-managed key of the state machine's data and activities (yours
            if passed).
        start_api: the ``SagaStartApi`` (REST API -> ``StartExecution``) when ``start_api`` was
            given, else None.
        event_rule / event_dead_letter_queue / event_role: the EventBridge rule starting runs, its
            target's DLQ and the role it starts runs with, when ``event_pattern`` was given, else None.
        failed_alarm (runs that failed other than by a rollback: ``metric_failed_unexpectedly``),
            timed_out_alarm, throttled_alarm, compensation_failed_alarm (and the event target DLQ's
            alarm), and ``alarms``.

    Args:
        steps: the ordered ``SagaStep`` s; at least one, unique names.
        state_machine_type: STANDARD (default: exactly-once starts per execution name for 90 days,
            up to a year per run, full history) or EXPRESS (high-volume, short runs under 5 minutes,
            at-least-once starts; history only in the logs). Express refuses retry policies whose
            waits, added up over every action and compensation, exceed its ``timeout``.
        timeout: of one run. Default 15 minutes (Standard), 5 minutes (Express, its maximum).
        retry / compensation_retry: defaults for every step (``saga_definition.DEFAULT_RETRY``,
            ``DEFAULT_COMPENSATION_RETRY``).
        include_execution_data: log inputs and outputs. Default False for Standard (the history
            keeps them, encrypted), True for Express (the logs are its only history).
        log_retention: default one month; the strict profile's year under it.
        encryption_key: default a new key (rotation on).
        removal_policy: of the key made here. Default RETAIN.
        start_api: ``SagaApiOptions`` to start runs with ``POST`` on a REST API. Default none.
        event_pattern / event_bus: start a run for every matching event (the event is the input;
            failed starts are retried for 24 hours, then go to ``event_dead_letter_queue``).
            Default none / the default bus.
        throttled_threshold: throttled state transitions per 5 minutes that alarm. Default 1.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        steps: Sequence[SagaStep],
        state_machine_type: sfn.StateMachineType = sfn.StateMachineType.STANDARD,
        timeout: Duration | None = None,
        retry: SagaRetry = DEFAULT_RETRY,
        compensation_retry: SagaRetry = DEFAULT_COMPENSATION_RETRY,
        include_execution_data: bool | None = None,
        log_retention: logs.RetentionDays | None = None,
        encryption_key: kms.IKey | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        start_api: SagaApiOptions | None = None,
        event_pattern: events.EventPattern | None = None,
        event_bus: events.IEventBus | None = None,
        throttled_threshold: float = 1,
    ) -> None:
        super().__init__(scope, id)
        express = state_machine_type == sfn.StateMachineType.EXPRESS
        timeout = timeout or (_EXPRESS_MAX if express else _DEFAULT_STANDARD_TIMEOUT)
        _validate(steps, retry, compensation_retry, express, timeout, event_pattern, event_bus, throttled_threshold)
        strict = is_strict(self)

        self.steps: list[SagaWorkflowStep] = []
        tasks = [self._functions(step, retry, compensation_retry) for step in steps]
        self.states: SagaStates = build_states(self, [task for task, _, _ in tasks])

        self.encryption_key: kms.IKey = encryption_key or rotating_key(
            self, "Key", description=f"Data of the {self.node.path} state machine", removal_policy=removal_policy
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{Names.unique_resource_name(self, max_length=200, separator='-')}",
            retention=compliance_log_retention(self, log_retention, default=_LOG_RETENTION, prop="log_retention"),
            encryption_key=logs_key(self) if strict else None,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = managed_policy_role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"Role of the {self.node.path} state machine",
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=_state_machine_name(self, express),
            definition_body=sfn.DefinitionBody.from_chainable(self.states.start),
            state_machine_type=state_machine_type,
            timeout=timeout,
            role=self.role,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=express if include_execution_data is None else include_execution_data,
            ),
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(self.encryption_key),
            comment=f"Saga {self.node.path}: {' -> '.join(step.name for step in steps)}",
        )
        self._grant_invoke([task for task, _, _ in tasks])
        self._grant_metric()
        acknowledge(
            self.role,
            "AwsSolutions-IAM5",
            "Step Functions' log delivery (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, "
            "DeleteLogDelivery, ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, "
            "DescribeLogGroups) and X-Ray (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, "
            "GetSamplingTargets) support no resource-level permissions; the state machine's own "
            "invocations are granted on exact function ARNs.",
            findings=["Resource::*"],
        )
        for task, secure_action, secure_compensation in tasks:
            self.steps.append(
                SagaWorkflowStep(
                    name=task.name,
                    action=task.action,
                    compensation=task.compensation,
                    secure_action=secure_action,
                    secure_compensation=secure_compensation,
                    action_state=self.states.actions[task.name],
                    compensation_state=self.states.compensations.get(task.name),
                )
            )

        self.start_api: SagaStartApi | None = (
            SagaStartApi(self, "StartApi", state_machine=self.state_machine, options=start_api) if start_api else None
        )
        self.event_rule: events.Rule | None = None
        self.event_dead_letter_queue: sqs.IQueue | None = None
        self.event_role: iam.IRole | None = None
        self._event_dead_letter_alarm: cloudwatch.Alarm | None = None
        if event_pattern is not None:
            self._start_on_events(event_pattern, event_bus)
        self._add_alarms(throttled_threshold)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm of the saga (and of the functions made here and the start API)."""
        found = [self.failed_alarm, self.timed_out_alarm, self.throttled_alarm, self.compensation_failed_alarm]
        if self._event_dead_letter_alarm is not None:
            found.append(self._event_dead_letter_alarm)
        for step in self.steps:
            for secure in (step.secure_action, step.secure_compensation):
                if secure is not None:
                    found.extend(secure.alarms)
        if self.start_api is not None:
            found.extend(self.start_api.alarms)
        return found

    def grant_start_execution(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` start runs (``states:StartExecution`` on this state machine only)."""
        return self.state_machine.grant_start_execution(grantee)

    def metric_compensation_failed(self, period: Duration = Duration.minutes(1)) -> cloudwatch.Metric:
        """Runs of this state machine that ended with a compensation failed (reported by the run itself)."""
        return self._saga_metric(COMPENSATION_FAILED_METRIC, period)

    def metric_rolled_back(self, period: Duration = Duration.minutes(1)) -> cloudwatch.Metric:
        """Runs of this state machine that failed a step and undid everything (reported by the run itself)."""
        return self._saga_metric(ROLLED_BACK_METRIC, period)

    def metric_failed_unexpectedly(self, period: Duration = Duration.minutes(5)) -> cloudwatch.MathExpression:
        """Failed runs that neither rolled back as designed nor reported a failed compensation."""
        return cloudwatch.MathExpression(
            expression="FILL(failed, 0) - FILL(rolledBack, 0) - FILL(compensationFailed, 0)",
            using_metrics={
                "failed": self.state_machine.metric_failed(period=period, statistic="Sum"),
                "rolledBack": self.metric_rolled_back(period),
                "compensationFailed": self.metric_compensation_failed(period),
            },
            label="Runs failed outside the saga's rollback",
            period=period,
        )

    def _saga_metric(self, name: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=COMPENSATION_FAILED_NAMESPACE,
            metric_name=name,
            dimensions_map={COMPENSATION_FAILED_DIMENSION: self.state_machine.state_machine_name},
            statistic="Sum",
            period=period,
        )

    # -- parts --------------------------------------------------------------------------------------

    def _functions(
        self, step: SagaStep, retry: SagaRetry, compensation_retry: SagaRetry
    ) -> tuple[StepTasks, SecureFunction | None, SecureFunction | None]:
        secure_action = secure_compensation = None
        action = step.action
        if action is None:
            secure_action = self._function(f"{step.name}Action", step, step.action_code, step.action_handler)
            action = secure_action.function
        compensation = step.compensation
        if compensation is None and step.compensation_code is not None:
            secure_compensation = self._function(
                f"{step.name}Compensation", step, step.compensation_code, step.compensation_handler
            )
            compensation = secure_compensation.function
        task = StepTasks(
            step.name, action, compensation, step.retry or retry, step.compensation_retry or compensation_retry
        )
        return task, secure_action, secure_compensation

    def _function(self, id: str, step: SagaStep, code: lambda_.Code | None, handler: str) -> SecureFunction:
        assert code is not None  # _validate made sure
        return SecureFunction(
            self,
            id,
            code=code,
            handler=handler,
            environment=dict(step.environment),
            timeout=step.timeout,
            service_name=id,
        )

    def _grant_invoke(self, tasks: Sequence[StepTasks]) -> None:
        arns = [task.action.function_arn for task in tasks]
        arns += [task.compensation.function_arn for task in tasks if task.compensation is not None]
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=arns))

    def _grant_metric(self) -> None:
        policy = separate_policy(
            self,
            "MetricPolicy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": COMPENSATION_FAILED_NAMESPACE}},
                )
            ],
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5",
            "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the "
            f"{COMPENSATION_FAILED_NAMESPACE} namespace by the cloudwatch:namespace condition key.",
            findings=["Resource::*"],
        )
        self.state_machine.node.add_dependency(policy)

    def _start_on_events(self, pattern: events.EventPattern, bus: events.IEventBus | None) -> None:
        self.event_dead_letter_queue = standalone_dead_letter_queue(
            self,
            "EventDeadLetterQueue",
            dead_letter_queue_of=f"the dead-letter queue of the EventBridge rule target that starts {self.node.path}",
        )
        self._event_dead_letter_alarm = dead_letter_alarm(self, self.event_dead_letter_queue)
        # Our own role (customer-managed policies under the strict profile); the target grants it StartExecution.
        self.event_role = managed_policy_role(
            self,
            "EventRole",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description=f"Lets EventBridge start runs of {self.node.path}",
        )
        self.event_rule = events.Rule(
            self,
            "StartRule",
            event_bus=bus,
            event_pattern=pattern,
            description=f"Starts a run of {self.node.path} for each matching event",
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    role=self.event_role,
                    dead_letter_queue=self.event_dead_letter_queue,
                    retry_attempts=185,
                    max_event_age=Duration.hours(24),
                )
            ],
        )

    def _add_alarms(self, throttled_threshold: float) -> None:
        period = Duration.minutes(5)
        machine, path = self.state_machine, self.node.path
        # A rollback (a declined card) is the saga working as designed: the failed-runs alarm counts
        # only the runs that failed otherwise (a runtime error in a state, a definition bug, a
        # rollback whose RolledBack metric could not be put).
        self.failed_alarm = threshold_alarm(
            self,
            "FailedAlarm",
            self.metric_failed_unexpectedly(period),
            threshold=1,
            description=f"{path}: runs failed outside the saga's rollback (an unexpected error)",
        )
        self.timed_out_alarm = threshold_alarm(
            self,
            "TimedOutAlarm",
            machine.metric_timed_out(period=period, statistic="Sum"),
            threshold=1,
            description=f"{path}: runs timed out, possibly mid-step and without compensation",
        )
        self.throttled_alarm = threshold_alarm(
            self,
            "ThrottledAlarm",
            machine.metric_throttled(period=period, statistic="Sum"),
            threshold=throttled_threshold,
            description=f"{path}: state transitions were throttled",
        )
        self.compensation_failed_alarm = threshold_alarm(
            self,
            "CompensationFailedAlarm",
            self.metric_compensation_failed(),
            threshold=1,
            description=f"{path}: a compensation failed after its retries; the saga is half-done and needs a human",
        )


def _state_machine_name(saga: Construct, express: bool) -> str:
    """A name unique to the construct path, ending in the type.

    The state machine needs a name known at synth: its role's KMS permissions are conditioned on
    ``kms:EncryptionContext:aws:states:stateMachineArn``, which names the exact ARN. The type is part
    of the name because changing it replaces the state machine, and a replacement needs a new name.
    """
    suffix = "-Express" if express else "-Standard"
    prefix = Names.unique_resource_name(saga, max_length=_STATE_MACHINE_NAME_LIMIT - len(suffix), separator="-")
    return prefix + suffix


def _validate(
    steps: Sequence[SagaStep],
    retry: SagaRetry,
    compensation_retry: SagaRetry,
    express: bool,
    timeout: Duration,
    event_pattern: events.EventPattern | None,
    event_bus: events.IEventBus | None,
    throttled_threshold: float,
) -> None:
    if not steps:
        raise ValueError("steps must name at least one SagaStep")
    seen: set[str] = set()
    for step in steps:
        if not _STEP_NAME.match(step.name):
            raise ValueError(f"step name {step.name!r} must be PascalCase letters and digits, 1 to 40 characters")
        if step.name in seen:
            raise ValueError(f"duplicate step name {step.name!r}: each step needs its own name")
        seen.add(step.name)
        if step.action is not None and step.action_code is not None:
            raise ValueError(f"step {step.name}: give action or action_code, not both")
        if step.compensation is not None and step.compensation_code is not None:
            raise ValueError(f"step {step.name}: give compensation or compensation_code, not both")
        has_compensation = step.compensation is not None or step.compensation_code is not None
        if step.action is None and step.action_code is None:
            what = "a compensation without an action" if has_compensation else "no action"
            raise ValueError(f"step {step.name} has {what}: give action= or action_code=")
        for policy, what in ((step.retry, "retry"), (step.compensation_retry, "compensation_retry")):
            if policy is not None:
                policy.validate(f"step {step.name} {what}")
    retry.validate("retry")
    compensation_retry.validate("compensation_retry")
    seconds = timeout.to_seconds()
    if express and seconds > _EXPRESS_MAX.to_seconds():
        raise ValueError(f"an EXPRESS state machine runs at most 5 minutes, timeout is {seconds} s")
    if express:
        waits = sum((step.retry or retry).worst_wait_seconds() for step in steps) + sum(
            (step.compensation_retry or compensation_retry).worst_wait_seconds()
            for step in steps
            if step.compensation is not None or step.compensation_code is not None
        )
        if waits > seconds:
            raise ValueError(
                f"the retry waits of every action and compensation add up to {waits:.0f} s, more than the EXPRESS "
                f"timeout of {seconds} s: a run could time out mid-rollback; shorten the retries"
            )
    if not 1 <= seconds <= 365 * 24 * 3600:
        raise ValueError(f"timeout must be from 1 second to a year, got {seconds} s")
    if event_bus is not None and event_pattern is None:
        raise ValueError("event_bus needs event_pattern: which events start a run?")
    if throttled_threshold <= 0:
        raise ValueError(f"throttled_threshold must be positive, got {throttled_threshold}")
