"""Drive a Kinesis event source mapping locally: moto's Kinesis stream -> function.

Everything a stream mapping does (batch size and window, partial batch responses, bisect on error,
bounded retries, the on-failure destination with ``KinesisBatchInfo``, tumbling windows with their
state) comes from :class:`~patterns.local.pollers_streams.StreamPoller`; this module reads Kinesis.
A mapping that reads through an enhanced fan-out consumer (its ARN ends in
``/consumer/NAME:TIMESTAMP``) is polled from the consumer's stream: the records are the same, only
AWS's delivery (push, own throughput) differs.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from .endpoint import local_client
from .model import EventSource
from .pollers_streams import StreamPoller


def stream_of(arn: str) -> str:
    """The stream ARN of a stream or enhanced fan-out consumer ARN."""
    return arn.split("/consumer/", 1)[0]


def kinesis_record(record: dict[str, Any], shard_id: str, stream_arn: str, region: str) -> dict[str, Any]:
    """One record of Lambda's Kinesis event, from a GetRecords result parsed by boto3 (data as base64 text,
    the arrival time as epoch seconds)."""
    arrival = record["ApproximateArrivalTimestamp"]
    if isinstance(arrival, datetime):
        arrival = arrival.timestamp()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": float(arrival),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


class KinesisPoller(StreamPoller):
    """Reads a Kinesis stream shard by shard and delivers each batch until it succeeds or is given up."""

    kind = "Kinesis"
    batch_info_key = "KinesisBatchInfo"
    records_limit = 10_000

    def __init__(self, source: EventSource, *args: Any, **kwargs: Any) -> None:
        super().__init__(source, *args, **kwargs)
        self.stream_arn = stream_of(self.stream_arn)
        self._kinesis = local_client("kinesis", self.endpoint, self.region)
        self._shard_of_iterator: dict[str, str] = {}

    def shard_ids(self) -> list[str]:
        shard_ids: list[str] = []
        arguments: dict[str, Any] = {"StreamARN": self.stream_arn}
        while True:
            response = self._kinesis.list_shards(**arguments)
            shard_ids.extend(shard["ShardId"] for shard in response["Shards"])
            if not response.get("NextToken"):
                return shard_ids
            arguments = {"NextToken": response["NextToken"]}

    def shard_iterator(self, shard_id: str, iterator_type: str, after: str | None) -> str | None:
        position: dict[str, Any] = {"ShardIteratorType": iterator_type}
        if after is not None:
            position["StartingSequenceNumber"] = after
        # By name: moto's server hands out iterators that name no stream when asked by ARN.
        stream_name = self.stream_arn.rsplit("/", 1)[-1]
        iterator: str | None = self._kinesis.get_shard_iterator(
            StreamName=stream_name, ShardId=shard_id, **position
        ).get("ShardIterator")
        if iterator:
            self._shard_of_iterator[iterator] = shard_id
        return iterator

    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        shard_id = self._shard_of_iterator.pop(iterator, "")
        response = self._kinesis.get_records(ShardIterator=iterator, Limit=limit)
        following = response.get("NextShardIterator")
        if following:
            self._shard_of_iterator[following] = shard_id
        records = [
            kinesis_record(record, shard_id, self.stream_arn, self.region) for record in response.get("Records", [])
        ]
        return records, following

    def sequence_number(self, record: dict[str, Any]) -> str:
        sequence: str = record["kinesis"]["sequenceNumber"]
        return sequence

    def arrival_seconds(self, record: dict[str, Any]) -> float:
        return float(record["kinesis"]["approximateArrivalTimestamp"])
