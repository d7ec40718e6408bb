"""Receive from a queue on the local server and shape the messages as Lambda's SQS event does.

The records are built by the local runner's SQS poller (``patterns.local.pollers.sqs_record``),
so the handler tests and ``make local`` hand the handlers the same event.
"""

from __future__ import annotations

from patterns.local.pollers import sqs_record


def receive_sqs_event(sqs, queue_url: str, queue_arn: str, max_messages: int = 10) -> dict:
    """Receive up to ``max_messages`` messages and return them as the event Lambda would send."""
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return {"Records": [sqs_record(message, queue_arn) for message in messages]}
