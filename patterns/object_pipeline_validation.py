"""The props checks of ``ObjectPipeline``: contradicting or impossible props raise ``ValueError`` at construction."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration, Token
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3

from .blocks.api_cors import check_origins

#: The formats the bundled processor writes.
OUTPUT_FORMATS = ("webp", "jpeg")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/-]*$")
_MAX_WIDTH = 10_000
# Regions of the partitions without CloudFront Origin Access Control (aws-cn) or CloudFront at all (aws-us-gov).
_NO_CLOUDFRONT_REGIONS = ("cn-", "us-gov-")
# Regions whose S3 buckets CloudFront does not deliver standard logs to (CloudFront developer guide,
# "Choose an Amazon S3 bucket for standard logs").
_NO_STANDARD_LOG_REGIONS = ("af-south-1", "ap-east-1", "eu-south-1", "me-south-1")


def validate(
    *,
    processor: lambda_.IFunction | None,
    processor_code: lambda_.Code | None,
    processor_handler: str | None,
    pillow_layer: lambda_.ILayerVersion | None,
    memory_size: int | None,
    upload_prefix: str,
    output_prefix: str,
    widths: Sequence[int],
    formats: Sequence[str],
    max_pixels: int,
    upload_bucket: s3.IBucket | None,
    output_bucket: s3.IBucket | None,
    serve_uploads: bool,
    api: apigw.RestApi | None,
    authorizer: apigw.IAuthorizer | None,
    scopes: Sequence[str],
    allowed_content_types: Sequence[str],
    max_upload_bytes: int,
    grant_expiry: Duration,
    cors_allow_origins: Sequence[str] | None,
    web_acl_arn: str | None,
    rejected_rate_threshold: float,
    rejected_rate_min_objects: int,
    expire_uploads_after: Duration | None,
    delivery: bool,
    domain_names: Sequence[str],
    certificate: acm.ICertificate | None,
    web_acl_id: str | None,
    geo_restriction: cloudfront.GeoRestriction | None,
    region: str,
    **_: object,
) -> None:
    """Raise ``ValueError`` naming the prop when ``ObjectPipeline``'s props contradict each other or cannot work."""
    if processor is not None:
        given = [
            name
            for name, value in (
                ("processor_code", processor_code),
                ("processor_handler", processor_handler),
                ("pillow_layer", pillow_layer),
                ("memory_size", memory_size),
            )
            if value
        ]
        if given:
            raise ValueError(f"processor= was given, so {', '.join(given)} cannot be: they configure a new processor")
    if processor_handler is not None and processor_code is None:
        raise ValueError("processor_handler= needs processor_code=: the bundled processor's entry point is fixed")
    if pillow_layer is not None and processor_code is not None:
        raise ValueError("pillow_layer= is for the bundled processor; with processor_code= add your own layers")
    for label, prefix in (("upload_prefix", upload_prefix), ("output_prefix", output_prefix)):
        if not prefix or not prefix.endswith("/") or prefix.startswith("/") or not _PREFIX.match(prefix):
            raise ValueError(f"{label} must be a key prefix ending in '/' (letters, digits, !_.*'()-/), got {prefix!r}")
    if upload_bucket is not None and upload_bucket is output_bucket:
        raise ValueError(
            "upload_bucket and output_bucket must differ: renditions written to the upload bucket "
            "could trigger processing again"
        )
    if not widths or any(not isinstance(width, int) or not 1 <= width <= _MAX_WIDTH for width in widths):
        raise ValueError(f"widths must be one or more whole numbers of pixels in 1..{_MAX_WIDTH}, got {list(widths)}")
    unknown = sorted(set(formats) - set(OUTPUT_FORMATS))
    if not formats or unknown:
        raise ValueError(f"formats must be one or more of {', '.join(OUTPUT_FORMATS)}, got {list(formats)}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    if not allowed_content_types or any("/" not in value for value in allowed_content_types):
        raise ValueError(
            f"allowed_content_types must be MIME types like 'image/jpeg', got {list(allowed_content_types)}"
        )
    if not 1 <= max_upload_bytes <= 5 * 1024**3:
        raise ValueError("max_upload_bytes must be between 1 byte and 5 GiB (a single POST's limit)")
    if not 1 <= grant_expiry.to_seconds() <= 3600:
        raise ValueError("grant_expiry must be between 1 second and 1 hour: grants are meant to be short-lived")
    if expire_uploads_after is not None and (
        expire_uploads_after.to_seconds() < 86400 or expire_uploads_after.to_seconds() % 86400
    ):
        raise ValueError("expire_uploads_after must be a whole number of days, at least 1 (S3 lifecycle counts days)")
    if not 0 < rejected_rate_threshold <= 1:
        raise ValueError(f"rejected_rate_threshold is a share of objects in (0, 1], got {rejected_rate_threshold}")
    if rejected_rate_min_objects < 1:
        raise ValueError(f"rejected_rate_min_objects must be at least 1, got {rejected_rate_min_objects}")
    if cors_allow_origins is not None:
        check_origins(cors_allow_origins)
    if delivery and not Token.is_unresolved(region) and region.startswith(_NO_CLOUDFRONT_REGIONS):
        raise ValueError(
            f"CloudFront with Origin Access Control is not available in {region} (aws-cn and aws-us-gov "
            "partitions): pass delivery=False and serve output_bucket another way"
        )
    if delivery and not Token.is_unresolved(region) and region in _NO_STANDARD_LOG_REGIONS:
        raise ValueError(
            f"CloudFront does not deliver standard logs to buckets in {region}, and the distribution logs to this "
            "stack's log bucket: deploy the stack in another Region or pass delivery=False"
        )
    if not delivery:
        given = [
            name
            for name, value in (
                ("domain_names", domain_names),
                ("certificate", certificate),
                ("web_acl_id", web_acl_id),
                ("geo_restriction", geo_restriction),
            )
            if value
        ]
        if given:
            raise ValueError(f"delivery=False, so {', '.join(given)} cannot be: they configure the distribution")
    if not serve_uploads:
        given = [
            name
            for name, value in (
                ("api", api),
                ("authorizer", authorizer),
                ("scopes", scopes),
                ("cors_allow_origins", cors_allow_origins),
                ("web_acl_arn", web_acl_arn),
            )
            if value
        ]
        if given:
            raise ValueError(f"serve_uploads=False, so {', '.join(given)} cannot be: they configure the upload API")
