"""Responses API Gateway builds itself: MOCK integrations (CORS preflight)."""

from __future__ import annotations

import re
from typing import Optional

from werkzeug.wrappers import Response

from .gateway_errors import internal
from .gateway_model import MockIntegration
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


def _mock_header_value(source: str, call: Call) -> Optional[str]:
    if source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    found = request_source(source)
    return call.parameter(*found) if found else None
