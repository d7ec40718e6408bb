"""Images uploaded with short-lived grants, resized once per version, served by CloudFront."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from patterns import ObjectPipeline


class ImagePipelineDemo(Stack):
    """IAM-signed POST /uploads -> upload bucket -> buffer queue -> image processor -> renditions -> CloudFront."""

    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.pipeline = ObjectPipeline(self, "Images", removal_policy=RemovalPolicy.DESTROY)

        assert self.pipeline.upload_api is not None and self.pipeline.distribution is not None
        CfnOutput(self, "UploadGrantUrl", value=f"{self.pipeline.upload_api.url}uploads")
        CfnOutput(self, "CdnDomain", value=self.pipeline.distribution.distribution_domain_name)
        CfnOutput(self, "MetadataTableName", value=self.pipeline.table.table_name)
