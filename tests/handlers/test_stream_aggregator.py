"""The tumbling-window aggregator against moto's server: records in, one conditional write per closed window-key.

Events are shaped as Lambda's tumbling-window invocations: batches of a window carry the state the
previous invocation returned; the final one (``isFinalInvokeForWindow``) has no records. Every
DynamoDB request the handler sends is counted, so "exactly one request per closed window-key" and
"a replay writes nothing new" are checked as requests, not only as table contents.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections import Counter
from decimal import Decimal

import boto3
import pytest
from handler_loader import load_handler
from lambda_context import LambdaContext

SHARD = "shardId-000000000000"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"
WINDOW = {"start": "2026-11-23T18:00:00Z", "end": "2026-11-23T18:01:00Z"}
_sequence = itertools.count(49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898, 2**40)


def kinesis_record(data, sequence: int | None = None) -> dict:
    payload = data if isinstance(data, bytes) else json.dumps(data).encode()
    number = str(sequence if sequence is not None else next(_sequence))
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "p",
            "sequenceNumber": number,
            "data": base64.b64encode(payload).decode(),
            "approximateArrivalTimestamp": 1_795_456_800.0,
        },
        "eventSource": "aws:kinesis",
        "eventID": f"{SHARD}:{number}",
        "eventSourceARN": STREAM_ARN,
    }


def window_event(records: list, state: dict | None = None, final: bool = False, shard: str = SHARD) -> dict:
    return {
        "Records": records,
        "window": WINDOW,
        "state": state or {},
        "shardId": shard,
        "eventSourceARN": STREAM_ARN,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": False,
    }


@pytest.fixture
def aggregator(aws, monkeypatch):
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="aggregates",
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}, {"AttributeName": "window_start", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "key", "AttributeType": "S"},
            {"AttributeName": "window_start", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("TABLE_NAME", "aggregates")
    monkeypatch.setenv("KEY_FIELD", "page")
    monkeypatch.setenv("VALUE_FIELD", "ms")
    module = load_handler("stream_aggregator")
    module.requests = Counter()
    lock = threading.Lock()  # a closing window writes from several threads

    def count(model, **_) -> None:
        with lock:
            module.requests.update([model.name])

    module.dynamodb.meta.events.register("before-call.dynamodb.*", count)
    return module


def run_window(module, batches: list[list], shard: str = SHARD) -> dict:
    """Invoke like the mapping does: each batch with the last state, then the final invocation."""
    state: dict = {}
    for batch in batches:
        response = module.handler(window_event(batch, state, shard=shard), LambdaContext())
        assert response["batchItemFailures"] == []
        state = response["state"]
    return module.handler(window_event([], state, final=True, shard=shard), LambdaContext())


def counts(page: str | None = None) -> dict:
    items = boto3.client("dynamodb").scan(TableName="aggregates")["Items"]
    return {
        item["key"]["S"]: (int(item["count"]["N"]), Decimal(item["sum"]["N"]))
        for item in items
        if page is None or item["key"]["S"] == page
    }


def test_a_window_is_written_with_one_request_per_key_when_it_closes(aggregator):
    views = [{"page": "/home", "ms": 10}, {"page": "/cart", "ms": 5}, {"page": "/home", "ms": 2.5}]
    first, second = [kinesis_record(view) for view in views[:2]], [kinesis_record(views[2])]

    state = aggregator.handler(window_event(first), LambdaContext())["state"]
    aggregator.handler(window_event(second, state), LambdaContext())
    assert aggregator.requests == Counter()  # nothing written while the window is open

    run_window(aggregator, [first, second])
    assert aggregator.requests == Counter({"UpdateItem": 2})
    assert counts() == {"/home": (2, Decimal("12.5")), "/cart": (1, Decimal("5"))}


def test_a_retried_final_invocation_and_a_replayed_window_add_nothing(aggregator):
    batch = [kinesis_record({"page": "/home", "ms": 1}) for _ in range(3)]
    final = run_window(aggregator, [batch])
    assert final == {"state": {}, "batchItemFailures": []}

    aggregator.requests.clear()
    run_window(aggregator, [batch])  # the whole window again: a replay from the stream
    run_window(aggregator, [batch[1:]])  # a replay that starts inside the window
    assert aggregator.requests == Counter({"UpdateItem": 2})  # one attempt per window-key, each refused
    assert counts() == {"/home": (3, Decimal("3"))}


def test_a_record_delivered_twice_in_one_window_counts_once(aggregator):
    record = kinesis_record({"page": "/home", "ms": 1})
    run_window(aggregator, [[record], [record]])
    assert counts() == {"/home": (1, Decimal("1"))}


def test_later_records_and_other_shards_add_to_the_same_window(aggregator):
    run_window(aggregator, [[kinesis_record({"page": "/home", "ms": 1})]])
    # The window ended early (state too big) and went on with a fresh state: a later range adds.
    run_window(aggregator, [[kinesis_record({"page": "/home", "ms": 1})]])
    run_window(aggregator, [[kinesis_record({"page": "/home", "ms": 1}, sequence=5)]], shard="shardId-000000000001")
    assert counts() == {"/home": (3, Decimal("3"))}


def test_a_poison_record_after_good_ones_is_reported_and_the_good_ones_kept(aggregator):
    good, poison, after = (
        kinesis_record({"page": "/a", "ms": 1}),
        kinesis_record(b"not json"),
        kinesis_record({"page": "/b", "ms": 1}),
    )
    response = aggregator.handler(window_event([good, poison, after]), LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": poison["kinesis"]["sequenceNumber"]}]
    assert list(response["state"]["keys"]) == ["/a"]  # "/b" comes back with the retry from the poison record


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1, 2]", {"ms": 1}, {"page": "", "ms": 1}, {"page": "/a", "ms": "slow"}, {"page": "/a"}],
    ids=["not-json", "not-object", "no-key", "empty-key", "text-value", "no-value"],
)
def test_a_poison_record_at_the_head_of_a_batch_fails_the_invocation_so_it_is_bisected_out(aggregator, data):
    with pytest.raises(aggregator.BadRecord):
        aggregator.handler(
            window_event([kinesis_record(data), kinesis_record({"page": "/a", "ms": 1})]), LambdaContext()
        )


def change(name: str, sequence: str, image: dict | None) -> dict:
    """A DynamoDB stream record (a REMOVE, TTL's included, has no new image)."""
    record = {"eventName": name, "dynamodb": {"SequenceNumber": sequence}, "eventSource": "aws:dynamodb"}
    if image is not None:
        record["dynamodb"]["NewImage"] = image
    return record


def test_dynamodb_stream_inserts_are_counted_and_removes_and_modifies_skipped(aggregator):
    batch = [
        change("INSERT", "100", {"page": {"S": "/home"}, "ms": {"N": "4"}}),
        change("REMOVE", "200", None),
        change("MODIFY", "300", {"page": {"S": "/home"}, "ms": {"N": "6"}}),
        change("INSERT", "400", {"page": {"S": "/home"}, "ms": {"N": "6"}}),
    ]
    final = run_window(aggregator, [batch])  # asserts no batch item failures
    assert final == {"state": {}, "batchItemFailures": []}
    assert counts() == {"/home": (2, Decimal("10"))}


@pytest.mark.parametrize(
    "ms",
    ["1" * 39, "1E+126", "-1E+126", "1E-131", "Infinity", "NaN"],
    ids=["39-digits", "too-large", "too-negative", "too-small", "infinity", "nan"],
)
def test_a_number_dynamodb_cannot_store_is_a_bad_record(aggregator, ms):
    good = kinesis_record({"page": "/a", "ms": 1})
    bad = kinesis_record(b'{"page": "/a", "ms": ' + ms.encode() + b"}")
    response = aggregator.handler(window_event([good, bad]), LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": bad["kinesis"]["sequenceNumber"]}]


def test_the_largest_and_smallest_numbers_dynamodb_stores_are_read(aggregator):
    for ms in ("9" * 38 + "E+88", "-" + "9" * 38 + "E+88", "1E-130", "0"):
        assert aggregator.read_record(kinesis_record(b'{"page": "/a", "ms": ' + ms.encode() + b"}"))


def test_sums_keep_38_digits_and_a_sum_that_would_round_is_a_bad_record(aggregator):
    big = "1" * 37  # 37 digits: the sum of three is 38 digits, exactly
    records = [kinesis_record(b'{"page": "/a", "ms": ' + big.encode() + b"}") for _ in range(3)]
    run_window(aggregator, [records])
    assert counts() == {"/a": (3, Decimal("3" * 37))}  # at 28 digits of precision this would be rounded

    tiny = kinesis_record(b'{"page": "/b", "ms": 1E-10}')
    rounds = kinesis_record(b'{"page": "/b", "ms": ' + big.encode() + b"}")
    response = aggregator.handler(window_event([tiny, rounds]), LambdaContext())
    assert response["batchItemFailures"] == [{"itemIdentifier": rounds["kinesis"]["sequenceNumber"]}]


def test_a_closing_window_of_many_keys_is_written_in_parallel_and_each_key_once_across_a_timeout(
    aggregator, monkeypatch
):
    """The writes are slow (30 ms each); the first final invocation runs out of time and fails, its retry
    finishes: every key is added exactly once, the retry's repeats refused by their condition."""
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def slow(**_):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.03)
        with lock:
            in_flight[0] -= 1

    aggregator.dynamodb.meta.events.register("before-send.dynamodb.UpdateItem", slow)
    monkeypatch.setattr(aggregator, "TIME_MARGIN_MS", 0)
    pages = [f"/p{index}" for index in range(60)]
    state = aggregator.handler(
        window_event([kinesis_record({"page": page, "ms": 1}) for page in pages]), LambdaContext()
    )["state"]

    with pytest.raises(aggregator.WindowIncomplete):
        aggregator.handler(window_event([], state, final=True), LambdaContext(timeout_ms=150))
    first_try = aggregator.requests["UpdateItem"]
    assert 0 < first_try < len(pages)
    assert most[0] > 1  # in parallel

    final = aggregator.handler(window_event([], state, final=True), LambdaContext())
    assert final == {"state": {}, "batchItemFailures": []}
    assert aggregator.requests["UpdateItem"] == first_try + len(pages)
    assert counts() == {page: (1, Decimal("1")) for page in pages}


def test_sequence_numbers_are_compared_at_129_digits(aggregator):
    earlier, later = int("9" * 70), 10**70  # a 70-digit and a (greater) 71-digit sequence number
    run_window(aggregator, [[kinesis_record({"page": "/a", "ms": 1}, sequence=earlier)]])
    run_window(aggregator, [[kinesis_record({"page": "/a", "ms": 1}, sequence=later)]])
    assert counts() == {"/a": (2, Decimal("2"))}  # compared as text unpadded, the later range looked older


def test_an_empty_window_writes_nothing(aggregator):
    assert run_window(aggregator, []) == {"state": {}, "batchItemFailures": []}
    assert aggregator.requests == Counter()
