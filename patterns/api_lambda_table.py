"""REST API (API Gateway v1) -> Lambda -> DynamoDB: a CRUD items service, secure by default."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration, Names, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .blocks import SecureFunction, SecureTable, acknowledge, bundled_code, threshold_alarm
from .blocks.alarms import function_errors_alarm, function_throttles_alarm
from .blocks.api_cors import CORS_ALLOW_ORIGINS_ENV, add_error_responses, check_origins, preflight_options
from .blocks.api_invoke import grant_execute_api
from .blocks.api_logging import access_logs, check_logging_props, logged_stage_options, stage_logging
from .blocks.api_models import CREATE_ITEM_SCHEMA, REPLACE_ITEM_SCHEMA
from .blocks.api_strict import acknowledge_stage_rules, limit_invoke_permissions_to_account
from .blocks.api_table_key import known_partition_key
from .blocks.api_waf import associate_web_acl, check_web_acl_arn
from .compliance import is_strict

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


class ApiLambdaTable(Construct):
    """A REST API in front of a function that owns a DynamoDB table.

    With no props it deploys the bundled items handler (``lambda_src/items_api``):
    ``POST /items``, ``GET /items``, ``GET|PUT|DELETE /items/{id}``.

    Attributes:
        api: the ``apigateway.RestApi`` (regional, X-Ray tracing, JSON access logs, stage throttling),
            named uniquely (``rest_api_name``) so its metrics are its own.
        function: the function behind every method (yours if you passed ``function=``).
        table: the table (yours if you passed ``table=``).
        secure_function / secure_table: the building blocks, when this construct made them.
        access_log_group: where the stage writes JSON access logs.
        execution_log_group: the stage's execution log group (``API-Gateway-Execution-Logs_<id>/<stage>``),
            or None when execution logging is off or ``manage_execution_log_group=False``.
        account_logging: the ``ApiGatewayAccountLogging`` stack this API's stack depends on, or None.
        gateway_responses: the 4XX/5XX responses carrying CORS headers (empty without CORS).
        items_resource / item_resource: ``/items`` and ``/items/{id}``, to add methods.
        server_error_alarm, latency_alarm (on the API's stage metrics), function_errors_alarm,
        function_throttles_alarm, and ``alarms``: no actions of their own; ``route_alarms`` sends them on.

    Table (a new ``SecureTable`` unless ``table`` is given):
        table: an existing table instead. Then ``sort_key``, ``global_secondary_indexes`` and
            ``table_removal_policy`` must not be given.
        partition_key: the table's partition key; default ``id`` (string). With ``table=`` it
            names that table's key for the handler (read from the table when it is a
            ``dynamodb.Table`` or ``TableV2`` of this app, and then it must match it; else ``id``).
        sort_key: only with your own ``code`` or ``function`` (the bundled handler uses a
            partition key only).
        global_secondary_indexes: added to the new table; the function may use them.
        table_removal_policy: default RETAIN.

    Function (a new ``SecureFunction`` unless ``function`` is given):
        function: an existing ``IFunction`` or ``Alias`` (e.g. ``CanaryFunction.alias``).
            Configure its environment yourself (``items_handler_environment``: ``TABLE_NAME``,
            ``PARTITION_KEY``, ``CORS_ALLOW_ORIGINS``).
        code / handler: your own handler instead of the bundled one (``handler`` default
            ``app.handler``). It receives ``TABLE_NAME``, ``PARTITION_KEY`` and, with CORS,
            ``CORS_ALLOW_ORIGINS``.
        environment: extra environment variables for a function made here (not those above).
        memory_size / timeout: for a function made here. Defaults 256 MiB / 10 s.
        table_actions: exact DynamoDB actions granted to the function on the table and the
            indexes this construct knows. Default: what the bundled handler calls
            (``ITEMS_HANDLER_ACTIONS``), which the bundled handler needs. Pass ``()`` to grant
            nothing (required for a ``function`` whose role this app cannot change).
        metrics_namespace: ``POWERTOOLS_METRICS_NAMESPACE`` of a function made here. Default ``ItemsApi``.

    API:
        rest_api_name: the API's name, which is also its metrics' ``ApiName``. Default: unique
            and stable, from the stack name and the construct path (so the same app deployed
            under two stack names in one account gets two names).
        authorizer: a Cognito user-pool or Lambda authorizer. Default: IAM (SigV4) authorization
            (then ``grant_invoke`` gives callers access).
        read_scopes / write_scopes: OAuth scopes the GET methods / the POST, PUT, DELETE methods
            require (Cognito authorizer only).
        cors_allow_origins: enable CORS for these origins (``https://host[:port]`` in lowercase, as
            browsers send them; or ``["*"]`` alone): preflight, the handler's answers and API
            Gateway's 4XX/5XX. Default: CORS off.
        throttling_rate_limit / throttling_burst_limit: stage-wide. Defaults 100 rps / 200.
        stage_name: default ``prod``.
        execution_log_level: API Gateway execution logs. Default ERROR (access logs are kept either way).
        manage_execution_log_group: make the execution log group (with retention, before the stage).
            Default True. Pass False for an API whose group API Gateway already made (an API
            that logged before it was made here): the stack cannot create a group that exists.
        access_log_retention: of the access and execution logs. Default one month; the profile's
            year under the strict profile, which refuses a shorter value (``ValueError``).
        web_acl_arn: a regional WAFv2 web ACL to associate with the stage. Default none; under the
            strict profile the stack's ``blocks.api_waf.web_acl`` (AWS managed rule groups, logged).
        manage_account_logging_role: set API Gateway's account-level CloudWatch role, which both
            access and execution logs need, in a settings stack per stage and environment of the
            app (``ApiGatewayAccountLogging``) that this API's stack depends on. Default True.
        account_has_logging_role: the account and region already have that role set (by another
            app or by hand); use with ``manage_account_logging_role=False``. Default False.
            One of the two must be true: a stage with access logs fails to create without the role.

    Strict profile (``patterns.compliance``): the access and execution log groups are encrypted
    with the stack's logs key; each Lambda permission names the stack's account (``SourceAccount``);
    the stage acknowledges, as not applying to Lambda-proxy methods, a stage cache and a client
    certificate (``blocks.api_strict``).

    Alarms:
        server_error_rate_threshold: 5XX share of requests, in (0, 1]. Default 0.01.
        latency_threshold: p99 latency. Default 3 seconds.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table: dynamodb.ITable | None = None,
        partition_key: dynamodb.Attribute | None = None,
        sort_key: dynamodb.Attribute | None = None,
        global_secondary_indexes: Sequence[dynamodb.GlobalSecondaryIndexProps] | None = None,
        table_removal_policy: RemovalPolicy | None = None,
        function: lambda_.IFunction | None = None,
        code: lambda_.Code | None = None,
        handler: str | None = None,
        environment: Mapping[str, str] | None = None,
        memory_size: int | None = None,
        timeout: Duration | None = None,
        table_actions: Sequence[str] = ITEMS_HANDLER_ACTIONS,
        metrics_namespace: str | None = None,
        rest_api_name: str | None = None,
        authorizer: apigw.IAuthorizer | None = None,
        read_scopes: Sequence[str] = (),
        write_scopes: Sequence[str] = (),
        cors_allow_origins: Sequence[str] | None = None,
        throttling_rate_limit: float = 100,
        throttling_burst_limit: int = 200,
        stage_name: str = "prod",
        execution_log_level: apigw.MethodLoggingLevel = apigw.MethodLoggingLevel.ERROR,
        manage_execution_log_group: bool = True,
        access_log_retention: logs.RetentionDays | None = None,
        web_acl_arn: str | None = None,
        manage_account_logging_role: bool = True,
        account_has_logging_role: bool = False,
        server_error_rate_threshold: float = 0.01,
        latency_threshold: Duration = Duration.seconds(3),
    ) -> None:
        super().__init__(scope, id)
        _validate(**locals())
        self._authorizer = authorizer
        self._stage_name = stage_name

        self.secure_table: SecureTable | None = None
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

        self.secure_function: SecureFunction | None = None
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
                    **items_handler_environment(
                        table,
                        partition_key=key_name,
                        metrics_namespace=metrics_namespace or _DEFAULT_NAMESPACE,
                        cors_allow_origins=cors_allow_origins,
                    ),
                },
                service_name=id,
            )
            function = self.secure_function.function
        self.function = function
        self.grant = self._grant_table(table, index_names, table_actions)

        strict = is_strict(self)
        access = access_logs(self, access_log_retention, default=_LOG_RETENTION, prop="access_log_retention")
        self.access_log_group = access.log_group
        self.api = self._rest_api(
            rest_api_name=rest_api_name or Names.unique_resource_name(self, max_length=_MAX_NAME_LENGTH, separator="-"),
            cors_allow_origins=cors_allow_origins,
            stage_name=stage_name,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            execution_log_level=execution_log_level,
        )
        self.account_logging, self.execution_log_group = stage_logging(
            self,
            self.api.deployment_stage,
            stage_name,
            level=execution_log_level,
            manage_account_logging_role=manage_account_logging_role,
            manage_execution_log_group=manage_execution_log_group,
            retention=access.retention,
            encryption_key=access.encryption_key,
        )
        self.gateway_responses = add_error_responses(self.api, cors_allow_origins) if cors_allow_origins else []
        self._add_routes(authorizer, read_scopes, write_scopes)
        self.web_acl_association = associate_web_acl(self, self.api.deployment_stage, web_acl_arn)
        if strict:
            limit_invoke_permissions_to_account(self.api.methods)
            acknowledge_stage_rules(self.api.deployment_stage)
        self._add_alarms(server_error_rate_threshold, latency_threshold)

    @property
    def url(self) -> str:
        """The stage's invoke URL."""
        return self.api.url

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [self.server_error_alarm, self.latency_alarm, self.function_errors_alarm, self.function_throttles_alarm]

    def _grant_table(self, table: dynamodb.ITable, index_names: list[str], actions: Sequence[str]) -> iam.Grant | None:
        if not actions:
            return None
        # Index ARNs are spelled out by name so the grant holds no wildcard.
        resources = [table.table_arn] + [f"{table.table_arn}/index/{name}" for name in index_names]
        grant = iam.Grant.add_to_principal(grantee=self.function, actions=list(actions), resource_arns=resources)
        if table.encryption_key is not None:
            table.encryption_key.grant(self.function, *_TABLE_KEY_ACTIONS)
        return grant

    def grant_invoke(self, grantee: iam.IGrantable, method: str | None = None, path: str | None = None) -> iam.Grant:
        """Let ``grantee`` call the API (``execute-api:Invoke``) on the deployed stage.

        Args:
            grantee: e.g. a function or role that signs its requests (SigV4).
            method: one HTTP method (``GET``); default every method.
            path: one resource path of this API (``/items/{id}``); default every path. A path
                parameter matches any one value, so ``{id}`` becomes ``*`` in the ARN.

        Raises ValueError when the API is not IAM-authorized (an authorizer decides there), or
        for a method or path the API does not have.
        """
        if self._authorizer is not None:
            kind = self._authorizer.authorization_type
            raise ValueError(
                f"{self.node.path}: grant_invoke needs IAM authorization, but authorizer= "
                f"({kind.value if kind is not None else 'custom'}) decides who may call this API; "
                "give callers tokens the authorizer accepts instead"
            )
        return grant_execute_api(self.api, self._stage_name, grantee, method=method, path=path)

    def _rest_api(
        self,
        *,
        rest_api_name: str,
        cors_allow_origins: Sequence[str] | None,
        stage_name: str,
        throttling_rate_limit: float,
        throttling_burst_limit: int,
        execution_log_level: apigw.MethodLoggingLevel,
    ) -> apigw.RestApi:
        return apigw.RestApi(
            self,
            "Api",
            rest_api_name=rest_api_name,
            description=f"{self.node.path} items API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            default_cors_preflight_options=(
                preflight_options(cors_allow_origins, _ITEM_METHODS) if cors_allow_origins else None
            ),
            deploy_options=logged_stage_options(
                stage_name,
                access_log_group=self.access_log_group,
                logging_level=execution_log_level,
                throttling_rate_limit=throttling_rate_limit,
                throttling_burst_limit=throttling_burst_limit,
            ),
        )

    def _add_routes(
        self, authorizer: apigw.IAuthorizer | None, read_scopes: Sequence[str], write_scopes: Sequence[str]
    ) -> None:
        api = self.api
        validator = api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        create_model = api.add_model("CreateItemModel", content_type="application/json", schema=CREATE_ITEM_SCHEMA)
        replace_model = api.add_model("ReplaceItemModel", content_type="application/json", schema=REPLACE_ITEM_SCHEMA)
        integration = apigw.LambdaIntegration(self.function, allow_test_invoke=False)

        def add(resource: apigw.Resource, verb: str, scopes: Sequence[str], **options: Any) -> apigw.Method:
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
            request_parameters={
                "method.request.querystring.limit": False,
                "method.request.querystring.next_token": False,
            },
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

    def _add_alarms(self, server_error_rate_threshold: float, latency_threshold: Duration) -> None:
        period = Duration.minutes(5)
        stage = self.api.deployment_stage  # metrics by ApiName and Stage: this API's traffic only
        self.server_error_alarm = threshold_alarm(
            self,
            "ServerErrorAlarm",
            stage.metric_server_error(period=period, statistic="Average"),
            threshold=server_error_rate_threshold,
            description=f"{self.node.path}: more than {server_error_rate_threshold:.1%} of requests got a 5XX",
        )
        self.latency_alarm = threshold_alarm(
            self,
            "LatencyAlarm",
            stage.metric_latency(period=period, statistic="p99"),
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
_DEFAULT_NAMESPACE = "ItemsApi"
_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
_MAX_NAME_LENGTH = 128
_ITEM_METHODS = ("GET", "POST", "PUT", "DELETE")
#: The environment variables this construct sets on a function it makes.
_HANDLER_VARIABLES = frozenset({"TABLE_NAME", "PARTITION_KEY", "POWERTOOLS_METRICS_NAMESPACE", CORS_ALLOW_ORIGINS_ENV})


def items_handler_environment(
    table: dynamodb.ITable,
    *,
    partition_key: str | None = None,
    metrics_namespace: str = _DEFAULT_NAMESPACE,
    admin_group: str | None = None,
    cors_allow_origins: Sequence[str] | None = None,
) -> dict[str, str]:
    """The environment the bundled items handler needs, for a function you make yourself.

    E.g. a ``CanaryFunction`` running the items handler that ``ApiLambdaTable(function=...)``
    fronts. ``admin_group``: only members of this Cognito group may delete.
    ``cors_allow_origins``: the same origins as the API's, so the handler's answers carry
    ``Access-Control-Allow-Origin`` for them.
    """
    environment = {
        "TABLE_NAME": table.table_name,
        "PARTITION_KEY": partition_key or _key_of(table).name,
        "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace,
    }
    if admin_group:
        environment["ADMIN_GROUP"] = admin_group
    if cors_allow_origins:
        environment[CORS_ALLOW_ORIGINS_ENV] = ",".join(cors_allow_origins)
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
    """The partition key of a table of this app; ``id`` (string) for a table it cannot read."""
    return known_partition_key(table) or _DEFAULT_KEY


def _authorization(authorizer: apigw.IAuthorizer | None, scopes: Sequence[str]) -> dict[str, Any]:
    if authorizer is None:
        return {"authorization_type": apigw.AuthorizationType.IAM}
    options: dict[str, Any] = {"authorizer": authorizer, "authorization_type": authorizer.authorization_type}
    if scopes:
        options["authorization_scopes"] = list(scopes)
    return options


def _validate(
    *,
    table: dynamodb.ITable | None,
    partition_key: dynamodb.Attribute | None,
    sort_key: dynamodb.Attribute | None,
    global_secondary_indexes: Sequence[dynamodb.GlobalSecondaryIndexProps] | None,
    table_removal_policy: RemovalPolicy | None,
    function: lambda_.IFunction | None,
    code: lambda_.Code | None,
    handler: str | None,
    environment: Mapping[str, str] | None,
    memory_size: int | None,
    timeout: Duration | None,
    table_actions: Sequence[str],
    metrics_namespace: str | None,
    rest_api_name: str | None,
    authorizer: apigw.IAuthorizer | None,
    read_scopes: Sequence[str],
    write_scopes: Sequence[str],
    cors_allow_origins: Sequence[str] | None,
    throttling_rate_limit: float,
    throttling_burst_limit: int,
    stage_name: str,
    web_acl_arn: str | None,
    manage_account_logging_role: bool,
    account_has_logging_role: bool,
    server_error_rate_threshold: float,
    latency_threshold: Duration,
    **_: Any,
) -> None:
    bundled = function is None and code is None
    _validate_table(table, partition_key, sort_key, global_secondary_indexes, table_removal_policy, bundled)
    _validate_function(function, code, handler, environment, memory_size, timeout, metrics_namespace, table_actions)
    missing = sorted(set(ITEMS_HANDLER_ACTIONS) - set(table_actions)) if bundled else []
    if missing:
        raise ValueError(
            f"the bundled items handler calls {', '.join(missing)}, which table_actions leaves out; "
            "grant them or pass code= for a handler that needs less"
        )
    if (read_scopes or write_scopes) and (
        authorizer is None or authorizer.authorization_type != apigw.AuthorizationType.COGNITO
    ):
        raise ValueError("read_scopes and write_scopes need a Cognito user-pool authorizer")
    if cors_allow_origins is not None:
        check_origins(cors_allow_origins)
    if rest_api_name is not None and (not rest_api_name.strip() or len(rest_api_name) > _MAX_NAME_LENGTH):
        raise ValueError(f"rest_api_name must be 1 to {_MAX_NAME_LENGTH} characters, got {rest_api_name!r}")
    if throttling_rate_limit <= 0 or throttling_burst_limit < 1:
        raise ValueError("throttling_rate_limit must be > 0 and throttling_burst_limit >= 1")
    if not stage_name or not stage_name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"stage_name must be letters, digits, '-' or '_', got {stage_name!r}")
    check_logging_props(manage_account_logging_role, account_has_logging_role)
    check_web_acl_arn(web_acl_arn)
    if not 0 < server_error_rate_threshold <= 1:
        raise ValueError(
            f"server_error_rate_threshold is a share of requests in (0, 1], got {server_error_rate_threshold}"
        )
    if latency_threshold.to_milliseconds() <= 0:
        raise ValueError("latency_threshold must be positive")


def _given(**props: Any) -> list[str]:
    return [name for name, value in props.items() if value is not None]


def _validate_table(
    table: dynamodb.ITable | None,
    partition_key: dynamodb.Attribute | None,
    sort_key: dynamodb.Attribute | None,
    global_secondary_indexes: Sequence[dynamodb.GlobalSecondaryIndexProps] | None,
    table_removal_policy: RemovalPolicy | None,
    bundled: bool,
) -> None:
    if table is not None:
        given = _given(
            sort_key=sort_key,
            global_secondary_indexes=global_secondary_indexes,
            table_removal_policy=table_removal_policy,
        )
        if given:
            raise ValueError(f"table= was given, so {', '.join(given)} cannot be: they describe a new table")
    for label, key in (("partition_key", partition_key), ("sort_key", sort_key)):
        if key is not None and not key.name.strip():
            raise ValueError(f"{label} needs a non-empty attribute name")
    real_key = known_partition_key(table) if table is not None else None
    if real_key is not None and partition_key is not None and partition_key.name != real_key.name:
        raise ValueError(
            f"partition_key={partition_key.name!r} contradicts table=, whose partition key is {real_key.name!r}: "
            "leave partition_key out (it is read from the table) or pass the table's own key"
        )
    key = partition_key or real_key
    if bundled and key is not None and key.type != dynamodb.AttributeType.STRING:
        raise ValueError(
            f"the bundled items handler keys items by string ids, but the partition key {key.name!r} is "
            f"{key.type.value}; use a string partition_key/table or pass code= or function="
        )
    if bundled and sort_key is not None:
        raise ValueError("the bundled items handler uses a partition key only; pass code= or function= to use sort_key")


def _validate_function(
    function: lambda_.IFunction | None,
    code: lambda_.Code | None,
    handler: str | None,
    environment: Mapping[str, str] | None,
    memory_size: int | None,
    timeout: Duration | None,
    metrics_namespace: str | None,
    table_actions: Sequence[str],
) -> None:
    if function is not None:
        given = _given(
            code=code,
            handler=handler,
            environment=environment,
            memory_size=memory_size,
            timeout=timeout,
            metrics_namespace=metrics_namespace,
        )
        if given:
            raise ValueError(f"function= was given, so {', '.join(given)} cannot be: they configure a new function")
        if table_actions and function.role is None:
            raise ValueError(
                "function= has no role this app can change (an imported function), so table_actions cannot be "
                "granted to it: pass table_actions=() and grant the table on the function's role where it is defined"
            )
    if handler is not None and code is None:
        raise ValueError("handler= needs code=: the bundled handler's entry point is fixed")
    reserved = sorted(_HANDLER_VARIABLES & set(environment or {}))
    if reserved:
        raise ValueError(
            f"environment= sets {', '.join(reserved)}, which this construct sets from its props "
            "(table, partition_key, metrics_namespace, cors_allow_origins): pass those props instead"
        )
    for action in table_actions:
        if not action.startswith("dynamodb:") or "*" in action:
            raise ValueError(f"table_actions must be exact DynamoDB actions like 'dynamodb:GetItem', got {action!r}")
