"""SecureFunction: runtime, logging, tracing, least-privilege role, Powertools, DLQ, alarms, bad props."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from constructs import Construct

from patterns.blocks import POWERTOOLS_VERSION, SecureFunction

# Inline code is fine for construct tests: CDK accepts it for Python runtimes and names the file index.py.
INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")


def new_stack() -> Stack:
    return Stack(App(), "Test")


def logical_id(construct: Construct) -> str:
    stack = Stack.of(construct)
    return stack.get_logical_id(construct.node.default_child)


def make(stack: Stack | None = None, id: str = "Fn", **props) -> SecureFunction:
    props.setdefault("handler", "index.handler")
    return SecureFunction(stack or new_stack(), id, code=INLINE, **props)


@dataclass(frozen=True)
class Built:
    construct: SecureFunction
    template: Template


def build(**props) -> Built:
    fn = make(**props)
    return Built(fn, Template.from_stack(Stack.of(fn)))


def policy_statements(template: Template, policy: Construct) -> list[dict]:
    """The statements of ``policy`` (an ``iam.Policy``) as synthesized."""
    resource = template.to_json()["Resources"][logical_id(policy)]
    assert resource["Type"] == "AWS::IAM::Policy"
    return resource["Properties"]["PolicyDocument"]["Statement"]


def default_policy(fn: SecureFunction) -> Construct:
    """The policy CDK puts the role's grants in."""
    return fn.role.node.find_child("DefaultPolicy")


@pytest.fixture(scope="module")
def default() -> Built:
    return build()


@pytest.fixture(scope="module")
def asynchronous() -> Built:
    return build(asynchronous=True)


# --- runtime and sizing ---------------------------------------------------------------------


def test_runs_the_newest_python_runtime(default):
    default.template.has_resource_properties("AWS::Lambda::Function", {"Runtime": "python3.14"})


def test_runs_on_arm64(default):
    default.template.has_resource_properties("AWS::Lambda::Function", {"Architectures": ["arm64"]})


def test_memory_defaults_to_256_mib(default):
    default.template.has_resource_properties("AWS::Lambda::Function", {"MemorySize": 256})


def test_timeout_defaults_to_10_seconds(default):
    default.template.has_resource_properties("AWS::Lambda::Function", {"Timeout": 10})


def test_memory_timeout_and_runtime_can_be_chosen():
    built = build(memory_size=1024, timeout=Duration.minutes(15), runtime=lambda_.Runtime.PYTHON_3_13)
    built.template.has_resource_properties(
        "AWS::Lambda::Function", {"MemorySize": 1024, "Timeout": 900, "Runtime": "python3.13"}
    )


def test_only_one_function_is_made(default):
    default.template.resource_count_is("AWS::Lambda::Function", 1)


# --- tracing and logging --------------------------------------------------------------------


def test_xray_tracing_is_active(default):
    default.template.has_resource_properties("AWS::Lambda::Function", {"TracingConfig": {"Mode": "Active"}})


def test_logs_as_json_into_its_own_log_group(default):
    log_group = logical_id(default.construct.log_group)
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "LoggingConfig": {
                "LogFormat": "JSON",
                "LogGroup": {"Ref": log_group},
                "ApplicationLogLevel": "INFO",
                "SystemLogLevel": "WARN",
            }
        },
    )


def test_log_group_keeps_logs_for_30_days(default):
    default.template.resource_count_is("AWS::Logs::LogGroup", 1)
    default.template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_application_log_level_can_be_chosen():
    built = build(application_log_level="DEBUG")
    built.template.has_resource_properties("AWS::Lambda::Function", {"LoggingConfig": {"ApplicationLogLevel": "DEBUG"}})


# --- Powertools -----------------------------------------------------------------------------


def test_powertools_layer_is_the_pinned_arm64_python314_release_resolved_in_the_deploy_region(default):
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Layers": [f"{{{{resolve:ssm:/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}}}}}"]},
    )


def test_powertools_layer_follows_an_x86_64_architecture():
    stack = new_stack()
    make(stack, architecture=lambda_.Architecture.X86_64)
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Architectures": ["x86_64"],
            "Layers": [f"{{{{resolve:ssm:/aws/service/powertools/python/x86_64/python3.14/{POWERTOOLS_VERSION}}}}}"],
        },
    )


def test_powertools_layer_is_referenced_not_created(default):
    default.template.resource_count_is("AWS::Lambda::LayerVersion", 0)


def test_service_name_defaults_to_the_construct_id():
    built = build(id="OrderRecorder")
    built.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"POWERTOOLS_SERVICE_NAME": "OrderRecorder"}}},
    )


def test_service_name_can_be_chosen():
    built = build(service_name="orders")
    built.template.has_resource_properties(
        "AWS::Lambda::Function", {"Environment": {"Variables": {"POWERTOOLS_SERVICE_NAME": "orders"}}}
    )


def test_environment_is_passed_through_beside_the_service_name():
    built = build(environment={"TABLE_NAME": "items"})
    built.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": {"TABLE_NAME": "items", "POWERTOOLS_SERVICE_NAME": "Fn"}}},
    )


def test_without_powertools_there_is_no_layer_and_no_service_name():
    built = build(powertools=False, environment={"TABLE_NAME": "items"})
    built.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Layers": Match.absent(),
            "Environment": {"Variables": {"TABLE_NAME": "items", "POWERTOOLS_SERVICE_NAME": Match.absent()}},
        },
    )


def test_a_given_powertools_layer_replaces_the_public_one():
    stack = new_stack()
    arn = "arn:aws-cn:lambda:cn-north-1:111122223333:layer:MyPowertools:7"
    layer = lambda_.LayerVersion.from_layer_version_arn(stack, "Mirror", arn)
    make(stack, powertools_layer_version=layer)
    Template.from_stack(stack).has_resource_properties("AWS::Lambda::Function", {"Layers": [arn]})


# --- role and permissions -------------------------------------------------------------------


def test_role_is_assumed_by_lambda_only(default):
    default.template.resource_count_is("AWS::IAM::Role", 1)
    default.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
                ]
            }
        },
    )


def test_role_has_no_managed_policies(default):
    default.template.has_resource_properties("AWS::IAM::Role", {"ManagedPolicyArns": Match.absent()})


def test_function_runs_with_its_own_role(default):
    default.template.has_resource_properties(
        "AWS::Lambda::Function", {"Role": {"Fn::GetAtt": [logical_id(default.construct.role), "Arn"]}}
    )


def test_default_policy_only_writes_to_its_own_log_group(default):
    statements = policy_statements(default.template, default_policy(default.construct))
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [logical_id(default.construct.log_group), "Arn"]},
        }
    ]


def test_xray_permissions_live_in_the_separate_tracing_policy(default):
    tracing_policy = logical_id(default.construct.tracing_policy)
    statements = policy_statements(default.template, default.construct.tracing_policy)
    assert statements == [
        {"Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Effect": "Allow", "Resource": "*"}
    ]
    default.template.has_resource_properties(
        "AWS::IAM::Policy",
        {"PolicyName": tracing_policy, "Roles": [{"Ref": logical_id(default.construct.role)}]},
    )


def test_function_waits_for_its_tracing_policy(default):
    functions = default.template.find_resources("AWS::Lambda::Function")
    (function,) = functions.values()
    assert logical_id(default.construct.tracing_policy) in function["DependsOn"]


# --- dead-letter queue ----------------------------------------------------------------------


def test_synchronous_function_has_no_dead_letter_queue(default):
    default.template.has_resource_properties("AWS::Lambda::Function", {"DeadLetterConfig": Match.absent()})
    default.template.resource_count_is("AWS::SQS::Queue", 0)
    assert default.construct.dead_letter_queue is None
    assert default.construct.dead_letter_alarm is None


def test_asynchronous_function_sends_failed_events_to_a_new_queue(asynchronous):
    queue = logical_id(asynchronous.construct.dead_letter_queue)
    asynchronous.template.resource_count_is("AWS::SQS::Queue", 1)
    asynchronous.template.has_resource_properties(
        "AWS::Lambda::Function", {"DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [queue, "Arn"]}}}
    )


def test_asynchronous_dead_letter_queue_is_encrypted_and_keeps_messages_14_days(asynchronous):
    asynchronous.template.has_resource_properties(
        "AWS::SQS::Queue", {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600}
    )


def test_asynchronous_dead_letter_queue_accepts_tls_only(asynchronous):
    queue = logical_id(asynchronous.construct.dead_letter_queue)
    asynchronous.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": queue}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "sqs:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_asynchronous_function_may_send_to_its_dead_letter_queue_only(asynchronous):
    statements = policy_statements(asynchronous.template, default_policy(asynchronous.construct))
    queue = logical_id(asynchronous.construct.dead_letter_queue)
    assert {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue, "Arn"]}} in statements
    assert len(statements) == 2  # its log group, its dead-letter queue


def test_asynchronous_function_alarms_on_its_dead_letter_queue(asynchronous):
    queue = logical_id(asynchronous.construct.dead_letter_queue)
    asynchronous.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Namespace": "AWS/SQS",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )
    assert asynchronous.construct.dead_letter_alarm in asynchronous.construct.alarms


def test_a_given_dead_letter_queue_is_used_instead_of_a_new_one():
    stack = new_stack()
    queue = sqs.Queue(stack, "Failures", enforce_ssl=True)
    fn = make(stack, dead_letter_queue=queue)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::SQS::Queue", 1)
    template.has_resource_properties(
        "AWS::Lambda::Function", {"DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": [logical_id(queue), "Arn"]}}}
    )
    assert fn.dead_letter_queue is queue
    assert fn.dead_letter_alarm is not None


def test_a_dead_letter_queue_with_its_own_key_lets_the_role_encrypt_for_it():
    # SQS calls KMS as the sender: Lambda cannot write a failed event without these two actions.
    stack = new_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    queue = sqs.Queue(
        stack, "Failures", enforce_ssl=True, encryption=sqs.QueueEncryption.KMS, encryption_master_key=key
    )
    fn = make(stack, dead_letter_queue=queue)
    statements = policy_statements(Template.from_stack(stack), default_policy(fn))
    key_arn = {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]}
    [on_key] = [s for s in statements if s["Resource"] == key_arn]
    assert (on_key["Effect"], sorted(on_key["Action"])) == ("Allow", ["kms:Decrypt", "kms:GenerateDataKey"])


def test_a_dead_letter_queue_without_a_key_of_its_own_needs_no_kms_grant(asynchronous):
    assert "kms:" not in str(policy_statements(asynchronous.template, default_policy(asynchronous.construct)))


# --- concurrency ----------------------------------------------------------------------------


def test_reserved_concurrency_is_unset_by_default(default):
    default.template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": Match.absent()})


def test_reserved_concurrency_is_set_when_given():
    built = build(reserved_concurrent_executions=5)
    built.template.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 5})


# --- alarms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_alarms_on_the_function_metric_without_actions(default, metric):
    default.template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Lambda",
            "MetricName": metric,
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": logical_id(default.construct.function)}}],
            "Statistic": "Sum",
            "Period": 60,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": Match.absent(),
        },
    )


def test_alarms_lists_every_alarm_it_made(default):
    default.template.resource_count_is("AWS::CloudWatch::Alarm", 2)
    assert default.construct.alarms == [default.construct.errors_alarm, default.construct.throttles_alarm]


def test_asynchronous_function_makes_three_alarms(asynchronous):
    asynchronous.template.resource_count_is("AWS::CloudWatch::Alarm", 3)
    assert len(asynchronous.construct.alarms) == 3


# --- props validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"handler": "handler"}, "handler must look like 'module.function'"),
        ({"handler": "app."}, "handler must look like 'module.function'"),
        ({"handler": ".handler"}, "handler must look like 'module.function'"),
        ({"memory_size": 64}, "memory_size must be between 128 and 10240 MiB, got 64"),
        ({"memory_size": 20000}, "memory_size must be between 128 and 10240 MiB, got 20000"),
        ({"timeout": Duration.seconds(0)}, "timeout must be between 1 second and 15 minutes"),
        ({"timeout": Duration.minutes(16)}, "timeout must be between 1 second and 15 minutes"),
        ({"runtime": lambda_.Runtime.NODEJS_22_X}, "runtime nodejs22.x is not Python"),
        ({"application_log_level": "VERBOSE"}, "application_log_level must be one of"),
        ({"application_log_level": "info"}, "application_log_level must be one of"),
        ({"reserved_concurrent_executions": 0}, "reserved_concurrent_executions must be at least 1"),
        ({"environment": {"AWS_REGION": "eu-west-1"}}, "'AWS_REGION' is reserved by Lambda"),
        ({"environment": {"_HANDLER": "x"}}, "'_HANDLER' is reserved by Lambda"),
        ({"environment": {"LAMBDA_TASK_ROOT": "/tmp"}}, "'LAMBDA_TASK_ROOT' is reserved by Lambda"),
    ],
)
def test_invalid_props_raise_a_clear_value_error(props, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make(**props)


@pytest.mark.parametrize(
    "props",
    [
        {"memory_size": 128},
        {"memory_size": 10240},
        {"timeout": Duration.seconds(1)},
        {"timeout": Duration.minutes(15)},
        {"reserved_concurrent_executions": 1},
        {"handler": "package.module.handler"},
    ],
)
def test_limits_themselves_are_accepted(props):
    fn = make(**props)
    assert isinstance(fn.function, lambda_.Function)


def test_documented_user_settable_aws_variables_are_accepted():
    fn = make(environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper"})
    assert isinstance(fn.function, lambda_.Function)
