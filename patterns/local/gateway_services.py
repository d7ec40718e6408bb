"""AWS service integrations (``Type: AWS``) the local gateway serves, one module per service.

API Gateway calls the service action itself with a request mapping template (VTL). The local run
does not evaluate VTL in general: each module here reads the templates the library's constructs
render for its actions, calls the action on the local endpoint and answers with the integration
response the service's status selects. A template of another shape gets API Gateway's 500, with
the reason in the log.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from werkzeug.wrappers import Response

from . import gateway_kinesis
from .gateway_errors import internal
from .gateway_model import MockResponse, ServiceIntegration
from .gateway_routing import Call
from .model import LocalEnvironment

ServiceHandler = Callable[[ServiceIntegration, Call, LocalEnvironment], tuple[int, str]]

#: (service, action) -> the handler calling it locally: it returns the service's HTTP status and body.
_HANDLERS: dict[tuple[str, str], ServiceHandler] = {
    ("kinesis", "PutRecords"): gateway_kinesis.put_records,
}
#: (service, action) -> how its integration response templates apply: (template, status, body) -> (status, body).
_RENDERERS: dict[tuple[str, str], Callable[[str, int, str], tuple[int, str]]] = {
    ("kinesis", "PutRecords"): gateway_kinesis.render,
}


def served(service: str, action: str) -> bool:
    """Whether the local gateway serves this service action."""
    return (service, action) in _HANDLERS


def serve(integration: ServiceIntegration, call: Call, environment: LocalEnvironment) -> Response:
    """Call the action and answer with the integration response its status selects."""
    status, body = _HANDLERS[(integration.service, integration.action)](integration, call, environment)
    chosen = _select(integration.responses, str(status))
    if chosen is None:
        action = f"{integration.service}:{integration.action}"
        raise internal(f"{action} answered {status}, which no integration response maps")
    # A response without a template passes the service's body through, as API Gateway does.
    answer_status, answer = chosen.status, chosen.body or body
    render = _RENDERERS.get((integration.service, integration.action))
    if chosen.body and render is not None:
        answer_status, answer = render(chosen.body, chosen.status, body)
    response = Response(answer, status=answer_status, content_type="application/json")
    for name, source in chosen.headers:
        if source.startswith("'") and source.endswith("'"):
            response.headers[name] = source[1:-1]
    return response


def _select(responses: tuple[MockResponse, ...], status: str) -> MockResponse | None:
    """The response whose selection pattern matches the status, else the default one (only for a 2XX)."""
    for item in responses:
        if item.selection_pattern and re.fullmatch(item.selection_pattern, status):
            return item
    if status.startswith("2"):
        return next((item for item in responses if item.selection_pattern is None), None)
    return None
