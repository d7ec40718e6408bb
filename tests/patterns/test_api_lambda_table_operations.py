"""ApiLambdaTable in operation: the account logging setting, execution logs, names and alarm
dimensions, CORS, invoke grants, contradicting props, and cdk-nag in concrete environments."""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment, NestedStack, RemovalPolicy, Stack, Stage
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from nag_check import nag_app, nag_findings

from patterns import ApiLambdaTable, SecureFunction

INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


def new_stack() -> Stack:
    return Stack(App(), "Test")


def synth(**props) -> Template:
    stack = new_stack()
    ApiLambdaTable(stack, "Items", **props)
    return Template.from_stack(stack)


@pytest.fixture(scope="module")
def default() -> Template:
    return synth()


# --- account-level logging setting: one per account and region of the app ----------------------


def account_settings(stack: Stack) -> dict:
    return Template.from_stack(stack).find_resources("AWS::ApiGateway::Account")


def test_the_account_setting_is_made_once_per_app_environment_and_later_stacks_wait_for_it():
    app = App()
    first, second = Stack(app, "First"), Stack(app, "Second")
    ApiLambdaTable(first, "Items")
    ApiLambdaTable(second, "Items")
    assert len(account_settings(first)) == 1
    assert account_settings(second) == {}
    assert first in second.dependencies


def test_env_bound_stacks_in_different_regions_each_get_their_own_setting():
    app = App()
    ireland = Stack(app, "Ireland", env=Environment(account="111111111111", region="eu-west-1"))
    ohio = Stack(app, "Ohio", env=Environment(account="111111111111", region="us-east-2"))
    ApiLambdaTable(ireland, "Items")
    ApiLambdaTable(ohio, "Items")
    assert len(account_settings(ireland)) == len(account_settings(ohio)) == 1


def test_a_nested_stack_uses_the_setting_of_its_top_level_stack():
    parent = new_stack()
    nested = NestedStack(parent, "Nested")
    ApiLambdaTable(nested, "Items")
    assert account_settings(nested) == {}
    assert len(account_settings(parent)) == 1


def test_two_stages_for_one_environment_are_refused_rather_than_fighting():
    app = App()
    env = Environment(account="111111111111", region="eu-west-1")
    ApiLambdaTable(Stack(Stage(app, "Beta", env=env), "Api"), "Items")
    with pytest.raises(ValueError, match="another stage.*account_has_logging_role=True"):
        ApiLambdaTable(Stack(Stage(app, "Prod", env=env), "Api"), "Items")


def test_the_account_setting_and_its_role_are_both_retained_with_the_permissions_inline(default):
    default.has_resource("AWS::ApiGateway::Account", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
    (role_id, role) = next(
        (logical_id, role)
        for logical_id, role in default.find_resources("AWS::IAM::Role").items()
        if "apigateway" in str(role["Properties"]["AssumeRolePolicyDocument"])
    )
    assert role["DeletionPolicy"] == "Retain" and role["UpdateReplacePolicy"] == "Retain"
    assert "logs:PutLogEvents" in str(role["Properties"]["Policies"])
    assert role_id not in str(default.find_resources("AWS::IAM::Policy"))  # no policy that a delete would remove


def test_without_an_account_role_execution_logging_is_off_and_access_logs_stay():
    template = synth(manage_account_logging_role=False)
    template.resource_count_is("AWS::ApiGateway::Account", 0)
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {"MethodSettings": [Match.object_like({"LoggingLevel": "OFF"})], "AccessLogSetting": Match.any_value()},
    )
    assert not [name for name in log_group_names(template) if "Execution-Logs" in str(name)]


# --- execution log group --------------------------------------------------------------------------


def log_group_names(template: Template) -> list:
    return [g["Properties"].get("LogGroupName") for g in template.find_resources("AWS::Logs::LogGroup").values()]


def test_the_execution_log_group_is_made_with_retention_before_the_stage(default):
    api_id = next(iter(default.find_resources("AWS::ApiGateway::RestApi")))
    groups = default.find_resources(
        "AWS::Logs::LogGroup",
        {"Properties": {"LogGroupName": {"Fn::Join": ["", ["API-Gateway-Execution-Logs_", {"Ref": api_id}, "/prod"]]}}},
    )
    ((group_id, group),) = groups.items()
    assert group["Properties"]["RetentionInDays"] == 30 and group["DeletionPolicy"] == "Delete"
    (stage,) = default.find_resources("AWS::ApiGateway::Stage").values()
    assert group_id in stage["DependsOn"]


# --- names and alarm dimensions ------------------------------------------------------------------


def test_two_apis_in_a_stack_have_their_own_names_and_alarm_dimensions():
    stack = new_stack()
    orders, customers = ApiLambdaTable(stack, "Orders"), ApiLambdaTable(stack, "Customers")
    template = Template.from_stack(stack)
    names = [api["Properties"]["Name"] for api in template.find_resources("AWS::ApiGateway::RestApi").values()]
    assert len(set(names)) == 2 and all(name != "Api" for name in names)
    for items, name in ((orders, stack.resolve(orders.api.rest_api_name)), (customers, None)):
        dimensions = stack.resolve(items.server_error_alarm.node.default_child.dimensions)
        assert {d["name"] for d in dimensions} == {"ApiName", "Stage"}
        if name:
            assert {"name": "ApiName", "value": name} in dimensions
    assert stack.resolve(orders.latency_alarm.node.default_child.dimensions) != stack.resolve(
        customers.latency_alarm.node.default_child.dimensions
    )


def test_the_api_name_can_be_given():
    synth(rest_api_name="orders-api").has_resource_properties("AWS::ApiGateway::RestApi", {"Name": "orders-api"})


# --- CORS ------------------------------------------------------------------------------------------


def test_cors_tells_the_handler_the_origins_and_adds_error_responses_with_cors_headers():
    template = synth(cors_allow_origins=["https://app.example.com", "https://admin.example.com"])
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {"CORS_ALLOW_ORIGINS": "https://app.example.com,https://admin.example.com"}
                )
            }
        },
    )
    for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
        template.has_resource_properties(
            "AWS::ApiGateway::GatewayResponse",
            {
                "ResponseType": response_type,
                "ResponseParameters": Match.object_like(
                    {
                        "gatewayresponse.header.Access-Control-Allow-Origin": "'https://app.example.com'",
                        "gatewayresponse.header.Vary": "'Origin'",
                    }
                ),
            },
        )


def test_without_cors_there_are_no_gateway_responses_and_no_origins_variable(default):
    default.resource_count_is("AWS::ApiGateway::GatewayResponse", 0)
    assert "CORS_ALLOW_ORIGINS" not in str(default.find_resources("AWS::Lambda::Function"))


# --- grant_invoke ----------------------------------------------------------------------------------


def invoke_statements(template: Template) -> list[dict]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "execute-api:Invoke"
    ]


@pytest.mark.parametrize(
    ("method", "path", "tail"),
    [("GET", "/items/{id}", "/prod/GET/items/*"), ("POST", "/items", "/prod/POST/items"), (None, None, "/prod/*/*")],
)
def test_grant_invoke_gives_exactly_that_method_and_path_of_the_stage(method, path, tail):
    stack = new_stack()
    items = ApiLambdaTable(stack, "Items")
    caller = SecureFunction(stack, "Caller", code=INLINE, handler="index.handler")
    grant = items.grant_invoke(caller.function, method=method, path=path)
    assert isinstance(grant, iam.Grant)
    (statement,) = invoke_statements(Template.from_stack(stack))
    parts = statement["Resource"]["Fn::Join"][1]
    assert (
        parts[-1] == tail
        and {"Ref": next(iter(Template.from_stack(stack).find_resources("AWS::ApiGateway::RestApi")))} in parts
    )


def test_grant_invoke_is_refused_when_an_authorizer_decides():
    stack = new_stack()
    pool = cognito.UserPool(stack, "Pool")
    authorizer = apigw.CognitoUserPoolsAuthorizer(stack, "Authorizer", cognito_user_pools=[pool])
    items = ApiLambdaTable(stack, "Items", authorizer=authorizer)
    caller = SecureFunction(stack, "Caller", code=INLINE, handler="index.handler")
    with pytest.raises(ValueError, match="grant_invoke needs IAM authorization"):
        items.grant_invoke(caller.function)


@pytest.mark.parametrize(("method", "path"), [("FETCH", None), (None, "/orders"), (None, "items")])
def test_grant_invoke_refuses_methods_and_paths_the_api_does_not_have(method, path):
    stack = new_stack()
    items = ApiLambdaTable(stack, "Items")
    caller = SecureFunction(stack, "Caller", code=INLINE, handler="index.handler")
    with pytest.raises(ValueError, match="grant_invoke"):
        items.grant_invoke(caller.function, method=method, path=path)


def test_a_function_granted_invoke_passes_the_nag_packs(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Granted")
    items = ApiLambdaTable(stack, "Items", table_removal_policy=RemovalPolicy.DESTROY)
    every, one = (SecureFunction(stack, name, code=INLINE, handler="index.handler") for name in ("Every", "One"))
    items.grant_invoke(every.function)
    items.grant_invoke(one.function, method="GET", path="/items/{id}")
    findings = nag_findings(app)
    assert findings["violations"] == []
    invoke_acknowledged = [
        (rule, path) for rule, path in findings["acknowledged"] if "execute-api" in rule and path.startswith("Granted/")
    ]
    assert sorted((path, rule.rsplit("/prod/", 1)[1]) for rule, path in invoke_acknowledged) == [
        ("Granted/Every/Role/DefaultPolicy/Resource", "*/*]"),
        ("Granted/One/Role/DefaultPolicy/Resource", "GET/items/*]"),
    ]


# --- contradicting props ---------------------------------------------------------------------------


@pytest.mark.parametrize("table_class", [dynamodb.Table, dynamodb.TableV2])
def test_a_partition_key_other_than_the_tables_is_refused(table_class):
    stack = new_stack()
    table = table_class(stack, "T", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING))
    with pytest.raises(ValueError, match="partition_key='x' contradicts table=, whose partition key is 'pk'"):
        ApiLambdaTable(
            stack, "Items", table=table, partition_key=dynamodb.Attribute(name="x", type=dynamodb.AttributeType.STRING)
        )


def test_the_key_of_a_table_v2_reaches_the_handler():
    stack = new_stack()
    table = dynamodb.TableV2(
        stack, "T", partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING)
    )
    ApiLambdaTable(stack, "Items", table=table)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": Match.object_like({"PARTITION_KEY": "pk"})}}
    )


def test_table_actions_for_an_imported_function_are_refused():
    stack = new_stack()
    imported = lambda_.Function.from_function_arn(
        stack, "Imported", "arn:aws:lambda:eu-west-1:111111111111:function:items"
    )
    with pytest.raises(ValueError, match="pass table_actions=\\(\\)"):
        ApiLambdaTable(stack, "Items", function=imported)
    ApiLambdaTable(stack, "Fronted", function=imported, table_actions=())


def test_metrics_namespace_with_an_existing_function_is_refused():
    stack = new_stack()
    fn = SecureFunction(stack, "Fn", code=INLINE, handler="index.handler")
    with pytest.raises(ValueError, match="function= was given, so metrics_namespace"):
        ApiLambdaTable(stack, "Items", function=fn.function, metrics_namespace="Orders")


# --- cdk-nag in other environments --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "context"),
    [
        (Environment(account="111111111111", region="eu-west-1"), {}),
        (Environment(account="111111111111", region="cn-north-1"), {"@aws-cdk/core:enablePartitionLiterals": True}),
    ],
    ids=["env-bound", "aws-cn"],
)
def test_passes_the_nag_packs_in_a_concrete_environment(tmp_path, env, context):
    app = nag_app(tmp_path)
    for key, value in context.items():
        app.node.set_context(key, value)
    stack = Stack(app, "Bound", env=env)
    items = ApiLambdaTable(
        stack, "Items", table_removal_policy=RemovalPolicy.DESTROY, cors_allow_origins=["https://app.example.com"]
    )
    caller = SecureFunction(stack, "Caller", code=INLINE, handler="index.handler")
    items.grant_invoke(caller.function, method="GET", path="/items/{id}")
    assert nag_findings(app)["violations"] == []
