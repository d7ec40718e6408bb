"""A REST API that starts a saga's runs: ``POST /<path>`` -> Step Functions ``StartExecution``, no function between.

The request body is validated against your JSON Schema model, becomes the run's input, and its
business key (e.g. ``order_id``) becomes the run's name: on a Standard state machine a request repeated
while its run is in progress returns that run, and any request with a key already used is refused
(409, ``ExecutionAlreadyExists``) once that run closed or when its body differs, for 90 days: one
run per business key.

Step Functions answers every error of ``StartExecution`` with HTTP 400, and an integration response
can select on that status only, so the 400 response's template sets the method's status from the
error's ``__type`` (``$context.responseOverride.status``, see ``ERROR_STATUSES``): the caller's
mistakes stay 4xx, throttling is 429 (retry later), and what only the owner can fix (access, the
key, a missing state machine, the open-executions quota) is a 5xx, which the 5XX alarm watches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Names
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from .blocks import acknowledge, threshold_alarm
from .blocks.api_invoke import grant_execute_api
from .blocks.api_logging import access_logs, check_logging_props, logged_stage_options, stage_logging
from .blocks.api_waf import associate_web_acl, check_web_acl_arn
from .blocks.managed_policies import managed_policy_role
from .compliance import is_strict

_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
_PATH_PART = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_KEY_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Characters Step Functions accepts in an execution name, and its length limit.
_EXECUTION_NAME_LIMIT = 80
_STRICT_PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")
#: ``StartExecution`` errors (the end of ``__type``, a Java regex) and the status the start API answers
#: with, in order: a later match wins. Anything else (``InvalidName``, ``InvalidExecutionInput``,
#: ``ValidationException``: the request) stays 400.
ERROR_STATUSES: tuple[tuple[str, int], ...] = (
    (".*(AccessDenied|Kms|StateMachineDoesNotExist|StateMachineDeleting|InvalidArn|ExecutionLimitExceeded).*", 500),
    (".*ThrottlingException", 429),
    (".*ExecutionAlreadyExists", 409),
)
#: The message these statuses answer with instead of Step Functions' own: an ``AccessDenied`` or KMS
#: message names the integration's role or the key (account, names), which callers have no use for.
ERROR_MESSAGES: dict[int, str] = {500: "Internal server error", 429: "Too many requests: retry later"}


@dataclass(frozen=True)
class SagaApiOptions:
    """How ``SagaWorkflow(start_api=...)`` builds its start API.

    Args:
        request_schema: the JSON Schema (draft 4) of the request body, an object; API Gateway
            refuses (400) a body that does not match it, before anything starts.
        business_key: the body's field whose value names the run. It must be a required string
            property of the schema with a ``pattern`` that keeps it a valid execution name
            (letters, digits, ``-`` and ``_``; at most 80 characters).
        resource_path: the path part of the ``POST`` resource. Default ``executions``.
        authorizer / scopes: a Cognito or Lambda authorizer (and OAuth scopes, Cognito only).
            Default: IAM (SigV4) authorization, as the items API; ``grant_invoke`` lets callers in.
        stage_name: default ``prod``.
        throttling_rate_limit / throttling_burst_limit: default 50 rps / 100.
        web_acl_arn: a regional WAFv2 web ACL. Default none; the stack's under the strict profile.
        manage_account_logging_role / account_has_logging_role: as ``ApiLambdaTable``'s.
        server_error_rate_threshold: 5XX share of requests that alarms. Default 0.01.
    """

    request_schema: apigw.JsonSchema
    business_key: str
    resource_path: str = "executions"
    authorizer: apigw.IAuthorizer | None = None
    scopes: Sequence[str] = ()
    stage_name: str = "prod"
    throttling_rate_limit: float = 50
    throttling_burst_limit: int = 100
    web_acl_arn: str | None = None
    manage_account_logging_role: bool = True
    account_has_logging_role: bool = False
    server_error_rate_threshold: float = 0.01

    def validate(self) -> None:
        schema = self.request_schema
        if schema.type != apigw.JsonSchemaType.OBJECT:
            raise ValueError("start_api.request_schema must describe a JSON object")
        if not _KEY_FIELD.match(self.business_key):
            raise ValueError(f"start_api.business_key must be a field name, got {self.business_key!r}")
        key_schema = (schema.properties or {}).get(self.business_key)
        if key_schema is None or self.business_key not in (schema.required or []):
            raise ValueError(
                f"start_api.business_key {self.business_key!r} must be a required property of request_schema"
            )
        if key_schema.type != apigw.JsonSchemaType.STRING or not key_schema.pattern:
            raise ValueError(
                f"start_api.business_key {self.business_key!r} must be a string with a pattern (e.g. "
                "'^[A-Za-z0-9_-]{1,80}$'): its value becomes the run's name, which Step Functions restricts"
            )
        if key_schema.max_length is not None and key_schema.max_length > _EXECUTION_NAME_LIMIT:
            raise ValueError(f"start_api.business_key allows {key_schema.max_length} characters; run names hold 80")
        if not _PATH_PART.match(self.resource_path):
            raise ValueError(
                f"start_api.resource_path must be lower-case letters, digits, '-', got {self.resource_path!r}"
            )
        if self.scopes and (
            self.authorizer is None or self.authorizer.authorization_type != apigw.AuthorizationType.COGNITO
        ):
            raise ValueError("start_api.scopes need a Cognito user-pool authorizer")
        if self.throttling_rate_limit <= 0 or self.throttling_burst_limit < 1:
            raise ValueError("start_api throttling_rate_limit must be > 0 and throttling_burst_limit >= 1")
        if not 0 < self.server_error_rate_threshold <= 1:
            raise ValueError("start_api.server_error_rate_threshold is a share of requests in (0, 1]")
        check_logging_props(self.manage_account_logging_role, self.account_has_logging_role)
        check_web_acl_arn(self.web_acl_arn)


class SagaStartApi(Construct):
    """``POST /<resource_path>`` starts a run of ``state_machine`` named by the body's business key.

    Attributes:
        api: the ``apigateway.RestApi`` (regional, X-Ray, JSON access logs, throttled).
        resource / method: the start resource and its ``POST`` method (AWS integration, validated model).
        role: what API Gateway assumes to call ``states:StartExecution`` on this state machine only.
        access_log_group / execution_log_group / account_logging: as ``ApiLambdaTable``'s.
        server_error_alarm, and ``alarms``.
    """

    def __init__(self, scope: Construct, id: str, *, state_machine: sfn.IStateMachine, options: SagaApiOptions) -> None:
        super().__init__(scope, id)
        options.validate()
        self._options = options
        strict = is_strict(self)
        access = access_logs(self, None, default=_LOG_RETENTION, prop="log_retention")
        self.access_log_group = access.log_group
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=Names.unique_resource_name(self, max_length=128, separator="-"),
            description=f"Starts runs of {scope.node.path}",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=logged_stage_options(
                options.stage_name,
                access_log_group=self.access_log_group,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                throttling_rate_limit=options.throttling_rate_limit,
                throttling_burst_limit=options.throttling_burst_limit,
            ),
        )
        self.account_logging, self.execution_log_group = stage_logging(
            self,
            self.api.deployment_stage,
            options.stage_name,
            level=apigw.MethodLoggingLevel.ERROR,
            manage_account_logging_role=options.manage_account_logging_role,
            manage_execution_log_group=True,
            retention=access.retention,
            encryption_key=access.encryption_key,
        )
        self.role = managed_policy_role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description=f"Lets {self.node.path} start runs of its state machine",
        )
        state_machine.grant_start_execution(self.role)
        self.resource = self.api.root.add_resource(options.resource_path)
        self.method = self._post(state_machine, options)
        self.web_acl_association = associate_web_acl(self, self.api.deployment_stage, options.web_acl_arn)
        if strict:
            self._acknowledge_strict_stage_rules()
        self.server_error_alarm = threshold_alarm(
            self,
            "ServerErrorAlarm",
            self.api.deployment_stage.metric_server_error(period=Duration.minutes(5), statistic="Average"),
            threshold=options.server_error_rate_threshold,
            description=f"{self.node.path}: more than {options.server_error_rate_threshold:.1%} of starts got a 5XX",
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        return [self.server_error_alarm]

    @property
    def url(self) -> str:
        """The URL that starts a run (``POST``)."""
        return f"{self.api.url}{self._options.resource_path}"

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` call ``POST /<resource_path>`` (IAM authorization only)."""
        if self._options.authorizer is not None:
            raise ValueError(f"{self.node.path}: grant_invoke needs IAM authorization; an authorizer decides here")
        return grant_execute_api(
            self.api, self._options.stage_name, grantee, method="POST", path=f"/{self._options.resource_path}"
        )

    def _post(self, state_machine: sfn.IStateMachine, options: SagaApiOptions) -> apigw.Method:
        # The whole body is the run's input; the business key its name. escapeJavaScript turns ' into
        # \' (not valid JSON), hence the replaceAll that undoes it.
        template = (
            "{"
            f'"stateMachineArn": "{state_machine.state_machine_arn}", '
            f'"name": "$util.escapeJavaScript($input.path(\'$.{options.business_key}\'))", '
            + r'''"input": "$util.escapeJavaScript($input.json('$')).replaceAll("\\'","'")"'''
            + "}"
        )
        integration = apigw.AwsIntegration(
            service="states",
            action="StartExecution",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=self.role,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={"application/json": template},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200",
                        response_templates={"application/json": '{"executionArn": "$input.path(\'$.executionArn\')"}'},
                    ),
                    apigw.IntegrationResponse(
                        status_code="400",
                        selection_pattern="4\\d{2}",
                        response_templates={"application/json": error_template()},
                    ),
                    apigw.IntegrationResponse(
                        status_code="500",
                        selection_pattern="5\\d{2}",
                        response_templates={"application/json": '{"message": "Internal server error"}'},
                    ),
                ],
            ),
        )
        model = self.api.add_model("StartModel", content_type="application/json", schema=options.request_schema)
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        authorization: dict[str, Any] = {"authorization_type": apigw.AuthorizationType.IAM}
        if options.authorizer is not None:
            authorization = {
                "authorizer": options.authorizer,
                "authorization_type": options.authorizer.authorization_type,
            }
            if options.scopes:
                authorization["authorization_scopes"] = list(options.scopes)
        method = self.resource.add_method(
            "POST",
            integration,
            request_models={"application/json": model},
            request_validator=validator,
            method_responses=[apigw.MethodResponse(status_code=code) for code in ("200", "400", "409", "429", "500")],
            **authorization,
        )
        if options.authorizer is None or options.authorizer.authorization_type != apigw.AuthorizationType.COGNITO:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "The method is authorized by IAM (SigV4) or a Lambda authorizer, chosen by the construct's user; "
                "callers are not Cognito users, so a user-pool authorizer does not apply.",
            )
        return method

    def _acknowledge_strict_stage_rules(self) -> None:
        stage = self.api.deployment_stage
        for pack in _STRICT_PACKS:
            acknowledge(
                stage,
                f"{pack}-APIGWCacheEnabledAndEncrypted",
                "No stage cache, on purpose: every request starts a run; a cached answer would start nothing "
                "and return another run's ARN. Nothing is stored at the stage that could need encrypting.",
            )
            acknowledge(
                stage,
                f"{pack}-APIGWSSLEnabled",
                "A stage's client certificate lets an HTTP backend verify that requests come from API Gateway; "
                "the only integration here is the Step Functions API, called with IAM (the integration's role), "
                "so there is no HTTP backend to present it to. Callers reach the stage over TLS only.",
            )


def error_template() -> str:
    """The 400 response's template: the status ``ERROR_STATUSES`` gives the error's type, and Step Functions'
    message, or the fixed one ``ERROR_MESSAGES`` gives that status."""
    lines = ["#set($errorType = $input.path('$.__type'))", "#set($message = $input.path('$.message'))"]
    for pattern, status in ERROR_STATUSES:
        fixed = f"#set($message = '{ERROR_MESSAGES[status]}')" if status in ERROR_MESSAGES else ""
        lines.append(
            f"#if($errorType.matches('{pattern}'))#set($context.responseOverride.status = {status}){fixed}#end"
        )
    # escapeJavaScript turns ' into \' (not valid JSON), and Step Functions quotes names in its messages.
    lines.append('{"message": "$util.escapeJavaScript($message).replaceAll("\\\\\'","\'")"}')
    return "\n".join(lines)
