"""The answers API Gateway gives itself, before or instead of the integration."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response


class GatewayError(Exception):
    """An answer API Gateway itself gives (not the integration's), with why, for the console."""

    def __init__(self, status: int, body: Mapping[str, Any], reason: str, response_type: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.body = dict(body)
        self.reason = reason
        # The gateway response type API Gateway answers with (UNAUTHORIZED, BAD_REQUEST_BODY, ...);
        # without a customization of it, DEFAULT_4XX or DEFAULT_5XX applies.
        self.response_type = response_type or default_response_type(status)


def default_response_type(status: int) -> str:
    return "DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX"


def forbidden(reason: str) -> GatewayError:
    return GatewayError(403, {"message": "Forbidden"}, reason)


def missing_token(reason: str) -> GatewayError:
    return GatewayError(403, {"message": "Missing Authentication Token"}, reason, "MISSING_AUTHENTICATION_TOKEN")


def unauthorized(reason: str, message: str = "Unauthorized") -> GatewayError:
    return GatewayError(401, {"message": message}, reason, "UNAUTHORIZED")


def internal(reason: str, status: int = 500) -> GatewayError:
    return GatewayError(status, {"message": "Internal server error"}, reason)


def json_response(status: int, body: Mapping[str, Any]) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")
