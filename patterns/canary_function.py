"""A function shipped through a CodeDeploy canary: new versions take a slice of traffic, then all of it,
or roll back on their own when an alarm fires."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .blocks import SecureFunction, acknowledge, bundled_code, threshold_alarm
from .blocks.managed_policies import managed_policy_role, separate_policy
from .compliance import is_strict, strict_deployment_reserved_concurrency, strict_reserved_concurrency

_MAX_INTERVAL_MINUTES = 2880  # CodeDeploy's longest time-based step: two days


@dataclass(frozen=True)
class TrafficShift:
    """How CodeDeploy moves the alias from the old version to the new one.

    Build it with ``TrafficShift.canary(...)``, ``TrafficShift.linear(...)`` or
    ``TrafficShift.all_at_once()``.
    """

    kind: str
    percentage: int = 100
    interval: Duration | None = None

    @classmethod
    def canary(cls, percentage: int = 10, interval: Duration = Duration.minutes(5)) -> TrafficShift:
        """``percentage`` of traffic for ``interval``, then the rest at once."""
        return cls("canary", percentage, interval)

    @classmethod
    def linear(cls, percentage: int = 10, interval: Duration = Duration.minutes(1)) -> TrafficShift:
        """``percentage`` more traffic every ``interval`` until all of it."""
        return cls("linear", percentage, interval)

    @classmethod
    def all_at_once(cls) -> TrafficShift:
        """All traffic at once (the alarms still roll back a bad version afterwards)."""
        return cls("all_at_once")

    def validate(self) -> None:
        if self.kind == "all_at_once":
            return
        if self.kind not in ("canary", "linear"):
            raise ValueError(f"unknown traffic shift {self.kind!r}")
        if not isinstance(self.percentage, int) or not 1 <= self.percentage <= 99:
            raise ValueError(
                f"a {self.kind} traffic shift takes a whole percentage from 1 to 99, got {self.percentage}"
            )
        assert self.interval is not None
        minutes = self.interval.to_seconds() / 60
        if minutes != int(minutes) or not 1 <= minutes <= _MAX_INTERVAL_MINUTES:
            raise ValueError(
                f"a {self.kind} traffic shift interval is whole minutes from 1 to {_MAX_INTERVAL_MINUTES}, "
                f"got {self.interval.to_seconds()} s"
            )

    def deployment_config(self, scope: Construct, id: str) -> codedeploy.ILambdaDeploymentConfig:
        """The predefined CodeDeploy config when one matches, else a custom one under ``scope``."""
        if self.kind == "all_at_once":
            return codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE
        minutes = int(self.interval.to_minutes())  # type: ignore[union-attr]
        predefined = _PREDEFINED.get((self.kind, self.percentage, minutes))
        if predefined is not None:
            return predefined
        routing_class = (
            codedeploy.TimeBasedCanaryTrafficRouting
            if self.kind == "canary"
            else codedeploy.TimeBasedLinearTrafficRouting
        )
        routing = routing_class(interval=Duration.minutes(minutes), percentage=self.percentage)
        return codedeploy.LambdaDeploymentConfig(scope, id, traffic_routing=routing)


_CONFIG = codedeploy.LambdaDeploymentConfig
_PREDEFINED = {
    ("canary", 10, 5): _CONFIG.CANARY_10_PERCENT_5_MINUTES,
    ("canary", 10, 10): _CONFIG.CANARY_10_PERCENT_10_MINUTES,
    ("canary", 10, 15): _CONFIG.CANARY_10_PERCENT_15_MINUTES,
    ("canary", 10, 30): _CONFIG.CANARY_10_PERCENT_30_MINUTES,
    ("linear", 10, 1): _CONFIG.LINEAR_10_PERCENT_EVERY_1_MINUTE,
    ("linear", 10, 2): _CONFIG.LINEAR_10_PERCENT_EVERY_2_MINUTES,
    ("linear", 10, 3): _CONFIG.LINEAR_10_PERCENT_EVERY_3_MINUTES,
    ("linear", 10, 10): _CONFIG.LINEAR_10_PERCENT_EVERY_10_MINUTES,
}


class CanaryFunction(Construct):
    """A function whose callers use an alias that CodeDeploy shifts to each new version.

    Every change to the code or configuration publishes a new version (``current_version``);
    CodeDeploy then moves the alias to it as ``traffic_shift`` says, and rolls back when an
    alarm on the new version fires, the deployment fails or it is stopped. With no props it
    deploys the bundled ``hello`` handler.

    The rollback alarms watch only the version this synth publishes, as invoked through the alias
    (Lambda's ``ExecutedVersion`` dimension, with ``FunctionName`` and ``Resource`` =
    ``NAME:ALIAS``): during a 10% canary the old version still serves 90% of the traffic, and its
    errors must not roll back a good new version. Until traffic reaches the new version the alarms
    have no data, which is not breaching. The alias is updated (and the deployment starts) only
    after the alarms, CodeDeploy's role and the smoke-test hook of this version are in place.

    Attributes:
        function / secure_function: the function and its building block.
        version: the version this synth publishes.
        alias: the alias callers use (never ``$LATEST``); hand it to ``ApiLambdaTable(function=...)``.
        deployment_group: the CodeDeploy ``LambdaDeploymentGroup`` (its application is
            ``deployment_group.application``). Every hook it runs, including one added later with
            ``add_pre_hook`` / ``add_post_hook``, may report its status
            (``codedeploy:PutLifecycleEventHookExecutionStatus``, granted on ``*``; see
            ``_HookStatusOnAnyDeployment`` for why).
        deployment_role: CodeDeploy's role, with exact permissions (inline; under the strict profile a
            customer-managed policy of the role): ``GetAlias`` and
            ``UpdateAlias`` on the function (unqualified ARN), ``GetProvisionedConcurrencyConfig``
            on the alias, ``DescribeAlarms`` on the rollback alarms, ``InvokeFunction`` on the hook.
        hook: the smoke-test ``SecureFunction`` run as pre- and/or post-traffic hook, or None.
        errors_alarm, throttles_alarm, duration_alarm, and ``alarms`` (those three): the new
            version's errors, throttles and p99 duration through the alias; any of them in ``ALARM``
            rolls a deployment back. Between deployments the alias serves that version alone, so
            they are the alias's operational alarms too (no actions of their own;
            ``route_alarms`` sends them on). Errors and throttles of every version together are
            ``secure_function.errors_alarm`` / ``throttles_alarm``, which never roll back.
        scalable_target: provisioned-concurrency auto scaling, when asked.

    Function:
        code / handler: default the bundled ``hello`` handler, ``app.handler``.
        environment, memory_size (256), timeout (10 s), description: as ``SecureFunction``.

    Deployment:
        alias_name: default ``live``.
        traffic_shift: default ``TrafficShift.canary(10, 5 minutes)``.
        errors_threshold / throttles_threshold: errors / throttles of the new version per minute
            that roll back. Defaults 1 / 1.
        p99_duration_threshold: p99 duration of the new version per minute that rolls back.
            Default 80% of the timeout.
        pre_traffic_hook / post_traffic_hook: run the bundled smoke test (``lambda_src/canary_hook``)
            before traffic shifts / after all of it has. Default False / False.
        smoke_payload: the event the smoke test sends to the new version (required with a hook).
        expected_status_code: the ``statusCode`` the smoke test expects back. Default: any
            response without an error.

    Capacity:
        provisioned_concurrency: provisioned concurrent executions on the alias. Default none.
        max_provisioned_concurrency: scale provisioned concurrency up to this, on 70% utilization.
        reserved_concurrent_executions: the function's reserved concurrency. Default none; under the
            strict profile the larger of the profile's (``compliance.strict_reserved_concurrency``, 20)
            and the provisioned concurrency asked for (``max_provisioned_concurrency``, else
            ``provisioned_concurrency``): Lambda refuses provisioned concurrency above a function's
            reserved concurrency, so a value given here below either raises ``ValueError``.
        snap_start: Lambda SnapStart on the versions this construct publishes (see
            ``SecureFunction``'s ``snap_start`` for its price, when it helps, and what Lambda refuses).
            The alias, and so CodeDeploy's traffic, gets environments restored from each version's
            snapshot; the smoke test's first invoke of a new version restores one too. Not with
            ``provisioned_concurrency`` / ``max_provisioned_concurrency`` (Lambda refuses both on one
            function: ``ValueError``). Default False.

    Under the strict profile the smoke-test hook, which runs only during deployments, reserves
    ``compliance.STRICT_DEPLOYMENT_RESERVED_CONCURRENCY`` (2) instead of a full function's share.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        code: lambda_.Code | None = None,
        handler: str | None = None,
        environment: Mapping[str, str] | None = None,
        memory_size: int = 256,
        timeout: Duration = Duration.seconds(10),
        description: str | None = None,
        alias_name: str = "live",
        traffic_shift: TrafficShift = TrafficShift.canary(),
        errors_threshold: int = 1,
        throttles_threshold: int = 1,
        p99_duration_threshold: Duration | None = None,
        pre_traffic_hook: bool = False,
        post_traffic_hook: bool = False,
        smoke_payload: Mapping[str, Any] | None = None,
        expected_status_code: int | None = None,
        provisioned_concurrency: int | None = None,
        max_provisioned_concurrency: int | None = None,
        reserved_concurrent_executions: int | None = None,
        snap_start: bool = False,
    ) -> None:
        super().__init__(scope, id)
        if snap_start and (provisioned_concurrency is not None or max_provisioned_concurrency is not None):
            raise ValueError(
                "snap_start cannot be combined with provisioned_concurrency or max_provisioned_concurrency: "
                "Lambda refuses SnapStart on a function with provisioned concurrency; choose one"
            )
        duration_threshold = p99_duration_threshold or Duration.millis(int(timeout.to_milliseconds() * 0.8))
        _validate(
            code=code,
            handler=handler,
            alias_name=alias_name,
            traffic_shift=traffic_shift,
            errors_threshold=errors_threshold,
            throttles_threshold=throttles_threshold,
            duration_threshold=duration_threshold,
            timeout=timeout,
            hooks=pre_traffic_hook or post_traffic_hook,
            smoke_payload=smoke_payload,
            expected_status_code=expected_status_code,
            provisioned_concurrency=provisioned_concurrency,
            max_provisioned_concurrency=max_provisioned_concurrency,
            reserved_concurrent_executions=reserved_concurrent_executions,
        )
        if reserved_concurrent_executions is None and is_strict(self):
            most_provisioned = max_provisioned_concurrency or provisioned_concurrency or 0
            reserved_concurrent_executions = max(strict_reserved_concurrency(self), most_provisioned)

        self.secure_function = SecureFunction(
            self,
            "Handler",
            code=code or bundled_code("hello"),
            handler=handler or "app.handler",
            environment=environment,
            memory_size=memory_size,
            timeout=timeout,
            description=description,
            service_name=id,
            reserved_concurrent_executions=reserved_concurrent_executions,
            snap_start=snap_start,
            snap_start_alias=None,  # the alias below is the one CodeDeploy shifts
        )
        self.function = self.secure_function.function
        self.version = self.function.current_version
        self.alias = lambda_.Alias(
            self,
            "Alias",
            alias_name=alias_name,
            version=self.version,
            provisioned_concurrent_executions=provisioned_concurrency,
        )

        self.scalable_target = None
        if max_provisioned_concurrency is not None:
            self.scalable_target = self.alias.add_auto_scaling(
                min_capacity=provisioned_concurrency or 1, max_capacity=max_provisioned_concurrency
            )
            self.scalable_target.scale_on_utilization(utilization_target=0.7)

        self._add_alarms(errors_threshold, throttles_threshold, duration_threshold)

        self.hook: SecureFunction | None = None
        if pre_traffic_hook or post_traffic_hook:
            self.hook = self._smoke_test_hook(smoke_payload or {}, expected_status_code)

        self.deployment_role = managed_policy_role(
            self,
            "DeploymentRole",
            assumed_by=iam.ServicePrincipal("codedeploy.amazonaws.com"),
            description=f"CodeDeploy shifts {self.node.path} between versions",
        )
        self.deployment_group = _HookStatusOnAnyDeployment(
            self,
            "Deployment",
            alias=self.alias,
            deployment_config=traffic_shift.deployment_config(self, "DeploymentConfig"),
            alarms=self.alarms,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
            # The group would attach AWSCodeDeployRoleForLambdaLimited (and wildcard hook grants);
            # it gets a view of the role that ignores them, and the role gets exact statements below.
            role=self.deployment_role.without_policy_updates(),
        )
        # Hooks are added after construction so the group's own grant to them is the corrected one.
        if self.hook and pre_traffic_hook:
            self.deployment_group.add_pre_hook(self.hook.function)
        if self.hook and post_traffic_hook:
            self.deployment_group.add_post_hook(self.hook.function)
        self._grant_deployment_role()
        self._update_alias_last()

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """The alarms that roll a deployment back: the new version's errors, throttles, p99 duration."""
        return [self.errors_alarm, self.throttles_alarm, self.duration_alarm]

    def _add_alarms(self, errors: int, throttles: int, duration: Duration) -> None:
        rollback = "; a deployment in progress rolls back"
        self.errors_alarm = threshold_alarm(
            self,
            "VersionErrorsAlarm",
            self._new_version_metric("Errors", "Sum"),
            threshold=errors,
            description=f"{self.node.path}: the newest version returned errors through the alias{rollback}",
        )
        self.throttles_alarm = threshold_alarm(
            self,
            "VersionThrottlesAlarm",
            self._new_version_metric("Throttles", "Sum"),
            threshold=throttles,
            description=f"{self.node.path}: invocations of the newest version through the alias were throttled{rollback}",
        )
        self.duration_alarm = threshold_alarm(
            self,
            "VersionDurationAlarm",
            self._new_version_metric("Duration", "p99"),
            threshold=duration.to_milliseconds(),
            description=(
                f"{self.node.path}: p99 duration of the newest version through the alias above "
                f"{duration.to_milliseconds()} ms{rollback}"
            ),
        )

    def _new_version_metric(self, metric_name: str, statistic: str) -> cloudwatch.Metric:
        """``metric_name`` of this synth's version, invoked through the alias, per minute.

        Lambda publishes alias invocations under ``FunctionName`` + ``Resource`` (``NAME:ALIAS``),
        and split by the version that ran under ``ExecutedVersion`` as well. Invocations of the
        version by its own ARN (the smoke test's) are not alias invocations and do not count.
        """
        function_name = self.function.function_name
        return cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name=metric_name,
            dimensions_map={
                "FunctionName": function_name,
                # Built from the function, not the alias's ARN: the alias must be able to depend on the alarms.
                "Resource": f"{function_name}:{self.alias.alias_name}",
                "ExecutedVersion": self.version.version,
            },
            statistic=statistic,
            period=Duration.minutes(1),
        )

    def _update_alias_last(self) -> None:
        """Make the alias update, which starts the CodeDeploy deployment, wait for what it uses.

        The rollback alarms (their ``ExecutedVersion``), the hook (its target version and its grant
        to invoke it) and CodeDeploy's role change with each version, and the alias's properties do
        not reference them (its ``UpdatePolicy`` names the hook and the group, which CloudFormation
        is not documented to order by). Without ``DependsOn`` CodeDeploy could run the previous
        hook against the previous version, or poll alarms that still watch the previous version.
        """
        alias = self.alias.node.default_child
        assert alias is not None
        alias.node.add_dependency(*self.alarms, self.deployment_role)
        if self.hook is not None:
            # The function and its role (with the role's policies): not the hook's queue and alarms.
            alias.node.add_dependency(self.hook.function, self.hook.role)

    def _smoke_test_hook(self, payload: Mapping[str, Any], expected_status_code: int | None) -> SecureFunction:
        environment = {"TARGET_FUNCTION_ARN": self.version.function_arn, "SMOKE_PAYLOAD": json.dumps(payload)}
        if expected_status_code is not None:
            environment["EXPECTED_STATUS_CODE"] = str(expected_status_code)
        timeout = self.function.timeout or Duration.seconds(10)
        environment["INVOKE_TIMEOUT_SECONDS"] = str(int(timeout.to_seconds()) + 5)
        hook = SecureFunction(
            self,
            "SmokeTest",
            code=bundled_code("canary_hook"),
            environment=environment,
            timeout=Duration.seconds(int(timeout.to_seconds()) + 30),
            description=f"CodeDeploy smoke test of each new version of {self.node.path}",
            asynchronous=True,  # CodeDeploy invokes lifecycle hooks asynchronously
            reserved_concurrent_executions=strict_deployment_reserved_concurrency(self) if is_strict(self) else None,
        )
        # The new version only: the ARN in the grant changes with every version.
        iam.Grant.add_to_principal(
            grantee=hook.function, actions=["lambda:InvokeFunction"], resource_arns=[self.version.function_arn]
        )
        return hook

    def _grant_deployment_role(self) -> None:
        # Each action on the resource type the Service Authorization Reference lists for it:
        # GetAlias and UpdateAlias act on the function (unqualified ARN; the alias is a parameter),
        # GetProvisionedConcurrencyConfig on the alias (qualified ARN, built from the function's so
        # that the alias can depend on this policy).
        self.deployment_role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:GetAlias", "lambda:UpdateAlias"], resources=[self.function.function_arn]
            )
        )
        self.deployment_role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:GetProvisionedConcurrencyConfig"],
                resources=[f"{self.function.function_arn}:{self.alias.alias_name}"],
            )
        )
        self.deployment_role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"], resources=[alarm.alarm_arn for alarm in self.alarms]
            )
        )
        if self.hook is not None:
            self.deployment_role.add_to_policy(
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.hook.function.function_arn])
            )


class _HookStatusOnAnyDeployment(codedeploy.LambdaDeploymentGroup):
    """A Lambda deployment group whose hooks report their status with a grant on ``*``.

    What is known about ``codedeploy:PutLifecycleEventHookExecutionStatus``: the Service
    Authorization Reference lists no resource type for it (the call names only a deployment id
    and a hook execution id), which makes ``*`` the documented resource. Yet AccessDenied messages
    for it name the deployment group (``...:deploymentgroup:APP/GROUP``), and SAM's documented hook
    policy, like the CDK's own grant, scopes it to deployment group ARNs, so such a grant very likely
    works too. This construct keeps ``*``, the one resource that is authorized whichever ARN IAM
    evaluates: a hook that cannot report is timed out after an hour and every deployment rolls
    back, and that cannot be checked before deploying. What ``*`` adds is small: only the hooks'
    roles hold it, and reporting on another group's deployment needs that deployment's id and hook
    execution id. The statement sits in a policy of its own (customer-managed under the strict profile) so
    its acknowledgement covers nothing else.
    """

    def grant_put_lifecycle_event_hook_execution_status(self, grantee: iam.IGrantable) -> iam.Grant:
        role = getattr(grantee, "role", None)
        if role is None:  # a hook without a role we can attach to: a plain grant, and cdk-nag will say so
            return iam.Grant.add_to_principal(grantee=grantee, actions=[_REPORT_HOOK_STATUS], resource_arns=["*"])
        policies: dict[str, Construct] = self.__dict__.setdefault("_hook_status_policies", {})
        policy = policies.get(role.node.path)  # pre- and post-traffic hook may be one function
        if policy is None:
            policy = separate_policy(
                self,
                f"HookStatusPolicy{len(policies) or ''}",
                roles=[role],
                statements=[iam.PolicyStatement(actions=[_REPORT_HOOK_STATUS], resources=["*"])],
            )
            acknowledge(
                policy,
                "AwsSolutions-IAM5",
                "The Service Authorization Reference lists no resource type for "
                "codedeploy:PutLifecycleEventHookExecutionStatus, so '*' is the documented resource; "
                "AccessDenied messages name the deployment group, but a grant on it is not documented. "
                "Only this hook's role holds it, and a report needs the deployment's and hook execution's ids.",
                findings=["Resource::*"],
            )
            policies[role.node.path] = policy
            if isinstance(grantee, lambda_.Function):
                grantee.node.add_dependency(policy)
        return iam.Grant.drop(grantee, f"{_REPORT_HOOK_STATUS} is granted on '*' by {policy.node.path}")


_REPORT_HOOK_STATUS = "codedeploy:PutLifecycleEventHookExecutionStatus"


def _validate(
    *,
    code: lambda_.Code | None,
    handler: str | None,
    alias_name: str,
    traffic_shift: TrafficShift,
    errors_threshold: int,
    throttles_threshold: int,
    duration_threshold: Duration,
    timeout: Duration,
    hooks: bool,
    smoke_payload: Mapping[str, Any] | None,
    expected_status_code: int | None,
    provisioned_concurrency: int | None,
    max_provisioned_concurrency: int | None,
    reserved_concurrent_executions: int | None,
) -> None:
    if handler is not None and code is None:
        raise ValueError("handler= needs code=: the bundled handler's entry point is fixed")
    if not alias_name or not alias_name.replace("-", "").replace("_", "").isalnum() or alias_name[0].isdigit():
        raise ValueError(
            f"alias_name must be letters, digits, '-' or '_' and not start with a digit, got {alias_name!r}"
        )
    traffic_shift.validate()
    if errors_threshold < 1 or throttles_threshold < 1:
        raise ValueError("errors_threshold and throttles_threshold must be at least 1")
    if not 0 < duration_threshold.to_milliseconds() <= timeout.to_milliseconds():
        raise ValueError("p99_duration_threshold must be positive and at most the function's timeout")
    if hooks and smoke_payload is None:
        raise ValueError("a pre- or post-traffic hook needs smoke_payload: the event it sends to the new version")
    if not hooks and (smoke_payload is not None or expected_status_code is not None):
        raise ValueError("smoke_payload and expected_status_code need pre_traffic_hook or post_traffic_hook")
    if smoke_payload is not None:
        try:
            json.dumps(smoke_payload)
        except (TypeError, ValueError) as error:
            raise ValueError(f"smoke_payload must be JSON-serialisable: {error}") from None
    if expected_status_code is not None and not 100 <= expected_status_code <= 599:
        raise ValueError(f"expected_status_code must be an HTTP status code, got {expected_status_code}")
    if provisioned_concurrency is not None and provisioned_concurrency < 1:
        raise ValueError("provisioned_concurrency must be at least 1")
    if max_provisioned_concurrency is not None and max_provisioned_concurrency < (provisioned_concurrency or 1):
        raise ValueError("max_provisioned_concurrency must be at least provisioned_concurrency (or 1)")
    # max_provisioned_concurrency is at least provisioned_concurrency (checked above): the most the alias gets.
    prop, provisioned = (
        ("max_provisioned_concurrency", max_provisioned_concurrency)
        if max_provisioned_concurrency is not None
        else ("provisioned_concurrency", provisioned_concurrency)
    )
    if (
        reserved_concurrent_executions is not None
        and provisioned is not None
        and provisioned > reserved_concurrent_executions
    ):
        raise ValueError(
            f"{prop}={provisioned} is above reserved_concurrent_executions={reserved_concurrent_executions}: "
            "Lambda refuses provisioned concurrency above a function's reserved concurrency; reserve at least "
            f"{provisioned}, or leave reserved_concurrent_executions out"
        )
