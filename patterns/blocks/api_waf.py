"""The WAFv2 web ACL of regional REST API stages: checks for one the user brings, and the one the strict
compliance profile makes per stack when the user brings none."""

from __future__ import annotations

import re

from aws_cdk import ArnFormat, Names, RemovalPolicy, Stack, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct, IConstruct

from ..compliance import is_strict, strict_log_retention
from .compliance_resources import logs_key, per_stack, stack_instance_id
from .nag import acknowledge

_WEB_ACL_ID = "StrictApiWebAcl"
#: The AWS managed rule groups of the strict profile's web ACL, evaluated in this order:
#: the common rule set (OWASP Top 10 style inspection: cross-site scripting, path traversal, bad
#: bots without a User-Agent, oversized bodies), known bad inputs (request patterns of known
#: exploits, e.g. Log4j), and the Amazon IP reputation list (sources Amazon threat intelligence
#: has seen attacking). Groups meant for other backends (SQL, PHP, WordPress, Linux, Windows)
#: inspect for attacks that a DynamoDB-backed Lambda handler is not exposed to, and the anonymous
#: IP list would block legitimate callers behind VPNs; they are left out.
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesAmazonIpReputationList",
)
#: Headers kept out of the web ACL's logs: they carry the caller's credentials (a Cognito JWT, a
#: SigV4 signature, a session token).
REDACTED_HEADERS = ("authorization", "x-amz-security-token")
#: WAF only logs to a CloudWatch log group whose name starts with this.
WAF_LOG_GROUP_PREFIX = "aws-waf-logs-"


def check_web_acl_arn(web_acl_arn: str | None) -> None:
    """ValueError unless ``web_acl_arn`` is a regional WAFv2 web ACL's ARN (or a token)."""
    if web_acl_arn is None or Token.is_unresolved(web_acl_arn):
        return
    if not re.match(r"^arn:[a-z-]+:wafv2:[^:]*:[^:]*:[a-z]+/webacl/", web_acl_arn):
        raise ValueError(f"web_acl_arn must be a WAFv2 web ACL ARN, got {web_acl_arn!r}")
    if ":global/webacl/" in web_acl_arn:
        raise ValueError(
            f"web_acl_arn {web_acl_arn!r} is a CloudFront-scoped (global) web ACL; a regional REST API stage "
            "takes a REGIONAL web ACL of its own region"
        )


class StrictApiWebAcl(Construct):
    """The regional web ACL the strict profile associates with every REST API stage of one stack that
    names none; get it with ``web_acl(scope)``.

    What it makes:
      * ``web_acl``: allows by default, runs ``MANAGED_RULE_GROUPS`` (their own block actions), with
        CloudWatch metrics and sampled requests for the ACL and each group;
      * ``log_group``: where WAF logs every request it inspects (``aws-waf-logs-<stack name>-<stack
        UUID>``: unique to this deployment of the stack, see ``stack_instance_id``; encrypted with the
        stack's logs key, kept the profile's retention), without ``REDACTED_HEADERS``;
      * ``logging``: the logging configuration joining the two.
    """

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        name = Names.unique_resource_name(self, max_length=100, separator="-")
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            description=f"Protects the REST API stages of stack {stack.stack_name}",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility(name),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=group,
                    priority=priority,
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=group
                        )
                    ),
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    visibility_config=_visibility(f"{name}-{group}"),
                )
                for priority, group in enumerate(MANAGED_RULE_GROUPS)
            ],
        )
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # At most 13 + 128 + 1 + 36 characters, within the 512 of a log group name.
            log_group_name=f"{WAF_LOG_GROUP_PREFIX}{stack.stack_name}-{stack_instance_id(self)}",
            retention=strict_log_retention(self),
            encryption_key=logs_key(self),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The group's ARN without the ":*" that its Arn attribute ends with, as WAF takes it.
        log_group_arn = stack.format_arn(
            service="logs",
            resource="log-group",
            resource_name=self.log_group.log_group_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.logging = wafv2.CfnLoggingConfiguration(
            self,
            "Logging",
            resource_arn=self.web_acl.attr_arn,
            log_destination_configs=[log_group_arn],
            redacted_fields=[
                wafv2.CfnLoggingConfiguration.FieldToMatchProperty(single_header={"Name": header})
                for header in REDACTED_HEADERS
            ],
        )


def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, sampled_requests_enabled=True, metric_name=metric_name[:255]
    )


def web_acl(scope: IConstruct) -> StrictApiWebAcl:
    """The strict profile's web ACL of ``scope``'s stack, made on first use (one per stack)."""
    return per_stack(scope, _WEB_ACL_ID, StrictApiWebAcl, StrictApiWebAcl)


def associate_web_acl(
    scope: Construct, stage: apigw.Stage, web_acl_arn: str | None
) -> wafv2.CfnWebACLAssociation | None:
    """Associate ``web_acl_arn`` with ``stage``; none given, the stack's ``web_acl`` under the strict
    profile, else nothing (the AwsSolutions-APIG3 finding is acknowledged on the stage)."""
    if web_acl_arn is None and is_strict(scope):
        web_acl_arn = web_acl(scope).web_acl.attr_arn
    if web_acl_arn is None:
        acknowledge(
            stage,
            "AwsSolutions-APIG3",
            "WAF is opt-in (web_acl_arn=): it is billed per web ACL, rule and request and its rules depend on "
            "the traffic; every method is authorized and the stage is throttled meanwhile.",
        )
        return None
    return wafv2.CfnWebACLAssociation(scope, "WebAclAssociation", resource_arn=stage.stage_arn, web_acl_arn=web_acl_arn)
