"""The states of a ``SagaWorkflow``: each step's action, the compensations in reverse, and how a run ends.

For steps ``A``, ``B``, ``C`` (``A`` and ``B`` with compensations)::

    Begin -> A -> B -> C -> Succeeded
             |    |    '--(catch)--> C failed --> Undo B -> Undo A -> Compensated? -> Report -> RolledBack (Fail)
             |    '--(catch)--> B failed -------> Undo B -> Undo A --'           '-> Report -> CompensationFailed
             '--(catch)--> A failed -------------------> Undo A --'

The run keeps its bookkeeping under one reserved key of the state, ``$.saga`` (``Begin`` sets it,
replacing whatever the input had there): ``execution_id`` (the run's own id, which every function
receives and may record as the owner of what it writes), ``results.<Step>``, ``failure`` and
``compensation_failures.<Step>``. Every action is a Lambda task with its retry policy; its catch
records the failed step, its error and cause in ``$.saga.failure`` and enters the compensation
chain at the failed step's **own** compensation (its action may have written before it failed, e.g.
a charge whose answer timed out), then the earlier steps' in reverse. A compensation must therefore
accept "nothing to undo". Each compensation is retried; one that still fails is recorded in
``$.saga.compensation_failures.<Step>`` and the chain goes on (the other compensations still run), so
the run ends in ``CompensationFailed`` only after undoing everything it could, names every
compensation that failed in its cause, and reports the ``CompensationFailed`` metric for the alarm;
a rollback reports ``RolledBack``, so that the failed-runs alarm can leave designed rollbacks out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

#: Lambda's own transient errors, as Step Functions names them (AWS's recommended retry list).
LAMBDA_TRANSIENT_ERRORS = (
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
#: The namespace, names and dimension of the metrics a run reports as it ends: a compensation failed,
#: or the saga rolled back as designed (which lets the failed-runs alarm count only the other failures).
COMPENSATION_FAILED_NAMESPACE = "ServerlessPatterns/Saga"
COMPENSATION_FAILED_METRIC = "CompensationFailed"
ROLLED_BACK_METRIC = "RolledBack"
COMPENSATION_FAILED_DIMENSION = "StateMachine"
#: The ``error`` of the Fail states a run ends in.
ROLLED_BACK_ERROR = "Saga.RolledBack"
COMPENSATION_FAILED_ERROR = "Saga.CompensationFailed"
#: The one key of the state a run keeps its bookkeeping under (set by ``Begin``).
SAGA_KEY = "saga"
_SAGA = f"$.{SAGA_KEY}"
RESULTS_PATH = f"{_SAGA}.results"
FAILURE_PATH = f"{_SAGA}.failure"
COMPENSATION_FAILURES_PATH = f"{_SAGA}.compensation_failures"
COMPENSATION_FAILED_FLAG_PATH = f"{_SAGA}.compensation_failed"
OUTCOME_PATH = f"{_SAGA}.outcome"


@dataclass(frozen=True)
class SagaRetry:
    """How a Lambda task of the saga is retried (Step Functions ``Retry``: exponential backoff, full jitter).

    Args:
        errors: the error names retried. Default: Lambda's transient errors
            (``LAMBDA_TRANSIENT_ERRORS``) plus ``extra_errors``. Business errors (a declined
            payment) must not be listed: they are not transient.
        extra_errors: your functions' own transient error types (the exception class name,
            e.g. ``"PaymentProviderUnavailable"``), added to ``errors``.
        interval: the first wait, 1 s .. 5 min. Default 2 s.
        backoff_rate: each wait is the previous one times this, 1 .. 10. Default 2.
        max_attempts: retries after the first attempt, 0 .. 10. Default 3.
        max_delay: cap on any one wait, at least ``interval``, at most 15 min. Default 30 s.
        jitter: full jitter (a random wait up to the computed one), so that runs failing together
            do not retry together. Default True.
    """

    errors: Sequence[str] | None = None
    extra_errors: Sequence[str] = ()
    interval: Duration = Duration.seconds(2)
    backoff_rate: float = 2.0
    max_attempts: int = 3
    max_delay: Duration = Duration.seconds(30)
    jitter: bool = True

    def error_names(self) -> list[str]:
        return [*(LAMBDA_TRANSIENT_ERRORS if self.errors is None else self.errors), *self.extra_errors]

    def worst_wait_seconds(self) -> float:
        """The longest a task waits between its attempts in all (every retry taken, no jitter)."""
        interval, cap = self.interval.to_seconds(), self.max_delay.to_seconds()
        return sum(min(interval * self.backoff_rate**attempt, cap) for attempt in range(self.max_attempts))

    def validate(self, what: str) -> None:
        """ValueError when a value is outside what Step Functions accepts or what a saga should wait."""
        interval, max_delay = self.interval.to_milliseconds() / 1000, self.max_delay.to_milliseconds() / 1000
        if not 1 <= interval <= 300 or interval != int(interval):
            raise ValueError(f"{what}: interval must be whole seconds from 1 s to 5 minutes, got {interval} s")
        if not 1.0 <= self.backoff_rate <= 10.0:
            raise ValueError(f"{what}: backoff_rate must be from 1 to 10, got {self.backoff_rate}")
        if not 0 <= self.max_attempts <= 10:
            raise ValueError(f"{what}: max_attempts must be from 0 to 10, got {self.max_attempts}")
        if not interval <= max_delay <= 900:
            raise ValueError(f"{what}: max_delay must be from interval ({interval} s) to 15 minutes, got {max_delay} s")
        names = self.error_names()
        if not names or any(not name.strip() for name in names):
            raise ValueError(f"{what}: errors must name at least one error, and no empty name")
        if "States.ALL" in names and len(names) > 1:
            raise ValueError(f"{what}: States.ALL must be the only error when given")

    def props(self) -> dict[str, Any]:
        """Keyword arguments of ``add_retry``."""
        return {
            "errors": self.error_names(),
            "interval": self.interval,
            "backoff_rate": self.backoff_rate,
            "max_attempts": self.max_attempts,
            "max_delay": self.max_delay,
            "jitter_strategy": sfn.JitterType.FULL if self.jitter else sfn.JitterType.NONE,
        }


#: Actions: Lambda's transient errors, waits of about 2, 4, 8 s (full jitter), 3 retries: a
#: throttle or a cold-start hiccup clears within that, and a run never waits more than ~15 s.
DEFAULT_RETRY = SagaRetry()
#: Compensations: every error is retried (a compensation is idempotent by contract, so a repeat is
#: safe, and any failure left standing needs a human), 5 retries of up to 30 s each.
DEFAULT_COMPENSATION_RETRY = SagaRetry(errors=("States.ALL",), max_attempts=5)


@dataclass(frozen=True)
class StepTasks:
    """What the definition needs of one step: its name, functions and retry policies."""

    name: str
    action: lambda_.IFunction
    compensation: lambda_.IFunction | None
    retry: SagaRetry
    compensation_retry: SagaRetry


@dataclass(frozen=True)
class SagaStates:
    """The states made for a saga, by role."""

    start: sfn.IChainable
    actions: dict[str, sfn.CustomState]
    compensations: dict[str, sfn.CustomState]
    report_compensation_failure: sfn.CustomState
    rolled_back: sfn.Fail
    compensation_failed: sfn.Fail
    succeeded: sfn.Succeed
    report_rollback: sfn.CustomState


def build_states(scope: Construct, steps: Sequence[StepTasks]) -> SagaStates:
    """Build the saga's states in ``scope``; ``start`` is the definition's first state."""
    rolled_back = sfn.Fail(scope, "RolledBack", error=ROLLED_BACK_ERROR, cause_path=f"{OUTCOME_PATH}.summary")
    compensation_failed = sfn.Fail(
        scope, "CompensationFailed", error=COMPENSATION_FAILED_ERROR, cause_path=f"{OUTCOME_PATH}.summary"
    )
    summarize_rollback = sfn.Pass(
        scope,
        "SummarizeRollback",
        parameters={
            "summary.$": "States.Format('Step {} failed ({}: {}); it and the steps completed before it were "
            f"compensated in reverse order', {FAILURE_PATH}.step, {FAILURE_PATH}.error, {FAILURE_PATH}.cause)"
        },
        result_path=OUTCOME_PATH,
    )
    report_rollback = _report(scope, "ReportRollback", ROLLED_BACK_METRIC, "Count the rollback, an expected failure")
    summarize_rollback.next(report_rollback).next(rolled_back)
    report_rollback.add_catch(rolled_back, errors=["States.ALL"], result_path=f"{_SAGA}.metric_report")
    report = _report(
        scope,
        "ReportCompensationFailure",
        COMPENSATION_FAILED_METRIC,
        "Count the failed compensation for the CompensationFailed alarm",
    )
    summarize_compensation_failure = sfn.Pass(
        scope,
        "SummarizeCompensationFailure",
        parameters={
            "summary.$": "States.Format('Step {} failed ({}: {}); compensations that failed too, by step: {}: the "
            f"saga is left half-done and needs manual repair', {FAILURE_PATH}.step, {FAILURE_PATH}.error, "
            f"{FAILURE_PATH}.cause, States.JsonToString({COMPENSATION_FAILURES_PATH}))"
        },
        result_path=OUTCOME_PATH,
    )
    report.next(summarize_compensation_failure).next(compensation_failed)
    # Without the metric the execution still fails (and the failed-executions alarm still fires).
    report.add_catch(summarize_compensation_failure, errors=["States.ALL"], result_path=f"{_SAGA}.metric_report")
    compensated = (
        sfn.Choice(scope, "CompensationsSucceeded")
        .when(sfn.Condition.is_present(COMPENSATION_FAILED_FLAG_PATH), report)
        .otherwise(summarize_rollback)
    )

    # The compensation chain, last step first. ``entry`` is where the chain continues once the steps
    # before the current one are to be undone; a failed step enters at its own compensation.
    compensations: dict[str, sfn.CustomState] = {}
    failure_targets: list[sfn.IChainable] = []
    entry: sfn.IChainable = compensated
    for step in steps:
        if step.compensation is None:
            failure_targets.append(entry)
            continue
        undo = _task(
            scope,
            f"Undo{step.name}",
            step.compensation,
            result_path=f"{RESULTS_PATH}.Undo{step.name}",
            comment=f"Compensate {step.name}",
        )
        undo.add_retry(**step.compensation_retry.props())
        recorded = sfn.Pass(
            scope,
            f"Undo{step.name}Failed",
            result=sfn.Result.from_boolean(True),
            result_path=COMPENSATION_FAILED_FLAG_PATH,
        ).next(entry)
        undo.add_catch(recorded, errors=["States.ALL"], result_path=f"{COMPENSATION_FAILURES_PATH}.{step.name}")
        undo.next(entry)
        compensations[step.name] = undo
        entry = undo
        failure_targets.append(undo)

    actions: dict[str, sfn.CustomState] = {}
    succeeded = sfn.Succeed(scope, "Succeeded")
    begin = sfn.Pass(
        scope,
        "Begin",
        parameters={"execution_id.$": "$$.Execution.Id", "results": {}, "compensation_failures": {}},
        result_path=_SAGA,
    )
    chain: sfn.INextable = begin
    for step, target in zip(steps, failure_targets, strict=True):
        action = _task(
            scope, step.name, step.action, result_path=f"{RESULTS_PATH}.{step.name}", comment=f"Step {step.name}"
        )
        action.add_retry(**step.retry.props())
        recorded = sfn.Pass(
            scope,
            f"{step.name}Failed",
            parameters={"step": step.name, "error.$": f"{FAILURE_PATH}.Error", "cause.$": f"{FAILURE_PATH}.Cause"},
            result_path=FAILURE_PATH,
        ).next(target)
        action.add_catch(recorded, errors=["States.ALL"], result_path=FAILURE_PATH)
        chain.next(action)
        chain = action
        actions[step.name] = action
    chain.next(succeeded)
    return SagaStates(
        begin, actions, compensations, report, rolled_back, compensation_failed, succeeded, report_rollback
    )


def _task(scope: Construct, id: str, function: lambda_.IFunction, *, result_path: str, comment: str) -> sfn.CustomState:
    # The function's own ARN as the resource (an alias's qualified ARN for an alias): the task gets
    # the function's return value as its result and the function's error types as error names, and
    # the role needs lambda:InvokeFunction on exactly that ARN (LambdaInvoke would add ARN:*).
    return sfn.CustomState(
        scope,
        id,
        state_json={"Type": "Task", "Comment": comment, "Resource": function.function_arn, "ResultPath": result_path},
    )


def _report(scope: Construct, id: str, metric_name: str, comment: str) -> sfn.CustomState:
    """PutMetricData of ``metric_name`` for this state machine: an alarm's metric, on AWS and locally."""
    partition = Stack.of(scope).partition
    report = sfn.CustomState(
        scope,
        id,
        state_json={
            "Type": "Task",
            "Comment": comment,
            "Resource": f"arn:{partition}:states:::aws-sdk:cloudwatch:putMetricData",
            "Parameters": {
                "Namespace": COMPENSATION_FAILED_NAMESPACE,
                "MetricData": [
                    {
                        "MetricName": metric_name,
                        "Unit": "Count",
                        "Value": 1,
                        "Dimensions": [{"Name": COMPENSATION_FAILED_DIMENSION, "Value.$": "$$.StateMachine.Name"}],
                    }
                ],
            },
            "ResultPath": f"{_SAGA}.metric_report",
        },
    )
    report.add_retry(
        errors=["States.ALL"],
        interval=Duration.seconds(1),
        max_attempts=3,
        backoff_rate=2,
        jitter_strategy=sfn.JitterType.FULL,
    )
    return report
