"""ApiLambdaTable in operation: the account logging setting, execution logs, names and alarm
dimensions, CORS, invoke grants, contradicting props, and cdk-nag in concrete environments."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest
from aws_cdk import App, Environment, NestedStack, RemovalPolicy, Stack, Stage
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint
from iam_reference import findings, grants, template_resolver
from items_api_stacks import INLINE, new_stack, synth
from nag_check import nag_app, nag_findings

from patterns import ApiLambdaTable, SecureFunction
from patterns.blocks.api_logging import SETTINGS_STACK_ID, ApiGatewayAccountLogging


@pytest.fixture(scope="module")
def default() -> Template:
    return synth()


# --- account-level logging setting: a settings stack per stage and environment -------------------


def settings_stacks(scope) -> list[Stack]:
    return [child for child in scope.node.children if isinstance(child, ApiGatewayAccountLogging)]


def account_settings(stack: Stack) -> dict:
    return Template.from_stack(stack).find_resources("AWS::ApiGateway::Account")


def test_the_account_setting_has_a_stack_of_its_own_that_every_api_stack_depends_on():
    app = App()
    first, second = Stack(app, "First"), Stack(app, "Second")
    ApiLambdaTable(first, "Items")
    ApiLambdaTable(second, "Items")
    (settings,) = settings_stacks(app)
    assert settings.node.id == SETTINGS_STACK_ID == "ApiGatewayAccountLogging"
    assert len(account_settings(settings)) == 1
    assert account_settings(first) == account_settings(second) == {}
    assert first.dependencies == second.dependencies == [settings]


def test_env_bound_stacks_get_a_settings_stack_per_account_and_region():
    app = App()
    ireland = Stack(app, "Ireland", env=Environment(account="111111111111", region="eu-west-1"))
    ohio = Stack(app, "Ohio", env=Environment(account="111111111111", region="us-east-2"))
    ApiLambdaTable(ireland, "Items")
    ApiLambdaTable(ohio, "Items")
    found = {stack.node.id: (stack.account, stack.region) for stack in settings_stacks(app)}
    assert found == {
        "ApiGatewayAccountLogging-111111111111-eu-west-1": ("111111111111", "eu-west-1"),
        "ApiGatewayAccountLogging-111111111111-us-east-2": ("111111111111", "us-east-2"),
    }


def test_a_stage_gets_its_own_settings_stack():
    app = App()
    service = Stack(Stage(app, "Prod", env=Environment(account="111111111111", region="eu-west-1")), "Service")
    items = ApiLambdaTable(service, "Items")
    assert items.account_logging.node.path == "Prod/ApiGatewayAccountLogging-111111111111-eu-west-1"
    assert service.dependencies == [items.account_logging]


def test_a_nested_stack_makes_its_top_level_stack_depend_on_the_settings_stack():
    parent = new_stack()
    nested = NestedStack(parent, "Nested")
    items = ApiLambdaTable(nested, "Items")
    assert account_settings(nested) == account_settings(parent) == {}
    assert parent.dependencies == [items.account_logging]


def test_two_stages_for_one_environment_are_refused_rather_than_fighting():
    app = App()
    env = Environment(account="111111111111", region="eu-west-1")
    ApiLambdaTable(Stack(Stage(app, "Beta", env=env), "Api"), "Items")
    with pytest.raises(ValueError, match=r"another stage.*account_has_logging_role=True"):
        ApiLambdaTable(Stack(Stage(app, "Prod", env=env), "Api"), "Items")


def test_no_api_stack_is_a_dependency_of_another_so_destroying_one_takes_no_other(tmp_path):
    """`cdk destroy X` also destroys every stack that depends on X; `cdk deploy X` deploys X's dependencies."""
    app = App(outdir=str(tmp_path))
    for name in ("Orders", "Customers"):
        ApiLambdaTable(Stack(app, name), "Items")
    ApiLambdaTable(NestedStack(Stack(app, "Parent"), "Nested"), "Items")  # counts for its parent
    artifacts = json.loads((Path(app.synth().directory) / "manifest.json").read_text())["artifacts"]
    stacks = {name: artifact for name, artifact in artifacts.items() if artifact["type"] == "aws:cloudformation:stack"}
    depended_on = {dependency for artifact in stacks.values() for dependency in artifact.get("dependencies", [])}
    assert depended_on & stacks.keys() == {SETTINGS_STACK_ID}
    for name in ("Orders", "Customers", "Parent"):
        assert SETTINGS_STACK_ID in stacks[name]["dependencies"]
    settings_template = json.loads((tmp_path / stacks[SETTINGS_STACK_ID]["properties"]["templateFile"]).read_text())
    assert {r["Type"] for r in settings_template["Resources"].values()} == {
        "AWS::IAM::Role",
        "AWS::ApiGateway::Account",
    }


def settings_template(**props) -> tuple[Template, Template]:
    """(the API's stack, its settings stack)."""
    stack = new_stack()
    items = ApiLambdaTable(stack, "Items", **props)
    return Template.from_stack(stack), Template.from_stack(items.account_logging)


@pytest.fixture(scope="module")
def default_settings() -> Template:
    return settings_template()[1]


def test_the_account_setting_and_its_role_are_both_retained_with_the_permissions_inline(default_settings):
    default_settings.has_resource(
        "AWS::ApiGateway::Account", {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    )
    ((_role_id, role),) = default_settings.find_resources("AWS::IAM::Role").items()
    assert "apigateway.amazonaws.com" in str(role["Properties"]["AssumeRolePolicyDocument"])
    assert role["DeletionPolicy"] == "Retain" and role["UpdateReplacePolicy"] == "Retain"
    assert "logs:PutLogEvents" in str(role["Properties"]["Policies"])
    default_settings.resource_count_is("AWS::IAM::Policy", 0)  # no policy that a delete would remove


def test_the_account_setting_has_a_new_logical_id_so_an_upgrade_sets_it_again(default_settings):
    # The previous release kept this logical id with unchanged properties, so CloudFormation did not
    # call UpdateAccount again while other stacks deleted the roles the setting pointed at.
    (logical_id,) = default_settings.find_resources("AWS::ApiGateway::Account")
    assert logical_id != "ApiGatewayCloudWatchRoleAccount6D30C17A"


def allowed(template: dict, action: str, arn: str) -> bool:
    """Whether an Allow statement of ``template``'s identity policies grants ``action`` on ``arn``."""
    found, _ = grants(template)
    return any(grant.action == action and fnmatch.fnmatchcase(arn, grant.resource) for grant in found)


def test_the_role_can_write_access_logs_and_websocket_execution_logs():
    api_stack, settings = settings_template()
    (stage,) = api_stack.find_resources("AWS::ApiGateway::Stage").values()
    destination = stage["Properties"]["AccessLogSetting"]["DestinationArn"]
    access_log_group = template_resolver(api_stack.to_json()).resolve_string(destination).removesuffix(":*")
    websocket_group = access_log_group.split(":log-group:")[0] + ":log-group:/aws/apigateway/x/y"
    for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        for group in (access_log_group, websocket_group):
            assert allowed(settings.to_json(), action, f"{group}:log-stream:z"), (action, group)


def test_the_roles_grants_are_on_the_resource_types_their_actions_take(default_settings):
    assert findings(default_settings.to_json()) == []


def test_the_settings_stack_passes_the_nag_packs_and_cfn_lint(tmp_path):
    app = nag_app(tmp_path)
    ApiLambdaTable(Stack(app, "Api"), "Items", table_removal_policy=RemovalPolicy.DESTROY)
    found = nag_findings(app)
    assert found["violations"] == []
    acknowledged = [rule for rule, path in found["acknowledged"] if path.startswith(f"{SETTINGS_STACK_ID}/")]
    assert sorted(acknowledged) == [
        "AwsSolutions-IAM5[Resource::*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*:log-stream:*]",
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*]",
    ]
    template = (tmp_path / f"{SETTINGS_STACK_ID}.template.json").read_text()
    config = ManualArgs(regions=["us-east-1", "eu-west-1"])
    assert [str(match) for match in lint(template, config=config)] == []


def test_access_logs_alone_still_need_the_setting():
    # Access logs are written with the account's CloudWatch role too: a stage without it fails to create.
    stack = new_stack()
    items = ApiLambdaTable(stack, "Items", execution_log_level=apigw.MethodLoggingLevel.OFF)
    assert isinstance(items.account_logging, ApiGatewayAccountLogging)
    assert stack.dependencies == [items.account_logging]


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


def test_an_api_whose_execution_log_group_exists_can_leave_it_out():
    # An API that logged before API Gateway made API-Gateway-Execution-Logs_<id>/<stage> itself: a stack
    # declaring a group of that name fails with "already exists".
    stack = new_stack()
    items = ApiLambdaTable(stack, "Items", manage_execution_log_group=False)
    template = Template.from_stack(stack)
    assert items.execution_log_group is None
    assert not [name for name in log_group_names(template) if "Execution-Logs" in str(name)]
    template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"MethodSettings": [Match.object_like({"LoggingLevel": "ERROR"})]}
    )


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


def test_the_same_app_under_two_stack_names_gets_two_api_names():
    # API names need not be unique, but the name is the ApiName dimension: alarms would pool both APIs.
    names = set()
    for stack_name in ("items-blue", "items-green"):
        stack = Stack(App(), "Service", stack_name=stack_name)
        ApiLambdaTable(stack, "Items")
        (api,) = Template.from_stack(stack).find_resources("AWS::ApiGateway::RestApi").values()
        assert len(api["Properties"]["Name"]) <= 128
        names.add(api["Properties"]["Name"])
    assert len(names) == 2


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
