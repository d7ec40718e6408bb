"""GlobalTable and RegionalEndpoint: replicas, keys, health checks and records per region, nag, bad props."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from aws_cdk import App, Duration, Environment, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_route53 as route53
from aws_cdk.assertions import Annotations, Match, Template
from nag_check import rule_set_reports
from strict_check import findings_under, rule_set_findings

from patterns import ApiLambdaTable, GlobalTable, RegionalEndpoint
from patterns.regional_endpoint import (
    HEALTH_BURST_LIMIT,
    HEALTH_RATE_LIMIT,
    NO_HEALTH_CHECK_ALARM_WARNING,
    SIGNED_METHODS_WARNING,
)
from stacks.global_items_demo import (
    DEFAULT_REGIONS,
    HOME_STACK,
    PLACEHOLDER_ACCOUNT,
    REPLICA_STACK,
    GlobalItemsSettings,
    global_items_demo,
)

ACCOUNT = "123456789012"
REGIONS = ("us-east-1", "eu-west-1")
ZONE = {"hosted_zone_id": "Z0123456789EXAMPLE", "zone_name": "example.com"}
DOMAIN = "orders.example.com"
# The template facts are read from the demo app's two regions (synthesized once per session with the
# nag packs): GlobalItemsDemo builds both constructs the way the docs show, with the demo's settings.
DEMO = GlobalItemsSettings(account=PLACEHOLDER_ACCOUNT, regions=DEFAULT_REGIONS)
DEMO_TABLE = "global-items-demo"


def bound(app: App, id: str, region: str, account: str = ACCOUNT) -> Stack:
    return Stack(app, id, env=Environment(account=account, region=region))


@dataclass
class Synthesized:
    templates: dict[str, Template]  # by region
    findings: dict[str, list[tuple[str, str]]]  # "violations" / "acknowledged" -> (rule, construct path)
    dependencies: dict[str, list[str]]  # stack -> the stacks it deploys after


@pytest.fixture(scope="module")
def two_regions(demo_app) -> Synthesized:
    stacks = dict(zip(DEFAULT_REGIONS, (HOME_STACK, REPLICA_STACK), strict=True))
    findings: dict[str, list[tuple[str, str]]] = {"violations": [], "acknowledged": []}
    for plugin in rule_set_reports(demo_app.validation_report()):
        for key, label in (("violations", "violations"), ("suppressedViolations", "acknowledged")):
            for violation in plugin.get(key, []):
                for construct in violation["violatingConstructs"]:
                    if construct["constructPath"].split("/")[0] in stacks.values():
                        findings[label].append((violation["ruleName"], construct["constructPath"]))
    manifest = json.loads((demo_app.outdir / "manifest.json").read_text())["artifacts"]
    return Synthesized(
        templates={region: Template.from_json(demo_app.template(stack)) for region, stack in stacks.items()},
        findings=findings,
        dependencies={stack: manifest[stack].get("dependencies", []) for stack in stacks.values()},
    )


def test_the_home_stack_holds_one_global_table_with_a_replica_per_region(two_regions):
    template = two_regions.templates["us-east-1"]
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 1)
    replicas = template.find_resources("AWS::DynamoDB::GlobalTable")
    (table,) = replicas.values()
    properties = table["Properties"]
    assert properties["TableName"] == DEMO_TABLE
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert sorted(r["Region"] for r in properties["Replicas"]) == sorted(REGIONS)
    for replica in properties["Replicas"]:
        assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert replica["DeletionProtectionEnabled"] is False  # the demo's choice; the default is below
    two_regions.templates["eu-west-1"].resource_count_is("AWS::DynamoDB::GlobalTable", 0)
    two_regions.templates["eu-west-1"].resource_count_is("AWS::DynamoDB::Table", 0)


def test_each_replica_is_encrypted_with_its_own_regions_key(two_regions):
    (table,) = two_regions.templates["us-east-1"].find_resources("AWS::DynamoDB::GlobalTable").values()
    keys = {r["Region"]: r["SSESpecification"]["KMSMasterKeyId"] for r in table["Properties"]["Replicas"]}
    assert keys["us-east-1"]["Fn::GetAtt"][1] == "Arn"  # the home stack's own key
    # The other region's key by alias ARN: no reference to another region's stack.
    assert keys["eu-west-1"] == f"arn:aws:kms:eu-west-1:{DEMO.account}:alias/global-table/{DEMO_TABLE}"
    for region in REGIONS:
        template = two_regions.templates[region]
        template.has_resource_properties(
            "AWS::KMS::Key", {"EnableKeyRotation": True, "Description": Match.string_like_regexp(f"{region} replica")}
        )
        template.has_resource_properties("AWS::KMS::Alias", {"AliasName": f"alias/global-table/{DEMO_TABLE}"})


def test_the_home_stack_deploys_after_the_replica_regions_keys(two_regions):
    assert REPLICA_STACK in two_regions.dependencies[HOME_STACK]
    assert HOME_STACK not in two_regions.dependencies[REPLICA_STACK]


def test_each_region_grants_its_functions_its_own_replica_and_key(two_regions):
    template = two_regions.templates["eu-west-1"]
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    table_arn = f"arn:aws:dynamodb:eu-west-1:{DEMO.account}:table/{DEMO_TABLE}"
    health = [s for s in statements if s["Action"] == ["dynamodb:DescribeTable", "dynamodb:GetItem"]]
    assert health and all(s["Resource"] == table_arn for s in health)
    items = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert items and all(s["Resource"] == table_arn for s in items)
    key_grants = [s for s in statements if "kms:Decrypt" in s["Action"]]
    assert len(key_grants) == 2
    (key_id,) = template.find_resources(
        "AWS::KMS::Key", {"Properties": {"Description": Match.string_like_regexp("DynamoDB")}}
    )
    assert all(s["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]} for s in key_grants)


def test_the_health_route_is_unsigned_and_checked_by_route_53_on_the_regions_own_host(two_regions):
    for region in REGIONS:
        template = two_regions.templates[region]
        template.has_resource_properties("AWS::ApiGateway::Resource", {"PathPart": "health"})
        template.has_resource_properties("AWS::ApiGateway::Method", {"HttpMethod": "GET", "AuthorizationType": "NONE"})
        template.has_resource_properties(
            "AWS::Route53::HealthCheck",
            {
                "HealthCheckConfig": {
                    "Type": "HTTPS",
                    "Port": 443,
                    "EnableSNI": True,
                    "RequestInterval": 30,
                    "FailureThreshold": 3,
                    "ResourcePath": {"Fn::Join": ["", ["/", {"Ref": Match.any_value()}, "/health"]]},
                    "FullyQualifiedDomainName": {
                        "Fn::Join": [
                            "",
                            [{"Ref": Match.any_value()}, f".execute-api.{region}.", {"Ref": "AWS::URLSuffix"}],
                        ]
                    },
                }
            },
        )


def test_latency_records_carry_the_region_as_set_identifier_and_the_health_check(two_regions):
    for region in ("us-east-1", "eu-west-1"):
        two_regions.templates[region].has_resource_properties(
            "AWS::Route53::RecordSet",
            {
                "Name": f"{DEMO.domain_name}.",
                "Type": "A",
                "HostedZoneId": DEMO.hosted_zone_id,
                "SetIdentifier": region,
                "Region": region,
                "HealthCheckId": {"Ref": Match.string_like_regexp("HealthCheck")},
                "AliasTarget": {
                    "DNSName": {"Fn::GetAtt": [Match.any_value(), "RegionalDomainName"]},
                    "HostedZoneId": Match.any_value(),
                },
            },
        )


@pytest.mark.parametrize("failover", [route53.Failover.PRIMARY, route53.Failover.SECONDARY])
def test_failover_routing_replaces_latency_routing_when_asked(failover):
    app = App()
    stack = bound(app, "Home", "us-east-1")
    table = GlobalTable(stack, "T", regions=REGIONS)
    record = _endpoint(stack, table, api=apigw.RestApi(stack, "Api"), failover=failover).record.node.default_child
    assert (stack.resolve(record.failover), record.set_identifier, record.region) == (failover.value, "us-east-1", None)
    # The custom domain's own health joins the record's health check.
    assert stack.resolve(record.alias_target)["evaluateTargetHealth"] is True


def test_a_regional_tls_domain_with_a_dns_validated_certificate_in_each_region(two_regions):
    for region in REGIONS:
        template = two_regions.templates[region]
        template.has_resource_properties(
            "AWS::CertificateManager::Certificate",
            {
                "DomainName": DEMO.domain_name,
                "ValidationMethod": "DNS",
                "DomainValidationOptions": [{"DomainName": DEMO.domain_name, "HostedZoneId": DEMO.hosted_zone_id}],
            },
        )
        template.has_resource_properties(
            "AWS::ApiGateway::DomainName",
            {
                "DomainName": DEMO.domain_name,
                "EndpointConfiguration": {"Types": ["REGIONAL"]},
                "SecurityPolicy": "TLS_1_2",
            },
        )
        template.resource_count_is("AWS::ApiGateway::BasePathMapping", 1)


def test_alarms_per_region_watch_health_and_replication_to_every_other_region(two_regions):
    for region in REGIONS:
        template = two_regions.templates[region]
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm",
            {"Namespace": "RegionalHealth", "MetricName": "UnhealthyResponses", "AlarmActions": Match.any_value()},
        )
        latency = template.find_resources(
            "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "ReplicationLatency"}}
        )
        receivers = sorted(
            d["Value"]
            for a in latency.values()
            for d in a["Properties"]["Dimensions"]
            if d["Name"] == "ReceivingRegion"
        )
        assert receivers == sorted(r for r in REGIONS if r != region)
        assert all(a["Properties"]["AlarmActions"] for a in latency.values())
        template.has_resource_properties(
            "AWS::CloudWatch::Alarm", {"MetricName": "5XXError", "Namespace": "AWS/ApiGateway"}
        )


def test_every_region_is_nag_clean_and_acknowledges_only_the_unsigned_health_route(two_regions):
    assert two_regions.findings["violations"] == []
    health = {(rule, path) for rule, path in two_regions.findings["acknowledged"] if "/Default/health/" in path}
    assert {rule for rule, _ in health} == {"AwsSolutions-APIG4", "AwsSolutions-COG4"}
    assert {path.split("/")[0] for _, path in health} == {HOME_STACK, REPLICA_STACK}


# -- bad props -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        (["us-east-1"], "at least two regions"),
        (["us-east-1", "eu-west-1", "eu-west-1"], "more than once"),
        (["eu-west-1", "ap-southeast-2"], "stack's region us-east-1 is not one of"),
        (["us-east-1", "Europe"], "concrete region names"),
    ],
)
def test_bad_regions_are_refused(regions, message):
    with pytest.raises(ValueError, match=message):
        GlobalTable(bound(App(), "S", "us-east-1"), "T", regions=regions)


def test_an_env_agnostic_stack_is_refused():
    with pytest.raises(ValueError, match="bound to a concrete account and region"):
        GlobalTable(Stack(App(), "S"), "T", regions=REGIONS)


@pytest.mark.parametrize("table_name", ["x", "orders.v1", "a" * 201])
def test_a_table_name_dynamodb_or_kms_would_refuse_is_refused(table_name):
    with pytest.raises(ValueError, match="table_name"):
        GlobalTable(bound(App(), "S", "us-east-1"), "T", regions=REGIONS, table_name=table_name)


def test_table_for_refuses_other_accounts_regions_and_unbound_stacks():
    app = App()
    table = GlobalTable(bound(app, "Home", "us-east-1"), "T", regions=REGIONS[:2])
    with pytest.raises(ValueError, match="in account 210987654321"):
        table.table_for(bound(app, "Other", "eu-west-1", account="210987654321"))
    with pytest.raises(ValueError, match="ap-southeast-2, which is not one of the table's regions"):
        table.table_for(bound(app, "Far", "ap-southeast-2"))
    with pytest.raises(ValueError, match="env-agnostic"):
        table.table_for(Stack(app, "Anywhere"))
    table.table_for(bound(app, "Europe", "eu-west-1"))
    with pytest.raises(ValueError, match="already holds the eu-west-1 replica's key"):
        table.table_for(bound(app, "Europe2", "eu-west-1"))


def test_a_replica_region_without_a_stack_fails_the_synth():
    app = App()
    GlobalTable(bound(app, "Home", "us-east-1"), "T", regions=REGIONS[:2])
    with pytest.raises(RuntimeError, match="no stack in eu-west-1 called table_for"):
        app.synth()


def _endpoint(stack: Stack, table: GlobalTable, **props) -> RegionalEndpoint:
    api = ApiLambdaTable(stack, "Api", table=table.table_for(stack)) if "api" not in props else None
    defaults = {"api": api.api if api else None, "global_table": table, "domain_name": DOMAIN, **ZONE}
    return RegionalEndpoint(stack, "Endpoint", **{**defaults, **props})


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"domain_name": "orders.example.org"}, "not inside the hosted zone"),
        ({"domain_name": "notexample.com"}, "not inside the hosted zone"),
        ({"hosted_zone_id": " "}, "hosted_zone_id and zone_name"),
        ({"health_check_interval": Duration.seconds(20)}, "10 or 30 seconds"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": 11}, "failure_threshold"),
        ({"health_check_regions": ["us-east-1", "eu-west-1"]}, "at least three"),
        ({"health_check_regions": ["us-east-1", "eu-west-1", "eu-central-1"]}, "not Route 53 health-checker regions"),
        ({"unhealthy_threshold": 0}, "unhealthy_threshold"),
    ],
)
def test_bad_endpoint_props_are_refused(props, message):
    app = App()
    stack = bound(app, "Home", "us-east-1")
    table = GlobalTable(stack, "T", regions=REGIONS[:2])
    with pytest.raises(ValueError, match=message):
        _endpoint(stack, table, **props)


def test_an_endpoint_outside_the_tables_regions_is_refused():
    app = App()
    table = GlobalTable(bound(app, "Home", "us-east-1"), "T", regions=REGIONS[:2])
    with pytest.raises(ValueError, match="ap-southeast-2, which is not one of the global table's regions"):
        _endpoint(bound(app, "Far", "ap-southeast-2"), table, api=None)


def test_an_env_agnostic_endpoint_is_refused():
    app = App()
    table = GlobalTable(bound(app, "Home", "us-east-1"), "T", regions=REGIONS[:2])
    with pytest.raises(ValueError, match="RegionalEndpoint needs a stack bound"):
        _endpoint(Stack(app, "Anywhere"), table, api=None)


def test_defaults_protect_every_replica_and_a_number_key_reaches_the_health_route_as_its_type():
    app = App()
    stack = bound(app, "Home", "us-east-1")
    key = dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.NUMBER)
    table = GlobalTable(stack, "T", regions=REGIONS[:2], partition_key=key)
    endpoint = _endpoint(stack, table, api=apigw.RestApi(stack, "Api"))
    table.table_for(bound(app, "Europe", "eu-west-1"))
    template = Template.from_stack(stack)
    variables = {"PARTITION_KEY": "pk", "PARTITION_KEY_TYPE": "N", "POWERTOOLS_METRICS_NAMESPACE": "RegionalHealth"}
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Description": Match.string_like_regexp("GET /health"),
            "Environment": {"Variables": Match.object_like(variables)},
        },
    )
    assert endpoint.table is table.table
    (global_table,) = template.find_resources("AWS::DynamoDB::GlobalTable").values()
    assert global_table["DeletionPolicy"] == "Retain"
    assert all(r["DeletionProtectionEnabled"] is True for r in global_table["Properties"]["Replicas"])
    template.has_resource("AWS::KMS::Key", {"Properties": {"EnableKeyRotation": True}, "DeletionPolicy": "Retain"})


# -- strict profile (the demo app's two regions, synthesized once per session under all six rule sets) ------


@pytest.fixture(scope="module")
def strict_global(strict_demo_app):
    findings = rule_set_findings(strict_demo_app.outdir)
    stacks = (HOME_STACK, REPLICA_STACK)
    return {name: strict_demo_app.template(name) for name in stacks}, {
        name: findings_under(findings, name) for name in stacks
    }


def test_strict_both_regions_are_clean_under_all_six_rule_sets(strict_global):
    _, findings = strict_global
    assert findings == {"GlobalItemsDemo": [], "GlobalItemsDemoReplica": []}


def test_strict_each_region_backs_up_its_own_replica(strict_global):
    templates, _ = strict_global
    (table_id,) = [
        k for k, r in templates["GlobalItemsDemo"]["Resources"].items() if r["Type"] == "AWS::DynamoDB::GlobalTable"
    ]
    # The home region's replica by the table's own ARN; the other region's by its ARN in that region.
    for name, table in (("GlobalItemsDemo", table_id), ("GlobalItemsDemoReplica", ":dynamodb:eu-west-1:")):
        selections = [
            json.dumps(r["Properties"]["BackupSelection"]["Resources"])
            for r in templates[name]["Resources"].values()
            if r["Type"] == "AWS::Backup::BackupSelection"
        ]
        assert any(table in selection for selection in selections), name


def test_strict_the_unsigned_health_route_may_be_invoked_from_this_account_only(strict_global):
    templates, _ = strict_global
    for template in templates.values():
        permissions = [
            r["Properties"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::Lambda::Permission" and "health" in json.dumps(r["Properties"].get("SourceArn"))
        ]
        assert permissions and all(p["SourceAccount"] == "000000000000" for p in permissions)


# -- the demo's settings ---------------------------------------------------------------------------------


def test_the_demo_takes_its_regions_account_and_zone_from_context():
    context = {
        "globalItemsDemo:regions": "eu-central-1, ap-southeast-2",
        "globalItemsDemo:account": "210987654321",
        "globalItemsDemo:domainName": "items.shop.example",
        "globalItemsDemo:hostedZoneId": "Z0SHOP",
        "globalItemsDemo:zoneName": "shop.example",
    }
    app = App(context=context)
    home = global_items_demo(app)
    replica = app.node.find_child(REPLICA_STACK)
    assert (home.region, replica.region, home.account, replica.account) == (
        "eu-central-1",
        "ap-southeast-2",
        "210987654321",
        "210987654321",
    )
    assert home.global_table.replica_regions == ("eu-central-1", "ap-southeast-2")
    assert not GlobalItemsSettings.from_context(app).uses_placeholders


def test_make_deploy_leaves_the_demo_out_only_while_its_settings_are_placeholders(monkeypatch):
    # `make deploy` sets globalItemsDemo:skipWithPlaceholders, so every other demo stack deploys.
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    skip = {"globalItemsDemo:skipWithPlaceholders": "true"}
    placeholders = App(context=skip)
    assert global_items_demo(placeholders) is None
    assert placeholders.node.children == []
    real = App(
        context={
            **skip,
            "globalItemsDemo:account": "210987654321",
            "globalItemsDemo:hostedZoneId": "Z0SHOP",
            "globalItemsDemo:domainName": "items.shop.example",
            "globalItemsDemo:zoneName": "shop.example",
        }
    )
    assert global_items_demo(real) is not None
    assert real.node.try_find_child(REPLICA_STACK) is not None


@pytest.mark.parametrize("regions", ["us-east-1", "us-east-1,eu-west-1,ap-southeast-2"])
def test_the_demo_refuses_anything_but_two_regions(regions):
    with pytest.raises(ValueError, match="must name two regions"):
        global_items_demo(App(context={"globalItemsDemo:regions": regions}))


# -- review fixes: signed methods, the health check's own alarm, the health route's limits, stable replica ids ----


def _home_with_endpoint(api_authorization: apigw.AuthorizationType) -> tuple[App, Stack, RegionalEndpoint]:
    app = App()
    stack = bound(app, "Home", "us-east-1")
    table = GlobalTable(stack, "T", regions=REGIONS)
    api = apigw.RestApi(stack, "Api")
    endpoint = _endpoint(stack, table, api=api)
    # Added after the endpoint: the check runs at synth, when every method is on the API.
    api.root.add_resource("items").add_method("POST", apigw.MockIntegration(), authorization_type=api_authorization)
    table.table_for(bound(app, "Europe", "eu-west-1"))
    return app, stack, endpoint


def test_an_api_with_iam_authorized_methods_is_warned_that_signatures_do_not_fail_over():
    _, stack, _ = _home_with_endpoint(apigw.AuthorizationType.IAM)
    Annotations.from_stack(stack).has_warning(
        "/Home/Endpoint", Match.string_like_regexp(f"POST /items.*signed for another region.*{SIGNED_METHODS_WARNING}")
    )


def test_an_api_without_iam_authorized_methods_is_not_warned():
    _, stack, _ = _home_with_endpoint(apigw.AuthorizationType.NONE)
    assert Annotations.from_stack(stack).find_warning("*", Match.string_like_regexp(SIGNED_METHODS_WARNING)) == []


def _health_check_alarms(template: Template) -> list[dict]:
    alarms = template.find_resources("AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "HealthCheckStatus"}})
    return [alarm["Properties"] for alarm in alarms.values()]


def test_each_regions_health_check_has_a_status_alarm_in_us_east_1_only(two_regions):
    alarms = _health_check_alarms(two_regions.templates["us-east-1"])
    assert len(alarms) == 2
    for alarm in alarms:
        assert alarm["Namespace"] == "AWS/Route53"
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            "Minimum",
            "LessThanThreshold",
            1,
        )
        assert alarm["AlarmActions"]  # routed like every other alarm
    assert all([d["Name"] for d in alarm["Dimensions"]] == ["HealthCheckId"] for alarm in alarms)
    own, other = sorted((a["Dimensions"][0]["Value"] for a in alarms), key=lambda value: "Ref" not in value)
    assert own["Ref"] in two_regions.templates["us-east-1"].find_resources("AWS::Route53::HealthCheck")
    # eu-west-1's health check id, read from that stack's outputs (no custom resource, no export).
    reference = other["Fn::GetStackOutput"]
    assert (reference["StackName"], reference["Region"]) == (REPLICA_STACK, "eu-west-1")
    assert _health_check_alarms(two_regions.templates["eu-west-1"]) == []


def test_outside_us_east_1_the_health_check_alarm_needs_a_us_east_1_monitoring_stack():
    app = App()
    home = bound(app, "Home", "us-east-1")
    table = GlobalTable(home, "T", regions=REGIONS)
    europe = bound(app, "Europe", "eu-west-1")
    with pytest.raises(ValueError, match="monitoring_stack Europe must be in us-east-1"):
        _endpoint(bound(app, "Europe2", "eu-west-1"), table, api=None, monitoring_stack=europe)
    endpoint = _endpoint(europe, table, api=apigw.RestApi(europe, "Api"))
    assert endpoint.health_check_alarm is None
    Annotations.from_stack(europe).has_warning(
        "/Europe/Endpoint", Match.string_like_regexp(NO_HEALTH_CHECK_ALARM_WARNING)
    )


def test_the_health_route_has_its_own_low_method_throttle_and_a_fast_function(two_regions):
    for region in REGIONS:
        template = two_regions.templates[region]
        (stage,) = template.find_resources("AWS::ApiGateway::Stage").values()
        health = [m for m in stage["Properties"]["MethodSettings"] if m["ResourcePath"] == "/~1health"]
        assert health == [
            {
                "ResourcePath": "/~1health",
                "HttpMethod": "GET",
                "ThrottlingRateLimit": HEALTH_RATE_LIMIT,
                "ThrottlingBurstLimit": HEALTH_BURST_LIMIT,
                "LoggingLevel": "ERROR",
                "MetricsEnabled": True,
                "DataTraceEnabled": False,
            }
        ]
        assert HEALTH_RATE_LIMIT <= 10 and HEALTH_BURST_LIMIT <= 20
        (function,) = template.find_resources(
            "AWS::Lambda::Function", {"Properties": {"Description": Match.string_like_regexp("GET /health")}}
        ).values()
        assert function["Properties"]["MemorySize"] >= 512 and function["Properties"]["Timeout"] <= 2


def test_strict_the_web_acl_limits_health_requests_per_ip(strict_global):
    templates, _ = strict_global
    for template in templates.values():
        (acl,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
        (rule,) = [r for r in acl["Properties"]["Rules"] if "RateBasedStatement" in r["Statement"]]
        statement = rule["Statement"]["RateBasedStatement"]
        assert (statement["AggregateKeyType"], rule["Action"]) == ("IP", {"Block": {}})
        assert statement["ScopeDownStatement"]["ByteMatchStatement"]["SearchString"] == "/health"


def _replica_key_ids(home_stack_id: str) -> list[str]:
    app = App()
    table = GlobalTable(bound(app, home_stack_id, "us-east-1"), "T", regions=REGIONS, table_name="orders")
    europe = bound(app, "Europe", "eu-west-1")
    table.table_for(europe)
    resources = Template.from_stack(europe).to_json()["Resources"]
    return sorted(k for k, r in resources.items() if r["Type"] in ("AWS::KMS::Key", "AWS::KMS::Alias"))


def test_renaming_the_home_stack_keeps_the_replica_keys_and_aliases_logical_ids():
    # The alias name is fixed: a new logical id would create a second alias of that name (AlreadyExists).
    assert _replica_key_ids("Home") == _replica_key_ids("OrdersHome")
