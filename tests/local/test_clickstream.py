"""The clickstream demo run locally, over HTTP: page views posted to the ingestion API reach the
stream (API Gateway -> Kinesis, no function), the aggregator counts them per page per one-minute
window, and the counts are read back from the local endpoint.

The run closes idle windows after half a second (``window_idle_seconds``) instead of at the
minute's end, so the test does not wait for the clock. Replaying is a second run on the same
endpoint: its mapping starts again at TRIM_HORIZON, re-reads every record, and the counts do not
move. A record no aggregator can read, put by a producer straight on the stream, is described to
the failure queue while the records after it in its shard are counted.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_local import FAKE_AWS_ENV, moto_server
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from polling import eventually

from patterns.local import gateway_kinesis
from patterns.local.runner import LocalRun, LocalRunOptions
from patterns.stream_processor.ingestion import REFUSED_RESPONSE_TEMPLATE, SUCCESS_RESPONSE_TEMPLATE

STACK = "ClickstreamDemo"


def options(demo_app, endpoint: str) -> LocalRunOptions:
    return LocalRunOptions(
        assembly_dir=demo_app.outdir,
        stacks=[STACK],
        endpoint=endpoint,
        port=0,
        retry_delay_seconds=0,
        window_idle_seconds=0.5,
    )


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto server of this module's own, shared by the run and its replay."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def run(demo_app, endpoint) -> Iterator[LocalRun]:
    lines: list[str] = []
    with LocalRun(options(demo_app, endpoint), log=lines.append) as local_run:
        local_run.lines = lines  # type: ignore[attr-defined]
        yield local_run


def outputs(run: LocalRun) -> dict[str, str]:
    """The physical names the local run gave the demo's table and stream, and its queue's URL."""
    assert run.environment is not None
    stack = run.environment.stack(STACK)
    resources = stack.template["Resources"]

    def ref_of(kind: str, prefix: str) -> str:
        return next(stack.refs[k] for k, r in resources.items() if r["Type"] == kind and k.startswith(prefix))

    return {
        "table": ref_of("AWS::DynamoDB::Table", "PageViewsAggregates"),
        "queue_url": ref_of("AWS::SQS::Queue", "PageViewsFailedBatches"),
        "stream": ref_of("AWS::Kinesis::Stream", "PageViewsStream"),
    }


def client(endpoint: str, service: str):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def post(run: LocalRun, body: Any, signed: bool = True) -> tuple[int, Any]:
    (api,) = run.apis
    url = f"{api.url}events"
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        credentials = Credentials(FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"], FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"])
        request = AWSRequest(method="POST", url=url, data=data, headers=headers)
        SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
        headers = dict(request.headers.items())
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, headers=headers, method="POST"), timeout=30
        ) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def counts(endpoint: str, table: str) -> Counter:
    """Page views per page, summed over the page's windows."""
    total: Counter = Counter()
    for item in client(endpoint, "dynamodb").scan(TableName=table)["Items"]:
        total[item["key"]["S"]] += int(item["count"]["N"])
    return total


def views(*pages: str) -> dict:
    return {"events": [{"page": page, "referrer": "https://example.com/"} for page in pages]}


def test_posted_page_views_are_counted_per_page(run, endpoint):
    status, answer = post(run, views("/home", "/home", "/cart"))
    assert status == 200 and answer["FailedRecordCount"] == 0 and len(answer["Records"]) == 3
    table = outputs(run)["table"]
    eventually(lambda: counts(endpoint, table)["/home"] == 2 and counts(endpoint, table)["/cart"] == 1, timeout=15)


def test_bad_requests_are_refused_before_the_stream(run):
    assert post(run, {"events": []})[0] == 400  # the model wants 1..500 events
    assert post(run, {"events": [{"referrer": "x"}]})[0] == 400  # each needs its page
    assert post(run, views("/home"), signed=False)[0] == 403  # IAM authorization


def test_a_poison_record_goes_to_the_failure_queue_without_blocking_its_shard(run, endpoint):
    names = outputs(run)
    client(endpoint, "kinesis").put_record(StreamName=names["stream"], Data=b"not json", PartitionKey="/pricing")
    assert post(run, views("/pricing", "/pricing"))[0] == 200  # the same partition key: the same shard

    eventually(lambda: counts(endpoint, names["table"])["/pricing"] == 2, timeout=20)
    sqs = client(endpoint, "sqs")
    messages = sqs.receive_message(QueueUrl=names["queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
        "Messages", []
    )
    (failure,) = [json.loads(message["Body"]) for message in messages]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["KinesisBatchInfo"]["batchSize"] == 1  # bisected down to the poison record alone


def test_a_partition_key_with_an_apostrophe_reaches_the_stream_and_is_counted(run, endpoint):
    status, answer = post(run, views("/it's", "/it's"))
    assert status == 200 and answer["FailedRecordCount"] == 0
    table = outputs(run)["table"]
    eventually(lambda: counts(endpoint, table)["/it's"] == 2, timeout=15)


def test_a_call_kinesis_refuses_for_good_is_a_400_with_its_type_not_a_retry_later(run):
    status, answer = post(run, {"events": [{"page": "/big", "padding": "x" * (1024 * 1024 + 1)}]})
    assert status == 400, answer
    assert "type" in answer, answer
    assert answer["type"] and answer["message"] == "the stream refused the events", answer


@pytest.mark.parametrize(
    ("template", "status", "body", "expected"),
    [
        ("success", 200, {"FailedRecordCount": 0, "Records": []}, 200),
        ("success", 200, {"FailedRecordCount": 2, "Records": []}, 207),
        ("refused", 400, {"__type": "ProvisionedThroughputExceededException"}, 503),
        ("refused", 400, {"__type": "KMSThrottlingException"}, 503),
        ("refused", 400, {"__type": "AccessDeniedException"}, 400),
    ],
)
def test_the_local_gateway_applies_the_response_templates_moto_cannot_reach(template, status, body, expected):
    """moto never refuses a single record nor throttles: the templates' overrides are checked directly."""
    templates = {"success": SUCCESS_RESPONSE_TEMPLATE, "refused": REFUSED_RESPONSE_TEMPLATE}
    answer_status, answer = gateway_kinesis.render(templates[template], status, json.dumps(body))
    assert answer_status == expected
    if template == "refused":
        assert json.loads(answer)["type"] == body["__type"]


def refused_keys(lines: list[str]) -> set[str]:
    """Pages whose window write the aggregator found already applied, from its logs in the run's output."""
    keys = set()
    for line in lines:
        _, _, text = line.partition("] ")
        if '"window already applied"' in text:
            keys.add(json.loads(text)["key"])
    return keys


def test_a_replayed_stream_does_not_change_the_counts(run, demo_app, endpoint):
    table = outputs(run)["table"]
    eventually(lambda: counts(endpoint, table)["/pricing"] == 2, timeout=20)
    before = counts(endpoint, table)
    run.stop()  # the first run's poller stops; the replay reads the stream again from its start
    lines: list[str] = []
    with LocalRun(options(demo_app, endpoint), log=lines.append) as replay:
        assert post(replay, views("/after"))[0] == 200
        eventually(lambda: counts(endpoint, table)["/after"] == 1, timeout=20)
        # Every page counted before was read and aggregated again, and its window write refused.
        eventually(lambda: refused_keys(lines) >= set(before), timeout=20)
    after = counts(endpoint, table)
    del after["/after"]
    assert after == before
