"""A CloudFront distribution serving a private bucket through Origin Access Control."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Names, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ..compliance import is_strict
from .nag import acknowledge

#: How long viewers and edge caches keep an object: its key never changes content, so a year.
IMMUTABLE_TTL = Duration.days(365)
_HSTS_AGE = Duration.days(730)
# Response headers policy and OAC names are unique per account, not per Region, and CloudFormation's
# limits on them are 128 and 64 characters; Region codes are at most 14 characters.
_RESPONSE_HEADERS_POLICY_NAME_LENGTH = 128
_ORIGIN_ACCESS_CONTROL_NAME_LENGTH = 64
_REGION_LENGTH = 16
# Control Tower's controls a distribution on the default *.cloudfront.net certificate cannot meet.
_DEFAULT_CERTIFICATE_CONTROLS = (
    "cfn-guard:cloudfront_custom_ssl_certificate_check",
    "cfn-guard:cloudfront_sni_enabled_check",
    "cfn-guard:cloudfront_security_policy_check",
)


class BucketDistribution(Construct):
    """CloudFront in front of ``bucket``: HTTPS only, security headers, long caching, access logs.

    What it makes:
      * ``distribution``: reads ``bucket`` through Origin Access Control (the bucket stays private;
        its policy lets this distribution's ``s3:GetObject`` in, by ``AWS:SourceArn``), GET/HEAD only,
        HTTP/2 and 3, IPv6, standard logs to ``log_bucket`` under ``log_prefix``;
      * ``origin_access_control``: the OAC it signs with (its name, like the response headers policy's,
        holds the Region: both names are unique per account);
      * ``cache_policy``: a year by default and at most, nothing in the cache key but the path
        (no query strings, headers or cookies), because keys are immutable;
      * ``response_headers_policy``: HSTS (two years, subdomains), ``nosniff``, ``DENY`` framing,
        ``strict-origin-when-cross-origin`` referrers and an XSS filter header.

    Args:
        bucket: the private bucket served.
        log_bucket / log_prefix: where CloudFront writes its standard logs (the bucket must allow ACLs).
        domain_names / certificate: custom domains and their ACM certificate (in us-east-1), both or
            neither. Default: the ``*.cloudfront.net`` domain and certificate.
        web_acl_id: a WAF web ACL of scope CLOUDFRONT (its ARN). Default none.
        geo_restriction: countries allowed or denied. Default none.
        price_class: default ``PRICE_CLASS_100`` (North America and Europe edges).
        comment: shown in the console.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        bucket: s3.IBucket,
        log_bucket: s3.IBucket,
        log_prefix: str,
        domain_names: Sequence[str] = (),
        certificate: acm.ICertificate | None = None,
        web_acl_id: str | None = None,
        geo_restriction: cloudfront.GeoRestriction | None = None,
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_100,
        comment: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        if bool(domain_names) != (certificate is not None):
            raise ValueError("domain_names and certificate go together: give both (a custom domain) or neither")
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "ImmutableObjects",
            comment="Immutable keys: cached for a year, keyed by path only",
            default_ttl=IMMUTABLE_TTL,
            max_ttl=IMMUTABLE_TTL,
            min_ttl=Duration.days(1),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            # Images are already compressed; a compressed variant would only split the cache.
            enable_accept_encoding_brotli=False,
            enable_accept_encoding_gzip=False,
        )
        self.response_headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            response_headers_policy_name=_account_unique_name(self, _RESPONSE_HEADERS_POLICY_NAME_LENGTH),
            comment="Security headers for served objects",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=_HSTS_AGE, include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=True),
            ),
        )
        self.origin_access_control = cloudfront.S3OriginAccessControl(
            self,
            "OriginAccessControl",
            origin_access_control_name=_account_unique_name(self, _ORIGIN_ACCESS_CONTROL_NAME_LENGTH),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=comment,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(
                    bucket, origin_access_control=self.origin_access_control
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=self.cache_policy,
                response_headers_policy=self.response_headers_policy,
                compress=False,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            price_class=price_class,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix=log_prefix,
            domain_names=list(domain_names) or None,
            certificate=certificate,
            # Only with a certificate of your own: the default one's policy is fixed (the CDK warns it ignores it).
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None,
            ssl_support_method=cloudfront.SSLMethod.SNI if certificate else None,
            web_acl_id=web_acl_id,
            geo_restriction=geo_restriction,
        )
        if certificate is None:
            reason = (
                "No custom domain was given, so viewers use the *.cloudfront.net certificate, whose security "
                "policy CloudFront fixes at TLSv1 (SNI does not apply to it) and which cannot be changed; give "
                "domain_names and a certificate to get TLSv1.2_2021 over SNI."
            )
            acknowledge(self.distribution, "AwsSolutions-CFR4", reason)
            if is_strict(self):
                for rule in _DEFAULT_CERTIFICATE_CONTROLS:
                    acknowledge(self.distribution, rule, reason)
        if is_strict(self):
            acknowledge(
                self.distribution,
                "cfn-guard:cloudfront_default_root_object_configured_check",
                "The distribution serves objects by their own keys; there is no document to answer '/' with, "
                "and the bucket stays private (a request for '/' gets S3's 403).",
            )
            acknowledge(
                self.distribution,
                "cfn-guard:cloudfront_origin_failover_enabled_check",
                "Origin failover needs a second copy of the bucket (replicated to another Region), which only the "
                "user can choose to pay for; the origin is S3, itself designed for 99.99% availability.",
            )
        if web_acl_id is None:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR2",
                "A CloudFront web ACL must live in us-east-1 and its rules depend on the traffic, so it cannot be "
                "made here for any stack region; pass web_acl_id= to attach one. The distribution serves "
                "GET/HEAD of immutable public renditions only.",
            )
        if geo_restriction is None:
            acknowledge(
                self.distribution,
                "AwsSolutions-CFR1",
                "Which countries may be served is a business decision only the user can make (geo_restriction=); "
                "the renditions are meant for every viewer by default.",
            )


def _account_unique_name(scope: Construct, max_length: int) -> str:
    """A name unique in the account: the construct path's unique name, then the stack's Region (the same
    stack deployed in two Regions would otherwise ask for one name twice)."""
    base = Names.unique_resource_name(scope, max_length=max_length - _REGION_LENGTH - 1, separator="-")
    return f"{base}-{Stack.of(scope).region}"
