"""The DynamoDB stream -> SNS bridge against moto's server: stream records in, queue messages out.

Records are built as Lambda's event source mapping delivers them: item images are DynamoDB JSON
made by boto3's TypeSerializer from items written the way an application writes them, with
binary values as base64 text and ApproximateCreationDateTime in epoch seconds. The topic fans
out in moto to two raw-delivery queues, "audit" (every event) and "notifier" (deletes only),
and the tests read what each queue holds.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType

import boto3
import pytest
from boto3.dynamodb.types import Binary, TypeSerializer
from handler_loader import load_handler
from lambda_context import LambdaContext

REGION = "us-east-1"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:123456789012:table/products/stream/2026-11-01T00:00:00.000"
KEY_NAMES = ("pk", "sk")
START_TIME = 1_794_000_000.0  # 2026-11-06T21:20:00Z, in epoch seconds as the stream gives it
SNS_LIMIT = 256 * 1024
DELETED = "item.deleted"
ROUTES = {"audit": None, "notifier": {"event_type": [DELETED]}}  # queue -> filter policy

_serializer = TypeSerializer()
_sequence_numbers = itertools.count(4_421_584_500_000_000_017_450_439_091, 100)  # as a shard's grow


# --- stream records, as the event source mapping delivers them ---------------------------------


def _wire(value: dict) -> dict:
    """A serialized attribute value as the stream event carries it: binary values as base64 text."""
    [(tag, inner)] = value.items()
    if tag == "B":
        return {"B": base64.b64encode(inner).decode()}
    if tag == "BS":
        return {"BS": [base64.b64encode(member).decode() for member in inner]}
    if tag == "M":
        return {"M": {name: _wire(member) for name, member in inner.items()}}
    if tag == "L":
        return {"L": [_wire(member) for member in inner]}
    return value


def dynamodb_json(item: dict) -> dict:
    return {name: _wire(_serializer.serialize(value)) for name, value in item.items()}


def stream_record(
    event_name: str, keys: dict, new: dict | None = None, old: dict | None = None, created: float | None = START_TIME
) -> dict:
    """One record of a NEW_AND_OLD_IMAGES stream, in the shape of Lambda's event."""
    change = {"Keys": dynamodb_json(keys)}
    if created is not None:
        change["ApproximateCreationDateTime"] = created
    if new is not None:
        change["NewImage"] = dynamodb_json(new)
    if old is not None:
        change["OldImage"] = dynamodb_json(old)
    change["SequenceNumber"] = str(next(_sequence_numbers))
    change["SizeBytes"] = len(json.dumps(change))
    change["StreamViewType"] = "NEW_AND_OLD_IMAGES"
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": change,
        "eventSourceARN": STREAM_ARN,
    }


def key_of(item: dict) -> dict:
    return {name: item[name] for name in KEY_NAMES}


def insert(item: dict, **options) -> dict:
    return stream_record("INSERT", key_of(item), new=item, **options)


def modify(old: dict, new: dict, **options) -> dict:
    return stream_record("MODIFY", key_of(new), new=new, old=old, **options)


def remove(item: dict, **options) -> dict:
    return stream_record("REMOVE", key_of(item), old=item, **options)


def sequence_number(record: dict) -> str:
    return record["dynamodb"]["SequenceNumber"]


@dataclass(frozen=True)
class Version:
    """One version of an item: as the application writes it, and as plain JSON in an event."""

    item: dict
    as_json: dict


def product(n: int, price: str, stock: int, tags: tuple[str, ...]) -> Version:
    item = {
        "pk": f"product#{n}",
        "sk": Decimal(n),
        "name": f"Product {n}",
        "price": Decimal(price),
        "stock": Decimal(stock),
        "active": stock > 0,
        "tags": set(tags),
        "dimensions": {"width": Decimal("2.5"), "height": Decimal(4)},
        "history": [Decimal(n), "created"],
        "discontinued": None,
    }
    as_json = {
        "pk": f"product#{n}",
        "sk": n,
        "name": f"Product {n}",
        "price": int(price) if price.isdigit() else float(price),
        "stock": stock,
        "active": stock > 0,
        "tags": sorted(tags),
        "dimensions": {"width": 2.5, "height": 4},
        "history": [n, "created"],
        "discontinued": None,
    }
    return Version(item, as_json)


def expected_event(record: dict, event_type: str, new: Version | None, old: Version | None) -> dict:
    version = new or old
    return {
        "event_id": record["eventID"],
        "event_type": event_type,
        "keys": key_of(version.as_json),
        "new": new and new.as_json,
        "old": old and old.as_json,
        "sequence_number": sequence_number(record),
        "approximate_creation_time": datetime.fromtimestamp(record["dynamodb"]["ApproximateCreationDateTime"], UTC),
    }


def canonical(data) -> str:
    """JSON text that tells 2 from 2.0, so a comparison also checks the numbers' types."""
    return json.dumps(data, sort_keys=True, indent=1, default=datetime.isoformat)


# --- the bridge: topic, two subscriber queues, the handler -------------------------------------


@dataclass
class Bridge:
    sns: object
    sqs: object
    topic_arn: str
    queues: dict[str, str]  # name -> url
    monkeypatch: pytest.MonkeyPatch
    publisher: ModuleType | None = None

    def load(self, service: str = "stream-publisher") -> ModuleType:
        self.monkeypatch.setenv("TOPIC_ARN", self.topic_arn)
        self.monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service)
        self.publisher = load_handler("stream_publisher")
        return self.publisher

    def invoke(self, records: list[dict]) -> dict:
        return self.publisher.handler({"Records": records}, LambdaContext())

    def messages(self, queue: str, max_receives: int = 20) -> list[dict]:
        """Everything the queue holds (received once, kept invisible), as SQS returns it."""
        received = []
        for _ in range(max_receives):
            batch = self.sqs.receive_message(
                QueueUrl=self.queues[queue],
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=300,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not batch:
                return received
            received += batch
        raise AssertionError(f"{queue} still had messages after {max_receives} receives")

    def events(self, queue: str) -> list[dict]:
        return [published(message) for message in self.messages(queue)]


def published(message: dict) -> dict:
    """A queue message's event, checked for its attribute, with the time parsed (UTC)."""
    event = json.loads(message["Body"])  # raw delivery: the body is the event, no SNS envelope
    assert message["MessageAttributes"] == {"event_type": {"StringValue": event["event_type"], "DataType": "String"}}
    if event["approximate_creation_time"] is not None:
        moment = datetime.fromisoformat(event["approximate_creation_time"])
        assert moment.utcoffset().total_seconds() == 0
        event["approximate_creation_time"] = moment
    return event


@pytest.fixture
def bridge(aws, monkeypatch) -> Bridge:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="product-changes")["TopicArn"]
    queues = {}
    for name, filter_policy in ROUTES.items():
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": "true"}
        if filter_policy:
            attributes["FilterPolicy"] = json.dumps(filter_policy)
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        queues[name] = url
    bridge = Bridge(sns, sqs, topic_arn, queues, monkeypatch)
    bridge.load()
    return bridge


# --- behaviour ---------------------------------------------------------------------------------


def test_each_change_reaches_the_queues_its_subscriptions_route_it_to(bridge):
    p1, p2 = product(1, "9.99", 12, ("new",)), product(2, "19.5", 3, ("garden", "sale"))
    p3 = product(3, "4", 1, ("clearance",))
    p1b, p2b = product(1, "8.75", 11, ("new", "sale")), product(2, "19.5", 0, ("garden",))
    changes = [
        (insert(p1.item), "item.created", p1, None),
        (insert(p2.item), "item.created", p2, None),
        (insert(p3.item, created=START_TIME + 1.5), "item.created", p3, None),
        (modify(p1.item, p1b.item, created=START_TIME + 2), "item.updated", p1b, p1),
        (modify(p2.item, p2b.item, created=START_TIME + 3), "item.updated", p2b, p2),
        (remove(p2b.item, created=START_TIME + 4), DELETED, None, p2b),
        (remove(p3.item, created=START_TIME + 4), DELETED, None, p3),
    ]
    expected = {record["eventID"]: expected_event(record, *rest) for record, *rest in changes}

    assert bridge.invoke([record for record, *_ in changes]) == {"batchItemFailures": []}

    audit, notifier = bridge.events("audit"), bridge.events("notifier")
    assert Counter(e["event_type"] for e in audit) == {"item.created": 3, "item.updated": 2, DELETED: 2}
    assert len({e["event_id"] for e in audit}) == len(audit) == 7
    for event in audit:
        assert canonical(event) == canonical(expected[event["event_id"]])
    deletes = sorted(event_id for event_id, e in expected.items() if e["event_type"] == DELETED)
    assert sorted(e["event_id"] for e in notifier) == deletes
    for event in notifier:
        assert canonical(event) == canonical(expected[event["event_id"]])
        assert event["new"] is None and event["old"]["pk"] in ("product#2", "product#3")


@pytest.mark.parametrize(
    "malform",
    [
        pytest.param(lambda r: r.update(eventName="ARCHIVE"), id="unknown-eventName"),
        pytest.param(lambda r: r.pop("eventName"), id="no-eventName"),
        pytest.param(lambda r: r["dynamodb"].pop("Keys"), id="no-Keys"),
        pytest.param(lambda r: r["dynamodb"].update(Keys={}), id="empty-Keys"),
        pytest.param(lambda r: r.pop("eventID"), id="no-eventID"),
        pytest.param(lambda r: r["dynamodb"]["NewImage"].update(price={"X": "1"}), id="unknown-type-tag"),
        pytest.param(lambda r: r["dynamodb"]["NewImage"].update(price={"N": "cheap"}), id="bad-number"),
        pytest.param(lambda r: r["dynamodb"]["NewImage"].update(blob={"B": "not base64!"}), id="bad-binary"),
        pytest.param(lambda r: r["dynamodb"].update(ApproximateCreationDateTime="yesterday"), id="bad-time"),
    ],
)
def test_a_malformed_record_fails_alone_and_the_others_are_published(bridge, malform):
    records = [insert(product(n, "1", 1, ("t",)).item) for n in range(3)]
    malform(records[1])

    response = bridge.invoke(records)

    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_number(records[1])}]}
    published_ids = sorted(e["event_id"] for e in bridge.events("audit"))
    assert published_ids == sorted(r["eventID"] for r in (records[0], records[2]))


def test_a_batch_where_every_record_fails_is_reported_record_by_record(bridge):
    records = [stream_record("ARCHIVE", {"pk": f"product#{n}", "sk": Decimal(n)}) for n in range(3)]

    response = bridge.invoke(records)  # no exception: Lambda retries from the first failure

    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_number(r)} for r in records]}
    assert bridge.messages("audit") == []


def test_a_record_sns_refuses_is_reported_for_retry(bridge):
    records = [insert(product(n, "1", 1, ("t",)).item) for n in range(2)]
    bridge.sns.delete_topic(TopicArn=bridge.topic_arn)

    response = bridge.invoke(records)

    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_number(r)} for r in records]}


@pytest.mark.parametrize(
    "record",
    [
        pytest.param(lambda: insert({"pk": "doc#1", "sk": Decimal(1), "body": "x" * (300 * 1024)}), id="insert-300KiB"),
        pytest.param(  # each image alone fits; the two together do not
            lambda: modify(
                {"pk": "doc#1", "sk": Decimal(1), "body": "a" * (130 * 1024)},
                {"pk": "doc#1", "sk": Decimal(1), "body": "b" * (130 * 1024)},
            ),
            id="modify-2x130KiB",
        ),
        pytest.param(  # escaped as \u20ac: 6 bytes each, though only 50k characters
            lambda: insert({"pk": "doc#1", "sk": Decimal(1), "body": "\u20ac" * 50_000}), id="insert-non-ascii"
        ),
    ],
)
def test_an_event_over_the_sns_limit_is_published_without_its_images(bridge, record):
    record = record()

    assert bridge.invoke([record]) == {"batchItemFailures": []}

    [message] = bridge.messages("audit")
    assert len(message["Body"].encode()) < SNS_LIMIT
    event = published(message)
    assert event["truncated"] is True
    assert event["event_id"] == record["eventID"]
    assert event["keys"] == {"pk": "doc#1", "sk": 1}
    assert (event["new"], event["old"]) == (None, None)
    assert event["sequence_number"] == sequence_number(record)
    assert event["event_type"] in ("item.created", "item.updated")


def test_a_large_event_that_fits_is_published_whole(bridge):
    item = {"pk": "doc#1", "sk": Decimal(1), "body": "x" * (200 * 1024)}

    assert bridge.invoke([insert(item)]) == {"batchItemFailures": []}

    [event] = bridge.events("audit")
    assert "truncated" not in event
    assert event["new"] == {"pk": "doc#1", "sk": 1, "body": "x" * (200 * 1024)}


def test_the_limit_counts_the_message_attribute_to_the_byte(bridge):
    def padded(n: int, size: int) -> dict:  # same-length keys: the body grows only with the padding
        return {"pk": f"doc#{n}", "sk": Decimal(n), "body": "x" * size}

    bridge.invoke([insert(padded(1, 1000))])
    [probe] = bridge.messages("audit")
    overhead = len(probe["Body"]) - 1000
    attribute = len("event_type") + len("String") + len("item.created")
    fitting = SNS_LIMIT - attribute - overhead

    assert bridge.invoke([insert(padded(2, fitting)), insert(padded(3, fitting + 1))]) == {"batchItemFailures": []}

    events = {json.loads(m["Body"])["keys"]["sk"]: m for m in bridge.messages("audit")}
    assert len(events[2]["Body"].encode()) + attribute == SNS_LIMIT
    assert "truncated" not in json.loads(events[2]["Body"])
    assert json.loads(events[3]["Body"])["truncated"] is True


def test_item_values_become_plain_json(bridge):
    item = {
        "pk": "doc#1",
        "sk": Decimal(7),
        "title": "Caf\u00e9 \u2713",
        "count": Decimal(42),
        "negative": Decimal(-7),
        "price": Decimal("19.99"),
        "ratio": Decimal("0.125"),
        "exponent": Decimal("1E+3"),
        "whole": Decimal("5.0"),
        "on": True,
        "off": False,
        "nothing": None,
        "list": [Decimal(1), "two", [Decimal("3.5")], {"four": Decimal(4)}],
        "map": {"nested": {"deep": Decimal("0.5"), "flags": {"b", "a"}}},
        "labels": {"zeta", "alpha", "mid"},
        "scores": {Decimal(10), Decimal("2.5"), Decimal(1)},
        "blob": Binary(b"\x00\x01binary\xff"),
        "blobs": {Binary(b"b"), Binary(b"a")},
    }
    as_json = {
        "pk": "doc#1",
        "sk": 7,
        "title": "Caf\u00e9 \u2713",
        "count": 42,
        "negative": -7,
        "price": 19.99,
        "ratio": 0.125,
        "exponent": 1000,
        "whole": 5,
        "on": True,
        "off": False,
        "nothing": None,
        "list": [1, "two", [3.5], {"four": 4}],
        "map": {"nested": {"deep": 0.5, "flags": ["a", "b"]}},
        "labels": ["alpha", "mid", "zeta"],
        "scores": [1, 2.5, 10],
        "blob": base64.b64encode(b"\x00\x01binary\xff").decode(),
        "blobs": ["YQ==", "Yg=="],  # base64 of b"a", b"b"
    }

    bridge.invoke([insert(item)])

    [message] = bridge.messages("audit")
    assert message["Body"].isascii()  # non-ASCII escaped: deliverable to any subscriber as is
    event = json.loads(message["Body"], parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert canonical(event["new"]) == canonical(as_json)
    assert canonical(event["keys"]) == canonical({"pk": "doc#1", "sk": 7})


def test_missing_optional_fields_are_null(bridge):
    record = remove({"pk": "doc#1", "sk": Decimal(1), "body": "gone"}, created=None)

    bridge.invoke([record])

    [event] = bridge.events("audit")
    assert (event["new"], event["approximate_creation_time"]) == (None, None)
    assert event["old"] == {"pk": "doc#1", "sk": 1, "body": "gone"}


def test_the_creation_time_is_iso_8601_utc_to_the_millisecond(bridge):
    bridge.invoke([insert({"pk": "doc#1", "sk": Decimal(1)}, created=START_TIME + 0.25)])

    [message] = bridge.messages("audit")
    assert json.loads(message["Body"])["approximate_creation_time"] == "2026-11-06T21:20:00.250Z"


def test_a_redelivered_record_is_published_again_with_the_same_event_id(bridge):
    record = insert(product(1, "1", 1, ("t",)).item)

    bridge.invoke([record])
    bridge.invoke([record])  # a retry, or a later record failing in the same batch

    events = bridge.events("audit")
    assert [e["event_id"] for e in events] == [record["eventID"]] * 2
    assert canonical(events[0]) == canonical(events[1])


def _documented_actions(publisher: ModuleType) -> set[str]:
    match = re.search(r"IAM actions this code calls[^\n]*\n\s+(\S+) on the topic \(TOPIC_ARN\)", publisher.__doc__)
    assert match, "the docstring lists no actions on the topic"
    return {match.group(1)}


def test_the_only_aws_call_is_sns_publish_once_per_published_record(bridge):
    publisher = bridge.load()
    calls: list[str] = []  # every call of the module's one client
    publisher.sns.meta.events.register("before-call", lambda event_name, **_: calls.append(event_name))
    malformed = stream_record("ARCHIVE", {"pk": "doc#9", "sk": Decimal(9)})
    big = {"pk": "doc#2", "sk": Decimal(2), "body": "x" * (300 * 1024)}
    small = product(1, "1", 1, ("t",)).item

    response = bridge.invoke([insert(small), insert(big), modify(big, big), remove(small), malformed])

    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_number(malformed)}]}
    assert calls == ["before-call.sns.Publish"] * 4  # truncation is decided before, not by retrying
    actions = {"sns:" + name.rsplit(".", 1)[1] for name in calls}
    assert actions == _documented_actions(publisher) == {"sns:Publish"}


def test_logs_name_the_event_but_never_the_images(bridge, capsys):
    # Powertools configures a service's logger once; a new service name binds one to capsys.
    bridge.load(service=f"stream-publisher-logs-{uuid.uuid4()}")
    secret = {"pk": "user#1", "sk": Decimal(1), "card": "SECRET-4111"}
    good, bad = modify(secret, {**secret, "card": "SECRET-4242"}), remove(secret)
    bad["eventName"] = "ARCHIVE"

    bridge.invoke([good, bad])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    published_lines = [line for line in lines if line["message"] == "event published"]
    malformed_lines = [line for line in lines if line["message"] == "malformed stream record"]
    assert [(line["event_id"], line["event_type"]) for line in published_lines] == [(good["eventID"], "item.updated")]
    assert published_lines[0]["sequence_number"] == sequence_number(good)
    assert published_lines[0]["truncated"] is False
    assert [(line["event_id"], line["sequence_number"]) for line in malformed_lines] == [
        (bad["eventID"], sequence_number(bad))
    ]
    assert all(line["function_request_id"] for line in published_lines + malformed_lines)
    assert not any("SECRET-4" in json.dumps(line) for line in lines)
