"""ApiLambdaTable: resources, exact grants, validation, logging, auth, alarms and bad props."""

from __future__ import annotations

import pytest
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from handler_loader import load_handler
from items_api_stacks import INLINE, new_stack, synth
from nag_check import nag_app, nag_findings

from patterns import ITEMS_HANDLER_ACTIONS, ApiLambdaTable, SecureFunction
from patterns.api_lambda_table import CREATE_ITEM_SCHEMA, REPLACE_ITEM_SCHEMA


@pytest.fixture(scope="module")
def default() -> Template:
    return synth()


def methods(template: Template, verb: str | None = None) -> dict:
    found = template.find_resources("AWS::ApiGateway::Method")
    return {k: v for k, v in found.items() if verb is None or v["Properties"]["HttpMethod"] == verb}


def function_policy_statements(template: Template) -> list[dict]:
    policies = template.find_resources("AWS::IAM::Policy")
    statements = []
    for logical_id, policy in policies.items():
        if logical_id.startswith("ItemsHandlerRoleDefaultPolicy"):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


# --- defaults ---------------------------------------------------------------------------


def test_makes_one_api_one_function_one_table(default):
    default.resource_count_is("AWS::ApiGateway::RestApi", 1)
    default.resource_count_is("AWS::Lambda::Function", 1)
    default.resource_count_is("AWS::DynamoDB::Table", 1)


def test_default_table_is_keyed_by_id_with_pitr(default):
    default.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )
    default.has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain"})


def test_function_runs_the_bundled_handler_with_its_configuration(default):
    default.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "app.handler",
            "Environment": {
                "Variables": {
                    "TABLE_NAME": {"Ref": Match.string_like_regexp("^ItemsTable")},
                    "PARTITION_KEY": "id",
                    "POWERTOOLS_METRICS_NAMESPACE": "ItemsApi",
                    "POWERTOOLS_SERVICE_NAME": "Items",
                }
            },
        },
    )


def test_function_gets_exactly_the_handlers_dynamodb_actions_on_the_table(default):
    (statement,) = [s for s in function_policy_statements(default) if "dynamodb" in str(s["Action"])]
    assert sorted(statement["Action"]) == sorted(ITEMS_HANDLER_ACTIONS)
    table_id = next(iter(default.find_resources("AWS::DynamoDB::Table")))
    assert statement["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}


def test_every_method_requires_iam_authorization_by_default(default):
    found = methods(default)
    assert len(found) == 5
    assert {m["Properties"]["AuthorizationType"] for m in found.values()} == {"AWS_IAM"}


def test_routes_are_the_items_crud_routes(default):
    paths = {r["Properties"]["PathPart"] for r in default.find_resources("AWS::ApiGateway::Resource").values()}
    assert paths == {"items", "{id}"}
    verbs = sorted(m["Properties"]["HttpMethod"] for m in methods(default).values())
    assert verbs == ["DELETE", "GET", "GET", "POST", "PUT"]


def test_methods_use_lambda_proxy_integration(default):
    for method in methods(default).values():
        assert method["Properties"]["Integration"]["Type"] == "AWS_PROXY"


def test_request_validator_checks_bodies_and_parameters(default):
    default.has_resource_properties(
        "AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True, "ValidateRequestParameters": True}
    )
    for method in methods(default).values():
        assert "RequestValidatorId" in method["Properties"]


def test_create_and_replace_bodies_have_json_schema_models(default):
    default.has_resource_properties(
        "AWS::ApiGateway::Model",
        {
            "ContentType": "application/json",
            "Schema": Match.object_like({"title": "CreateItem", "required": ["name"], "additionalProperties": False}),
        },
    )
    default.has_resource_properties(
        "AWS::ApiGateway::Model",
        {"Schema": Match.object_like({"title": "ReplaceItem", "required": ["name", "version"]})},
    )
    (post,) = methods(default, "POST").values()
    assert "application/json" in post["Properties"]["RequestModels"]
    (put,) = methods(default, "PUT").values()
    assert "application/json" in put["Properties"]["RequestModels"]


def test_item_methods_require_the_id_path_parameter(default):
    for verb in ("PUT", "DELETE"):
        (method,) = methods(default, verb).values()
        assert method["Properties"]["RequestParameters"] == {"method.request.path.id": True}


def test_stage_throttles_traces_and_logs_without_request_bodies(default):
    default.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "prod",
            "TracingEnabled": True,
            "MethodSettings": [
                Match.object_like(
                    {
                        "HttpMethod": "*",
                        "ResourcePath": "/*",
                        "ThrottlingRateLimit": 100,
                        "ThrottlingBurstLimit": 200,
                        "LoggingLevel": "ERROR",
                        "DataTraceEnabled": False,
                        "MetricsEnabled": True,
                    }
                )
            ],
            "AccessLogSetting": {
                "DestinationArn": {"Fn::GetAtt": [Match.string_like_regexp("^ItemsAccessLogs"), "Arn"]},
                "Format": Match.string_like_regexp(r'^\{"requestId":"\$context.requestId"'),
            },
        },
    )


def test_access_logs_have_bounded_retention(default):
    default.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_api_is_regional_without_cdk_made_cloudwatch_role(default):
    default.has_resource_properties("AWS::ApiGateway::RestApi", {"EndpointConfiguration": {"Types": ["REGIONAL"]}})
    default.resource_count_is("AWS::ApiGateway::Account", 0)  # the account setting has a stack of its own
    roles = default.find_resources("AWS::IAM::Role")
    assert all("ManagedPolicyArns" not in role["Properties"] for role in roles.values())


def test_no_cors_and_no_waf_by_default(default):
    assert methods(default, "OPTIONS") == {}
    default.resource_count_is("AWS::WAFv2::WebACLAssociation", 0)


def test_api_gateway_may_invoke_the_function_from_its_methods_only(default):
    permissions = default.find_resources("AWS::Lambda::Permission")
    assert len(permissions) == 5  # one per method, no test-invoke permissions
    for permission in permissions.values():
        assert permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
        assert "'Ref': 'ItemsApiDeploymentStageprod" in str(permission["Properties"]["SourceArn"])


def test_alarms_cover_5xx_rate_p99_latency_errors_and_throttles(default):
    default.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "5XXError", "Statistic": "Average", "Threshold": 0.01}
    )
    default.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"MetricName": "Latency", "ExtendedStatistic": "p99", "Threshold": 3000}
    )
    default.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Errors", "Namespace": "AWS/Lambda"})
    default.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Throttles", "Namespace": "AWS/Lambda"})


def test_alarms_and_resources_are_exposed():
    stack = new_stack()
    items = ApiLambdaTable(stack, "Items")
    assert len(items.alarms) == 4
    assert items.secure_function is not None and items.function is items.secure_function.function
    assert items.secure_table is not None and items.table is items.secure_table.table
    assert items.access_log_group is not None
    assert items.item_resource.path == "/items/{id}"


# --- options ------------------------------------------------------------------------------


def test_cors_adds_preflight_for_the_given_origins():
    template = synth(cors_allow_origins=["https://app.example.com"])
    preflights = methods(template, "OPTIONS")
    assert len(preflights) == 3
    assert "https://app.example.com" in str(preflights)


def test_web_acl_is_associated_with_the_stage():
    arn = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/items/abc"
    template = synth(web_acl_arn=arn)
    template.has_resource_properties(
        "AWS::WAFv2::WebACLAssociation",
        {"WebACLArn": arn, "ResourceArn": Match.object_like({"Fn::Join": Match.any_value()})},
    )


def test_throttling_stage_name_and_thresholds_are_configurable():
    template = synth(
        throttling_rate_limit=5,
        throttling_burst_limit=10,
        stage_name="v1",
        latency_threshold=Duration.millis(800),
        server_error_rate_threshold=0.05,
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "v1",
            "MethodSettings": [Match.object_like({"ThrottlingRateLimit": 5, "ThrottlingBurstLimit": 10})],
        },
    )
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "Latency", "Threshold": 800})
    template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "5XXError", "Threshold": 0.05})


def test_cognito_authorizer_with_read_and_write_scopes():
    stack = new_stack()
    pool = cognito.UserPool(stack, "Pool")
    authorizer = apigw.CognitoUserPoolsAuthorizer(stack, "Authorizer", cognito_user_pools=[pool])
    ApiLambdaTable(stack, "Items", authorizer=authorizer, read_scopes=["items/read"], write_scopes=["items/write"])
    template = Template.from_stack(stack)
    for method in methods(template).values():
        props = method["Properties"]
        assert props["AuthorizationType"] == "COGNITO_USER_POOLS"
        expected = ["items/read"] if props["HttpMethod"] == "GET" else ["items/write"]
        assert props["AuthorizationScopes"] == expected


def test_lambda_token_authorizer_is_used_for_every_method():
    stack = new_stack()
    auth_fn = SecureFunction(stack, "AuthFn", code=INLINE, handler="index.handler")
    authorizer = apigw.TokenAuthorizer(stack, "Authorizer", handler=auth_fn.function)
    ApiLambdaTable(stack, "Items", authorizer=authorizer)
    template = Template.from_stack(stack)
    assert {m["Properties"]["AuthorizationType"] for m in methods(template).values()} == {"CUSTOM"}


def test_existing_table_key_is_passed_to_the_handler_and_no_table_is_made():
    stack = new_stack()
    table = dynamodb.Table(
        stack, "Existing", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
    )
    items = ApiLambdaTable(stack, "Items", table=table)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::DynamoDB::Table", 1)
    assert items.table is table and items.secure_table is None
    template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"PARTITION_KEY": "pk"})}}
    )


def test_an_existing_alias_is_integrated_and_granted_and_watched():
    stack = new_stack()
    fn = SecureFunction(stack, "Fn", code=INLINE, handler="index.handler")
    alias = lambda_.Alias(stack, "Live", alias_name="live", version=fn.function.current_version)
    items = ApiLambdaTable(stack, "Items", function=alias)
    template = Template.from_stack(stack)
    assert items.function is alias and items.secure_function is None
    template.resource_count_is("AWS::Lambda::Function", 1)
    for method in methods(template).values():
        assert "'Ref': 'Live" in str(method["Properties"]["Integration"]["Uri"])  # the alias, not $LATEST
    grants = [
        s
        for p in template.find_resources("AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:GetItem" in s["Action"]
    ]
    assert len(grants) == 1
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"MetricName": "Errors", "Dimensions": Match.array_with([{"Name": "Resource", "Value": Match.any_value()}])},
    )


def test_indexes_are_granted_by_name_without_wildcards():
    template = synth(
        global_secondary_indexes=[
            dynamodb.GlobalSecondaryIndexProps(
                index_name="byName", partition_key=dynamodb.Attribute(name="name", type=dynamodb.AttributeType.STRING)
            )
        ]
    )
    statement = next(s for s in function_policy_statements(template) if "dynamodb:Scan" in s["Action"])
    rendered = str(statement["Resource"])
    assert "/index/byName" in rendered
    assert "*" not in rendered


def test_customer_managed_table_key_gets_exact_kms_actions():
    stack = new_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    table = dynamodb.Table(
        stack,
        "Existing",
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
        encryption_key=key,
    )
    ApiLambdaTable(stack, "Items", table=table)
    statements = function_policy_statements(Template.from_stack(stack))
    kms_statement = next(s for s in statements if "kms:Decrypt" in s["Action"])
    assert sorted(kms_statement["Action"]) == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]


def test_empty_table_actions_grant_nothing_on_the_table():
    template = synth(code=INLINE, handler="index.handler", table_actions=())
    assert not [s for s in function_policy_statements(template) if "dynamodb" in str(s["Action"])]


def test_two_instances_share_one_account_logging_setting():
    stack = new_stack()
    orders, customers = ApiLambdaTable(stack, "Orders"), ApiLambdaTable(stack, "Customers")
    Template.from_stack(stack).resource_count_is("AWS::ApiGateway::RestApi", 2)
    assert orders.account_logging is customers.account_logging
    Template.from_stack(orders.account_logging).resource_count_is("AWS::ApiGateway::Account", 1)


def test_account_logging_role_can_be_left_to_the_account_owner():
    stack = new_stack()
    items = ApiLambdaTable(stack, "Items", manage_account_logging_role=False, account_has_logging_role=True)
    assert items.account_logging is None and stack.dependencies == []
    assert [child.node.id for child in stack.node.root.node.children] == ["Test"]  # no settings stack
    Template.from_stack(stack).has_resource_properties(
        "AWS::ApiGateway::Stage", {"MethodSettings": [Match.object_like({"LoggingLevel": "ERROR"})]}
    )


def test_several_configurations_in_one_stack_pass_the_nag_packs(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Composed")
    pool = cognito.UserPool(stack, "Pool")
    authorizer = apigw.CognitoUserPoolsAuthorizer(stack, "Authorizer", cognito_user_pools=[pool])
    ApiLambdaTable(stack, "Plain", table_removal_policy=RemovalPolicy.DESTROY)
    ApiLambdaTable(
        stack,
        "Browser",
        authorizer=authorizer,
        read_scopes=["items/read"],
        write_scopes=["items/write"],
        cors_allow_origins=["https://app.example.com"],
    )
    findings = nag_findings(app)
    unrelated = ("AwsSolutions-COG", "AwsSolutions-IAM4", "Serverless-")  # the bare user pool's own findings
    ours = [
        (rule, path) for rule, path in findings["violations"] if "/Pool/" not in path or not rule.startswith(unrelated)
    ]
    assert ours == []


# --- invalid props --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"sort_key": dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING)}, "partition key only"),
        ({"partition_key": dynamodb.Attribute(name=" ", type=dynamodb.AttributeType.STRING)}, "non-empty"),
        ({"handler": "main.handler"}, "handler= needs code="),
        ({"table_actions": ["dynamodb:*"]}, "exact DynamoDB actions"),
        ({"table_actions": ["s3:GetObject"]}, "exact DynamoDB actions"),
        ({"read_scopes": ["items/read"]}, "Cognito"),
        ({"cors_allow_origins": []}, "cors_allow_origins"),
        ({"cors_allow_origins": ["https://app.example.com/"]}, "no path or trailing slash"),
        ({"cors_allow_origins": "https://app.example.com"}, "cors_allow_origins must list"),
        ({"cors_allow_origins": ["*", "https://app.example.com"]}, r"mixes '\*' \(every origin\) with other entries"),
        ({"cors_allow_origins": ["https://App.example.com"]}, r"browsers send the Origin header in lowercase"),
        ({"cors_allow_origins": ["HTTPS://app.example.com"]}, r"pass \['https://app.example.com'\]"),
        ({"partition_key": dynamodb.Attribute(name="n", type=dynamodb.AttributeType.NUMBER)}, "string ids"),
        ({"table_actions": ["dynamodb:GetItem"]}, "table_actions leaves out"),
        ({"environment": {"TABLE_NAME": "other"}}, "environment= sets TABLE_NAME"),
        ({"rest_api_name": " "}, "rest_api_name"),
        ({"manage_account_logging_role": True, "account_has_logging_role": True}, "contradict each other"),
        (
            {"manage_account_logging_role": False},
            "manage_account_logging_role=False and account_has_logging_role=False: API Gateway writes the stage's "
            "access logs",
        ),
        (
            {"manage_account_logging_role": False, "execution_log_level": apigw.MethodLoggingLevel.OFF},
            "account_has_logging_role=True where the account and region already have one",
        ),
        ({"web_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/items/abc"}, "CloudFront-scoped"),
        ({"throttling_rate_limit": 0}, "throttling"),
        ({"throttling_burst_limit": 0}, "throttling"),
        ({"stage_name": "prod stage"}, "stage_name"),
        ({"web_acl_arn": "my-acl"}, "web_acl_arn"),
        ({"server_error_rate_threshold": 5}, "server_error_rate_threshold"),
        ({"latency_threshold": Duration.seconds(0)}, "latency_threshold"),
    ],
)
def test_invalid_props_raise_a_clear_error(props, message):
    with pytest.raises(ValueError, match=message):
        ApiLambdaTable(new_stack(), "Items", **props)


def test_table_together_with_new_table_props_is_refused():
    stack = new_stack()
    table = dynamodb.Table(stack, "T", partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING))
    with pytest.raises(ValueError, match="table= was given, so table_removal_policy"):
        ApiLambdaTable(stack, "Items", table=table, table_removal_policy=RemovalPolicy.DESTROY)


def test_function_together_with_new_function_props_is_refused():
    stack = new_stack()
    fn = SecureFunction(stack, "Fn", code=INLINE, handler="index.handler")
    with pytest.raises(ValueError, match="function= was given, so code, memory_size"):
        ApiLambdaTable(stack, "Items", function=fn.function, code=INLINE, memory_size=512)


def test_request_models_accept_the_fields_the_bundled_handler_accepts(monkeypatch):
    monkeypatch.setenv("TABLE_NAME", "items")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    handler = load_handler("items_api")
    assert set(CREATE_ITEM_SCHEMA.properties) == set(handler.CREATE_FIELDS)
    assert set(REPLACE_ITEM_SCHEMA.properties) == set(handler.REPLACE_FIELDS)
    assert CREATE_ITEM_SCHEMA.properties["quantity"].maximum == handler.MAX_INTEGER
    assert REPLACE_ITEM_SCHEMA.properties["version"].maximum == handler.MAX_INTEGER
    assert CREATE_ITEM_SCHEMA.properties["id"].pattern == f"^{handler.ID_PATTERN.pattern}$"
