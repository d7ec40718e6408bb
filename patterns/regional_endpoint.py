"""One region of a multi-region service: its API behind the shared custom domain, kept in DNS while healthy."""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import Annotations, Aspects, Duration, IAspect, Names, ReferenceStrength, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct, IConstruct

from .blocks import SecureFunction, acknowledge, bundled_code, threshold_alarm
from .blocks.api_strict import limit_invoke_permissions_to_account
from .blocks.api_waf import StrictApiWebAcl
from .compliance import is_strict
from .global_table import GlobalTable, check_bound

#: What the health route calls on the local replica (and the replica's key for the read).
HEALTH_TABLE_ACTIONS = ("dynamodb:DescribeTable", "dynamodb:GetItem")
HEALTH_METRICS_NAMESPACE = "RegionalHealth"
#: Route 53 publishes its health checks' metrics (``AWS/Route53 HealthCheckStatus``) in this region only.
ROUTE53_METRICS_REGION = "us-east-1"
#: Where Route 53's health checkers can be placed (``health_check_regions`` takes at least three of these).
HEALTH_CHECKER_REGIONS = frozenset(
    [
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ]
)
#: ``GET /health``'s own method throttle: Route 53's checkers (about 8 regions, a few checkers each, every 10 or
#: 30 s) need about 2 requests per second at most; anyone else calling the unsigned route is held to this too.
HEALTH_RATE_LIMIT, HEALTH_BURST_LIMIT = 5, 10
#: Under the strict profile, ``/health`` requests one IP may make in 5 minutes (a checker makes at most 30).
HEALTH_WAF_RATE_LIMIT = 100
#: The warning an API with IAM-authorized (SigV4) methods gets: a signature names one region.
SIGNED_METHODS_WARNING = "serverless-patterns:regional-endpoint-signed-methods"
#: The warning an endpoint outside us-east-1 without ``monitoring_stack`` gets: its health check has no alarm.
NO_HEALTH_CHECK_ALARM_WARNING = "serverless-patterns:regional-endpoint-no-health-check-alarm"
_HEALTH_RATE_RULE = "HealthRouteRateLimit"
# DynamoDB's attribute type codes, as the health route sends the sentinel key.
_TYPE_CODES = {
    dynamodb.AttributeType.STRING: "S",
    dynamodb.AttributeType.NUMBER: "N",
    dynamodb.AttributeType.BINARY: "B",
}


class RegionalEndpoint(Construct):
    """Put one region's REST API behind the service's custom domain, in DNS only while healthy.

    In the stack of each region (bound to a concrete account and region), pass the region's API
    (e.g. ``ApiLambdaTable.api``, whose function uses ``global_table.table_for(stack)``). It adds:

    * ``domain_name``: a regional API Gateway custom domain (TLS 1.2) for ``domain_name``, the same
      name in every region, mapped to the API's deployment stage; ``certificate``: its ACM certificate
      in this region, validated by DNS records in the hosted zone;
    * ``health_function`` and ``GET /health`` on the API (no authorization: health checkers do not
      sign requests): 200 while the local replica is ``ACTIVE``, its key usable and a read
      succeeds, else 503; the method has its own stage throttle (``HEALTH_RATE_LIMIT`` /
      ``HEALTH_BURST_LIMIT``) and, under the strict profile, a rate-based rule per IP in the
      stack's web ACL;
    * ``health_check``: a Route 53 HTTPS health check of ``/health`` on this region's
      ``execute-api`` host (not on ``domain_name``, which DNS may answer with another region);
    * ``record``: an alias A record ``domain_name`` -> the custom domain, latency-routed with set
      identifier = the region and the health check attached (or failover-routed, see ``failover``);
    * ``health_check_alarm``: ``AWS/Route53 HealthCheckStatus`` (Minimum < 1 for a minute) of the
      health check, in a us-east-1 stack, the only region Route 53 publishes it in: this stack if it
      is in us-east-1, else ``monitoring_stack``; None (with a warning) when there is neither.

    Behind one name, IAM-authorized (SigV4) methods do not fail over: a signature names a region, so a
    request signed for one region is refused (403) by another. An API with ``AWS_IAM`` methods gets a
    warning (``SIGNED_METHODS_WARNING``); token authorizers (Cognito, JWT) work in every region.

    Attributes:
        api, domain_name, certificate, health_function, health_method, health_check, record, table
        (the local replica), health_alarm, health_check_alarm, replication_latency_alarms (one per
        other region), and ``alarms``: alarms have no actions of their own; ``route_alarms`` sends
        them on. The API's 5XX alarm is the API pattern's own (``ApiLambdaTable.server_error_alarm``).

    Args:
        api: the region's ``apigateway.RestApi`` (with a deployment stage).
        global_table: the service's ``GlobalTable``; this stack's region must be one of its regions.
        domain_name: the service's name, e.g. ``items.example.com``, inside the hosted zone.
        hosted_zone_id / zone_name: the public hosted zone (no lookup at synth).
        failover: ``route53.Failover.PRIMARY`` or ``SECONDARY`` for active-passive routing instead of
            latency routing. Default None (latency routing, active-active).
        health_check_interval: 10 or 30 seconds. Default 30 (10 costs more and reacts ~3x faster).
        failure_threshold: consecutive failures before Route 53 calls the region unhealthy, 1..10. Default 3.
        health_check_regions: where Route 53 checks from: at least 3 of ``HEALTH_CHECKER_REGIONS``.
            Default Route 53's default set.
        monitoring_stack: a stack in us-east-1 (same account) to hold ``health_check_alarm`` when this
            stack is in another region; it reads the health check's id from this stack's outputs
            (a weak reference, ``Fn::GetStackOutput``), so it deploys after this stack. Default None.
        replication_latency_threshold: alarm when replication from this region to another averages
            this much over 5 minutes, twice in a row. Default one minute.
        unhealthy_threshold: alarm when ``/health`` answered 503 this many times in 5 minutes. Default 3.

    Raises ValueError for an env-agnostic stack, a stack region outside the table's regions, a domain
    outside the hosted zone, health-check settings Route 53 refuses, or a ``monitoring_stack`` that is
    not bound to us-east-1 and this stack's account.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        api: apigw.RestApi,
        global_table: GlobalTable,
        domain_name: str,
        hosted_zone_id: str,
        zone_name: str,
        failover: route53.Failover | None = None,
        health_check_interval: Duration = Duration.seconds(30),
        failure_threshold: int = 3,
        health_check_regions: Sequence[str] | None = None,
        replication_latency_threshold: Duration = Duration.minutes(1),
        unhealthy_threshold: int = 3,
        monitoring_stack: Stack | None = None,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        check_bound(stack, "RegionalEndpoint")
        _validate(
            domain_name=domain_name,
            hosted_zone_id=hosted_zone_id,
            zone_name=zone_name,
            health_check_interval=health_check_interval,
            failure_threshold=failure_threshold,
            health_check_regions=health_check_regions,
            unhealthy_threshold=unhealthy_threshold,
        )
        if monitoring_stack is not None:
            check_bound(monitoring_stack, "RegionalEndpoint(monitoring_stack=)")
            if (monitoring_stack.region, monitoring_stack.account) != (ROUTE53_METRICS_REGION, stack.account):
                raise ValueError(
                    f"monitoring_stack {monitoring_stack.node.path} must be in {ROUTE53_METRICS_REGION} and account "
                    f"{stack.account} (Route 53 publishes health-check metrics there only), got "
                    f"{monitoring_stack.region} and {monitoring_stack.account}"
                )
        if stack.region not in global_table.replica_regions:
            raise ValueError(
                f"{stack.node.path} is in {stack.region}, which is not one of the global table's regions "
                f"{list(global_table.replica_regions)}"
            )
        self.api = api
        self.region = stack.region
        self.table = global_table.table_for(stack)
        zone = route53.HostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=hosted_zone_id, zone_name=zone_name.rstrip(".")
        )
        self.certificate = acm.Certificate(
            self, "Certificate", domain_name=domain_name, validation=acm.CertificateValidation.from_dns(zone)
        )
        self.domain_name = apigw.DomainName(
            self,
            "Domain",
            domain_name=domain_name,
            certificate=self.certificate,
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
        )
        self.domain_name.add_base_path_mapping(api, stage=api.deployment_stage)

        service_name = Names.unique_id(self)
        self.health_function = SecureFunction(
            self,
            "Health",
            code=bundled_code("regional_health"),
            # Both of its DynamoDB calls end within 1.2 s (lambda_src/regional_health); Route 53 waits 2 s.
            # 512 MiB gives the CPU to start and answer fast; 2 s stops a stuck call before Route 53 gives up.
            memory_size=512,
            timeout=Duration.seconds(2),
            service_name=service_name,
            description=f"GET /health of {domain_name} in {stack.region}",
            environment={
                "TABLE_NAME": self.table.table_name,
                "PARTITION_KEY": global_table.partition_key.name,
                "PARTITION_KEY_TYPE": _TYPE_CODES[global_table.partition_key.type],
                "POWERTOOLS_METRICS_NAMESPACE": HEALTH_METRICS_NAMESPACE,
            },
        )
        self.table.grant(self.health_function.function, *HEALTH_TABLE_ACTIONS)
        if self.table.encryption_key is not None:
            self.table.encryption_key.grant(self.health_function.function, "kms:Decrypt", "kms:DescribeKey")
        self.health_method = api.root.add_resource("health").add_method(
            "GET",
            apigw.LambdaIntegration(self.health_function.function, allow_test_invoke=False),
            authorization_type=apigw.AuthorizationType.NONE,
        )
        reason = (
            "Route 53 health checkers call GET /health unsigned; it reveals only whether this region's "
            "replica is usable, and the stage's throttling bounds its cost."
        )
        acknowledge(self.health_method, "AwsSolutions-APIG4", reason)
        acknowledge(self.health_method, "AwsSolutions-COG4", reason)
        if is_strict(self):
            limit_invoke_permissions_to_account([self.health_method])
        _throttle_health_method(api.deployment_stage)
        _rate_limit_health_route(stack)
        Aspects.of(self).add(_WarnOfSignedMethods(self, domain_name))

        stage_path = f"/{api.deployment_stage.stage_name}/health"
        self.health_check = route53.HealthCheck(
            self,
            "HealthCheck",
            type=route53.HealthCheckType.HTTPS,
            fqdn=f"{api.rest_api_id}.execute-api.{stack.region}.{stack.url_suffix}",
            port=443,
            resource_path=stage_path,
            enable_sni=True,
            request_interval=health_check_interval,
            failure_threshold=failure_threshold,
            regions=list(health_check_regions) if health_check_regions else None,
        )
        routing = {"failover": failover} if failover is not None else {"region": stack.region}
        self.record = route53.ARecord(
            self,
            "Record",
            zone=zone,
            record_name=domain_name,
            target=route53.RecordTarget.from_alias(_RegionalDomainTarget(self.domain_name)),
            set_identifier=stack.region,
            health_check=self.health_check,
            **routing,
        )
        self._add_alarms(global_table, service_name, replication_latency_threshold, unhealthy_threshold)
        self.health_check_alarm = self._add_health_check_alarm(stack, monitoring_stack)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [
            self.health_alarm,
            *self.replication_latency_alarms,
            self.health_function.errors_alarm,
            self.health_function.throttles_alarm,
            *([self.health_check_alarm] if self.health_check_alarm is not None else []),
        ]

    def _add_health_check_alarm(self, stack: Stack, monitoring_stack: Stack | None) -> cloudwatch.Alarm | None:
        """HealthCheckStatus of this region's health check, alarmed in a us-east-1 stack (or None, with a warning)."""
        if monitoring_stack is None and stack.region != ROUTE53_METRICS_REGION:
            Annotations.of(self).add_warning_v2(
                NO_HEALTH_CHECK_ALARM_WARNING,
                f"{self.node.path}: Route 53 publishes HealthCheckStatus in {ROUTE53_METRICS_REGION} only; pass "
                f"monitoring_stack= (a stack there) to alarm when this region's health check fails",
            )
            return None
        scope: Construct = self
        health_check_id = self.health_check.health_check_id
        if monitoring_stack is not None and monitoring_stack is not stack:
            scope = monitoring_stack
            # A weak reference (Fn::GetStackOutput): no custom resource, and this stack stays deletable.
            health_check_id = Stack.consume_reference(health_check_id, ReferenceStrength.WEAK)
        return cloudwatch.Alarm(
            scope,
            f"{Names.unique_id(self)}HealthCheckStatusAlarm" if scope is not self else "HealthCheckStatusAlarm",
            metric=cloudwatch.Metric(
                namespace="AWS/Route53",
                metric_name="HealthCheckStatus",
                dimensions_map={"HealthCheckId": health_check_id},
                statistic="Minimum",
                period=Duration.minutes(1),
                region=ROUTE53_METRICS_REGION,
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=(
                f"{self.node.path}: Route 53 calls {self.region} unhealthy (its /health failed or did not answer): "
                "DNS is sending its users to other regions"
            ),
        )

    def _add_alarms(
        self, global_table: GlobalTable, service_name: str, latency_threshold: Duration, unhealthy_threshold: int
    ) -> None:
        period = Duration.minutes(5)
        self.health_alarm = threshold_alarm(
            self,
            "UnhealthyAlarm",
            cloudwatch.Metric(
                namespace=HEALTH_METRICS_NAMESPACE,
                metric_name="UnhealthyResponses",
                dimensions_map={"service": service_name},
                statistic="Sum",
                period=period,
            ),
            threshold=unhealthy_threshold,
            description=f"{self.node.path}: GET /health answered 503 (DNS is moving users out of {self.region})",
        )
        # ReplicationLatency is published in the sending region, per receiving region.
        self.replication_latency_alarms = [
            threshold_alarm(
                self,
                f"ReplicationLatencyAlarm-{region}",
                cloudwatch.Metric(
                    namespace="AWS/DynamoDB",
                    metric_name="ReplicationLatency",
                    dimensions_map={"TableName": self.table.table_name, "ReceivingRegion": region},
                    statistic="Average",
                    period=period,
                ),
                threshold=latency_threshold.to_milliseconds(),
                evaluation_periods=2,
                description=(
                    f"{self.node.path}: writes in {self.region} take over "
                    f"{latency_threshold.to_seconds()} s to reach {region}"
                ),
            )
            for region in global_table.replica_regions
            if region != self.region
        ]


@jsii.implements(route53.IAliasRecordTarget)
class _RegionalDomainTarget:
    """The custom domain's regional endpoint, its target health evaluated (the domain's own health joins the check)."""

    def __init__(self, domain: apigw.IDomainName) -> None:
        self._domain = domain

    def bind(
        self, _record: route53.IRecordSet, _zone: route53.IHostedZone | None = None
    ) -> route53.AliasRecordTargetConfig:
        return route53.AliasRecordTargetConfig(
            dns_name=self._domain.domain_name_alias_domain_name,
            hosted_zone_id=self._domain.domain_name_alias_hosted_zone_id,
            evaluate_target_health=True,
        )


def _validate(
    *,
    domain_name: str,
    hosted_zone_id: str,
    zone_name: str,
    health_check_interval: Duration,
    failure_threshold: int,
    health_check_regions: Sequence[str] | None,
    unhealthy_threshold: int,
) -> None:
    zone = zone_name.rstrip(".").lower()
    domain = domain_name.rstrip(".").lower()
    if not zone_name.strip(". ") or not hosted_zone_id.strip():
        raise ValueError("hosted_zone_id and zone_name are both required (no lookup is made at synth)")
    if not zone or not (domain == zone or domain.endswith(f".{zone}")):
        raise ValueError(f"domain_name {domain_name!r} is not inside the hosted zone {zone_name!r}")
    if "*" in domain:
        raise ValueError(f"domain_name must be one name, not a wildcard, got {domain_name!r}")
    if health_check_interval.to_seconds() not in (10, 30):
        raise ValueError(f"health_check_interval must be 10 or 30 seconds, got {health_check_interval.to_seconds()}")
    if not 1 <= failure_threshold <= 10:
        raise ValueError(f"failure_threshold must be 1..10, got {failure_threshold}")
    if health_check_regions is not None:
        unknown = sorted(set(health_check_regions) - HEALTH_CHECKER_REGIONS)
        if unknown:
            raise ValueError(
                f"health_check_regions {unknown} are not Route 53 health-checker regions "
                f"{sorted(HEALTH_CHECKER_REGIONS)}"
            )
        if len(set(health_check_regions)) < 3:
            raise ValueError(
                f"health_check_regions needs at least three distinct regions, got {list(health_check_regions)}"
            )
    if unhealthy_threshold < 1:
        raise ValueError(f"unhealthy_threshold must be at least 1, got {unhealthy_threshold}")


def _throttle_health_method(stage: apigw.Stage) -> None:
    """Give ``GET /health`` its own throttle, with the stage-wide method settings' logging and metrics."""
    stage_wide = stage.node.default_child
    assert isinstance(stage_wide, apigw.CfnStage)
    # The stage L2 renders its method settings as a list (never a token); anything else is left alone.
    current = stage_wide.method_settings
    if current is not None and not isinstance(current, list):
        raise ValueError("the stage's method settings are a token: GET /health cannot get its own throttle")
    settings = list(current or [])
    defaults = next((m for m in settings if isinstance(m, apigw.CfnStage.MethodSettingProperty)), None)
    settings.append(
        apigw.CfnStage.MethodSettingProperty(
            resource_path="/~1health",
            http_method="GET",
            throttling_rate_limit=HEALTH_RATE_LIMIT,
            throttling_burst_limit=HEALTH_BURST_LIMIT,
            logging_level=defaults.logging_level if defaults else None,
            metrics_enabled=defaults.metrics_enabled if defaults else None,
            data_trace_enabled=defaults.data_trace_enabled if defaults else None,
        )
    )
    stage_wide.method_settings = settings


def _rate_limit_health_route(stack: Stack) -> None:
    """In the strict profile's web ACL of ``stack`` (when it has one), limit ``/health`` requests per IP, once."""
    acl = next((c for c in stack.node.children if isinstance(c, StrictApiWebAcl)), None)
    if acl is None:
        return
    current = acl.web_acl.rules
    if current is not None and not isinstance(current, list):
        return  # rules given as a token: left as they are
    rules = list(current or [])
    if any(isinstance(r, wafv2.CfnWebACL.RuleProperty) and r.name == _HEALTH_RATE_RULE for r in rules):
        return
    path_ends_in_health = wafv2.CfnWebACL.StatementProperty(
        byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
            field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
            positional_constraint="ENDS_WITH",
            search_string="/health",
            text_transformations=[wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")],
        )
    )
    rules.append(
        wafv2.CfnWebACL.RuleProperty(
            name=_HEALTH_RATE_RULE,
            priority=len(rules),
            statement=wafv2.CfnWebACL.StatementProperty(
                rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                    limit=HEALTH_WAF_RATE_LIMIT, aggregate_key_type="IP", scope_down_statement=path_ends_in_health
                )
            ),
            action=wafv2.CfnWebACL.RuleActionProperty(block={}),
            visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                sampled_requests_enabled=True,
                metric_name=f"{Names.unique_resource_name(acl, max_length=200, separator='-')}-{_HEALTH_RATE_RULE}",
            ),
        )
    )
    acl.web_acl.rules = rules


@jsii.implements(IAspect)
class _WarnOfSignedMethods:
    """At synth, once every method is on the API: warn when any is IAM-authorized (a SigV4 signature names a region)."""

    def __init__(self, endpoint: RegionalEndpoint, domain_name: str) -> None:
        self._endpoint = endpoint
        self._domain_name = domain_name

    def visit(self, node: IConstruct) -> None:
        if node is not self._endpoint:
            return
        api = self._endpoint.api
        signed = [
            f"{m.http_method} {m.resource.path}"
            for m in api.methods
            if isinstance(m.node.default_child, apigw.CfnMethod)
            and Stack.of(api).resolve(m.node.default_child.authorization_type) == "AWS_IAM"
        ]
        if signed:
            Annotations.of(self._endpoint).add_warning_v2(
                SIGNED_METHODS_WARNING,
                f"{api.node.path} has IAM-authorized methods ({', '.join(sorted(signed))}): a SigV4 signature names "
                f"one region, so behind {self._domain_name} a request signed for another region "
                "gets 403 here and failover does not work for it; use a token authorizer (Cognito, JWT), or have "
                "signed clients call each region's own URL",
            )
