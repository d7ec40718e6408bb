"""The strict compliance profile: the profile from context, log retention, and the building blocks
under it (clean under all six rule sets) and without it (unchanged)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template
from cfnlint.api import ManualArgs, lint
from nag_check import acknowledgements_made, acknowledgements_used
from stack_instances import TWO_STACKS, rendered
from strict_check import RULE_SETS, strict_app, synth_findings

from patterns import route_alarms
from patterns.blocks import AlarmTopic, SecureFunction, SecureQueue, SecureTable, SecureTopic
from patterns.blocks.compliance_resources import STRICT_BACKUP_RETENTION, backup_plan
from patterns.compliance import (
    COMPLIANCE_CONTEXT,
    STRICT_LOG_RETENTION_CONTEXT,
    STRICT_RESERVED_CONCURRENCY,
    STRICT_RESERVED_CONCURRENCY_CONTEXT,
    Compliance,
    compliance_of,
    log_retention,
    strict_log_retention,
    strict_reserved_concurrency,
)

INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
STRICT = {COMPLIANCE_CONTEXT: "strict"}
#: Acknowledgement ids of the rule sets only the strict profile runs.
STRICT_ONLY_PACKS = ("NIST.800.53.R5::", "HIPAA.Security::", "PCI.DSS.321::", "cdk-validator-cfnguard::")


def blocks_stack(app: App) -> Stack:
    """One of each building block: a synchronous function consuming a queue subscribed to a topic,
    an asynchronous function, two tables, an alarm topic with an e-mail subscription."""
    stack = Stack(app, "Blocks")
    table = SecureTable(stack, "Table")
    SecureTable(stack, "Other")
    topic = SecureTopic(stack, "Topic")
    queue = SecureQueue(stack, "Queue")
    consumer = SecureFunction(stack, "Consumer", code=INLINE, handler="index.handler")
    notified = SecureFunction(stack, "Notified", code=INLINE, handler="index.handler", asynchronous=True)
    queue.subscribe(topic.topic)
    queue.add_consumer(consumer.function)
    table.table.grant_write_data(consumer.function)
    topic.grant_publish(notified.function)
    route_alarms(app, AlarmTopic(stack, "Alarms", email="ops@example.com"))
    return stack


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    findings: dict

    @property
    def template_json(self) -> dict:
        return json.loads((self.outdir / "Blocks.template.json").read_text())

    @property
    def template(self) -> Template:
        return Template.from_json(self.template_json)

    def acknowledgements_made(self) -> set[tuple[str, str]]:
        """(construct path, acknowledgement id) of every acknowledgement in the stack."""
        return acknowledgements_made(self.outdir, "Blocks")

    def acknowledgements_used(self) -> set[tuple[str, str]]:
        return acknowledgements_used(self.outdir)


@pytest.fixture(scope="module")
def strict(tmp_path_factory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("strict")
    app = strict_app(outdir)
    blocks_stack(app)
    return Synthesized(outdir, synth_findings(app))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Synthesized:
    outdir = tmp_path_factory.mktemp("baseline")
    app = App(outdir=str(outdir))
    blocks_stack(app)
    app.synth()
    return Synthesized(outdir, {})


def strict_stack() -> Stack:
    return Stack(App(context=STRICT), "Strict")


def resources_of(template: dict, resource_type: str) -> dict:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}


# --- the building blocks under strict ----------------------------------------------------------


@pytest.mark.parametrize("rule_set", RULE_SETS)
def test_blocks_under_strict_have_no_finding(strict, rule_set):
    assert rule_set in strict.findings, f"{rule_set} did not run"
    assert strict.findings[rule_set] == []


def test_strict_acknowledgements_sit_on_the_functions_and_the_backup_role_only(strict):
    made = {(path, ack_id) for path, ack_id in strict.acknowledgements_made() if ack_id.startswith(STRICT_ONLY_PACKS)}
    vpc = {
        "NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC",
        "HIPAA.Security::HIPAA.Security-LambdaInsideVPC",
        "PCI.DSS.321::PCI.DSS.321-LambdaInsideVPC",
        "cdk-validator-cfnguard::lambda_inside_vpc_check",
    }
    dlq = {"NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ", "HIPAA.Security::HIPAA.Security-LambdaDLQ"}
    assert made == (
        {("Blocks/Consumer/Function", ack_id) for ack_id in vpc | dlq}
        | {("Blocks/Notified/Function", ack_id) for ack_id in vpc}
    )


def test_the_backup_role_acknowledges_only_the_aws_backup_managed_policy(strict):
    acknowledged = {ack_id for path, ack_id in strict.acknowledgements_made() if path == "Blocks/StrictBackup/Role"}
    policy = "arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup"
    assert acknowledged == {f"AwsSolutions::AwsSolutions-IAM4[Policy::{policy}]"}


def test_every_strict_acknowledgement_silences_a_real_finding(strict):
    assert strict.acknowledgements_made() - strict.acknowledgements_used() == set()


def test_strict_template_passes_cfn_lint(strict):
    # W3005: lambda.Function adds DependsOn on its role, which it also references (redundant, not wrong).
    matches = lint(json.dumps(strict.template_json), config=ManualArgs(regions=["us-east-1"], ignore_checks=["W3005"]))
    assert [str(match) for match in matches] == []


def test_strict_function_logs_are_encrypted_with_the_stack_logs_key_for_a_year(strict):
    log_groups = resources_of(strict.template_json, "AWS::Logs::LogGroup")
    assert len(log_groups) == 2
    for log_group in log_groups.values():
        assert log_group["Properties"]["RetentionInDays"] == 365
        assert log_group["Properties"]["KmsKeyId"]["Fn::GetAtt"][0].startswith("StrictLogsKey")


def test_strict_functions_reserve_the_profile_concurrency(strict):
    strict.template.all_resources_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": STRICT_RESERVED_CONCURRENCY}
    )


def test_strict_queue_consumer_polls_no_more_than_the_function_reserves(strict):
    strict.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"ScalingConfig": {"MaximumConcurrency": STRICT_RESERVED_CONCURRENCY}}
    )


def test_strict_roles_have_no_inline_policy(strict):
    strict.template.resource_count_is("AWS::IAM::Policy", 0)
    strict.template.all_resources_properties("AWS::IAM::Role", {"Policies": Match.absent()})


def test_strict_function_grants_and_tracing_are_managed_policies(strict):
    policies = resources_of(strict.template_json, "AWS::IAM::ManagedPolicy")
    for function in ("Consumer", "Notified"):
        assert any(key.startswith(f"{function}RoleGrants") for key in policies), policies.keys()
        assert any(key.startswith(f"{function}TracingPolicy") for key in policies), policies.keys()


def test_strict_dead_letter_queues_allow_redrive_and_working_queues_redrive(strict):
    queues = resources_of(strict.template_json, "AWS::SQS::Queue")
    for key, queue in queues.items():
        properties = queue["Properties"]
        if "RedrivePolicy" in properties:
            assert "RedriveAllowPolicy" not in properties, key
        else:
            assert properties["RedriveAllowPolicy"] == {"redrivePermission": "allowAll"}, key
    assert sum("RedriveAllowPolicy" in queue["Properties"] for queue in queues.values()) == 3


def test_every_strict_key_rotates_and_lets_only_aws_services_create_grants(strict):
    keys = resources_of(strict.template_json, "AWS::KMS::Key")
    assert len(keys) == 4  # the topic's, the alarm topic's, the logs key, the backup vault's
    for key, resource in keys.items():
        assert resource["Properties"]["EnableKeyRotation"] is True, key
        statements = resource["Properties"]["KeyPolicy"]["Statement"]
        assert {
            "Sid": "CreateGrantOnlyForAWSResources",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
        } in statements, key


def test_strict_tables_are_backed_up_daily_for_35_days(strict):
    strict.template.has_resource_properties(
        "AWS::Backup::BackupPlan",
        {
            "BackupPlan": {
                "BackupPlanRule": [
                    Match.object_like(
                        {
                            "ScheduleExpression": "cron(0 5 * * ? *)",
                            "Lifecycle": {"DeleteAfterDays": STRICT_BACKUP_RETENTION.to_days()},
                        }
                    )
                ]
            }
        },
    )


def test_strict_tables_share_one_selection_naming_each_table_by_arn(strict):
    tables = sorted(resources_of(strict.template_json, "AWS::DynamoDB::Table"))
    selections = list(resources_of(strict.template_json, "AWS::Backup::BackupSelection").values())
    assert len(selections) == 1
    resources = selections[0]["Properties"]["BackupSelection"]["Resources"]
    assert sorted(resources, key=json.dumps) == [{"Fn::GetAtt": [table, "Arn"]} for table in tables]


def test_strict_backup_vault_is_encrypted_with_its_own_key_and_retained(strict):
    vaults = list(resources_of(strict.template_json, "AWS::Backup::BackupVault").values())
    assert len(vaults) == 1
    key = vaults[0]["Properties"]["EncryptionKeyArn"]["Fn::GetAtt"][0]
    assert key.startswith("StrictBackupKey")
    assert vaults[0]["DeletionPolicy"] == "Retain"
    assert strict.template_json["Resources"][key]["DeletionPolicy"] == "Retain"


def test_strict_backup_role_is_for_aws_backup_only(strict):
    strict.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [Match.object_like({"Principal": {"Service": "backup.amazonaws.com"}})]
            },
            "ManagedPolicyArns": [
                {
                    "Fn::Join": [
                        "",
                        [
                            "arn:",
                            {"Ref": "AWS::Partition"},
                            ":iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
                        ],
                    ]
                }
            ],
        },
    )


def test_strict_logs_key_is_retained_so_retained_log_groups_stay_readable(strict):
    (key,) = [key for key in resources_of(strict.template_json, "AWS::KMS::Key") if key.startswith("StrictLogsKey")]
    assert strict.template_json["Resources"][key]["DeletionPolicy"] == "Retain"
    assert strict.template_json["Resources"][key]["UpdateReplacePolicy"] == "Retain"


def backup_names(stack_name: str) -> tuple[str, str]:
    """The vault's and the plan's names, as deployed under ``stack_name`` (each is its own stack)."""
    stack = Stack(App(context=STRICT), "Tables", stack_name=stack_name)
    SecureTable(stack, "Table")
    template = Template.from_stack(stack).to_json()
    ((name, this_stack_id),) = [entry for entry in TWO_STACKS if entry[0] == stack_name]
    (vault,) = resources_of(template, "AWS::Backup::BackupVault").values()
    (plan,) = resources_of(template, "AWS::Backup::BackupPlan").values()
    return tuple(
        rendered(value, stack_id=this_stack_id, stack_name=name)
        for value in (vault["Properties"]["BackupVaultName"], plan["Properties"]["BackupPlan"]["BackupPlanName"])
    )


def test_strict_backup_vault_and_plan_names_differ_between_stacks_of_the_same_construct_ids():
    (blue_vault, blue_plan), (green_vault, green_plan) = (backup_names(name) for name, _ in TWO_STACKS)
    assert blue_vault != green_vault and blue_plan != green_plan


def test_strict_backup_vault_and_plan_names_keep_to_the_aws_backup_name_rules():
    vault, plan = backup_names("Blue")
    assert re.fullmatch(r"[A-Za-z0-9_-]{2,50}", vault), vault
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,50}", plan), plan


def test_one_backup_plan_per_stack():
    stack = strict_stack()
    SecureTable(stack, "A")
    SecureTable(stack, "B")
    assert backup_plan(stack) is backup_plan(SecureTable(stack, "C"))
    Template.from_stack(stack).resource_count_is("AWS::Backup::BackupPlan", 1)


@pytest.mark.parametrize("value", [5, "5"])
def test_strict_reserved_concurrency_follows_the_context_value(value):
    stack = Stack(App(context={**STRICT, STRICT_RESERVED_CONCURRENCY_CONTEXT: value}), "S")
    SecureFunction(stack, "Fn", code=INLINE, handler="index.handler")
    Template.from_stack(stack).has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 5})


def test_strict_reserved_concurrency_defaults_to_the_profile_share():
    assert strict_reserved_concurrency(strict_stack()) == STRICT_RESERVED_CONCURRENCY == 20


@pytest.mark.parametrize("value", [0, "0", -3, "twenty", 2.5, True])
def test_strict_reserved_concurrency_refuses_a_bad_context_value(value):
    stack = Stack(App(context={**STRICT, STRICT_RESERVED_CONCURRENCY_CONTEXT: value}), "S")
    with pytest.raises(ValueError, match=rf"context {STRICT_RESERVED_CONCURRENCY_CONTEXT} must be a whole number"):
        strict_reserved_concurrency(stack)


def test_baseline_ignores_the_strict_reserved_concurrency_context():
    stack = Stack(App(context={STRICT_RESERVED_CONCURRENCY_CONTEXT: 5}), "S")
    SecureFunction(stack, "Fn", code=INLINE, handler="index.handler")
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": Match.absent()}
    )


def test_strict_grants_policy_over_the_managed_policy_quota_fails_synth_naming_the_policy():
    stack = strict_stack()
    function = SecureFunction(stack, "Fn", code=INLINE, handler="index.handler")
    for index in range(40):
        SecureTable(stack, f"Table{index}").table.grant_read_write_data(function.function)
    with pytest.raises(RuntimeError, match=r"Strict/Fn/Role/Grants.*over IAM's quota of 6,144"):
        Template.from_stack(stack)


def test_strict_grants_policy_within_the_quota_synthesizes():
    stack = strict_stack()
    function = SecureFunction(stack, "Fn", code=INLINE, handler="index.handler")
    for index in range(3):
        SecureTable(stack, f"Table{index}").table.grant_read_write_data(function.function)
    Template.from_stack(stack).resource_count_is("AWS::IAM::ManagedPolicy", 2)


def test_strict_reserved_concurrency_given_as_a_prop_wins():
    stack = strict_stack()
    SecureFunction(stack, "Fn", code=INLINE, handler="index.handler", reserved_concurrent_executions=3)
    Template.from_stack(stack).has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 3})


def test_strict_keeps_a_longer_log_retention_given_as_a_prop():
    stack = strict_stack()
    SecureFunction(stack, "Fn", code=INLINE, handler="index.handler", log_retention=logs.RetentionDays.TWO_YEARS)
    Template.from_stack(stack).has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 731})


def test_strict_refuses_a_shorter_log_retention_naming_the_prop_and_the_profile():
    with pytest.raises(
        ValueError, match=r"log_retention=ONE_MONTH is shorter than the strict compliance profile's ONE_YEAR"
    ):
        SecureFunction(
            strict_stack(), "Fn", code=INLINE, handler="index.handler", log_retention=logs.RetentionDays.ONE_MONTH
        )


def test_a_topic_key_given_by_the_user_is_left_as_it_is():
    stack = strict_stack()
    SecureTopic(stack, "Topic", encryption_key=kms.Key(stack, "Mine"))
    Template.from_stack(stack).has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.not_(
                    Match.array_with([Match.object_like({"Sid": "CreateGrantOnlyForAWSResources"})])
                )
            }
        },
    )


# --- the same blocks without the profile --------------------------------------------------------


@pytest.mark.parametrize(
    "resource_type",
    ["AWS::Backup::BackupPlan", "AWS::Backup::BackupVault", "AWS::Backup::BackupSelection", "AWS::IAM::ManagedPolicy"],
)
def test_baseline_makes_no_strict_resource(baseline, resource_type):
    baseline.template.resource_count_is(resource_type, 0)


def test_baseline_has_only_the_topic_keys_without_grant_restriction(baseline):
    keys = resources_of(baseline.template_json, "AWS::KMS::Key")
    assert len(keys) == 2  # the topic's and the alarm topic's
    for resource in keys.values():
        assert "CreateGrantOnlyForAWSResources" not in json.dumps(resource["Properties"]["KeyPolicy"])


def test_baseline_function_logs_keep_a_month_with_the_default_encryption(baseline):
    baseline.template.all_resources_properties(
        "AWS::Logs::LogGroup", {"RetentionInDays": 30, "KmsKeyId": Match.absent()}
    )


def test_baseline_functions_reserve_no_concurrency_and_consumers_no_maximum(baseline):
    baseline.template.all_resources_properties(
        "AWS::Lambda::Function", {"ReservedConcurrentExecutions": Match.absent()}
    )
    baseline.template.all_resources_properties("AWS::Lambda::EventSourceMapping", {"ScalingConfig": Match.absent()})


def test_baseline_dead_letter_queues_have_no_redrive_allow_policy(baseline):
    baseline.template.all_resources_properties("AWS::SQS::Queue", {"RedriveAllowPolicy": Match.absent()})


def test_baseline_carries_no_acknowledgement_of_the_strict_rule_sets(baseline):
    made = baseline.acknowledgements_made()
    assert made, "expected the baseline acknowledgements"
    assert {ack_id for _, ack_id in made if ack_id.startswith(STRICT_ONLY_PACKS) or "IAM4" in ack_id} == set()


# --- the profile and log retention --------------------------------------------------------------


def test_compliance_defaults_to_baseline():
    assert compliance_of(Stack(App(), "S")) is Compliance.BASELINE


@pytest.mark.parametrize("value", ["strict", "STRICT", " Strict "])
def test_compliance_reads_strict_whatever_its_case_and_spacing(value):
    assert compliance_of(Stack(App(context={COMPLIANCE_CONTEXT: value}), "S")) is Compliance.STRICT


@pytest.mark.parametrize("value", ["strictest", "", "none", 1, True])
def test_compliance_refuses_an_unknown_profile_naming_the_context_key(value):
    with pytest.raises(ValueError, match=rf"context {COMPLIANCE_CONTEXT} must be one of 'baseline', 'strict'"):
        compliance_of(Stack(App(context={COMPLIANCE_CONTEXT: value}), "S"))


def test_compliance_of_one_stack_only():
    app = App()
    strict = Stack(app, "Strict")
    strict.node.set_context(COMPLIANCE_CONTEXT, "strict")
    assert compliance_of(strict) is Compliance.STRICT
    assert compliance_of(Stack(app, "Other")) is Compliance.BASELINE


def test_baseline_log_retention_is_the_request_or_the_default():
    stack = Stack(App(), "S")
    week, month = logs.RetentionDays.ONE_WEEK, logs.RetentionDays.ONE_MONTH
    assert log_retention(stack, week, default=month, prop="p") is week
    assert log_retention(stack, None, default=month, prop="p") is month


def test_strict_log_retention_without_a_request_is_the_profile_year():
    stack = strict_stack()
    assert log_retention(stack, None, default=logs.RetentionDays.ONE_MONTH, prop="p") is logs.RetentionDays.ONE_YEAR


def test_strict_log_retention_keeps_never_expiring_logs():
    stack = strict_stack()
    infinite = logs.RetentionDays.INFINITE
    assert log_retention(stack, infinite, default=logs.RetentionDays.ONE_MONTH, prop="p") is infinite


def test_strict_log_retention_follows_a_longer_context_value():
    stack = Stack(App(context={**STRICT, STRICT_LOG_RETENTION_CONTEXT: "FIVE_YEARS"}), "S")
    assert strict_log_retention(stack) is logs.RetentionDays.FIVE_YEARS
    with pytest.raises(ValueError, match=r"p=TWO_YEARS is shorter than the strict compliance profile's FIVE_YEARS"):
        log_retention(stack, logs.RetentionDays.TWO_YEARS, default=logs.RetentionDays.ONE_MONTH, prop="p")


@pytest.mark.parametrize(
    "value, message",
    [
        ("SIX_MONTHS", r"SIX_MONTHS is shorter than the strict profile's minimum ONE_YEAR"),
        ("A_LONG_TIME", r"must name a logs.RetentionDays member such as ONE_YEAR, got 'A_LONG_TIME'"),
    ],
)
def test_strict_log_retention_refuses_a_bad_context_value(value, message):
    stack = Stack(App(context={**STRICT, STRICT_LOG_RETENTION_CONTEXT: value}), "S")
    with pytest.raises(ValueError, match=message):
        strict_log_retention(stack)
