"""What collides when stacks share an account and region: singletons, physical names, metric dimensions.

CloudFormation deploys each stack on its own, so nothing at synth notices two stacks both setting an
account-level singleton (the last deploy wins, the first delete breaks the other), two resources
asking for the same physical name (the second create fails), or two APIs reporting under the same
metric dimensions (their alarms pool each other's traffic). These tests group the stacks of the demo
app and of the consumer matrix by the account and region they deploy to (stacks without an
environment may all land in one) and look for each.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from assembly_stacks import deployed_stacks

#: Resource types of which an account holds one per region: a second one overwrites the first.
ACCOUNT_REGION_SINGLETONS = {
    "AWS::ApiGateway::Account",
    "AWS::GuardDuty::Detector",
    "AWS::SecurityHub::Hub",
    "AWS::Config::ConfigurationRecorder",
    "AWS::Config::DeliveryChannel",
    "AWS::Macie::Session",
    "AWS::Detective::Graph",
}
#: Physical name properties, and how far each name must be unique.
NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": ("TableName", "region"),
    "AWS::SQS::Queue": ("QueueName", "region"),
    "AWS::SNS::Topic": ("TopicName", "region"),
    "AWS::Lambda::Function": ("FunctionName", "region"),
    "AWS::Logs::LogGroup": ("LogGroupName", "region"),
    "AWS::ApiGateway::RestApi": ("Name", "region"),  # not enforced by AWS, but it is the ApiName dimension
    "AWS::CloudWatch::Alarm": ("AlarmName", "region"),
    "AWS::KMS::Alias": ("AliasName", "region"),
    "AWS::CodeDeploy::Application": ("ApplicationName", "region"),
    "AWS::Cognito::UserPoolDomain": ("Domain", "region"),  # prefixes are shared by every account of a region
    "AWS::Kinesis::Stream": ("Name", "region"),
    "AWS::StepFunctions::StateMachine": ("StateMachineName", "region"),
    "AWS::IAM::Role": ("RoleName", "account"),  # IAM is global to the account
    "AWS::S3::Bucket": ("BucketName", "partition"),  # bucket names are global
}
PSEUDO_PARAMETERS = {"AWS::AccountId", "AWS::Region", "AWS::Partition", "AWS::URLSuffix"}


def _groups(outdir) -> dict[str, list[tuple[str, dict]]]:
    """(stack, template) pairs by environment; nested stacks go with their parent."""
    groups: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for stack in deployed_stacks(outdir):
        for template in [stack.template, *stack.nested_templates]:
            groups[stack.environment].append((stack.display_name, template))
    return groups


@pytest.fixture(scope="module")
def environments(demo_app, matrix) -> dict[str, list[tuple[str, dict]]]:
    """Both apps' stacks by environment: each app's env-agnostic stacks may share one account."""
    combined = defaultdict(list)
    for app, outdir in (("demo", demo_app.outdir), ("matrix", matrix.outdir)):
        for environment, stacks in _groups(outdir).items():
            key = f"{app}:{environment}" if environment.startswith("aws://unknown") else environment
            combined[key] += stacks
    return combined


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "Ref" in value:
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        for item in value.values():
            yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def _identity(stack: str, value: Any) -> str:
    """A value as it will be deployed: stack-specific when it refers to the stack or its resources."""
    text = json.dumps(value, sort_keys=True)
    if any(ref not in PSEUDO_PARAMETERS for ref in _references(value)):
        return f"{stack}:{text}"
    return text


def test_an_account_and_region_gets_each_singleton_once(environments):
    made_twice = {}
    for environment, stacks in environments.items():
        for type_ in ACCOUNT_REGION_SINGLETONS:
            holders = [
                f"{stack}/{name}"
                for stack, template in stacks
                for name, resource in template.get("Resources", {}).items()
                if resource["Type"] == type_
            ]
            if len(holders) > 1:
                made_twice[f"{environment} {type_}"] = holders
    assert made_twice == {}


def test_no_two_resources_ask_for_the_same_physical_name(environments):
    claims: dict[tuple, list[str]] = defaultdict(list)
    for environment, stacks in environments.items():
        account, _, _region = environment.removeprefix("aws://").partition("/")
        for stack, template in stacks:
            for name, resource in template.get("Resources", {}).items():
                spec = NAME_PROPERTIES.get(resource["Type"])
                if spec is None or spec[0] not in resource.get("Properties", {}):
                    continue
                prop, scope = spec
                where = {"region": environment, "account": account, "partition": "all"}[scope]
                key = (resource["Type"], where, _identity(stack, resource["Properties"][prop]))
                claims[key].append(f"{stack}/{name}")
    collisions = {str(key): holders for key, holders in claims.items() if len(holders) > 1}
    assert collisions == {}


def test_no_two_alarms_of_different_resources_share_a_metric_by_name(environments):
    """Alarms whose dimensions are literal names (ApiName, a queue name) must name different things."""
    watchers: dict[tuple, list[str]] = defaultdict(list)
    for environment, stacks in environments.items():
        for stack, template in stacks:
            for name, resource in template.get("Resources", {}).items():
                if resource["Type"] != "AWS::CloudWatch::Alarm":
                    continue
                props = resource["Properties"]
                dimensions = props.get("Dimensions", [])
                if not dimensions or any(True for _ in _references(dimensions)):
                    continue  # a dimension naming a resource of the stack is that resource's alone
                key = (
                    environment,
                    props.get("Namespace"),
                    props.get("MetricName"),
                    json.dumps(dimensions, sort_keys=True),
                    props.get("Statistic") or props.get("ExtendedStatistic"),
                )
                watchers[key].append(f"{stack}/{name}")
    shared = {str(key): alarms for key, alarms in watchers.items() if len(alarms) > 1}
    assert shared == {}
