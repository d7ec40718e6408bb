"""Clickstream: an ingestion API puts page views on a stream; per-minute counts per page land in a table."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from constructs import Construct

from patterns import StreamProcessor

#: Each page view names its page; the page is also the record's partition key, so one page's views
#: share a shard and each minute of a page is written once.
PAGE_FIELD = "page"


class ClickstreamDemo(Stack):
    """POST /events -> Kinesis (on-demand, own key) -> aggregator (1-minute windows) -> page-view counts."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.page_views = StreamProcessor(
            self,
            "PageViews",
            key_field=PAGE_FIELD,
            tumbling_window=Duration.minutes(1),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.ingestion = self.page_views.add_ingestion_api()
        CfnOutput(self, "IngestionUrl", value=self.ingestion.url)
        assert self.page_views.table is not None  # the bundled aggregator has its table
        CfnOutput(self, "CountsTable", value=self.page_views.table.table_name)
        CfnOutput(self, "FailedBatchesQueue", value=self.page_views.failure_destination.queue_url)
