"""REST API (API Gateway v1) -> Lambda -> DynamoDB: a CRUD items service, secure by default."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

from aws_cdk import Duration, RemovalPolicy, Token, aws_apigateway as apigw, aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb, aws_iam as iam, aws_lambda as lambda_, aws_logs as logs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from .blocks import SecureFunction, SecureTable, acknowledge, bundled_code, threshold_alarm
from .blocks.alarms import function_errors_alarm, function_throttles_alarm
from .blocks.api_logging import api_gateway_account_logging

#: The DynamoDB actions the bundled items handler calls, and so the only ones it is granted.
ITEMS_HANDLER_ACTIONS = (
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
)
# What DynamoDB needs of a caller when the table is encrypted with a customer-managed key.
_TABLE_KEY_ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")

_ITEM_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"
_NAME = apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1, max_length=200)
_DESCRIPTION = apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, max_length=2000)
# The largest integer every JSON client represents exactly; the handler enforces the same bound.
_MAX_INTEGER = 2**53 - 1
_QUANTITY = apigw.JsonSchema(type=apigw.JsonSchemaType.INTEGER, minimum=0, maximum=_MAX_INTEGER)
CREATE_ITEM_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="CreateItem",
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern=_ITEM_ID_PATTERN),
        "name": _NAME,
        "description": _DESCRIPTION,
        "quantity": _QUANTITY,
    },
    required=["name"],
    additional_properties=False,
)
REPLACE_ITEM_SCHEMA = apigw.JsonSchema(
    schema=apigw.JsonSchemaVersion.DRAFT4,
    title="ReplaceItem",
    type=apigw.JsonSchemaType.OBJECT,
    properties={
        "name": _NAME,
        "description": _DESCRIPTION,
        "quantity": _QUANTITY,
        "version": apigw.JsonSchema(type=apigw.JsonSchemaType.INTEGER, minimum=1, maximum=_MAX_INTEGER),
    },
    required=["name", "version"],
    additional_properties=False,
)


class ApiLambdaTable(Construct):
    """A REST API in front of a function that owns a DynamoDB table.

    With no props it deploys the bundled items handler (``lambda_src/items_api``):
    ``POST /items``, ``GET /items``, ``GET|PUT|DELETE /items/{id}``.

    Attributes:
        api: the ``apigateway.RestApi`` (regional, X-Ray tracing, JSON access logs, stage throttling).
        function: the function behind every method (yours if you passed ``function=``).
        table: the table (yours if you passed ``table=``).
        secure_function / secure_table: the building blocks, when this construct made them.
        access_log_group: where the stage writes JSON access logs.
        items_resource / item_resource: ``/items`` and ``/items/{id}``, to add methods.
        server_error_alarm, latency_alarm, function_errors_alarm, function_throttles_alarm,
        and ``alarms``: no actions; add your own.

    Table (a new ``SecureTable`` unless ``table`` is given):
        table: an existing table instead. Then ``sort_key``, ``global_secondary_indexes`` and
            ``table_removal_policy`` must not be given.
        partition_key: the table's partition key; default ``id`` (string). With ``table=`` it
            names that table's key for the handler (read from the table when it is a
            ``dynamodb.Table`` of this app, else ``id``).
        sort_key: only with your own ``code`` or ``function`` (the bundled handler uses a
            partition key only).
        global_secondary_indexes: added to the new table; the function may use them.
        table_removal_policy: default RETAIN.

    Function (a new ``SecureFunction`` unless ``function`` is given):
        function: an existing ``IFunction`` or ``Alias`` (e.g. ``CanaryFunction.alias``).
            Configure its environment yourself (``TABLE_NAME``, ``PARTITION_KEY``).
        code / handler: your own handler instead of the bundled one (``handler`` default
            ``app.handler``). It receives ``TABLE_NAME`` and ``PARTITION_KEY``.
        environment: extra environment variables for a function made here.
        memory_size / timeout: for a function made here. Defaults 256 MiB / 10 s.
        table_actions: exact DynamoDB actions granted to the function on the table and the
            indexes this construct knows. Default: what the bundled handler calls
            (``ITEMS_HANDLER_ACTIONS``). Pass ``()`` to grant nothing.
        metrics_namespace: ``POWERTOOLS_METRICS_NAMESPACE`` of a function made here. Default ``ItemsApi``.

    API:
        authorizer: a Cognito user-pool or Lambda authorizer. Default: IAM (SigV4) authorization.
        read_scopes / write_scopes: OAuth scopes the GET methods / the POST, PUT, DELETE methods
            require (Cognito authorizer only).
        cors_allow_origins: enable CORS for these origins. Default: CORS off.
        throttling_rate_limit / throttling_burst_limit: stage-wide. Defaults 100 rps / 200.
        stage_name: default ``prod``.
        execution_log_level: API Gateway execution logs. Default ERROR.
        access_log_retention: default one month.
        web_acl_arn: a WAFv2 web ACL (regional scope) to associate with the stage. Default none.
        manage_account_logging_role: set API Gateway's account-level CloudWatch role (needed
            for execution logs, once per account and region; made once per stack). Default True.

    Alarms:
        server_error_rate_threshold: 5XX share of requests, in (0, 1]. Default 0.01.
        latency_threshold: p99 latency. Default 3 seconds.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: Optional[dynamodb.ITable] = None,
        partition_key: Optional[dynamodb.Attribute] = None,
        sort_key: Optional[dynamodb.Attribute] = None,
        global_secondary_indexes: Optional[Sequence[dynamodb.GlobalSecondaryIndexProps]] = None,
        table_removal_policy: Optional[RemovalPolicy] = None,
        function: Optional[lambda_.IFunction] = None,
        code: Optional[lambda_.Code] = None,
        handler: Optional[str] = None,
        environment: Optional[Mapping[str, str]] = None,
        memory_size: Optional[int] = None,
        timeout: Optional[Duration] = None,
        table_actions: Sequence[str] = ITEMS_HANDLER_ACTIONS,
        metrics_namespace: str = "ItemsApi",
        authorizer: Optional[apigw.IAuthorizer] = None,
        read_scopes: Sequence[str] = (),
        write_scopes: Sequence[str] = (),
        cors_allow_origins: Optional[Sequence[str]] = None,
        throttling_rate_limit: float = 100,
        throttling_burst_limit: int = 200,
        stage_name: str = "prod",
        execution_log_level: apigw.MethodLoggingLevel = apigw.MethodLoggingLevel.ERROR,
        access_log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        web_acl_arn: Optional[str] = None,
        manage_account_logging_role: bool = True,
        server_error_rate_threshold: float = 0.01,
        latency_threshold: Duration = Duration.seconds(3),
    ) -> None:
        super().__init__(scope, id)
        _validate(**locals())

        self.secure_table: Optional[SecureTable] = None
        index_names: list[str] = []
        if table is None:
            self.secure_table = SecureTable(
                self,
                "Items",
                partition_key=partition_key or _DEFAULT_KEY,
                sort_key=sort_key,
                global_secondary_indexes=global_secondary_indexes or (),
                removal_policy=table_removal_policy or RemovalPolicy.RETAIN,
            )
            table = self.secure_table.table
            index_names = [index.index_name for index in global_secondary_indexes or ()]
        self.table = table
        key_name = (partition_key or _key_of(table)).name

        self.secure_function: Optional[SecureFunction] = None
        if function is None:
            self.secure_function = SecureFunction(
                self,
                "Handler",
                code=code or bundled_code("items_api"),
                handler=handler or "app.handler",
                memory_size=memory_size or 256,
                timeout=timeout or Duration.seconds(10),
                environment={
                    **(environment or {}),
                    **items_handler_environment(table, partition_key=key_name, metrics_namespace=metrics_namespace),
                },
                service_name=id,
            )
            function = self.secure_function.function
        self.function = function
        self.grant = self._grant_table(table, index_names, table_actions)

        self.access_log_group = logs.LogGroup(
            self, "AccessLogs", retention=access_log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.api = self._rest_api(
            authorizer=authorizer,
            cors_allow_origins=cors_allow_origins,
            stage_name=stage_name,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            execution_log_level=execution_log_level,
        )
        if manage_account_logging_role:
            self.api.node.add_dependency(api_gateway_account_logging(self))
        self._add_routes(authorizer, read_scopes, write_scopes)
        self._associate_web_acl(web_acl_arn)
        self._add_alarms(server_error_rate_threshold, latency_threshold)

    @property
    def url(self) -> str:
        """The stage's invoke URL."""
        return self.api.url

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [self.server_error_alarm, self.latency_alarm, self.function_errors_alarm, self.function_throttles_alarm]

    def _grant_table(self, table: dynamodb.ITable, index_names: list[str], actions: Sequence[str]) -> Optional[iam.Grant]:
        if not actions:
            return None
        # Index ARNs are spelled out by name so the grant holds no wildcard.
        resources = [table.table_arn] + [f"{table.table_arn}/index/{name}" for name in index_names]
        grant = iam.Grant.add_to_principal(grantee=self.function, actions=list(actions), resource_arns=resources)
        if table.encryption_key is not None:
            table.encryption_key.grant(self.function, *_TABLE_KEY_ACTIONS)
        return grant

    def _rest_api(
        self,
        *,
        authorizer: Optional[apigw.IAuthorizer],
        cors_allow_origins: Optional[Sequence[str]],
        stage_name: str,
        throttling_rate_limit: float,
        throttling_burst_limit: int,
        execution_log_level: apigw.MethodLoggingLevel,
    ) -> apigw.RestApi:
        cors = None
        if cors_allow_origins is not None:
            cors = apigw.CorsOptions(
                allow_origins=list(cors_allow_origins),
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=["Authorization", "Content-Type", "X-Amz-Date", "X-Amz-Security-Token"],
                max_age=Duration.hours(1),
            )
        return apigw.RestApi(
            self,
            "Api",
            description=f"{self.node.path} items API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            default_cors_preflight_options=cors,
            deploy_options=apigw.StageOptions(
                stage_name=stage_name,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=execution_log_level,
                data_trace_enabled=False,
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_log_group),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )

    def _add_routes(
        self, authorizer: Optional[apigw.IAuthorizer], read_scopes: Sequence[str], write_scopes: Sequence[str]
    ) -> None:
        api = self.api
        validator = api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        create_model = api.add_model("CreateItemModel", content_type="application/json", schema=CREATE_ITEM_SCHEMA)
        replace_model = api.add_model("ReplaceItemModel", content_type="application/json", schema=REPLACE_ITEM_SCHEMA)
        integration = apigw.LambdaIntegration(self.function, allow_test_invoke=False)

        def add(resource: apigw.Resource, verb: str, scopes: Sequence[str], **options) -> apigw.Method:
            method = resource.add_method(
                verb,
                integration,
                request_validator=validator,
                **_authorization(authorizer, scopes),
                **options,
            )
            if authorizer is None or authorizer.authorization_type != apigw.AuthorizationType.COGNITO:
                acknowledge(
                    method,
                    "AwsSolutions-COG4",
                    "The method is authorized by IAM (SigV4) or a Lambda authorizer, chosen by the construct's "
                    "user; callers are not Cognito users, so a user-pool authorizer does not apply.",
                )
            return method

        self.items_resource = api.root.add_resource("items")
        self.item_resource = self.items_resource.add_resource("{id}")
        add(self.items_resource, "POST", write_scopes, request_models={"application/json": create_model})
        add(
            self.items_resource,
            "GET",
            read_scopes,
            request_parameters={"method.request.querystring.limit": False, "method.request.querystring.next_token": False},
        )
        by_id = {"method.request.path.id": True}
        add(self.item_resource, "GET", read_scopes, request_parameters=by_id)
        add(
            self.item_resource,
            "PUT",
            write_scopes,
            request_parameters=by_id,
            request_models={"application/json": replace_model},
        )
        add(self.item_resource, "DELETE", write_scopes, request_parameters=by_id)

        for resource in (api.root, self.items_resource, self.item_resource):
            preflight = resource.node.try_find_child("OPTIONS")
            if preflight is not None:
                reason = (
                    "CORS preflight: browsers send OPTIONS without credentials (Fetch standard); the mock "
                    "integration answers with CORS headers only and reaches no backend."
                )
                acknowledge(preflight, "AwsSolutions-APIG4", reason)
                acknowledge(preflight, "AwsSolutions-COG4", reason)

    def _associate_web_acl(self, web_acl_arn: Optional[str]) -> None:
        self.web_acl_association: Optional[wafv2.CfnWebACLAssociation] = None
        if web_acl_arn is None:
            acknowledge(
                self.api.deployment_stage,
                "AwsSolutions-APIG3",
                "WAF is opt-in (web_acl_arn=): it is billed per web ACL, rule and request and its rules depend on "
                "the traffic; every method is authorized and the stage is throttled meanwhile.",
            )
            return
        self.web_acl_association = wafv2.CfnWebACLAssociation(
            self, "WebAclAssociation", resource_arn=self.api.deployment_stage.stage_arn, web_acl_arn=web_acl_arn
        )

    def _add_alarms(self, server_error_rate_threshold: float, latency_threshold: Duration) -> None:
        period = Duration.minutes(5)
        self.server_error_alarm = threshold_alarm(
            self,
            "ServerErrorAlarm",
            self.api.metric_server_error(period=period, statistic="Average"),
            threshold=server_error_rate_threshold,
            description=f"{self.node.path}: more than {server_error_rate_threshold:.1%} of requests got a 5XX",
        )
        self.latency_alarm = threshold_alarm(
            self,
            "LatencyAlarm",
            self.api.metric_latency(period=period, statistic="p99"),
            threshold=latency_threshold.to_milliseconds(),
            description=f"{self.node.path}: p99 latency above {latency_threshold.to_milliseconds()} ms",
        )
        if self.secure_function is not None:
            self.function_errors_alarm = self.secure_function.errors_alarm
            self.function_throttles_alarm = self.secure_function.throttles_alarm
            return
        self.function_errors_alarm = function_errors_alarm(self, "FunctionErrorsAlarm", self.function)
        self.function_throttles_alarm = function_throttles_alarm(self, "FunctionThrottlesAlarm", self.function)


_DEFAULT_KEY = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)


def items_handler_environment(
    table: dynamodb.ITable,
    *,
    partition_key: Optional[str] = None,
    metrics_namespace: str = "ItemsApi",
    admin_group: Optional[str] = None,
) -> dict[str, str]:
    """The environment the bundled items handler needs, for a function you make yourself.

    E.g. a ``CanaryFunction`` running the items handler that ``ApiLambdaTable(function=...)``
    fronts. ``admin_group``: only members of this Cognito group may delete.
    """
    environment = {
        "TABLE_NAME": table.table_name,
        "PARTITION_KEY": partition_key or _key_of(table).name,
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
    }
    if admin_group:
        environment["ADMIN_GROUP"] = admin_group
    return environment


#: A proxy event for ``GET /items?limit=1``: a harmless smoke test of the items handler, e.g. as
#: ``CanaryFunction(smoke_payload=ITEMS_SMOKE_TEST_EVENT, expected_status_code=200)``.
ITEMS_SMOKE_TEST_EVENT = {
    "resource": "/items",
    "path": "/items",
    "httpMethod": "GET",
    "headers": {"Accept": "application/json"},
    "queryStringParameters": {"limit": "1"},
    "pathParameters": None,
    "requestContext": {"requestId": "smoke-test", "resourcePath": "/items", "httpMethod": "GET", "stage": "smoke"},
    "body": None,
    "isBase64Encoded": False,
}


def _key_of(table: dynamodb.ITable) -> dynamodb.Attribute:
    if isinstance(table, dynamodb.Table):
        return table.schema_v2().partition_keys[0]
    return _DEFAULT_KEY


def _authorization(authorizer: Optional[apigw.IAuthorizer], scopes: Sequence[str]) -> dict:
    if authorizer is None:
        return {"authorization_type": apigw.AuthorizationType.IAM}
    options: dict = {"authorizer": authorizer, "authorization_type": authorizer.authorization_type}
    if scopes:
        options["authorization_scopes"] = list(scopes)
    return options


def _validate(
    *,
    table,
    partition_key,
    sort_key,
    global_secondary_indexes,
    table_removal_policy,
    function,
    code,
    handler,
    environment,
    memory_size,
    timeout,
    table_actions,
    authorizer,
    read_scopes,
    write_scopes,
    cors_allow_origins,
    throttling_rate_limit,
    throttling_burst_limit,
    stage_name,
    web_acl_arn,
    server_error_rate_threshold,
    latency_threshold,
    **_,
) -> None:
    if table is not None:
        given = [
            name
            for name, value in (
                ("sort_key", sort_key),
                ("global_secondary_indexes", global_secondary_indexes),
                ("table_removal_policy", table_removal_policy),
            )
            if value is not None
        ]
        if given:
            raise ValueError(f"table= was given, so {', '.join(given)} cannot be: they describe a new table")
    for label, key in (("partition_key", partition_key), ("sort_key", sort_key)):
        if key is not None and not key.name.strip():
            raise ValueError(f"{label} needs a non-empty attribute name")
    if function is not None:
        given = [
            name
            for name, value in (
                ("code", code),
                ("handler", handler),
                ("environment", environment),
                ("memory_size", memory_size),
                ("timeout", timeout),
            )
            if value is not None
        ]
        if given:
            raise ValueError(f"function= was given, so {', '.join(given)} cannot be: they configure a new function")
    if handler is not None and code is None:
        raise ValueError("handler= needs code=: the bundled handler's entry point is fixed")
    if sort_key is not None and function is None and code is None:
        raise ValueError("the bundled items handler uses a partition key only; pass code= or function= to use sort_key")
    for action in table_actions:
        if not action.startswith("dynamodb:") or "*" in action:
            raise ValueError(f"table_actions must be exact DynamoDB actions like 'dynamodb:GetItem', got {action!r}")
    if (read_scopes or write_scopes) and (
        authorizer is None or authorizer.authorization_type != apigw.AuthorizationType.COGNITO
    ):
        raise ValueError("read_scopes and write_scopes need a Cognito user-pool authorizer")
    if cors_allow_origins is not None and (
        not cors_allow_origins or any(not origin.strip() for origin in cors_allow_origins)
    ):
        raise ValueError("cors_allow_origins must list at least one non-empty origin (or be None for no CORS)")
    if throttling_rate_limit <= 0 or throttling_burst_limit < 1:
        raise ValueError("throttling_rate_limit must be > 0 and throttling_burst_limit >= 1")
    if not stage_name or not stage_name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"stage_name must be letters, digits, '-' or '_', got {stage_name!r}")
    if web_acl_arn is not None and not Token.is_unresolved(web_acl_arn) and not web_acl_arn.startswith("arn:"):
        raise ValueError(f"web_acl_arn must be a WAFv2 web ACL ARN, got {web_acl_arn!r}")
    if not 0 < server_error_rate_threshold <= 1:
        raise ValueError(f"server_error_rate_threshold is a share of requests in (0, 1], got {server_error_rate_threshold}")
    if latency_threshold.to_milliseconds() <= 0:
        raise ValueError("latency_threshold must be positive")
