"""StreamProcessor in the consumer matrix: a new stream with its ingestion API, and a table's stream."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from patterns import StreamProcessor


def stream_processors(scope: Construct, *, table: dynamodb.ITable) -> None:
    """The clickstream shape (stream, aggregator, ingestion API) and an aggregate of ``table``'s changes."""
    clicks = StreamProcessor(scope, "Clicks", key_field="page", removal_policy=RemovalPolicy.DESTROY)
    clicks.add_ingestion_api()
    table_stream_processor(scope, table=table)


def table_stream_processor(scope: Construct, *, table: dynamodb.ITable) -> StreamProcessor:
    """Per-status counts of ``table``'s changes (a table of another stack works too)."""
    return StreamProcessor(
        scope, "TableChanges", source_table=table, key_field="status", removal_policy=RemovalPolicy.DESTROY
    )
