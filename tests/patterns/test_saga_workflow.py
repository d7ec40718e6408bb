"""SagaWorkflow: the state machine's states, retries and catches, its role, logs, key, start options, alarms, bad props."""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_events as events
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template
from nag_check import nag_app, nag_findings
from strict_check import findings_under, strict_app, synth_findings

from patterns import SagaApiOptions, SagaRetry, SagaStep, SagaWorkflow, SecureFunction, route_alarms
from patterns.saga_definition import COMPENSATION_FAILED_NAMESPACE, LAMBDA_TRANSIENT_ERRORS

CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")
ORDER = apigw.JsonSchema(
    type=apigw.JsonSchemaType.OBJECT,
    properties={"order_id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern="^[a-z0-9-]{1,40}$")},
    required=["order_id"],
)


def step(name: str, compensate: bool = True, **kwargs) -> SagaStep:
    return SagaStep(name, action_code=CODE, compensation_code=CODE if compensate else None, **kwargs)


STEPS = [step("Reserve"), step("Charge"), step("Ship", compensate=False)]


def definition(template: Template) -> dict:
    """The state machine's definition with each Fn::GetAtt of a function written as ``<LogicalId>``."""
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    text = "".join(
        part if isinstance(part, str) else f"<{part.get('Fn::GetAtt', [part.get('Ref')])[0]}>" for part in parts
    )
    return json.loads(text)


@pytest.fixture(scope="module")
def saga() -> tuple[SagaWorkflow, Template]:
    stack = Stack(App(), "Test")
    workflow = SagaWorkflow(
        stack,
        "Orders",
        steps=STEPS,
        start_api=SagaApiOptions(request_schema=ORDER, business_key="order_id", resource_path="orders"),
        event_pattern=events.EventPattern(source=["shop.orders"], detail_type=["OrderPlaced"]),
    )
    return workflow, Template.from_stack(stack)


def test_actions_run_in_order_and_end_in_succeeded(saga):
    _, template = saga
    states = definition(template)["States"]
    assert definition(template)["StartAt"] == "Begin"
    assert [states["Begin"]["Next"], states["Reserve"]["Next"], states["Charge"]["Next"], states["Ship"]["Next"]] == [
        "Reserve",
        "Charge",
        "Ship",
        "Succeeded",
    ]
    assert states["Charge"]["ResultPath"] == "$.saga.results.Charge"
    assert states["Charge"]["Resource"].startswith("<OrdersChargeActionFunction")


def test_each_action_is_retried_on_transient_errors_with_backoff_and_full_jitter(saga):
    _, template = saga
    (retry,) = definition(template)["States"]["Reserve"]["Retry"]
    assert retry == {
        "ErrorEquals": list(LAMBDA_TRANSIENT_ERRORS),
        "IntervalSeconds": 2,
        "MaxAttempts": 3,
        "BackoffRate": 2,
        "MaxDelaySeconds": 30,
        "JitterStrategy": "FULL",
    }


def test_the_run_keeps_its_bookkeeping_under_one_reserved_key_with_its_execution_id(saga):
    _, template = saga
    begin = definition(template)["States"]["Begin"]
    assert begin["ResultPath"] == "$.saga"
    assert begin["Parameters"] == {"execution_id.$": "$$.Execution.Id", "results": {}, "compensation_failures": {}}


def test_a_failed_step_enters_its_own_compensation_then_the_earlier_ones_in_reverse(saga):
    _, template = saga
    states = definition(template)["States"]
    assert states["Ship"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.saga.failure", "Next": "ShipFailed"}
    ]
    assert states["ShipFailed"]["Next"] == "UndoCharge"  # Ship has no compensation
    assert states["UndoCharge"]["Next"] == "UndoReserve"
    assert states["UndoReserve"]["Next"] == "CompensationsSucceeded"
    # A failed step may have written before failing (a charge whose answer timed out): it is undone too.
    assert states["ChargeFailed"]["Next"] == "UndoCharge"
    assert states["ReserveFailed"]["Next"] == "UndoReserve"
    assert "UndoShip" not in states
    assert states["UndoCharge"]["Retry"][0]["ErrorEquals"] == ["States.ALL"]
    assert states["UndoCharge"]["Retry"][0]["MaxAttempts"] == 5
    # A compensation that still fails is recorded under its step and the others run all the same.
    (catch,) = states["UndoCharge"]["Catch"]
    assert catch == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.saga.compensation_failures.Charge",
        "Next": "UndoChargeFailed",
    }
    assert states["UndoChargeFailed"]["ResultPath"] == "$.saga.compensation_failed"
    assert states["UndoChargeFailed"]["Next"] == "UndoReserve"


def test_the_compensation_failed_cause_names_every_failed_compensation(saga):
    _, template = saga
    summary = definition(template)["States"]["SummarizeCompensationFailure"]["Parameters"]["summary.$"]
    assert summary.startswith("States.Format(")
    assert summary.endswith("States.JsonToString($.saga.compensation_failures))")


def test_runs_end_in_fail_states_that_say_what_happened(saga):
    _, template = saga
    states = definition(template)["States"]
    assert states["RolledBack"] == {"Type": "Fail", "Error": "Saga.RolledBack", "CausePath": "$.saga.outcome.summary"}
    assert states["CompensationFailed"]["Error"] == "Saga.CompensationFailed"
    choice = states["CompensationsSucceeded"]
    assert choice["Choices"] == [
        {"Variable": "$.saga.compensation_failed", "IsPresent": True, "Next": "ReportCompensationFailure"}
    ]
    report = states["ReportCompensationFailure"]
    assert report["Resource"] == "arn:<AWS::Partition>:states:::aws-sdk:cloudwatch:putMetricData"
    assert report["Parameters"]["MetricData"][0]["Dimensions"] == [
        {"Name": "StateMachine", "Value.$": "$$.StateMachine.Name"}
    ]
    assert report["Next"] == "SummarizeCompensationFailure"
    assert states["SummarizeRollback"]["Next"] == "ReportRollback"
    rollback = states["ReportRollback"]
    assert rollback["Parameters"]["MetricData"][0]["MetricName"] == "RolledBack"
    assert rollback["Next"] == "RolledBack" and rollback["Catch"][0]["Next"] == "RolledBack"


def test_the_state_machine_is_standard_traced_logged_and_encrypted_with_its_own_key(saga):
    _workflow, template = saga
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {"Level": "ALL", "IncludeExecutionData": False, "Destinations": Match.any_value()},
            "EncryptionConfiguration": {"Type": "CUSTOMER_MANAGED_KMS_KEY", "KmsKeyId": Match.any_value()},
            "StateMachineType": "STANDARD",
        },
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    names = [
        json.dumps(g["Properties"].get("LogGroupName")) for g in template.find_resources("AWS::Logs::LogGroup").values()
    ]
    assert [name for name in names if "/aws/vendedlogs/states/" in name] == [
        '"/aws/vendedlogs/states/Test-Orders-C225794E"'
    ]


def test_the_state_machine_is_named_so_the_roles_kms_condition_names_its_exact_arn(saga):
    _workflow, template = saga
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    name = machine["Properties"]["StateMachineName"]
    assert name == "Test-Orders-C225794E-Standard" and len(name) <= 80
    expected = {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":states:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":stateMachine:{name}",
            ],
        ]
    }
    conditions = [
        statement["Condition"]["StringEquals"]["kms:EncryptionContext:aws:states:stateMachineArn"]
        for policy in template.find_resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "kms:EncryptionContext:aws:states:stateMachineArn" in json.dumps(statement.get("Condition", {}))
    ]
    assert conditions == [expected]


def test_the_state_machine_name_is_unique_per_path_bounded_and_carries_the_type():
    stack = Stack(App(), "S" * 60)
    long = SagaWorkflow(stack, "A" * 60, steps=STEPS, state_machine_type=sfn.StateMachineType.EXPRESS)
    other = SagaWorkflow(stack, "A" * 59 + "B", steps=STEPS, state_machine_type=sfn.StateMachineType.EXPRESS)
    names = [saga.state_machine.node.default_child.state_machine_name for saga in (long, other)]
    assert all(len(name) <= 80 and name.endswith("-Express") for name in names)
    assert names[0] != names[1]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", name) for name in names)


def test_the_role_invokes_exactly_its_own_functions(saga):
    workflow, template = saga
    role = Stack.of(workflow).get_logical_id(workflow.role.node.default_child)
    statements = [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    (invoke,) = [s for s in statements if s["Action"] == "lambda:InvokeFunction"]
    targets = sorted(arn["Fn::GetAtt"][0] for arn in invoke["Resource"])
    assert len(targets) == 5  # three actions, two compensations; no ARN:* for other versions
    assert all(target.startswith("Orders") and "Function" in target for target in targets)
    (metric,) = [s for s in statements if s["Action"] == "cloudwatch:PutMetricData"]
    assert metric["Condition"] == {"StringEquals": {"cloudwatch:namespace": COMPENSATION_FAILED_NAMESPACE}}


def test_the_start_api_calls_start_execution_with_the_business_key_as_the_name(saga):
    workflow, template = saga
    assert workflow.start_api is not None
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "RequestModels": {"application/json": Match.any_value()},
            "Integration": {
                "Type": "AWS",
                "IntegrationHttpMethod": "POST",
                "PassthroughBehavior": "NEVER",
                "Uri": {"Fn::Join": ["", Match.array_with([":states:action/StartExecution"])]},
            },
        },
    )
    (method,) = template.find_resources("AWS::ApiGateway::Method", {"Properties": {"HttpMethod": "POST"}}).values()
    request_template = json.dumps(method["Properties"]["Integration"]["RequestTemplates"])
    assert "$input.path('$.order_id')" in request_template
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True})


def test_events_start_runs_and_undeliverable_ones_reach_a_dead_letter_queue(saga):
    workflow, template = saga
    assert workflow.event_rule is not None and workflow.event_dead_letter_queue is not None
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {"source": ["shop.orders"], "detail-type": ["OrderPlaced"]},
            "Targets": [Match.object_like({"DeadLetterConfig": Match.any_value(), "RetryPolicy": Match.any_value()})],
        },
    )


def test_alarms_cover_failed_timed_out_throttled_runs_and_failed_compensations(saga):
    workflow, template = saga
    own = [
        workflow.failed_alarm,
        workflow.timed_out_alarm,
        workflow.throttled_alarm,
        workflow.compensation_failed_alarm,
    ]
    assert all(alarm in workflow.alarms for alarm in own)
    # Failed runs, less those that rolled back as designed or reported a failed compensation.
    failed = Stack.of(workflow).resolve(workflow.failed_alarm.node.default_child.metrics)
    (expression,) = [query["expression"] for query in failed if "expression" in query]
    assert expression == "FILL(failed, 0) - FILL(rolledBack, 0) - FILL(compensationFailed, 0)"
    used = {query["id"]: query["metricStat"]["metric"] for query in failed if "metricStat" in query}
    assert used["failed"]["metricName"] == "ExecutionsFailed" and used["failed"]["namespace"] == "AWS/States"
    assert used["rolledBack"]["metricName"] == "RolledBack"
    assert used["rolledBack"]["namespace"] == COMPENSATION_FAILED_NAMESPACE
    for metric in ("ExecutionsTimedOut", "ExecutionThrottled"):
        template.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": metric, "Namespace": "AWS/States"})
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "CompensationFailed",
            "Namespace": COMPENSATION_FAILED_NAMESPACE,
            "Dimensions": [{"Name": "StateMachine", "Value": Match.any_value()}],
            "Threshold": 1,
        },
    )


def test_grant_start_execution_is_for_this_state_machine_only():
    stack = Stack(App(), "Test")
    workflow = SagaWorkflow(stack, "Orders", steps=STEPS)
    caller = SecureFunction(stack, "Caller", code=CODE)
    workflow.grant_start_execution(caller.function)
    template = Template.from_stack(stack)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "Roles": [{"Ref": Match.string_like_regexp("CallerRole")}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "states:StartExecution",
                            "Effect": "Allow",
                            "Resource": {"Ref": Match.string_like_regexp("OrdersStateMachine")},
                        }
                    ]
                )
            },
        },
    )


def test_any_function_or_alias_can_be_a_step_and_express_logs_execution_data():
    stack = Stack(App(), "Test")
    function = SecureFunction(stack, "Existing", code=CODE).function
    alias = lambda_.Alias(stack, "Live", alias_name="live", version=function.current_version)
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    workflow = SagaWorkflow(
        stack,
        "Fast",
        steps=[SagaStep("Only", action=alias, compensation=function)],
        state_machine_type=sfn.StateMachineType.EXPRESS,
        encryption_key=key,
    )
    template = Template.from_stack(stack)
    assert workflow.steps[0].action is alias and workflow.steps[0].secure_action is None
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {"StateMachineType": "EXPRESS", "LoggingConfiguration": Match.object_like({"IncludeExecutionData": True})},
    )
    template.resource_count_is("AWS::KMS::Key", 1)  # yours, none made
    assert workflow.start_api is None and workflow.event_rule is None
    assert definition(template)["TimeoutSeconds"] == 300


def test_two_sagas_in_one_stack_are_nag_clean_and_apart(tmp_path):
    app = nag_app(tmp_path)
    stack = Stack(app, "Two")
    first = SagaWorkflow(stack, "First", steps=STEPS)
    second = SagaWorkflow(
        stack, "Second", steps=STEPS, start_api=SagaApiOptions(request_schema=ORDER, business_key="order_id")
    )
    findings = nag_findings(app)
    assert findings["violations"] == []
    names = [json.dumps(stack.resolve(saga.log_group.log_group_name)) for saga in (first, second)]
    assert names[0] != names[1]


@pytest.mark.parametrize(
    ("steps", "kwargs", "message"),
    [
        ([], {}, "at least one SagaStep"),
        ([step("Same"), step("Same")], {}, "duplicate step name 'Same'"),
        ([SagaStep("Undo", compensation_code=CODE)], {}, "a compensation without an action"),
        ([SagaStep("Nothing")], {}, "has no action"),
        ([step("lower")], {}, "PascalCase"),
        (
            [SagaStep("Both", action_code=CODE, action=lambda_.Function.from_function_name(Stack(), "F", "f"))],
            {},
            "not both",
        ),
        ([step("A")], {"retry": SagaRetry(max_attempts=11)}, "max_attempts must be from 0 to 10"),
        ([step("A")], {"retry": SagaRetry(backoff_rate=0.5)}, "backoff_rate"),
        ([step("A")], {"retry": SagaRetry(interval=Duration.millis(500))}, "interval must be whole seconds"),
        ([step("A")], {"compensation_retry": SagaRetry(max_delay=Duration.seconds(1))}, "max_delay"),
        ([step("A", retry=SagaRetry(errors=()))], {}, "errors must name at least one"),
        ([step("A")], {"retry": SagaRetry(errors=("States.ALL", "X"))}, "States.ALL must be the only"),
        (
            [step("A")],
            {"state_machine_type": sfn.StateMachineType.EXPRESS, "timeout": Duration.minutes(6)},
            "at most 5 minutes",
        ),
        (
            [step(name) for name in ("A", "B", "C", "D", "E")],
            {"state_machine_type": sfn.StateMachineType.EXPRESS},
            "retry waits of every action and compensation add up to 370 s",
        ),
        (
            [step("A")],
            {"event_bus": events.EventBus.from_event_bus_name(Stack(), "B", "b")},
            "event_bus needs event_pattern",
        ),
    ],
)
def test_bad_props_raise(steps, kwargs, message):
    with pytest.raises(ValueError, match=message):
        SagaWorkflow(Stack(App(), "Bad"), "Saga", steps=steps, **kwargs)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (SagaApiOptions(request_schema=ORDER, business_key="missing"), "must be a required property"),
        (
            SagaApiOptions(
                request_schema=apigw.JsonSchema(
                    type=apigw.JsonSchemaType.OBJECT,
                    properties={"id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING)},
                    required=["id"],
                ),
                business_key="id",
            ),
            "must be a string with a pattern",
        ),
        (SagaApiOptions(request_schema=ORDER, business_key="order_id", resource_path="Orders"), "resource_path"),
        (SagaApiOptions(request_schema=ORDER, business_key="order_id", scopes=("a/b",)), "Cognito"),
    ],
)
def test_bad_start_api_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        SagaWorkflow(Stack(App(), "Bad"), "Saga", steps=[step("A")], start_api=options)


def test_clean_under_the_strict_profile(tmp_path):
    # Env-bound stacks, stages and partitions under strict: tests/consumer/test_strict_matrix.py (saga_case).
    app = strict_app(tmp_path)
    stack = Stack(app, "Agnostic")
    SagaWorkflow(
        stack,
        "Orders",
        steps=STEPS,
        start_api=SagaApiOptions(request_schema=ORDER, business_key="order_id"),
        event_pattern=events.EventPattern(source=["shop.orders"]),
    )
    route_alarms(stack)
    assert findings_under(synth_findings(app), "Agnostic/Orders") == []
