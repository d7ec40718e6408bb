"""A REST API that puts events on a Kinesis stream itself (``PutRecords`` service integration): no
function in the path, so nothing to scale, pay for or fail between the caller and the stream."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Duration, Names
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from ..blocks import acknowledge, threshold_alarm
from ..blocks.api_invoke import grant_execute_api
from ..blocks.api_logging import access_logs, check_logging_props, logged_stage_options, stage_logging
from ..blocks.api_waf import associate_web_acl, check_web_acl_arn
from ..blocks.managed_policies import managed_policy_role
from ..compliance import is_strict

#: Kinesis takes at most 500 records per PutRecords call.
MAX_EVENTS_PER_REQUEST = 500
_MAX_KEY_LENGTH = 256  # Kinesis' partition key limit, in characters
_MAX_NAME_LENGTH = 128
_LOG_RETENTION = logs.RetentionDays.ONE_MONTH


def events_schema(partition_key_field: str, event_schema: apigw.JsonSchema | None = None) -> apigw.JsonSchema:
    """The request model: ``{"events": [event, ...]}``, 1..500 events, each an object with a string
    ``partition_key_field`` (1..256 characters, Kinesis' partition key limit)."""
    event = event_schema or apigw.JsonSchema(
        type=apigw.JsonSchemaType.OBJECT,
        properties={
            partition_key_field: apigw.JsonSchema(
                type=apigw.JsonSchemaType.STRING, min_length=1, max_length=_MAX_KEY_LENGTH
            )
        },
        required=[partition_key_field],
    )
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="PutEvents",
        type=apigw.JsonSchemaType.OBJECT,
        properties={
            "events": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY, min_items=1, max_items=MAX_EVENTS_PER_REQUEST, items=event
            )
        },
        required=["events"],
        additional_properties=False,
    )


#: ``$util.escapeJavaScript`` escapes ``'`` as ``\'``, which is not JSON: API Gateway's documented fix.
_UNESCAPE_APOSTROPHE = """.replaceAll("\\\\'","'")"""

#: Status of a PutRecords answer with ``FailedRecordCount`` > 0: some records were taken, some not.
#: 207 (Multi-Status), not a 5XX: retrying the whole request would put the taken records again.
PARTIAL_FAILURE_STATUS = 207
#: Kinesis (and KMS) errors that a later retry can get past: throughput and rate limits.
_RETRYABLE_ERRORS = "ProvisionedThroughputExceeded|LimitExceeded|Throttling"

#: The 200 answer: Kinesis' own, its status overridden when some records were refused.
SUCCESS_RESPONSE_TEMPLATE = (
    "#if($input.path('$.FailedRecordCount') > 0)"
    f"#set($context.responseOverride.status = {PARTIAL_FAILURE_STATUS})#end"
    "$input.json('$')"
)
#: A 4XX from Kinesis: 400 with its error type (oversize, invalid, access denied: retrying cannot help),
#: except throughput and rate limits: 503, retry later.
REFUSED_RESPONSE_TEMPLATE = (
    "#set($type = \"$!input.path('$.__type')\")"
    f"#if($type.matches('.*({_RETRYABLE_ERRORS}).*'))#set($context.responseOverride.status = 503)#end"
    '{"message": "the stream refused the events", "type": "$util.escapeJavaScript($type)"}'
)


def put_records_template(stream_name: str, partition_key_field: str) -> str:
    """The integration's request template: each event, as JSON, becomes one record keyed by its field."""
    field = json.dumps(partition_key_field)[1:-1]
    return (
        '{"StreamName": "' + stream_name + '", "Records": ['
        "#foreach($event in $input.path('$.events'))"
        '{"Data": "$util.base64Encode($input.json("$.events[$foreach.index]"))", '
        f'"PartitionKey": "$util.escapeJavaScript($event.get(\'{field}\')){_UNESCAPE_APOSTROPHE}"}}'
        "#if($foreach.hasNext),#end#end]}"
    )


_STRICT_PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")


def _acknowledge_strict_stage_rules(stage: apigw.Stage) -> None:
    """Acknowledge, on ``stage`` only, the strict packs' stage rules that do not apply to an ingestion API."""
    for pack in _STRICT_PACKS:
        acknowledge(
            stage,
            f"{pack}-APIGWCacheEnabledAndEncrypted",
            "No stage cache, on purpose: the API's only method is POST /events, which puts records; a cached "
            "answer would tell a producer its events were taken when they were not. Nothing is stored at the "
            "stage that could need encrypting.",
        )
        acknowledge(
            stage,
            f"{pack}-APIGWSSLEnabled",
            "A stage's client certificate lets an HTTP backend verify that requests come from API Gateway; the "
            "only integration here is an AWS service integration that calls Kinesis PutRecords through the AWS "
            "API with the API's IAM role (SigV4), so there is no HTTP backend to present it to. Callers reach "
            "the stage over TLS only.",
        )


class StreamIngestionApi(Construct):
    """``POST /events`` -> Kinesis ``PutRecords``: validated, throttled and authorized like the items API.

    The body is ``{"events": [{...}, ...]}`` (1..500 objects, checked against the request model
    before anything is put); each event becomes one record, its JSON as the data, its
    ``partition_key_field`` as the partition key: all records of a key land in one shard, in order,
    so a windowed aggregate of that key is written once per window. The answer is Kinesis' own
    (``FailedRecordCount`` and a result per record): 200 when every record was taken, 207 when
    some were refused (retry only those with an ``ErrorCode``: the others are on the stream), 400
    with the error ``type`` when Kinesis refused the call for good (a record too big, access
    denied), 503 when a retry can succeed (throughput or rate exceeded, Kinesis unavailable).

    Attributes:
        api: the ``RestApi`` (regional, X-Ray, JSON access logs, stage throttling).
        role: the role API Gateway assumes to put records (``kinesis:PutRecords`` on the stream,
            ``kms:GenerateDataKey`` on its key).
        events_resource / put_method: ``/events`` and its ``POST``.
        access_log_group, execution_log_group, account_logging: as ``ApiLambdaTable``'s.
        server_error_alarm (the stream refused events), and ``alarms``.

    Args:
        stream: the stream; key: its KMS key (None for an AWS-managed or unencrypted stream).
        partition_key_field: the event field that is the record's partition key. Default ``key``.
        event_schema: JSON schema of one event. Default: an object with that field (a string).
        authorizer: a Cognito or Lambda authorizer. Default IAM (SigV4; ``grant_invoke``).
        throttling_rate_limit / throttling_burst_limit: stage-wide. Defaults 100 rps / 200
            (each request carries up to 500 events).
        stage_name: default ``prod``. access_log_retention, web_acl_arn, execution_log_level,
        manage_account_logging_role, account_has_logging_role: as ``ApiLambdaTable``'s.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stream: kinesis.IStream,
        key: kms.IKey | None,
        partition_key_field: str = "key",
        event_schema: apigw.JsonSchema | None = None,
        authorizer: apigw.IAuthorizer | None = None,
        throttling_rate_limit: float = 100,
        throttling_burst_limit: int = 200,
        stage_name: str = "prod",
        execution_log_level: apigw.MethodLoggingLevel = apigw.MethodLoggingLevel.ERROR,
        access_log_retention: logs.RetentionDays | None = None,
        web_acl_arn: str | None = None,
        manage_account_logging_role: bool = True,
        account_has_logging_role: bool = False,
    ) -> None:
        super().__init__(scope, id)
        if not partition_key_field.strip() or '"' in partition_key_field or "'" in partition_key_field:
            raise ValueError(f"partition_key_field must be a plain field name, got {partition_key_field!r}")
        if not stage_name or not stage_name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"stage_name must be letters, digits, '-' or '_', got {stage_name!r}")
        if throttling_rate_limit <= 0 or throttling_burst_limit < 1:
            raise ValueError("throttling_rate_limit must be > 0 and throttling_burst_limit >= 1")
        check_logging_props(manage_account_logging_role, account_has_logging_role)
        check_web_acl_arn(web_acl_arn)
        self._authorizer = authorizer
        self._stage_name = stage_name

        self.role = managed_policy_role(
            self,
            "PutRecordsRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description=f"API Gateway puts events on the stream for {self.node.path}",
        )
        iam.Grant.add_to_principal(grantee=self.role, actions=["kinesis:PutRecords"], resource_arns=[stream.stream_arn])
        if key is not None:
            key.grant(self.role, "kms:GenerateDataKey")

        strict = is_strict(self)
        access = access_logs(self, access_log_retention, default=_LOG_RETENTION, prop="access_log_retention")
        self.access_log_group = access.log_group
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=Names.unique_resource_name(self, max_length=_MAX_NAME_LENGTH, separator="-"),
            description=f"{self.node.path} event ingestion",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=logged_stage_options(
                stage_name,
                access_log_group=self.access_log_group,
                logging_level=execution_log_level,
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
            ),
        )
        self.account_logging, self.execution_log_group = stage_logging(
            self,
            self.api.deployment_stage,
            stage_name,
            level=execution_log_level,
            manage_account_logging_role=manage_account_logging_role,
            manage_execution_log_group=True,
            retention=access.retention,
            encryption_key=access.encryption_key,
        )
        self.events_resource = self.api.root.add_resource("events")
        self.put_method = self._put_method(stream, partition_key_field, event_schema, authorizer)
        self.web_acl_association = associate_web_acl(self, self.api.deployment_stage, web_acl_arn)
        if strict:
            _acknowledge_strict_stage_rules(self.api.deployment_stage)
        self._add_alarms()

    def _put_method(
        self,
        stream: kinesis.IStream,
        partition_key_field: str,
        event_schema: apigw.JsonSchema | None,
        authorizer: apigw.IAuthorizer | None,
    ) -> apigw.Method:
        integration = apigw.AwsIntegration(
            service="kinesis",
            action="PutRecords",
            integration_http_method="POST",
            options=apigw.IntegrationOptions(
                credentials_role=self.role,
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                request_templates={"application/json": put_records_template(stream.stream_name, partition_key_field)},
                integration_responses=[
                    apigw.IntegrationResponse(
                        status_code="200", response_templates={"application/json": SUCCESS_RESPONSE_TEMPLATE}
                    ),
                    apigw.IntegrationResponse(
                        status_code="400",
                        selection_pattern="4\\d{2}",
                        response_templates={"application/json": REFUSED_RESPONSE_TEMPLATE},
                    ),
                    # Kinesis could not take the call (an internal error, unavailable): retry later.
                    apigw.IntegrationResponse(
                        status_code="503",
                        selection_pattern="5\\d{2}",
                        response_templates={"application/json": '{"message": "the stream did not take the events"}'},
                    ),
                ],
            ),
        )
        validator = self.api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        model = self.api.add_model(
            "PutEventsModel", content_type="application/json", schema=events_schema(partition_key_field, event_schema)
        )
        authorization: dict[str, Any] = {"authorization_type": apigw.AuthorizationType.IAM}
        if authorizer is not None:
            authorization = {"authorizer": authorizer, "authorization_type": authorizer.authorization_type}
        method = self.events_resource.add_method(
            "POST",
            integration,
            request_validator=validator,
            request_models={"application/json": model},
            method_responses=[
                apigw.MethodResponse(status_code=str(status)) for status in (200, PARTIAL_FAILURE_STATUS, 400, 503)
            ],
            **authorization,
        )
        if authorizer is None or authorizer.authorization_type != apigw.AuthorizationType.COGNITO:
            acknowledge(
                method,
                "AwsSolutions-COG4",
                "The method is authorized by IAM (SigV4) or a Lambda authorizer, chosen by the construct's user; "
                "producers are services, not Cognito users, so a user-pool authorizer does not apply.",
            )
        return method

    def grant_invoke(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` post events (``execute-api:Invoke`` on ``POST /events``); IAM authorization only."""
        if self._authorizer is not None:
            raise ValueError(f"{self.node.path}: grant_invoke needs IAM authorization, but an authorizer decides here")
        return grant_execute_api(self.api, self._stage_name, grantee, method="POST", path="/events")

    @property
    def url(self) -> str:
        """The stage's invoke URL."""
        return self.api.url

    def _add_alarms(self) -> None:
        stage = self.api.deployment_stage
        self.server_error_alarm = threshold_alarm(
            self,
            "ServerErrorAlarm",
            stage.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description=f"{self.node.path}: the stream refused events (5XX): producers must retry them",
        )

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm of the API."""
        return [self.server_error_alarm]
