"""A stand-in for CloudFront distributions whose origin is a bucket of the run: GET/HEAD of its objects.

:func:`build_cdns` finds each ``AWS::CloudFront::Distribution`` of the provisioned stacks whose default
origin is an S3 bucket created locally, and :class:`CdnServer` serves that bucket's objects at
``http://127.0.0.1:PORT/<key>`` with their content type and cache headers, plus the security headers of
the distribution's response-headers policy. What CloudFront itself does (edge caching, TLS, logging,
web ACLs, geo restriction, Origin Access Control) is not emulated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from werkzeug.wrappers import Request, Response

from .endpoint import local_client
from .gateway_model import LOOPBACK
from .http_server import HttpServer
from .intrinsics import Resolver, Unresolvable, pseudo_parameters
from .model import LocalEnvironment, LocalStack

Log = Callable[[str], None]
_S3_DOMAIN = ".s3."
# Response header -> the GetObject field holding it.
_PASSED_HEADERS = {"Content-Type": "ContentType", "Cache-Control": "CacheControl", "ETag": "ETag"}


@dataclass
class LocalCdn:
    stack: str
    logical_id: str
    bucket: str
    headers: dict[str, str] = field(default_factory=dict)  # the response-headers policy's security headers


def build_cdns(environment: LocalEnvironment) -> list[LocalCdn]:
    """One :class:`LocalCdn` per distribution whose default origin is one of the run's buckets."""
    found = []
    for stack in environment.stacks:
        resources = stack.template.get("Resources", {})
        for logical_id, definition in resources.items():
            if definition.get("Type") != "AWS::CloudFront::Distribution":
                continue
            cdn = _cdn(stack, logical_id, definition, resources)
            if cdn is not None:
                found.append(cdn)
    return found


def _cdn(stack: LocalStack, logical_id: str, definition: dict[str, Any], resources: dict[str, Any]) -> LocalCdn | None:
    resolver = Resolver(stack.refs, stack.attributes, pseudo_parameters(stack.name), {})
    config = definition.get("Properties", {}).get("DistributionConfig", {})
    behavior = config.get("DefaultCacheBehavior", {})
    origins = {origin.get("Id"): origin for origin in config.get("Origins", [])}
    origin = origins.get(behavior.get("TargetOriginId"))
    try:
        domain = resolver.resolve(origin.get("DomainName"), f"{logical_id}.DomainName") if origin else None
    except Unresolvable:
        return None
    if not isinstance(domain, str) or _S3_DOMAIN not in domain:
        return None
    headers = _security_headers(resources, behavior.get("ResponseHeadersPolicyId"))
    return LocalCdn(stack.name, logical_id, domain.split(_S3_DOMAIN, 1)[0], headers)


def _security_headers(resources: dict[str, Any], policy_ref: Any) -> dict[str, str]:
    """The headers a response-headers policy of the template adds (security headers only)."""
    policy_id = policy_ref.get("Ref") if isinstance(policy_ref, dict) else None
    if policy_id is None:  # no policy, or one not defined in the template: no headers added
        return {}
    policy = resources.get(policy_id, {}).get("Properties", {}).get("ResponseHeadersPolicyConfig", {})
    security = policy.get("SecurityHeadersConfig", {})
    headers = {}
    if "StrictTransportSecurity" in security:
        hsts = security["StrictTransportSecurity"]
        value = f"max-age={hsts.get('AccessControlMaxAgeSec', 0)}"
        headers["Strict-Transport-Security"] = value + ("; includeSubDomains" if hsts.get("IncludeSubdomains") else "")
    if "ContentTypeOptions" in security:
        headers["X-Content-Type-Options"] = "nosniff"
    if "FrameOptions" in security:
        headers["X-Frame-Options"] = security["FrameOptions"].get("FrameOption", "DENY")
    if "ReferrerPolicy" in security:
        headers["Referrer-Policy"] = security["ReferrerPolicy"].get("ReferrerPolicy", "")
    if "XSSProtection" in security:
        xss = security["XSSProtection"]
        headers["X-XSS-Protection"] = ("1" if xss.get("Protection") else "0") + (
            "; mode=block" if xss.get("ModeBlock") else ""
        )
    return headers


class CdnServer:
    """Serves one :class:`LocalCdn`'s bucket over HTTP on the loopback."""

    def __init__(self, cdn: LocalCdn, endpoint: str, region: str, host: str = LOOPBACK, port: int = 0) -> None:
        self.cdn = cdn
        self._s3 = local_client("s3", endpoint, region)
        self._http = HttpServer(self._app, host=host, port=port)

    @property
    def url(self) -> str:
        return self._http.url

    def start(self) -> CdnServer:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        return self._respond(request)(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("method not allowed", status=405, headers={"Allow": "GET, HEAD"})
        key = unquote(request.path.lstrip("/"))
        try:
            found = self._s3.get_object(Bucket=self.cdn.bucket, Key=key)
        except ClientError:
            # S3 answers 403 for a missing key to a caller without s3:ListBucket, as OAC's is.
            return Response("not found", status=403, headers=self.cdn.headers)
        headers = {name: str(found[field]) for name, field in _PASSED_HEADERS.items() if found.get(field) is not None}
        if found.get("LastModified") is not None:
            headers["Last-Modified"] = format_datetime(found["LastModified"].astimezone(UTC), usegmt=True)
        headers.update(self.cdn.headers)
        body = b"" if request.method == "HEAD" else found["Body"].read()
        return Response(body, status=200, headers=headers)


@dataclass
class ServedCdn:
    stack: str
    logical_id: str
    bucket: str
    url: str


def serve_cdns(
    environment: LocalEnvironment,
    host: str,
    next_port: Callable[[], int],
    on_stop: Callable[[Callable[[], None]], None],
    log: Log,
) -> list[ServedCdn]:
    """Start a :class:`CdnServer` per distribution of the run; register each one's ``stop`` with ``on_stop``."""
    served = []
    for cdn in build_cdns(environment):
        server = CdnServer(cdn, environment.endpoint, environment.region, host=host, port=next_port()).start()
        on_stop(server.stop)
        served.append(ServedCdn(cdn.stack, cdn.logical_id, cdn.bucket, server.url))
        log(f"[{cdn.stack}] CloudFront distribution {cdn.logical_id} (bucket {cdn.bucket}), stand-in: {server.url}")
    return served
