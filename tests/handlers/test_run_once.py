"""The run-once runner and the demo's nightly purge against moto's server: claims, retries, heartbeats."""

from __future__ import annotations

import sys
from types import ModuleType

import boto3
import pytest
from aws_local import create_id_table
from handler_loader import load_handler
from lambda_context import LambdaContext

CLAIMS, ITEMS, NAMESPACE = "claims", "items", "Test/ScheduledJob"
SCHEDULE_ARN = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly-purge"
NIGHT = "2026-11-23T02:30:00Z"
NIGHT_EPOCH = 1795401000  # 2026-11-23T02:30:00Z


def event(scheduled_time: str = NIGHT, **overrides) -> dict:
    return {
        "schedule_arn": SCHEDULE_ARN,
        "scheduled_time": scheduled_time,
        "execution_id": "e-1",
        "attempt_number": "1",
        "job": {"job": "purge-expired-items"},
        **overrides,
    }


@pytest.fixture
def job(aws, monkeypatch) -> tuple[ModuleType, ModuleType]:
    """The demo handler and the runner module it uses, loaded fresh against empty tables."""
    dynamodb = boto3.client("dynamodb")
    create_id_table(dynamodb, CLAIMS)
    create_id_table(dynamodb, ITEMS)
    monkeypatch.setenv("RUN_ONCE_TABLE_NAME", CLAIMS)
    monkeypatch.setenv("HEARTBEAT_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("ITEMS_TABLE_NAME", ITEMS)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "nightly")
    sys.modules.pop("run_once", None)  # the handler imports the runner anew, with clients for this server
    app = load_handler("scheduled_job")
    return app, sys.modules["run_once"]


def put_item(item_id: str, expires_at=None) -> None:
    item = {"id": {"S": item_id}}
    if expires_at is not None:
        item["expires_at"] = {"N": str(expires_at)} if isinstance(expires_at, int) else {"S": expires_at}
    boto3.client("dynamodb").put_item(TableName=ITEMS, Item=item)


def item_ids() -> list[str]:
    return sorted(item["id"]["S"] for item in boto3.client("dynamodb").scan(TableName=ITEMS)["Items"])


def claim_item(scheduled_time: str = NIGHT) -> dict:
    key = {"id": {"S": f"default/nightly-purge@{scheduled_time}"}}
    return boto3.client("dynamodb").get_item(TableName=CLAIMS, Key=key).get("Item", {})


def summary_row(day: str = "2026-11-23") -> dict:
    key = {"id": {"S": f"summary#{day}"}}
    return boto3.client("dynamodb").get_item(TableName=ITEMS, Key=key).get("Item", {})


HEARTBEAT_DIMENSIONS = [{"Name": "ScheduleGroup", "Value": "default"}, {"Name": "Schedule", "Value": "nightly-purge"}]


def heartbeats() -> float:
    """The sum of every heartbeat data point of the schedule."""
    statistics = boto3.client("cloudwatch").get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="Heartbeat",
        Dimensions=HEARTBEAT_DIMENSIONS,
        StartTime="2000-01-01T00:00:00Z",
        EndTime="2100-01-01T00:00:00Z",
        Period=86400,
        Statistics=["Sum"],
    )
    return sum(point["Sum"] for point in statistics["Datapoints"])


def test_a_run_purges_what_expired_before_the_scheduled_time_and_writes_the_summary(job):
    app, _ = job
    put_item("old", NIGHT_EPOCH - 60)
    put_item("later", NIGHT_EPOCH + 60)
    put_item("forever")
    result = app.handler(event(), LambdaContext())
    assert result == {
        "status": "succeeded",
        "claim": f"default/nightly-purge@{NIGHT}",
        "result": {"purged": 1, "purged_today": 1, "summary": "summary#2026-11-23"},
    }
    assert item_ids() == ["forever", "later", "summary#2026-11-23"]
    assert summary_row()["purged"]["N"] == "1"
    claim = claim_item()
    assert claim["status"]["S"] == "SUCCEEDED" and claim["attempts"]["N"] == "1"
    assert int(claim["expires_at"]["N"]) > NIGHT_EPOCH  # kept for a week, then DynamoDB's TTL removes it


def test_the_heartbeat_names_the_schedule_and_its_group(job):
    app, _ = job
    app.handler(event(), LambdaContext())
    metrics = boto3.client("cloudwatch").list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert {(m["MetricName"], tuple(sorted((d["Name"], d["Value"]) for d in m["Dimensions"]))) for m in metrics} == {
        ("Heartbeat", (("Schedule", "nightly-purge"), ("ScheduleGroup", "default")))
    }
    assert heartbeats() == 1


def test_a_duplicate_delivery_does_nothing(job):
    app, _ = job
    app.handler(event(), LambdaContext())
    put_item("expired-since", NIGHT_EPOCH - 1)
    result = app.handler(event(execution_id="e-2"), LambdaContext())
    assert result == {"status": "skipped", "claim": f"default/nightly-purge@{NIGHT}", "claim_status": "SUCCEEDED"}
    assert "expired-since" in item_ids()  # the job did not run again
    assert claim_item()["attempts"]["N"] == "1"
    assert heartbeats() == 1


def test_the_next_scheduled_time_runs_again(job):
    app, _ = job
    app.handler(event(), LambdaContext())
    assert app.handler(event("2026-11-24T02:30:00Z"), LambdaContext())["status"] == "succeeded"
    assert heartbeats() == 2


def test_a_failed_run_is_recorded_and_its_retry_runs(job):
    app, _ = job
    put_item("bad", "tomorrow")
    with pytest.raises(app.MalformedExpiry, match="'bad'"):
        app.handler(event(), LambdaContext())
    claim = claim_item()
    assert claim["status"]["S"] == "FAILED" and "MalformedExpiry" in claim["error"]["S"]
    assert heartbeats() == 0
    put_item("bad", NIGHT_EPOCH - 1)  # fixed; Lambda's retry of the same event now succeeds
    assert app.handler(event(attempt_number="1"), LambdaContext())["status"] == "succeeded"
    claim = claim_item()
    assert claim["status"]["S"] == "SUCCEEDED" and claim["attempts"]["N"] == "2" and "error" not in claim


def test_a_crashed_run_holds_its_claim_until_its_lease_ends_then_a_retry_runs(job, monkeypatch):
    app, runner = job
    run = runner.ScheduledRun.from_event(event())
    clock = [float(NIGHT_EPOCH)]
    monkeypatch.setattr(runner, "now", lambda: clock[0])
    # A run claims with 60 s left and dies (time-out, out of memory): nothing records its end.
    assert runner.claim(run, "crashed-request", lease_seconds=60) is None
    clock[0] += 30  # a delivery while it could still be running raises, so that Lambda retries it later
    with pytest.raises(runner.ClaimBusy, match="RUNNING"):
        app.handler(event(), LambdaContext())
    clock[0] += 60  # past the lease (and its margin): Lambda's retry claims the run again
    assert app.handler(event(), LambdaContext())["status"] == "succeeded"
    assert claim_item()["attempts"]["N"] == "2"
    assert heartbeats() == 1


def test_a_retry_after_an_early_crash_is_not_taken_for_a_success(job, monkeypatch):
    app, runner = job
    put_item("old", NIGHT_EPOCH - 60)
    run = runner.ScheduledRun.from_event(event())
    clock = [float(NIGHT_EPOCH)]
    monkeypatch.setattr(runner, "now", lambda: clock[0])
    # A run with 15 minutes left crashes at once; Lambda's first retry comes about a minute later.
    assert runner.claim(run, "crashed-request", lease_seconds=900) is None
    clock[0] += 90
    with pytest.raises(runner.ClaimBusy):
        app.handler(event(), LambdaContext())
    assert claim_item()["status"]["S"] == "RUNNING" and "old" in item_ids()  # nothing ran, nothing is lost
    assert heartbeats() == 0


def test_each_attempt_claims_under_an_owner_of_its_own(job, monkeypatch):
    app, runner = job
    owners: list[str] = []
    claim = runner.claim
    monkeypatch.setattr(runner, "claim", lambda run, owner, lease: owners.append(owner) or claim(run, owner, lease))
    reused = LambdaContext(aws_request_id="request-1")  # Lambda may keep the request id of a retried event
    app.handler(event(), reused)
    app.handler(event("2026-11-24T02:30:00Z"), reused)
    assert len(set(owners)) == 2 and all(owner.startswith("request-1/") for owner in owners)
    assert claim_item()["owner"]["S"] == owners[0]


def test_a_failure_to_record_the_failure_does_not_hide_the_jobs_error(job, monkeypatch):
    app, runner = job
    put_item("bad", "tomorrow")

    def unreachable(*args, **kwargs):
        raise ConnectionError("DynamoDB unreachable")

    monkeypatch.setattr(runner, "finish", unreachable)
    with pytest.raises(app.MalformedExpiry, match="'bad'"):
        app.handler(event(), LambdaContext())


def test_a_retry_after_a_run_that_failed_halfway_counts_every_purged_item(job, monkeypatch):
    app, runner = job
    for number in range(4):
        put_item(f"old-{number}", NIGHT_EPOCH - 60)
    transact = runner.dynamodb.transact_write_items  # the job uses the runner's client
    calls = [0]

    def fails_on_the_third(**kwargs):
        calls[0] += 1
        if calls[0] == 3:
            raise ConnectionError("connection reset")
        return transact(**kwargs)

    monkeypatch.setattr(runner.dynamodb, "transact_write_items", fails_on_the_third)
    with pytest.raises(ConnectionError):
        app.handler(event(), LambdaContext())
    assert len([i for i in item_ids() if i.startswith("old-")]) == 2 and summary_row()["purged"]["N"] == "2"
    result = app.handler(event(), LambdaContext())  # Lambda's retry purges the rest
    assert result["result"] == {"purged": 2, "purged_today": 4, "summary": "summary#2026-11-23"}
    assert item_ids() == ["summary#2026-11-23"] and summary_row()["purged"]["N"] == "4"


@pytest.mark.parametrize(
    "bad",
    [
        "not an object",
        event(schedule_arn="arn:aws:scheduler:us-east-1:123456789012:schedule-group/default"),
        event(scheduled_time="<aws.scheduler.scheduled-time>"),
        event(scheduled_time="2026-11-23T02:30:00"),
        event(job=["not", "an", "object"]),
    ],
)
def test_an_event_that_is_not_the_schedule_payload_fails_before_any_claim(job, bad):
    app, runner = job
    with pytest.raises(runner.MalformedScheduledEvent):
        app.handler(bad, LambdaContext())
    assert boto3.client("dynamodb").scan(TableName=CLAIMS)["Items"] == []
