"""ScheduledJob: Scheduler -> function with an exact role, an encrypted DLQ, a claim table and a heartbeat alarm."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from aws_cdk import App, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk.assertions import Annotations, Match, Template

from patterns import ScheduledJob, SecureFunction, bundled_code
from patterns.scheduled_job import HEARTBEAT_NAMESPACE, heartbeat_periods

ENV = {"ITEMS_TABLE_NAME": "items"}


def job(stack: Stack, id: str = "Job", **props) -> ScheduledJob:
    if "function" not in props:
        props = {"code": bundled_code("scheduled_job"), "environment": ENV, **props}
    return ScheduledJob(stack, id, **props)


@pytest.fixture(scope="module")
def built() -> tuple[Template, dict[str, ScheduledJob]]:
    stack = Stack(App(), "Test")
    jobs = {
        "rate": job(stack, "Rate", schedule="rate(15 minutes)", payload={"kind": "sync"}),
        "alias": job(
            stack,
            "Alias",
            schedule="cron(0 9 ? * MON-FRI *)",
            time_zone="America/New_York",
            function=lambda_.Alias(
                stack,
                "Live",
                alias_name="live",
                version=SecureFunction(stack, "Own", code=bundled_code("scheduled_job")).function.current_version,
            ),
            schedule_group=scheduler.ScheduleGroup(stack, "Group"),
            enabled=False,
            flexible_window=Duration.minutes(10),
        ),
    }
    jobs["once"] = job(
        stack, "Once", schedule="at(2030-01-31T09:00:00)", time_zone="Asia/Tokyo", function=jobs["alias"].function
    )
    return Template.from_stack(stack), jobs


def resource(template: Template, kind: str, prefix: str) -> tuple[str, dict]:
    (found,) = [(k, v) for k, v in template.find_resources(kind).items() if k.startswith(prefix)]
    return found


def statements(template: Template, prefix: str) -> list[dict]:
    return [
        statement
        for logical_id, policy in template.find_resources("AWS::IAM::Policy").items()
        if logical_id.startswith(prefix)
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_schedule_runs_the_expression_in_its_time_zone_with_an_encrypted_payload(built):
    template, _ = built
    _, schedule = resource(template, "AWS::Scheduler::Schedule", "RateSchedule")
    key_id, _ = resource(template, "AWS::KMS::Key", "RateKey")
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(15 minutes)"
    assert props["ScheduleExpressionTimezone"] == "UTC"
    assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert props["State"] == "ENABLED"
    assert props["KmsKeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_the_payload_carries_the_scheduled_time_the_schedule_and_the_job(built):
    template, _ = built
    _, schedule = resource(template, "AWS::Scheduler::Schedule", "RateSchedule")
    payload = json.loads(schedule["Properties"]["Target"]["Input"])
    assert payload == {
        "schedule_arn": "<aws.scheduler.schedule-arn>",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
        "attempt_number": "<aws.scheduler.attempt-number>",
        "job": {"kind": "sync"},
    }


def test_retries_are_bounded_and_undelivered_events_go_to_the_encrypted_dlq(built):
    template, _ = built
    _, schedule = resource(template, "AWS::Scheduler::Schedule", "RateSchedule")
    dlq_id, dlq = resource(template, "AWS::SQS::Queue", "RateDeadLetterQueue")
    key_id, _ = resource(template, "AWS::KMS::Key", "RateKey")
    target = schedule["Properties"]["Target"]
    # The default event age is the rate's interval when that is under an hour.
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 900}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    assert dlq["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_the_scheduler_role_invokes_only_the_target_and_sends_only_to_the_dlq(built):
    template, _ = built
    function_id, _ = resource(template, "AWS::Lambda::Function", "RateJobFunction")
    dlq_id, _ = resource(template, "AWS::SQS::Queue", "RateDeadLetterQueue")
    key_id, _ = resource(template, "AWS::KMS::Key", "RateKey")
    found = statements(template, "RateSchedulerRole")
    assert {
        "Action": "lambda:InvokeFunction",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [function_id, "Arn"]},
    } in found
    assert {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [dlq_id, "Arn"]}} in found
    kms_actions = {
        action
        for s in found
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        if action.startswith("kms:")
    }
    assert kms_actions == {"kms:Decrypt", "kms:GenerateDataKey"}
    resources = {json.dumps(s["Resource"]) for s in found}
    assert resources == {json.dumps({"Fn::GetAtt": [i, "Arn"]}) for i in (function_id, dlq_id, key_id)}
    _, role = resource(template, "AWS::IAM::Role", "RateSchedulerRole")
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert set(trust["Condition"]["StringEquals"]) == {"aws:SourceAccount", "aws:SourceArn"}
    assert "schedule-group/default" in json.dumps(trust["Condition"]["StringEquals"]["aws:SourceArn"])


def test_an_alias_target_is_invoked_by_its_own_arn_and_its_function_is_left_alone(built):
    template, jobs = built
    alias_id, _ = resource(template, "AWS::Lambda::Alias", "Live")
    _, schedule = resource(template, "AWS::Scheduler::Schedule", "AliasSchedule")
    assert schedule["Properties"]["Target"]["Arn"] == {"Ref": alias_id}
    invoke = [s for s in statements(template, "AliasSchedulerRole") if s["Action"] == "lambda:InvokeFunction"]
    assert invoke == [{"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Ref": alias_id}}]
    assert jobs["alias"].secure_function is None and jobs["alias"].function is not None
    assert schedule["Properties"]["GroupName"] == jobs["alias"].schedule.schedule_group.schedule_group_name
    assert schedule["Properties"]["State"] == "DISABLED"
    assert schedule["Properties"]["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == "America/New_York"
    # Lambda's async settings of a function passed in stay the user's; the errors alarm watches the alias.
    assert not [k for k in template.find_resources("AWS::Lambda::EventInvokeConfig") if k.startswith("Own")]
    _, errors = resource(template, "AWS::CloudWatch::Alarm", "AliasErrorsAlarm")
    assert {dimension["Name"] for dimension in errors["Properties"]["Dimensions"]} == {"FunctionName", "Resource"}


def test_a_disabled_schedules_heartbeat_alarm_takes_no_action(built):
    template, _ = built
    _, alarm = resource(template, "AWS::CloudWatch::Alarm", "AliasHeartbeatAlarm")
    assert alarm["Properties"]["ActionsEnabled"] is False


def test_the_function_made_here_runs_with_the_runner_settings_and_fails_into_the_job_dlq(built):
    template, jobs = built
    function_id, function = resource(template, "AWS::Lambda::Function", "RateJobFunction")
    dlq_id, _ = resource(template, "AWS::SQS::Queue", "RateDeadLetterQueue")
    table_id, table = resource(template, "AWS::DynamoDB::Table", "RateClaims")
    props = function["Properties"]
    assert props["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}}
    variables = props["Environment"]["Variables"]
    assert variables["RUN_ONCE_TABLE_NAME"] == {"Ref": table_id}
    assert variables["HEARTBEAT_NAMESPACE"] == HEARTBEAT_NAMESPACE
    assert variables["ITEMS_TABLE_NAME"] == "items"
    assert table["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"FunctionName": {"Ref": function_id}, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 900},
    )
    found = statements(template, "RateJobRole")
    claims = [s for s in found if "dynamodb:UpdateItem" in s["Action"]]
    assert claims == [
        {"Action": "dynamodb:UpdateItem", "Effect": "Allow", "Resource": [{"Fn::GetAtt": [table_id, "Arn"]}]}
    ]
    assert jobs["rate"].runner_environment["HEARTBEAT_NAMESPACE"] == HEARTBEAT_NAMESPACE


def test_the_heartbeat_is_put_in_its_namespace_only(built):
    template, _ = built
    (statement,) = statements(template, "RateHeartbeatPolicy")
    assert statement["Action"] == "cloudwatch:PutMetricData"
    assert statement["Condition"] == {"StringEquals": {"cloudwatch:namespace": HEARTBEAT_NAMESPACE}}


def test_the_heartbeat_alarm_fires_when_no_run_succeeded_within_the_interval_and_tolerance(built):
    template, jobs = built
    schedule_id, _ = resource(template, "AWS::Scheduler::Schedule", "RateSchedule")
    _, alarm = resource(template, "AWS::CloudWatch::Alarm", "RateHeartbeatAlarm")
    props = alarm["Properties"]
    # 15 minutes + 5 minutes' tolerance + the function's 1-minute timeout, in 1-minute periods.
    assert jobs["rate"].heartbeat_window.to_seconds() == 1260
    assert (props["Period"], props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (60, 21, 21)
    assert props["TreatMissingData"] == "breaching"
    assert props["ComparisonOperator"] == "LessThanThreshold" and props["Threshold"] == 1
    assert props["Namespace"] == HEARTBEAT_NAMESPACE and props["Statistic"] == "Sum"
    # Dimensions unique to this schedule: two jobs never share a heartbeat.
    assert sorted(props["Dimensions"], key=lambda d: d["Name"]) == [
        {"Name": "Schedule", "Value": {"Ref": schedule_id}},
        {"Name": "ScheduleGroup", "Value": "default"},
    ]
    assert jobs["rate"].alarms[0] is jobs["rate"].heartbeat_alarm


def test_alarms_lists_every_alarm_made_and_each_dlq_has_one_alarm(built):
    template, jobs = built
    for name, made in jobs.items():
        found = {alarm.node.path for alarm in made.node.find_all() if isinstance(alarm, cloudwatch.Alarm)}
        listed = [alarm.node.path for alarm in made.alarms]
        assert sorted(listed) == sorted(found), name
    # The made function's dead-letter alarm watches the job's DLQ: reused, not doubled.
    assert jobs["rate"].dead_letter_alarm is jobs["rate"].secure_function.dead_letter_alarm
    queues = [k for k in template.find_resources("AWS::SQS::Queue") if "DeadLetterQueue" in k]
    for queue_id in queues:
        watching = [
            alarm
            for alarm in template.find_resources(
                "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": "ApproximateNumberOfMessagesVisible"}}
            ).values()
            if {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
            in alarm["Properties"]["Dimensions"]
        ]
        assert len(watching) == 1, queue_id


def test_a_job_at_a_time_that_daylight_saving_skips_gets_a_two_day_window():
    stack = Stack(App(), "Berlin")
    # 02:30 Berlin does not exist on the last Sunday of March: Scheduler skips that day's run.
    skipped_once_a_year = job(stack, "Gap", schedule="cron(30 2 * * ? *)", time_zone="Europe/Berlin")
    every_day = job(stack, "NoGap", schedule="cron(30 3 * * ? *)", time_zone="Europe/Berlin")
    assert skipped_once_a_year.heartbeat_window.to_seconds() == (47 + 1) * 3600 + 60  # + tolerance + timeout
    assert every_day.heartbeat_window.to_seconds() == (25 + 1) * 3600 + 60


@pytest.fixture(scope="module")
def edges() -> tuple[Stack, Template, dict[str, ScheduledJob]]:
    stack = Stack(App(), "Edges")
    jobs = {
        "weekly_cron": job(stack, "WeeklyCron", schedule="cron(0 3 ? * SUN *)"),
        "weekly_rate": job(stack, "WeeklyRate", schedule="rate(7 days)"),
        "old_events": job(stack, "OldEvents", schedule="rate(1 day)", max_event_age=Duration.hours(7)),
        "ended": job(stack, "Ended", schedule="rate(1 hour)", end=datetime(2030, 1, 1, tzinfo=UTC)),
        "later": job(stack, "Later", schedule="rate(1 hour)", start=datetime(2030, 1, 1, tzinfo=UTC)),
    }
    return stack, Template.from_stack(stack), jobs


@pytest.mark.parametrize("name", ["weekly_cron", "weekly_rate"])
def test_a_weekly_job_gets_a_heartbeat_alarm_over_the_seven_days_cloudwatch_allows(edges, name):
    _, template, jobs = edges
    weekly = jobs[name]
    assert weekly.heartbeat_window.to_seconds() == 7 * 86400
    _, alarm = resource(template, "AWS::CloudWatch::Alarm", weekly.node.id + "HeartbeatAlarm")
    assert (alarm["Properties"]["Period"], alarm["Properties"]["EvaluationPeriods"]) == (3600, 168)


def test_a_weekly_cron_in_a_daylight_saving_zone_says_what_to_do():
    with pytest.raises(ValueError, match=r"7 days \+ 1 hour apart.*UTC.*heartbeat_alarm=False"):
        job(Stack(App(), "Berlin"), schedule="cron(0 3 ? * SUN *)", time_zone="Europe/Berlin")


def test_an_event_age_over_six_hours_is_lambdas_six_hours_and_schedulers_own(edges):
    _, template, _jobs = edges
    function_id, _ = resource(template, "AWS::Lambda::Function", "OldEventsJobFunction")
    _, schedule = resource(template, "AWS::Scheduler::Schedule", "OldEventsSchedule")
    assert schedule["Properties"]["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == 7 * 3600
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig", {"FunctionName": {"Ref": function_id}, "MaximumEventAgeInSeconds": 21600}
    )


def test_a_schedule_with_an_end_has_no_heartbeat_alarm_to_page_after_it(edges):
    _, template, jobs = edges
    assert jobs["ended"].heartbeat_alarm is None and jobs["ended"].heartbeat_window is not None
    assert not [k for k in template.find_resources("AWS::CloudWatch::Alarm") if k.startswith("EndedHeartbeat")]
    assert jobs["ended"].dead_letter_alarm in jobs["ended"].alarms


def test_a_future_start_warns_that_the_heartbeat_alarm_pages_until_the_first_run(edges):
    stack, _, jobs = edges
    assert jobs["later"].heartbeat_alarm is not None
    Annotations.from_stack(stack).has_warning(
        "/Edges/Later", Match.string_like_regexp("heartbeat alarm is in ALARM .* until the first run after start")
    )
    Annotations.from_stack(stack).has_no_warning("/Edges/Ended", Match.any_value())


def test_a_one_time_job_has_no_heartbeat_alarm(built):
    template, jobs = built
    assert jobs["once"].heartbeat_alarm is None and jobs["once"].heartbeat_window is None
    _, schedule = resource(template, "AWS::Scheduler::Schedule", "OnceSchedule")
    assert schedule["Properties"]["ScheduleExpression"] == "at(2030-01-31T09:00:00)"
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == "Asia/Tokyo"


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (600, (60, 10)),
        (3600, (60, 60)),
        (3601, (300, 13)),
        (86400, (300, 288)),
        (90000, (3600, 25)),
        (604800, (3600, 168)),
    ],
)
def test_heartbeat_periods_stay_within_what_cloudwatch_evaluates(window, expected):
    assert heartbeat_periods(window) == expected


UTC = UTC
BAD_PROPS = [
    ({"schedule": "rate(1 minutes)"}, r"write rate\(1 minute\)"),
    ({"schedule": "rate(0 minutes)"}, "not a schedule expression|positive"),
    ({"schedule": "cron(0 3 * * *)"}, "six fields"),
    ({"schedule": "cron(0 3 * * 1 *)"}, "'\\?'"),
    ({"schedule": "cron(61 3 * * ? *)"}, "outside 0-59"),
    ({"schedule": "cron(0 3 ? * MON/2 *)"}, "no '/'"),
    ({"schedule": "cron(0 3 1 1 ? 2020)"}, "at most once"),
    ({"schedule": "at(2030-02-30T00:00:00)"}, "not a real date"),
    ({"schedule": "daily"}, "not a schedule expression"),
    ({"schedule": "rate(1 hour)", "time_zone": "Europe/Atlantis"}, "unknown time zone"),
    (
        {
            "schedule": "rate(1 hour)",
            "start": datetime(2027, 1, 2, tzinfo=UTC),
            "end": datetime(2027, 1, 1, tzinfo=UTC),
        },
        "after start",
    ),
    ({"schedule": "rate(1 hour)", "start": datetime(2027, 1, 1)}, "timezone-aware"),
    ({"schedule": "rate(1 hour)", "start": datetime(2026, 1, 1, tzinfo=UTC)}, "start .* is in the past"),
    ({"schedule": "rate(1 hour)", "flexible_window": Duration.seconds(90)}, "flexible_window must be whole minutes"),
    ({"schedule": "rate(10 minutes)", "flexible_window": Duration.minutes(15)}, "longer than the interval"),
    ({"schedule": "rate(2 days)", "flexible_window": Duration.hours(25)}, "between 1 minute and 1 day"),
    ({"schedule": "cron(0 3 1 * ? *)"}, "7 days"),
    ({"schedule": "rate(1 hour)", "retry_attempts": 186}, "retry_attempts"),
    ({"schedule": "rate(1 hour)", "max_event_age": Duration.seconds(30)}, "max_event_age"),
    ({"schedule": "rate(1 hour)", "function_retry_attempts": 3}, "function_retry_attempts"),
    ({"schedule": "rate(1 hour)", "claim_retention": Duration.hours(29)}, "claim_retention must be at least 30 hours"),
    ({"schedule": "rate(1 hour)", "heartbeat_tolerance": Duration.seconds(10)}, "heartbeat_tolerance"),
    ({"schedule": "rate(1 hour)", "payload": {"when": datetime(2027, 1, 1)}}, "JSON-serializable"),
]


def _case_id(props: dict) -> str:
    # Stable across xdist workers: a Duration is shown by its seconds, not its object address.
    shown = {k: (f"{v.to_seconds()}s" if hasattr(v, "to_seconds") else v) for k, v in props.items()}
    return str(shown)


@pytest.mark.parametrize(("props", "message"), BAD_PROPS, ids=[_case_id(p[0]) for p in BAD_PROPS])
def test_bad_props_raise_at_synth(props, message):
    with pytest.raises(ValueError, match=message):
        job(Stack(App(), "Bad"), **props)


def test_the_target_is_code_or_a_function_not_both_nor_neither():
    stack = Stack(App(), "Targets")
    function = lambda_.Function.from_function_name(stack, "Imported", "existing")
    with pytest.raises(ValueError, match=r"code= .*or an existing function="):
        ScheduledJob(stack, "Neither", schedule="rate(1 hour)")
    with pytest.raises(ValueError, match="function= was given, so code, environment"):
        ScheduledJob(
            stack,
            "Both",
            schedule="rate(1 hour)",
            function=function,
            code=bundled_code("scheduled_job"),
            environment=ENV,
        )


def test_props_that_would_be_ignored_raise():
    stack = Stack(App(), "Ignored")
    function = lambda_.Function.from_function_name(stack, "Imported", "existing")
    table = dynamodb.Table.from_table_name(stack, "Table", "claims")
    with pytest.raises(ValueError, match="function= was given, so function_retry_attempts cannot be"):
        ScheduledJob(stack, "Retries", schedule="rate(1 hour)", function=function, function_retry_attempts=0)
    with pytest.raises(ValueError, match="claim_table= was given, so removal_policy cannot be"):
        job(stack, "Removal", schedule="rate(1 hour)", claim_table=table, removal_policy=RemovalPolicy.DESTROY)


def test_a_monthly_job_may_go_without_a_heartbeat_alarm():
    monthly = job(Stack(App(), "Monthly"), schedule="cron(0 3 1 * ? *)", heartbeat_alarm=False)
    assert monthly.heartbeat_alarm is None and monthly.heartbeat_alarm not in monthly.alarms
