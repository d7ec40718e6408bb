"""``POST /uploads``: a REST API method that hands out presigned POST grants for one bucket prefix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration, Names
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ..compliance import is_strict
from .alarms import threshold_alarm
from .api_cors import CORS_ALLOW_ORIGINS_ENV, add_error_responses, preflight_options
from .api_invoke import grant_execute_api
from .api_logging import access_logs, check_logging_props, logged_stage_options, stage_logging
from .api_strict import acknowledge_stage_rules, limit_invoke_permissions_to_account
from .api_waf import associate_web_acl
from .assets import bundled_code
from .function import SecureFunction
from .nag import acknowledge

_RESOURCE = "uploads"
_MAX_NAME_LENGTH = 128


class UploadGrantApi(Construct):
    """``POST /uploads`` answering with a presigned POST for a new key under the caller's own prefix.

    The bundled ``upload_grant`` handler signs with its own role, which may ``s3:PutObject`` under
    ``key_prefix`` of ``bucket`` and nothing else; callers never get write access of their own.

    Attributes:
        api: the REST API (yours if you passed ``api=``); ``resource`` is ``/uploads``, ``method`` its POST.
        function / secure_function: the grant function.
        access_log_group: the stage's access logs (None with ``api=``: your API logs as you set it up).
        server_error_alarm (None with ``api=``), and ``alarms`` (with the function's errors and throttles).

    Args:
        bucket / key_prefix: where uploads go (``{key_prefix}{caller}/{uuid}.{ext}``).
        allowed_content_types / max_upload_bytes / expires: the grant's policy conditions.
        api: an existing ``RestApi`` to add ``/uploads`` to. Default: a new regional API with the
            project's stage settings (tracing, JSON access logs, throttling, execution logs at ERROR).
        authorizer: a Cognito user-pool or Lambda authorizer. Default IAM (SigV4).
        scopes: OAuth scopes the method requires (Cognito authorizer only).
        cors_allow_origins: origins allowed to call the API from a browser. Default none.
        web_acl_arn / manage_account_logging_role / account_has_logging_role: as ``ApiLambdaTable``'s.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: s3.IBucket,
        key_prefix: str,
        allowed_content_types: Sequence[str],
        max_upload_bytes: int,
        expires: Duration,
        api: apigw.RestApi | None = None,
        authorizer: apigw.IAuthorizer | None = None,
        scopes: Sequence[str] = (),
        cors_allow_origins: Sequence[str] | None = None,
        web_acl_arn: str | None = None,
        manage_account_logging_role: bool = True,
        account_has_logging_role: bool = False,
    ) -> None:
        super().__init__(scope, id)
        if api is None:
            check_logging_props(manage_account_logging_role, account_has_logging_role)
        if scopes and (authorizer is None or authorizer.authorization_type != apigw.AuthorizationType.COGNITO):
            raise ValueError("scopes need a Cognito user-pool authorizer")
        self._authorizer = authorizer
        environment = {
            "UPLOAD_BUCKET": bucket.bucket_name,
            "UPLOAD_PREFIX": key_prefix,
            "ALLOWED_CONTENT_TYPES": ",".join(allowed_content_types),
            "MAX_UPLOAD_BYTES": str(max_upload_bytes),
            "GRANT_EXPIRES_SECONDS": str(int(expires.to_seconds())),
        }
        if cors_allow_origins:
            environment[CORS_ALLOW_ORIGINS_ENV] = ",".join(cors_allow_origins)
        self.secure_function = SecureFunction(
            self, "GrantFunction", code=bundled_code("upload_grant"), environment=environment, service_name=id
        )
        self.function = self.secure_function.function
        objects = f"{bucket.bucket_arn}/{key_prefix}*"
        iam.Grant.add_to_principal(grantee=self.function, actions=["s3:PutObject"], resource_arns=[objects])
        acknowledge(
            self.secure_function.role,
            "AwsSolutions-IAM5",
            f"Signs upload grants for new keys under {key_prefix!r} only: the keys are generated per request, "
            "so the statement names the prefix, not each object.",
            findings=[f"Resource::{objects}"],
        )

        self.access_log_group: logs.LogGroup | None = None
        self.server_error_alarm: cloudwatch.Alarm | None = None
        self._stage_name = "prod"
        if api is None:
            api = self._new_api(cors_allow_origins, web_acl_arn, manage_account_logging_role)
        else:
            self._stage_name = api.deployment_stage.stage_name
        self.api = api
        self.resource = api.root.add_resource(
            _RESOURCE,
            default_cors_preflight_options=(
                preflight_options(cors_allow_origins, ("POST",)) if cors_allow_origins else None
            ),
        )
        model = api.add_model(
            f"{Names.unique_id(self)}GrantRequest",
            content_type="application/json",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4,
                title="UploadGrantRequest",
                type=apigw.JsonSchemaType.OBJECT,
                required=["content_type"],
                additional_properties=False,
                properties={
                    "content_type": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, enum=list(allowed_content_types))
                },
            ),
        )
        validator = api.add_request_validator(
            f"{Names.unique_id(self)}Validator", validate_request_body=True, validate_request_parameters=True
        )
        options: dict[str, Any] = {"authorization_type": apigw.AuthorizationType.IAM}
        if authorizer is not None:
            options = {"authorizer": authorizer, "authorization_type": authorizer.authorization_type}
            if scopes:
                options["authorization_scopes"] = list(scopes)
        self.method = self.resource.add_method(
            "POST",
            apigw.LambdaIntegration(self.function, allow_test_invoke=False),
            request_validator=validator,
            request_models={"application/json": model},
            **options,
        )
        if authorizer is None or authorizer.authorization_type != apigw.AuthorizationType.COGNITO:
            acknowledge(
                self.method,
                "AwsSolutions-COG4",
                "The method is authorized by IAM (SigV4) or a Lambda authorizer, chosen by the construct's user; "
                "callers are not Cognito users, so a user-pool authorizer does not apply.",
            )
        preflight = self.resource.node.try_find_child("OPTIONS")
        if preflight is not None:
            reason = (
                "CORS preflight: browsers send OPTIONS without credentials (Fetch standard); the mock integration "
                "answers with CORS headers only and reaches no backend."
            )
            acknowledge(preflight, "AwsSolutions-APIG4", reason)
            acknowledge(preflight, "AwsSolutions-COG4", reason)
        if is_strict(self):
            limit_invoke_permissions_to_account([self.method])

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        made = [self.secure_function.errors_alarm, self.secure_function.throttles_alarm]
        return made + ([self.server_error_alarm] if self.server_error_alarm is not None else [])

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` ask for upload grants (``execute-api:Invoke`` on ``POST /uploads``); IAM authorization only."""
        if self._authorizer is not None:
            raise ValueError(f"{self.node.path}: grant_invoke needs IAM authorization, but an authorizer decides here")
        return grant_execute_api(self.api, self._stage_name, grantee, method="POST", path=f"/{_RESOURCE}")

    def _new_api(
        self, cors_allow_origins: Sequence[str] | None, web_acl_arn: str | None, manage_account_logging_role: bool
    ) -> apigw.RestApi:
        strict = is_strict(self)
        access = access_logs(self, None, default=logs.RetentionDays.ONE_MONTH, prop="access_log_retention")
        self.access_log_group = access.log_group
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=Names.unique_resource_name(self, max_length=_MAX_NAME_LENGTH, separator="-"),
            description=f"{self.node.path} upload grants",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=logged_stage_options(
                self._stage_name,
                access_log_group=self.access_log_group,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                throttling_rate_limit=20,
                throttling_burst_limit=40,
            ),
        )
        self.account_logging, self.execution_log_group = stage_logging(
            self,
            api.deployment_stage,
            self._stage_name,
            level=apigw.MethodLoggingLevel.ERROR,
            manage_account_logging_role=manage_account_logging_role,
            manage_execution_log_group=True,
            retention=access.retention,
            encryption_key=access.encryption_key,
        )
        if cors_allow_origins:
            add_error_responses(api, cors_allow_origins)
        self.web_acl_association = associate_web_acl(self, api.deployment_stage, web_acl_arn)
        if strict:
            acknowledge_stage_rules(api.deployment_stage)
        self.server_error_alarm = threshold_alarm(
            self,
            "ServerErrorAlarm",
            api.deployment_stage.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description=f"{self.node.path}: upload grant requests got a 5XX",
        )
        return api
