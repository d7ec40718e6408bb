"""The fan-out consumer against moto's server: SNS -> two SQS queues (one filtered) -> handler.

The tests build the real fan-out in moto (topic, raw-delivery subscriptions, queues with DLQs,
tables), poll the queues the way Lambda's event source mapping does, and check that every
published message is applied exactly once or dead-lettered.
"""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
import pytest
from aws_local import create_id_table
from handler_loader import load_handler
from lambda_context import LambdaContext
from sqs_events import receive_sqs_event

MAX_RECEIVE_COUNT = 3
SHIPPED = "order.shipped"
EVENT_TYPES = ("order.created", "order.paid", SHIPPED)


@dataclass
class Subscriber:
    name: str
    url: str
    arn: str
    dlq_url: str
    table: str
    idempotency_table: str


@dataclass
class FanOut:
    sns: object
    sqs: object
    dynamodb: object
    topic_arn: str
    queues: dict[str, Subscriber]

    def publish(self, body: str, event_type: str) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Message=body,
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": event_type}},
        )


@pytest.fixture
def fanout(aws) -> FanOut:
    sns, sqs, dynamodb = boto3.client("sns"), boto3.client("sqs"), boto3.client("dynamodb")
    topic_arn = sns.create_topic(Name="orders")["TopicArn"]
    queues = {}
    for name, filter_policy in (("billing", None), ("shipping", {"event_type": [SHIPPED]})):
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": "0",  # a failed message is visible again at once: no sleeps
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
            },
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"RawMessageDelivery": "true"}
        if filter_policy:
            attributes["FilterPolicy"] = json.dumps(filter_policy)
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        subscriber = Subscriber(name, url, arn, dlq_url, f"{name}-records", f"{name}-idempotency")
        create_id_table(dynamodb, subscriber.table)
        create_id_table(dynamodb, subscriber.idempotency_table)
        queues[name] = subscriber
    return FanOut(sns, sqs, dynamodb, topic_arn, queues)


@pytest.fixture
def load_consumer(fanout, monkeypatch):
    """Load a fresh handler module for one subscriber, with its own environment."""

    def load(name: str, key_field: str | None = None, table: str | None = None, service: str | None = None):
        subscriber = fanout.queues[name]
        monkeypatch.setenv("TABLE_NAME", table or subscriber.table)
        monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", subscriber.idempotency_table)
        monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", service or f"fanout-{name}")
        if key_field:
            monkeypatch.setenv("IDEMPOTENCY_KEY_FIELD", key_field)
        else:
            monkeypatch.delenv("IDEMPOTENCY_KEY_FIELD", raising=False)
        return load_handler("fanout_consumer")

    return load


# --- the event source mapping, played by the test ----------------------------------------------


def receive_batch(fanout: FanOut, subscriber: Subscriber) -> dict:
    """Receive up to 10 messages and shape them exactly like Lambda's SQS event."""
    return receive_sqs_event(fanout.sqs, subscriber.url, subscriber.arn)


@dataclass
class Delivery:
    """What the event source mapping saw while draining one queue."""

    invocations: list[tuple[dict, dict]] = field(default_factory=list)  # (batch, response)
    acknowledged: list[str] = field(default_factory=list)  # message ids deleted after success

    def attempts(self, message_id: str) -> int:
        return sum(r["messageId"] == message_id for batch, _ in self.invocations for r in batch["Records"])

    def failures(self) -> list[str]:
        return [f["itemIdentifier"] for _, response in self.invocations for f in response["batchItemFailures"]]


def invoke(fanout, subscriber, consumer, batch, delivery: Delivery | None = None, delete: bool = True) -> dict:
    """Invoke the handler with a batch, then delete every message not reported as failed."""
    response = consumer.handler(batch, LambdaContext())
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed <= {r["messageId"] for r in batch["Records"]}
    for record in batch["Records"]:
        if delete and record["messageId"] not in failed:
            fanout.sqs.delete_message(QueueUrl=subscriber.url, ReceiptHandle=record["receiptHandle"])
            if delivery is not None:
                delivery.acknowledged.append(record["messageId"])
    if delivery is not None:
        delivery.invocations.append((batch, response))
    return response


def queued(fanout, url: str) -> int:
    attributes = fanout.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def drain(fanout, name: str, consumer, max_polls: int = 40) -> Delivery:
    """Poll like the event source mapping until the queue is empty (bounded)."""
    subscriber = fanout.queues[name]
    delivery = Delivery()
    for _ in range(max_polls):
        batch = receive_batch(fanout, subscriber)
        if batch["Records"]:
            invoke(fanout, subscriber, consumer, batch, delivery)
        elif queued(fanout, subscriber.url) == 0:
            return delivery
    raise AssertionError(f"{name} was not drained in {max_polls} polls")


def dead_letters(fanout, name: str) -> list[dict]:
    dlq_url = fanout.queues[name].dlq_url
    messages = []
    while batch := fanout.sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
        "Messages", []
    ):
        messages += batch
    return messages


def items(fanout, table: str) -> list[dict]:
    raw = fanout.dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return [{name: value["S"] for name, value in item.items()} for item in raw]


def idempotency_records(fanout, table: str) -> list[dict]:
    """What is in the idempotency table FanoutQueue also passes: the bundled consumer never uses it."""
    return fanout.dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]


def record_calls(consumer) -> list[tuple[str, str]]:
    """Record (operation, table) for every DynamoDB call the handler's client makes."""
    calls: list[tuple[str, str]] = []

    def on_call(params, model, **_):
        calls.append((model.name, params.get("TableName")))

    consumer.dynamodb.meta.events.register("provide-client-params.dynamodb.*", on_call)
    return calls


def order(order_id, event_type: str = "order.created", event_id=None, **extra) -> str:
    """An order event; each call is a new event (its own ``event_id``) unless one is given."""
    event_id = event_id if event_id is not None else f"evt-{uuid.uuid4()}"
    return json.dumps({"event_id": event_id, "order_id": order_id, "event_type": event_type, **extra})


# --- behaviour ---------------------------------------------------------------------------------


def test_fan_out_applies_each_message_to_its_subscribers(fanout, load_consumer):
    consumers = {name: load_consumer(name) for name in fanout.queues}
    published = [(order(f"o-{n}", EVENT_TYPES[n % 3]), EVENT_TYPES[n % 3]) for n in range(12)]
    for body, event_type in published:
        fanout.publish(body, event_type)

    deliveries = {name: drain(fanout, name, consumers[name]) for name in fanout.queues}

    assert sorted(i["body"] for i in items(fanout, "billing-records")) == sorted(b for b, _ in published)
    assert sorted(i["body"] for i in items(fanout, "shipping-records")) == sorted(
        b for b, t in published if t == SHIPPED
    )
    assert len(items(fanout, "shipping-records")) == 4
    for name, delivery in deliveries.items():
        assert delivery.failures() == []
        # Without a key field the idempotency key, and so the item id, is the SQS messageId.
        assert sorted(i["id"] for i in items(fanout, f"{name}-records")) == sorted(delivery.acknowledged)


def test_a_message_carries_its_attributes_in_lambdas_shape(fanout, load_consumer):
    fanout.publish(order("o-1", SHIPPED, event_id="e-1"), SHIPPED)
    record = receive_batch(fanout, fanout.queues["shipping"])["Records"][0]
    assert record["messageAttributes"] == {
        "event_type": {"stringValue": SHIPPED, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert json.loads(record["body"]) == {
        "event_id": "e-1",
        "order_id": "o-1",
        "event_type": SHIPPED,
    }  # raw delivery: no envelope


def test_a_poison_message_fails_alone_and_ends_in_its_dlq(fanout, load_consumer):
    consumer = load_consumer("billing")
    for n in range(3):
        fanout.publish(order(f"o-{n}"), "order.created")
    fanout.publish("not json {", "order.created")
    billing = fanout.queues["billing"]

    first = receive_batch(fanout, billing)
    poison_id = next(r["messageId"] for r in first["Records"] if r["body"] == "not json {")
    assert len(first["Records"]) == 4
    assert invoke(fanout, billing, consumer, first) == {"batchItemFailures": [{"itemIdentifier": poison_id}]}
    assert sorted(json.loads(i["body"])["order_id"] for i in items(fanout, billing.table)) == ["o-0", "o-1", "o-2"]

    delivery = drain(fanout, "billing", consumer)
    assert delivery.failures() == [poison_id] * (MAX_RECEIVE_COUNT - 1)  # plus the first, above
    dead = dead_letters(fanout, "billing")
    assert [(m["MessageId"], m["Body"]) for m in dead] == [(poison_id, "not json {")]
    assert queued(fanout, billing.url) == 0
    assert len(items(fanout, billing.table)) == 3


def test_a_redelivered_message_is_applied_once_and_succeeds_twice(fanout, load_consumer):
    consumer = load_consumer("billing")
    calls = record_calls(consumer)
    billing = fanout.queues["billing"]
    fanout.publish(order("o-1"), "order.created")

    first = receive_batch(fanout, billing)
    # The first invocation succeeds but its delete is lost, so SQS delivers the message again.
    assert invoke(fanout, billing, consumer, first, delete=False) == {"batchItemFailures": []}
    second = receive_batch(fanout, billing)
    assert [r["messageId"] for r in second["Records"]] == [r["messageId"] for r in first["Records"]]
    assert second["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert invoke(fanout, billing, consumer, second) == {"batchItemFailures": []}

    assert [i["id"] for i in items(fanout, billing.table)] == [first["Records"][0]["messageId"]]
    # One request per delivery: the duplicate's conditional write failed, which means "applied".
    assert calls == [("PutItem", billing.table)] * 2
    assert idempotency_records(fanout, billing.idempotency_table) == []
    assert queued(fanout, billing.url) == 0


def test_events_of_the_same_order_are_each_applied(fanout, load_consumer):
    # The key identifies the event: created, paid and shipped of one order are three events.
    consumer = load_consumer("billing", key_field="event_id")
    billing = fanout.queues["billing"]
    bodies = [order("o-7", event_type) for event_type in EVENT_TYPES]
    for body, event_type in zip(bodies, EVENT_TYPES, strict=True):
        fanout.publish(body, event_type)

    assert invoke(fanout, billing, consumer, receive_batch(fanout, billing)) == {"batchItemFailures": []}
    assert sorted(i["body"] for i in items(fanout, billing.table)) == sorted(bodies)


@pytest.mark.parametrize("subscriber", ["Billing", "Shipping"])
def test_the_demo_consumers_apply_each_event_of_an_order_once(fanout, load_consumer, demo_app, subscriber):
    resources = demo_app.template("FanoutDemo")["Resources"]
    [variables] = [
        r["Properties"]["Environment"]["Variables"]
        for logical_id, r in resources.items()
        if r["Type"] == "AWS::Lambda::Function" and logical_id.startswith(f"Orders{subscriber}Consumer")
    ]
    consumer = load_consumer("shipping", key_field=variables.get("IDEMPOTENCY_KEY_FIELD"))
    shipping = fanout.queues["shipping"]
    shipped = order("o-7", SHIPPED, event_id="e-2")
    for body in (order("o-7", SHIPPED, event_id="e-1"), shipped, shipped):  # e.g. a split shipment, one retried
        fanout.publish(body, SHIPPED)

    assert drain(fanout, "shipping", consumer).failures() == []
    assert sorted(json.loads(i["body"])["event_id"] for i in items(fanout, shipping.table)) == ["e-1", "e-2"]


def test_an_event_published_twice_is_applied_once(fanout, load_consumer):
    # A publisher retrying after a timeout publishes the same event again: a new SNS and SQS
    # message id, the same event_id.
    consumer = load_consumer("billing", key_field="event_id")
    calls = record_calls(consumer)
    billing = fanout.queues["billing"]
    body = order("o-7", event_id="evt-1", amount=10)
    fanout.publish(body, "order.created")
    fanout.publish(body, "order.created")

    batch = receive_batch(fanout, billing)
    assert len({r["messageId"] for r in batch["Records"]}) == 2
    assert invoke(fanout, billing, consumer, batch) == {"batchItemFailures": []}

    [item] = items(fanout, billing.table)
    assert item["id"] == "evt-1"
    assert item["message_id"] == batch["Records"][0]["messageId"]
    assert calls == [("PutItem", billing.table)] * 2


def test_without_raw_delivery_an_sns_redelivery_is_applied_once(fanout, load_consumer):
    # SNS retries a delivery to SQS with the same envelope (same MessageId); SQS gives the copy a
    # new message id. The construct keys such a subscriber on the envelope's MessageId.
    sqs, sns = fanout.sqs, fanout.sns
    url = sqs.create_queue(QueueName="enveloped", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=fanout.topic_arn, Protocol="sqs", Endpoint=arn)
    fanout.publish(order("o-1", event_id="evt-1"), "order.created")
    fanout.publish(order("o-1", "order.paid", event_id="evt-2"), "order.paid")
    envelope = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"][0]
    sqs.send_message(QueueUrl=url, MessageBody=envelope["Body"])  # the duplicate delivery
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=envelope["ReceiptHandle"], VisibilityTimeout=0)
    consumer = load_consumer("billing", key_field="MessageId")
    subscriber = Subscriber("enveloped", url, arn, "", "billing-records", "billing-idempotency")

    batch = receive_sqs_event(sqs, url, arn)
    assert len(batch["Records"]) == 3
    assert invoke(fanout, subscriber, consumer, batch) == {"batchItemFailures": []}

    applied = items(fanout, "billing-records")
    assert sorted(json.loads(json.loads(i["body"])["Message"])["event_id"] for i in applied) == ["evt-1", "evt-2"]
    assert sorted(i["id"] for i in applied) == sorted({json.loads(r["body"])["MessageId"] for r in batch["Records"]})


@pytest.mark.parametrize("body", ["not json", " ", json.dumps([{"order_id": "o-1"}]), json.dumps("o-1"), "42", "null"])
def test_a_body_that_is_not_a_json_object_fails_alone(fanout, load_consumer, body):
    consumer = load_consumer("billing")  # keyed by messageId: only the body's shape is checked
    billing = fanout.queues["billing"]
    fanout.publish(order("o-1"), "order.created")
    fanout.publish(body, "order.created")

    batch = receive_batch(fanout, billing)
    good_id, bad_id = (r["messageId"] for r in batch["Records"])
    assert invoke(fanout, billing, consumer, batch) == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert [i["id"] for i in items(fanout, billing.table)] == [good_id]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"order_id": "o-1", "event_type": "order.created"}),
        json.dumps({"event_id": ""}),
        json.dumps({"event_id": "   "}),
        json.dumps({"event_id": None}),
        json.dumps({"event_id": True}),
        json.dumps({"event_id": ["e-1"]}),
        json.dumps({"event_id": 1.5}),
        json.dumps(["e-1"]),
        "not json",
    ],
)
def test_a_body_without_a_usable_event_id_fails_alone(fanout, load_consumer, body):
    consumer = load_consumer("billing", key_field="event_id")
    billing = fanout.queues["billing"]
    fanout.publish(order("o-1", event_id="e-1"), "order.created")
    fanout.publish(body, "order.created")

    batch = receive_batch(fanout, billing)
    bad_id = next(r["messageId"] for r in batch["Records"] if r["body"] == body)
    assert invoke(fanout, billing, consumer, batch) == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert [i["id"] for i in items(fanout, billing.table)] == ["e-1"]


def test_an_integer_event_id_is_stored_as_its_string(fanout, load_consumer):
    consumer = load_consumer("billing", key_field="event_id")
    billing = fanout.queues["billing"]
    fanout.publish(order("o-1", event_id=42), "order.created")
    fanout.publish(order("o-1", event_id="42"), "order.created")  # the same event id, spelled as a string

    assert invoke(fanout, billing, consumer, receive_batch(fanout, billing)) == {"batchItemFailures": []}
    assert [i["id"] for i in items(fanout, billing.table)] == ["42"]


def test_an_item_applied_long_ago_is_not_overwritten(fanout, load_consumer):
    consumer = load_consumer("billing", key_field="event_id")
    billing = fanout.queues["billing"]
    old = {"id": {"S": "e-1"}, "message_id": {"S": "earlier"}, "body": {"S": "{}"}, "processed_at": {"S": "2020"}}
    fanout.dynamodb.put_item(TableName=billing.table, Item=old)
    fanout.publish(order("o-1", event_id="e-1"), "order.created")

    assert invoke(fanout, billing, consumer, receive_batch(fanout, billing)) == {"batchItemFailures": []}
    assert items(fanout, billing.table) == [
        {"id": "e-1", "message_id": "earlier", "body": "{}", "processed_at": "2020"}
    ]


def test_a_failed_write_changes_nothing_so_the_retry_applies_it(fanout, load_consumer):
    consumer = load_consumer("billing", table="late-records")  # not created yet: the write fails
    billing = fanout.queues["billing"]
    fanout.publish(order("o-1"), "order.created")

    first = receive_batch(fanout, billing)
    message_id = first["Records"][0]["messageId"]
    assert invoke(fanout, billing, consumer, first) == {"batchItemFailures": [{"itemIdentifier": message_id}]}

    create_id_table(fanout.dynamodb, "late-records")
    assert invoke(fanout, billing, consumer, receive_batch(fanout, billing)) == {"batchItemFailures": []}
    [item] = items(fanout, "late-records")
    assert (item["id"], item["message_id"]) == (message_id, message_id)


def test_every_published_message_is_applied_once_or_dead_lettered(fanout, load_consumer):
    consumers = {name: load_consumer(name, key_field="event_id") for name in fanout.queues}
    routed = {name: [] for name in fanout.queues}  # (body, kind) per queue, as the filter policy routes it

    def publish(body: str, event_type: str, kind: str) -> None:
        fanout.publish(body, event_type)
        for name in fanout.queues:
            if name == "billing" or event_type == SHIPPED:
                routed[name].append((body, kind))

    for n in range(10):  # two orders: several events of each
        publish(order(f"o-{n % 2}", EVENT_TYPES[n % 3], event_id=f"e-{n}"), EVENT_TYPES[n % 3], "good")
    for n in (0, 2, 3, 5):  # published again: the same events
        publish(order(f"o-{n % 2}", EVENT_TYPES[n % 3], event_id=f"e-{n}"), EVENT_TYPES[n % 3], "duplicate")
    publish("not json", SHIPPED, "poison")
    publish(json.dumps({"order_id": "o-1", "event_type": "order.created"}), "order.created", "poison")
    publish(json.dumps({"event_id": "", "event_type": SHIPPED}), SHIPPED, "poison")

    for name, subscriber in fanout.queues.items():
        delivery = drain(fanout, name, consumers[name])
        dead = dead_letters(fanout, name)
        applied = items(fanout, subscriber.table)
        kinds = [kind for _, kind in routed[name]]

        assert queued(fanout, subscriber.url) == 0
        assert sorted(i["body"] for i in applied) == sorted(b for b, kind in routed[name] if kind == "good")
        assert sorted(m["Body"] for m in dead) == sorted(b for b, kind in routed[name] if kind == "poison")
        # Each message was either acknowledged (applied, or recognised as a duplicate) or dead-lettered.
        assert len(routed[name]) == len(delivery.acknowledged) + len(dead)
        assert len(set(delivery.acknowledged)) == len(delivery.acknowledged)
        assert set(delivery.acknowledged).isdisjoint(m["MessageId"] for m in dead)
        assert len(delivery.acknowledged) == len(applied) + kinds.count("duplicate")
        assert all(delivery.attempts(m["MessageId"]) == MAX_RECEIVE_COUNT for m in dead)
        assert idempotency_records(fanout, subscriber.idempotency_table) == []
    assert len(routed["billing"]) == 17 and len(routed["shipping"]) == 7


def test_logs_name_the_message_and_key_but_never_the_body(fanout, load_consumer, capsys):
    # Powertools configures a service's logger once; a new service name binds one to capsys.
    consumer = load_consumer("billing", key_field="event_id", service=f"fanout-logs-{uuid.uuid4()}")
    billing = fanout.queues["billing"]
    fanout.publish(order("o-1", event_id="e-1", card="SECRET-4111"), "order.created")
    fanout.publish(json.dumps({"card": "SECRET-4111"}), "order.created")

    batch = receive_batch(fanout, billing)
    invoke(fanout, billing, consumer, batch)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    processed = [line for line in lines if line["message"] == "message processed"]
    malformed = [line for line in lines if line["message"] == "malformed message"]
    assert [(line["message_id"], line["key"]) for line in processed] == [(batch["Records"][0]["messageId"], "e-1")]
    assert [line["message_id"] for line in malformed] == [batch["Records"][1]["messageId"]]
    assert all(line["function_request_id"] for line in processed + malformed)
    assert not any("SECRET-4111" in json.dumps(line) for line in lines)


def _documented_actions(consumer) -> dict[str, set[str]]:
    doc = consumer.__doc__
    match = re.search(r"destination table \(TABLE_NAME\): (.+)", doc)
    assert match, "the docstring lists no actions for the destination table"
    return {"destination": {action.strip().removeprefix("dynamodb:") for action in match.group(1).split(",")}}


def test_the_dynamodb_calls_are_the_documented_ones_one_per_message(fanout, load_consumer):
    consumer = load_consumer("billing", table="late-records")
    calls = record_calls(consumer)
    billing = fanout.queues["billing"]
    fanout.publish(order("o-1"), "order.created")

    # A write that fails (table missing), then succeeds; then the message is redelivered twice.
    invoke(fanout, billing, consumer, receive_batch(fanout, billing))
    create_id_table(fanout.dynamodb, "late-records")
    first = receive_batch(fanout, billing)
    for _ in range(3):
        assert invoke(fanout, billing, consumer, first, delete=False) == {"batchItemFailures": []}

    assert calls == [("PutItem", "late-records")] * 4  # exactly one request per delivery
    assert {"destination": {operation for operation, _ in calls}} == _documented_actions(consumer)
    assert [i["id"] for i in items(fanout, "late-records")] == [first["Records"][0]["messageId"]]


def test_concurrent_deliveries_of_one_event_apply_it_once(fanout, load_consumer, capsys):
    # SNS delivered the event twice (or a publisher retried) and two consumers got the copies at once.
    consumer = load_consumer("billing", key_field="event_id", service=f"fanout-race-{uuid.uuid4()}")
    billing = fanout.queues["billing"]
    events = [order(f"o-{n}", event_id=f"e-{n}") for n in range(5)]
    batches = [
        {"Records": [{**record, "messageId": f"{copy}-{n}"} for n, record in enumerate(template["Records"])]}
        for copy, template in enumerate([_local_batch(billing, events)] * 4)
    ]

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda batch: consumer.handler(batch, LambdaContext()), batches))

    assert responses == [{"batchItemFailures": []}] * 4
    applied = items(fanout, billing.table)
    assert sorted(i["id"] for i in applied) == [f"e-{n}" for n in range(5)]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    processed = [line for line in lines if line["message"] == "message processed"]
    assert len(processed) == 20
    # Each event has one winner, the copy whose id is on the item; the others saw the condition fail.
    winners = {i["id"]: i["message_id"] for i in applied}
    assert sorted((line["key"], line["message_id"]) for line in processed if not line["duplicate"]) == sorted(
        winners.items()
    )
    assert all(line["applied_by_message_id"] == winners[line["key"]] for line in processed)


def _local_batch(subscriber: Subscriber, bodies: list[str]) -> dict:
    """An SQS event with these bodies, as the event source mapping would shape it."""
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "unused",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": subscriber.arn,
                "awsRegion": "us-east-1",
            }
            for body in bodies
        ]
    }
