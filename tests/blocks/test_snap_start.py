"""SnapStart on SecureFunction and CanaryFunction: off by default, published versions, an alias, refusals."""

from __future__ import annotations

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Annotations, Match, Template
from nag_check import nag_app, nag_findings

from patterns import CanaryFunction, SecureFunction, bundled_code

SNAP_START = {"ApplyOn": "PublishedVersions"}


def secure(stack: Stack | None = None, id: str = "Fn", **props) -> SecureFunction:
    return SecureFunction(stack or Stack(App(), "Test"), id, code=bundled_code("hello"), **props)


@pytest.fixture(scope="module")
def snap_started() -> tuple[SecureFunction, Template]:
    function = secure(snap_start=True)
    return function, Template.from_stack(Stack.of(function))


def test_it_is_off_by_default():
    function = secure()
    template = Template.from_stack(Stack.of(function))
    template.has_resource_properties("AWS::Lambda::Function", {"SnapStart": Match.absent()})
    template.resource_count_is("AWS::Lambda::Version", 0)
    template.resource_count_is("AWS::Lambda::Alias", 0)
    assert function.version is None and function.alias is None


def test_it_applies_to_the_published_version_and_its_alias(snap_started):
    function, template = snap_started
    template.has_resource_properties(
        "AWS::Lambda::Function", {"SnapStart": SNAP_START, "Architectures": ["arm64"], "Runtime": "python3.14"}
    )
    [version_id] = template.find_resources("AWS::Lambda::Version")
    template.has_resource_properties(
        "AWS::Lambda::Alias",
        {"Name": "live", "FunctionVersion": {"Fn::GetAtt": [version_id, "Version"]}},
    )
    assert function.alias is not None and function.alias.version.node.path == function.version.node.path


def test_the_publish_warning_is_answered_by_publishing(snap_started):
    function, _ = snap_started
    warnings = Annotations.from_stack(Stack.of(function)).find_warning("*", Match.string_like_regexp("SnapStart"))
    assert warnings == []


def test_an_own_alias_name_or_none():
    template = Template.from_stack(Stack.of(secure(snap_start=True, snap_start_alias="prod")))
    template.has_resource_properties("AWS::Lambda::Alias", {"Name": "prod"})
    function = secure(snap_start=True, snap_start_alias=None)
    Template.from_stack(Stack.of(function)).resource_count_is("AWS::Lambda::Alias", 0)
    assert function.version is not None and function.alias is None


def test_it_passes_both_nag_packs(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Snap")
    secure(stack, snap_start=True)
    CanaryFunction(stack, "Canary", snap_start=True)
    assert nag_findings(app)["violations"] == []


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"runtime": lambda_.Runtime.PYTHON_3_11}, r"\(Python 3.12 or newer\), got python3.11"),
        ({"snap_start_alias": "7"}, "snap_start_alias must be"),
        ({"snap_start_alias": "has space"}, "snap_start_alias must be"),
    ],
)
def test_an_unsupported_combination_fails_at_synth(props, message):
    with pytest.raises(ValueError, match=message):
        secure(snap_start=True, **props)


@pytest.mark.parametrize("region", ["ap-southeast-6", "ap-east-2"])
def test_a_region_without_snap_start_fails_at_synth(region):
    stack = Stack(App(), "Test", env=Environment(account="123456789012", region=region))
    with pytest.raises(ValueError, match=f"not available in {region}"):
        secure(stack, snap_start=True)
    secure(stack, "Plain")  # without SnapStart the region is fine


def test_a_supported_region_and_older_runtime_without_snap_start_are_fine():
    stack = Stack(App(), "Test", env=Environment(account="123456789012", region="eu-west-1"))
    secure(stack, snap_start=True)
    secure(Stack(App(), "Old"), runtime=lambda_.Runtime.PYTHON_3_11)


def test_a_canary_function_snap_starts_the_versions_its_alias_shifts_between():
    stack = Stack(App(), "Test")
    canary = CanaryFunction(stack, "Canary", snap_start=True)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::Function", {"SnapStart": SNAP_START})
    template.resource_count_is("AWS::Lambda::Alias", 1)  # CodeDeploy's, no second one
    template.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})
    assert canary.secure_function.alias is None
    assert canary.secure_function.version.node.path == canary.version.node.path


def test_a_canary_function_is_off_by_default():
    stack = Stack(App(), "Test")
    CanaryFunction(stack, "Canary")
    Template.from_stack(stack).has_resource_properties("AWS::Lambda::Function", {"SnapStart": Match.absent()})


@pytest.mark.parametrize("capacity", [{"provisioned_concurrency": 2}, {"max_provisioned_concurrency": 4}])
def test_a_canary_function_refuses_snap_start_with_provisioned_concurrency(capacity):
    with pytest.raises(ValueError, match="snap_start cannot be combined with provisioned_concurrency"):
        CanaryFunction(Stack(App(), "Test"), "Canary", snap_start=True, **capacity)
