"""Stream processing: a Kinesis (or DynamoDB) stream -> Lambda in tumbling windows, exactly-once
aggregates, and an ingestion API that puts records without a function in the path."""

from .ingestion import StreamIngestionApi
from .processor import StreamProcessor

__all__ = ["StreamIngestionApi", "StreamProcessor"]
