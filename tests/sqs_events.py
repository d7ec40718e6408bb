"""Receive from a queue on the local server and shape the messages as Lambda's SQS event does."""

from __future__ import annotations

import base64


def lambda_message_attributes(attributes: dict) -> dict:
    """SQS's MessageAttributes in the shape Lambda's SQS event uses."""
    shaped = {}
    for name, value in attributes.items():
        entry = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        shaped[name] = entry
    return shaped


def receive_sqs_event(sqs, queue_url: str, queue_arn: str, max_messages: int = 10) -> dict:
    """Receive up to ``max_messages`` messages and return them as the event Lambda would send."""
    messages = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=max_messages,
        AttributeNames=["All"],
        MessageAttributeNames=["All"],
    ).get("Messages", [])
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": lambda_message_attributes(m.get("MessageAttributes", {})),
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3],
            }
            for m in messages
        ]
    }
