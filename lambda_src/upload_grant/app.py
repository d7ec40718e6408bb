"""Hand out one presigned POST grant for the upload bucket: one new key, under the caller's own prefix.

``POST`` with a JSON body ``{"content_type": "image/jpeg"}`` answers 201 with ``url`` and
``fields`` (a browser or ``curl -F`` posts the file with them), the ``key`` the object will have,
``expires_in`` seconds and ``max_bytes``. The policy S3 checks pins the key, the content type and
the size range (1..``MAX_UPLOAD_BYTES``), and expires after ``GRANT_EXPIRES_SECONDS``; the grant is
signed with this function's role, which may only put objects under ``UPLOAD_PREFIX``. A content
type outside ``ALLOWED_CONTENT_TYPES`` or a malformed body gets 400; a request without an
authenticated caller (no Cognito ``sub``, no Lambda authorizer principal, no IAM caller) gets 403.

The grant's URL is the bucket's regional, virtual-hosted endpoint
(``https://{bucket}.s3.{region}.{partition suffix}/``): a browser's POST to the global endpoint is
redirected (307) while a new bucket's DNS propagates, and newer Regions refuse it.

Environment:
    UPLOAD_BUCKET            the bucket the grant is for.
    UPLOAD_PREFIX            keys are ``{UPLOAD_PREFIX}{caller}/{uuid}{extension}``; default ``uploads/``.
    ALLOWED_CONTENT_TYPES    comma-separated; default ``image/jpeg,image/png,image/webp,image/gif``.
    MAX_UPLOAD_BYTES         default 26214400 (25 MiB).
    GRANT_EXPIRES_SECONDS    default 300.
    CORS_ALLOW_ORIGINS       optional, comma-separated origins echoed in ``Access-Control-Allow-Origin``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.client import BaseClient
from botocore.config import Config

UPLOAD_BUCKET = os.environ["UPLOAD_BUCKET"]
UPLOAD_PREFIX = os.environ.get("UPLOAD_PREFIX", "uploads/")
ALLOWED_CONTENT_TYPES = tuple(
    value.strip()
    for value in os.environ.get("ALLOWED_CONTENT_TYPES", "image/jpeg,image/png,image/webp,image/gif").split(",")
)
MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", str(25 * 1024 * 1024)))
GRANT_EXPIRES_SECONDS = int(os.environ.get("GRANT_EXPIRES_SECONDS", "300"))
CORS_ALLOW_ORIGINS = [origin for origin in os.environ.get("CORS_ALLOW_ORIGINS", "").split(",") if origin]
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")

logger = Logger()


def s3_client(session: botocore.session.Session) -> BaseClient:
    """An S3 client whose presigned POSTs go to the bucket's regional endpoint in this function's Region.

    SigV4 is required for KMS-encrypted buckets and by every Region launched since 2014. Virtual-hosted
    style on the regional endpoint (us-east-1 included) gives ``{bucket}.s3.{region}.{suffix}``, the suffix
    being the partition's (``amazonaws.com``, ``amazonaws.com.cn``...). An endpoint set in the environment
    (``AWS_ENDPOINT_URL[_S3]``, the local run) is kept with botocore's default addressing.
    """
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"):
        return session.create_client("s3", region_name=region, config=Config(signature_version="s3v4"))
    regional = {"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}
    return session.create_client("s3", region_name=region, config=Config(signature_version="s3v4", s3=regional))


# One low-level client per execution environment, made during init; botocore's, since boto3's session
# layer adds cold-start time for nothing a low-level client uses (presigned POSTs are botocore's).
_session = botocore.session.get_session()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while the client loads its service model: tens of thousands of objects,
    all kept, nothing to collect. Otherwise their allocation (S3's model is the largest of the bundled
    handlers' clients) sets off a full collection during init, which walks every module imported too:
    about a tenth of this function's cold start. The collector resumes (if it ran) right after."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


with _collector_paused():
    s3 = s3_client(_session)


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own client (new connections,
    credentials resolved anew: they sign the grants) and random seed (the keys' uuid4 draws from the OS,
    not from it), not the copies frozen in the snapshot. The service models stay loaded: the new session
    shares the old one's loader."""
    global s3
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    s3 = s3_client(session)
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)


def _dict(value: object) -> dict[str, Any]:
    """``value`` if it is a dict, else {}: request context fields are not trusted to have their usual shape."""
    return value if isinstance(value, dict) else {}


def _hashed(kind: str, value: str) -> str:
    return f"{kind}-" + hashlib.sha256(value.encode()).hexdigest()[:24]


def caller_id(event: dict[str, Any]) -> str | None:
    """A stable, key-safe id of the authenticated caller, or None.

    In order: the Cognito user pool ``sub``; a Lambda authorizer's ``principalId`` (hashed); a Cognito
    identity pool's ``cognitoIdentityId`` (hashed: its callers all share one role, so one ``userArn``
    ending in ``CognitoIdentityCredentials``); the IAM caller's ``userArn`` (hashed).
    """
    context = _dict(event.get("requestContext"))
    authorizer = _dict(context.get("authorizer"))
    sub = _dict(authorizer.get("claims")).get("sub")
    if isinstance(sub, str) and sub:
        return _SAFE.sub("-", sub)
    principal = authorizer.get("principalId")
    if isinstance(principal, str) and principal:
        return _hashed("principal", principal)
    identity = _dict(context.get("identity"))
    cognito_identity = identity.get("cognitoIdentityId")
    if isinstance(cognito_identity, str) and cognito_identity:
        return _hashed("identity", cognito_identity)
    # userArn on AWS; a local stand-in gateway that does not verify SigV4 knows only the access key.
    caller = identity.get("userArn") or identity.get("caller") or identity.get("accessKey")
    if isinstance(caller, str) and caller:
        return _hashed("iam", caller)
    return None


def _response(event: dict[str, Any], status: int, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Cache-Control": "no-store"}
    origin = (event.get("headers") or {}).get("origin") or (event.get("headers") or {}).get("Origin")
    if origin and (origin in CORS_ALLOW_ORIGINS or CORS_ALLOW_ORIGINS == ["*"]):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    return {"statusCode": status, "headers": headers, "body": json.dumps(body)}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    caller = caller_id(event)
    if caller is None:
        return _response(event, 403, {"message": "no authenticated caller"})
    try:
        body = json.loads(event.get("body") or "{}")
    except json.JSONDecodeError:
        return _response(event, 400, {"message": "the body must be JSON"})
    content_type = body.get("content_type") if isinstance(body, dict) else None
    if content_type not in ALLOWED_CONTENT_TYPES:
        return _response(event, 400, {"message": f"content_type must be one of {', '.join(ALLOWED_CONTENT_TYPES)}"})
    key = f"{UPLOAD_PREFIX}{caller}/{uuid.uuid4()}{_EXTENSIONS.get(content_type, '')}"
    grant = s3.generate_presigned_post(
        Bucket=UPLOAD_BUCKET,
        Key=key,
        Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, MAX_UPLOAD_BYTES]],
        ExpiresIn=GRANT_EXPIRES_SECONDS,
    )
    logger.info("upload granted", extra={"key": key, "content_type": content_type})
    return _response(
        event,
        201,
        {
            "url": grant["url"],
            "fields": grant["fields"],
            "key": key,
            "expires_in": GRANT_EXPIRES_SECONDS,
            "max_bytes": MAX_UPLOAD_BYTES,
        },
    )
