"""The intrinsic functions the local run resolves, and the clear error for the ones it cannot."""

from __future__ import annotations

import pytest

from patterns.local.intrinsics import Resolver, Unresolvable, pseudo_parameters


@pytest.fixture
def resolver() -> Resolver:
    return Resolver(
        refs={"Table": "items", "Queue": "https://queue/url"},
        attributes={("Table", "Arn"): "arn:aws:dynamodb:us-east-1:123456789012:table/items"},
        pseudo=pseudo_parameters("Demo"),
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
            "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        },
    )


def test_ref_getatt_and_pseudo_parameters(resolver):
    assert resolver.resolve({"Ref": "Table"}) == "items"
    assert resolver.resolve({"Fn::GetAtt": ["Table", "Arn"]}) == resolver.resolve({"Fn::GetAtt": "Table.Arn"})
    assert resolver.resolve({"Ref": "AWS::StackName"}) == "Demo"


def test_join_select_split_and_sub_in_both_forms(resolver):
    assert (
        resolver.resolve({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":x/", {"Ref": "Table"}]]})
        == "arn:aws:x/items"
    )
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}) == "b"
    assert resolver.resolve({"Fn::Sub": "${Table.Arn}/index/${AWS::Region}/${!Literal}"}) == (
        "arn:aws:dynamodb:us-east-1:123456789012:table/items/index/us-east-1/${Literal}"
    )
    assert resolver.resolve({"Fn::Sub": ["${Name}-${Table}", {"Name": {"Ref": "Queue"}}]}) == "https://queue/url-items"


def test_conditions_and_no_value_drop_what_is_not_there(resolver):
    value = {
        "A": {"Fn::If": ["IsProd", "prod", "dev"]},
        "B": {"Fn::If": ["NotProd", 1, {"Ref": "AWS::NoValue"}]},
        "C": ["x", {"Ref": "AWS::NoValue"}],
    }
    assert resolver.resolve(value) == {"A": "prod", "C": ["x"]}


@pytest.mark.parametrize(
    "value, reason",
    [
        ({"Fn::ImportValue": "shared-vpc"}, "Fn::ImportValue is not supported locally"),
        ({"Ref": "Missing"}, "Ref to 'Missing', which has no local value"),
        ({"Fn::GetAtt": ["Table", "StreamArn"]}, "Fn::GetAtt Table.StreamArn has no local value"),
        ({"Fn::If": ["Unknown", 1, 2]}, "condition 'Unknown' is not defined"),
        ({"Fn::Select": [5, ["a"]]}, "Fn::Select index 5 out of range"),
    ],
)
def test_what_cannot_be_resolved_says_where_and_why(resolver, value, reason):
    with pytest.raises(Unresolvable) as error:
        resolver.resolve({"Variables": {"TABLE": value}}, "Function.Environment")
    assert error.value.reason == reason
    assert str(error.value).startswith("Function.Environment.Variables.TABLE")
