"""Private S3 buckets: public access blocked, SSL-only, encrypted, versioned, access-logged."""

from __future__ import annotations

from typing import Optional, Sequence

from aws_cdk import Duration, RemovalPolicy, aws_s3 as s3
from constructs import Construct

from .nag import acknowledge

#: Server access logs are delivered under a bucket policy (the logging service principal, this
#: bucket and account only) instead of the log bucket's ``LogDeliveryWrite`` ACL.
SERVER_ACCESS_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"


def access_log_bucket(scope: Construct, id: str, *, removal_policy: RemovalPolicy, expire_after: Duration) -> s3.Bucket:
    """A bucket for S3 server access logs and CloudFront standard logs.

    Its object ownership is ``BUCKET_OWNER_PREFERRED`` because CloudFront's standard logging writes
    with an ACL (it cannot deliver to a bucket whose ACLs are disabled); public access stays blocked.
    """
    bucket = s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        versioned=True,
        removal_policy=removal_policy,
        lifecycle_rules=[
            s3.LifecycleRule(
                expiration=expire_after,
                noncurrent_version_expiration=Duration.days(1),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )
        ],
    )
    acknowledge(
        bucket,
        "AwsSolutions-S1",
        "This is the access-log bucket itself: logging its own accesses into itself would log each log "
        "delivery, without end.",
    )
    return bucket


def private_bucket(
    scope: Construct,
    id: str,
    *,
    access_logs: s3.IBucket,
    access_logs_prefix: str,
    removal_policy: RemovalPolicy,
    lifecycle_rules: Sequence[s3.LifecycleRule] = (),
    cors: Optional[Sequence[s3.CorsRule]] = None,
) -> s3.Bucket:
    """A versioned bucket no one outside the account can read or list; its accesses logged to ``access_logs``."""
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        removal_policy=removal_policy,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_logs_prefix,
        lifecycle_rules=list(lifecycle_rules),
        cors=list(cors) if cors else None,
    )
