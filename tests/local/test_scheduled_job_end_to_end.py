"""The ScheduledJobDemo run locally: its nightly schedule fired on 127.0.0.1, the way Scheduler and Lambda run it.

One ``LocalRun`` of the synthesized demo for the module (its own moto server). Runs are fired for
chosen scheduled times; their effects are read back from the local endpoint: purged items and the
summary row, a duplicate delivery that does nothing, a failing run retried and then found in the
dead-letter queue, and the ``trigger`` command (in-process) run against the same endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from patterns.local.__main__ import main
from patterns.local.endpoint import local_client
from patterns.local.runner import LocalRun, LocalRunOptions
from patterns.local.schedules import LocalSchedule

NIGHT = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def run(demo_app) -> Iterator[LocalRun]:
    lines: list[str] = []
    options = LocalRunOptions(assembly_dir=demo_app.outdir, stacks=["ScheduledJobDemo"], port=0, retry_delay_seconds=0)
    with LocalRun(options, log=lines.append) as local_run:
        local_run.lines = lines  # type: ignore[attr-defined]
        yield local_run


@pytest.fixture(scope="module")
def schedule(run: LocalRun) -> LocalSchedule:
    assert run.schedules is not None
    (nightly,) = run.schedules.schedules
    return nightly


def client(run: LocalRun, service: str):
    assert run.environment is not None
    return local_client(service, run.environment.endpoint, run.environment.region)


def items_table(schedule: LocalSchedule) -> str:
    assert schedule.function is not None
    return schedule.function.environment["ITEMS_TABLE_NAME"]


def put(run: LocalRun, schedule: LocalSchedule, item_id: str, expires_at: dict) -> None:
    item = {"id": {"S": item_id}, "expires_at": expires_at}
    client(run, "dynamodb").put_item(TableName=items_table(schedule), Item=item)


def item_ids(run: LocalRun, schedule: LocalSchedule) -> set[str]:
    return {item["id"]["S"] for item in client(run, "dynamodb").scan(TableName=items_table(schedule))["Items"]}


def test_the_nightly_schedule_waits_for_0330_in_berlin(run, schedule):
    assert (schedule.expression, schedule.time_zone, schedule.job_name) == (
        "cron(30 3 * * ? *)",
        "Europe/Berlin",
        "NightlyPurge",
    )
    upcoming = run.schedules.next_time(schedule).astimezone(ZoneInfo("Europe/Berlin"))
    assert (upcoming.hour, upcoming.minute) == (3, 30)
    assert timedelta(0) < upcoming - datetime.now(UTC) <= timedelta(days=1)
    assert any("trigger NightlyPurge" in line for line in run.lines)


def test_a_fired_run_purges_and_a_duplicate_delivery_does_nothing(run, schedule):
    night = int(NIGHT.timestamp())
    put(run, schedule, "expired", {"N": str(night - 60)})
    put(run, schedule, "fresh", {"N": str(night + 86400)})
    fired = run.schedules.firer.fire(schedule, NIGHT)
    assert fired.outcome == "succeeded"
    assert fired.invocations[-1].payload["result"] == {"purged": 1, "purged_today": 1, "summary": "summary#2026-11-23"}
    assert {"fresh", "summary#2026-11-23"} <= item_ids(run, schedule) and "expired" not in item_ids(run, schedule)

    heartbeat = client(run, "cloudwatch").get_metric_statistics(
        Namespace="ServerlessPatterns/ScheduledJob",
        MetricName="Heartbeat",
        Dimensions=[{"Name": "ScheduleGroup", "Value": "default"}, {"Name": "Schedule", "Value": schedule.name}],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(hours=1),
        Period=7200,
        Statistics=["Sum"],
    )
    assert [point["Sum"] for point in heartbeat["Datapoints"]] == [1.0]  # the dead man's switch was fed

    put(run, schedule, "expired-too", {"N": str(night - 1)})
    again = run.schedules.firer.fire(schedule, NIGHT)  # Scheduler delivered the same scheduled time twice
    assert again.outcome == "succeeded"
    assert again.invocations[-1].payload["status"] == "skipped"
    assert "expired-too" in item_ids(run, schedule)


def test_a_failing_run_is_retried_then_its_event_lands_in_the_dead_letter_queue(run, schedule):
    put(run, schedule, "poison", {"S": "next week"})
    when = NIGHT + timedelta(days=1)
    try:
        fired = run.schedules.firer.fire(schedule, when)
    finally:
        client(run, "dynamodb").delete_item(TableName=items_table(schedule), Key={"id": {"S": "poison"}})
    assert fired.outcome == "failed" and len(fired.invocations) == 3  # Lambda's two retries
    assert fired.dead_letter_arn == schedule.dead_letter_arn  # the job's one DLQ
    sqs = client(run, "sqs")
    url = sqs.get_queue_url(QueueName=schedule.dead_letter_arn.split(":")[-1])["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"]
    event = json.loads(message["Body"])
    assert event["scheduled_time"] == "2026-11-24T02:30:00Z" and event["schedule_arn"] == schedule.arn
    assert "poison" in message["MessageAttributes"]["ErrorMessage"]["StringValue"]


def test_the_trigger_command_fires_the_job_now_against_the_running_endpoint(run, schedule, demo_app, capsys):
    assert run.environment is not None
    argv = ["trigger", "NightlyPurge", "--assembly", str(demo_app.outdir), "--stack", "ScheduledJobDemo"]
    argv += ["--endpoint", run.environment.endpoint, "--time", "2026-11-25T02:30:00Z"]
    assert main(argv) == 0
    outcome = json.loads(capsys.readouterr().out)  # the outcome alone on stdout; logs go to stderr
    assert outcome["outcome"] == "succeeded" and outcome["result"]["result"]["summary"] == "summary#2026-11-25"
    assert "summary#2026-11-25" in item_ids(run, schedule)
