"""Responses API Gateway builds itself: MOCK integrations (CORS preflight) and its own errors."""

from __future__ import annotations

import re
from collections.abc import Callable

from werkzeug.wrappers import Response

from .gateway_errors import GatewayError, default_response_type, internal, json_response
from .gateway_model import LocalApi, MockIntegration
from .gateway_reader import request_source
from .gateway_routing import Call


def mock_response(integration: MockIntegration, call: Call) -> Response:
    chosen = next(
        (
            item
            for item in integration.responses
            if item.selection_pattern and re.fullmatch(item.selection_pattern, integration.status)
        ),
        next((item for item in integration.responses if item.selection_pattern is None), None),
    )
    if chosen is None:
        raise internal(f"MOCK integration has no response for status {integration.status}")
    response = Response(chosen.body, status=chosen.status, content_type="application/json")
    for name, source in chosen.headers:
        value = _mock_header_value(source, call)
        if value is not None:
            response.headers[name] = value
    return response


def _mock_header_value(source: str, call: Call) -> str | None:
    if source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    found = request_source(source)
    return call.parameter(*found) if found else None


def error_response(api: LocalApi, error: GatewayError, parameter: Callable[[str, str], str | None]) -> Response:
    """API Gateway's own answer, with the API's gateway response for its type (else DEFAULT_4XX/5XX) applied.

    ``parameter(location, name)`` reads the request, for headers mapped from it (``method.request.header.Origin``).
    """
    spec = api.gateway_responses.get(error.response_type) or api.gateway_responses.get(
        default_response_type(error.status)
    )
    if spec is None:
        return json_response(error.status, error.body)
    response = json_response(spec.status or error.status, error.body)
    for name, source in spec.headers:
        if source.startswith("'") and source.endswith("'"):
            response.headers[name] = source[1:-1]
            continue
        found = request_source(source)
        value = parameter(*found) if found else None
        if value is not None:
            response.headers[name] = value
    return response
