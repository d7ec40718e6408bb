"""The Lambda proxy integration: the REST (payload 1.0) event in, the proxy response mapped out."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request, Response

from .gateway_model import LOOPBACK, glob, render_value
from .gateway_routing import Call
from .model import ACCOUNT

_PROXY_RESPONSE_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


def proxy_event(
    call: Call, authorizer: dict[str, Any] | None, identity: Mapping[str, Any], binary_types: Sequence[str]
) -> dict[str, Any]:
    """The REST API (payload 1.0) proxy event a Lambda function receives."""
    request = call.request
    headers = _event_headers(request)
    query: MultiDict[str, str] = request.args
    body, is_base64 = _event_body(request, binary_types)
    request_context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": call.api.api_id,
        "domainName": request.host,
        "domainPrefix": call.api.api_id,
        "extendedRequestId": base64.b64encode(os.urandom(11)).decode().replace("+", "-").replace("/", "_"),
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.remote_addr,
            "user": None,
            "userAgent": request.headers.get("User-Agent"),
            "userArn": None,
            **identity,
        },
        "path": f"/{call.api.stage}{call.path}",
        "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        "requestId": call.request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(call.started)),
        "requestTimeEpoch": int(call.started * 1000),
        "resourceId": call.resource.resource_id,
        "resourcePath": call.resource.path,
        "stage": call.api.stage,
    }
    if authorizer is not None:
        request_context["authorizer"] = authorizer
    return {
        "resource": call.resource.path,
        "path": call.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in headers.items()},
        "multiValueHeaders": headers,
        "queryStringParameters": {name: query.getlist(name)[-1] for name in query} or None,
        "multiValueQueryStringParameters": {name: query.getlist(name) for name in query} or None,
        "pathParameters": call.path_parameters or None,
        "stageVariables": dict(call.api.stage_variables) or None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _event_headers(request: Request) -> dict[str, list[str]]:
    """The request's headers plus the ones API Gateway adds in front of the integration."""
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name, []).append(value)
    forwarded = headers.get("X-Forwarded-For", [])
    headers["X-Forwarded-For"] = [", ".join([*forwarded, request.remote_addr or LOOPBACK])]
    headers["X-Forwarded-Port"] = [str(request.environ.get("SERVER_PORT", ""))]
    headers["X-Forwarded-Proto"] = [request.scheme]
    headers["X-Amzn-Trace-Id"] = [f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"]
    return headers


def _event_body(request: Request, binary_types: Sequence[str]) -> tuple[str | None, bool]:
    """Text as text; base64 for a binary media type of the API (or bytes that are not UTF-8)."""
    raw = request.get_data(cache=True)
    if not raw:
        return None, False
    if not _media_type_matches(request.headers.get("Content-Type"), binary_types):
        try:
            return raw.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(raw).decode("ascii"), True


def accepts_binary(request: Request, binary_types: Sequence[str]) -> bool:
    """API Gateway decodes a base64 response only when the first Accept type is a binary media type."""
    accept = request.headers.get("Accept", "")
    return bool(accept) and _media_type_matches(accept.split(",", 1)[0], binary_types)


def _media_type_matches(content_type: str | None, patterns: Sequence[str]) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return bool(media_type) and any(glob(pattern.lower(), media_type) for pattern in patterns)


class Malformed(Exception):
    pass


def map_proxy_response(payload: Any, decode_base64: bool) -> Response:
    """The HTTP response for a function's proxy result; :class:`Malformed` if API Gateway would refuse it."""
    if not isinstance(payload, dict):
        raise Malformed(f"expected an object, got {type(payload).__name__}")
    unknown = set(payload) - _PROXY_RESPONSE_KEYS
    if unknown:
        raise Malformed(f"unexpected fields {sorted(unknown)}")
    status = payload.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise Malformed(f"statusCode must be an HTTP status code, got {status!r}")
    body = payload.get("body")
    if body is not None and not isinstance(body, str):
        raise Malformed(f"body must be a string, got {type(body).__name__}")
    is_base64 = payload.get("isBase64Encoded", False)
    if not isinstance(is_base64, bool):
        raise Malformed("isBase64Encoded must be true or false")
    content = (body or "").encode("utf-8")
    if is_base64 and decode_base64:
        try:
            content = base64.b64decode(body or "", validate=True)
        except ValueError:
            raise Malformed("isBase64Encoded is true but the body is not base64") from None
    headers = _response_headers(payload)
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))  # API Gateway's default for proxy responses
    return Response(content, status=status, headers=headers)


def _response_headers(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``multiValueHeaders`` and ``headers`` merged; a name in both keeps only its multi values."""
    headers, multi = payload.get("headers") or {}, payload.get("multiValueHeaders") or {}
    if not isinstance(headers, dict) or not isinstance(multi, dict):
        raise Malformed("headers and multiValueHeaders must be objects")
    merged: list[tuple[str, str]] = []
    for name, values in multi.items():
        if not isinstance(values, list):
            raise Malformed(f"multiValueHeaders[{name!r}] must be a list")
        merged.extend((str(name), _header_value(value)) for value in values)
    taken = {str(name).lower() for name in multi}
    merged.extend(
        (str(name), _header_value(value)) for name, value in headers.items() if str(name).lower() not in taken
    )
    return merged


def _header_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise Malformed(f"header values must be scalars, got {value!r}")
    return render_value(value)
