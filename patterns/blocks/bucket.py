"""Private S3 buckets: public access blocked, SSL-only, encrypted, versioned, access-logged."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ..compliance import is_strict
from .nag import acknowledge

#: Server access logs are delivered under a bucket policy (the logging service principal, this
#: bucket and account only) instead of the log bucket's ``LogDeliveryWrite`` ACL.
SERVER_ACCESS_LOGS_USE_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
_PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")


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
    if is_strict(scope):
        acknowledge(
            bucket,
            "cfn-guard:s3_bucket_logging_enabled_check",
            "This is the access-log bucket itself: logging its own accesses into itself would log each log "
            "delivery, without end.",
        )
        reason = (
            "S3 server access logs can only be delivered to a destination bucket encrypted with SSE-S3 "
            "(Amazon S3 user guide, 'Enabling Amazon S3 server access logging'), so this bucket cannot use a KMS key."
        )
        for rule in (
            *(f"{pack}-S3DefaultEncryptionKMS" for pack in _PACKS),
            "cfn-guard:s3_bucket_default_encryption_kms_check",
        ):
            acknowledge(bucket, rule, reason)
    return bucket


def private_bucket(
    scope: Construct,
    id: str,
    *,
    access_logs: s3.IBucket,
    access_logs_prefix: str,
    removal_policy: RemovalPolicy,
    lifecycle_rules: Sequence[s3.LifecycleRule] = (),
    cors: Sequence[s3.CorsRule] | None = None,
    encryption_key: kms.IKey | None = None,
) -> s3.Bucket:
    """A versioned bucket no one outside the account can read or list; its accesses logged to ``access_logs``.

    Encrypted with ``encryption_key`` (S3 Bucket Keys on, so S3 calls KMS once per bucket key, not per
    object) when given, else SSE-S3.
    """
    return s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.KMS if encryption_key else s3.BucketEncryption.S3_MANAGED,
        encryption_key=encryption_key,
        bucket_key_enabled=True if encryption_key else None,
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


def acknowledge_strict_bucket_rules(
    bucket: s3.IBucket, *, replication: str, object_lock: str, notifications: str
) -> None:
    """Under the strict profile, acknowledge on ``bucket`` the rules it deliberately does not meet, each with its reason:
    cross-region replication (NIST, HIPAA, PCI; ``replication``), Object Lock (Control Tower CT.S3.PR.9;
    ``object_lock``) and event notifications configured on the bucket resource (CT.S3.PR.4; ``notifications``)."""
    if not is_strict(bucket):
        return
    for pack in _PACKS:
        acknowledge(bucket, f"{pack}-S3BucketReplicationEnabled", replication)
    acknowledge(bucket, "cfn-guard:s3_bucket_object_lock_enabled_check", object_lock)
    acknowledge(bucket, "cfn-guard:s3_event_notifications_enabled_check", notifications)
