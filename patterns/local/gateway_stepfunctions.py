"""API Gateway's AWS integration with Step Functions ``StartExecution``, served by the local gateway.

A method whose integration is ``Type: AWS`` with ``Uri`` ``arn:aws:apigateway:<region>:states:action/StartExecution``
(as ``SagaWorkflow``'s start API makes) is served as API Gateway serves it: the request template
(``application/json``) maps the request to the action's parameters, the action is called on the
local endpoint (moto's Step Functions, which runs the execution), and the integration response whose
``SelectionPattern`` matches the action's HTTP status (else the default one) gives the method's
status and, through its template, the body.

Mapping templates are Velocity (VTL); only the expressions such templates use to pass a request on
are evaluated: ``$input.json('$')``, ``$input.path('$.field')``, ``$util.escapeJavaScript(...)`` of
one of those or of a variable (optionally followed by ``.replaceAll("\\'","'")``) and
``$context.requestId``; and, each on a line of its own, the directives a response template uses to
choose its status and message from the action's error: ``#set($name = $input.path('$.field'))`` and
``#if($name.matches('<regex>'))#set($context.responseOverride.status = <status>)#end``, optionally
with ``#set($other = '<text>')`` before the ``#end`` (Java's ``matches``: the whole value; a later
match wins, as a later ``#set`` would). A template with
anything else (other ``#set`` or ``#if`` forms, ``#foreach``, other variables) is not served: the
method answers 500 and the run's notes say why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from werkzeug.wrappers import Response

from .endpoint import local_client
from .model import LocalEnvironment

SERVICE, ACTION = "states", "StartExecution"
_ESCAPE_ARGUMENT = r"\$input\.(?:json|path)\('\$(?:\.[A-Za-z0-9_]+)*'\)"
_EXPRESSION = re.compile(
    r"\$util\.escapeJavaScript\((?:(?P<escaped>" + _ESCAPE_ARGUMENT + r")|\$(?P<variable>[A-Za-z][A-Za-z0-9]*))\)"
    r"(?P<unquote>\.replaceAll\(\"\\\\'\",\"'\"\))?"
    r"|\$input\.(?P<function>json|path)\('(?P<path>\$(?:\.[A-Za-z0-9_]+)*)'\)"
    r"|\$context\.requestId"
)
_ARGUMENT = re.compile(r"\$input\.(?P<function>json|path)\('(?P<path>\$(?:\.[A-Za-z0-9_]+)*)'\)")
_SET_LINE = re.compile(
    r"^#set\(\$(?P<name>[A-Za-z][A-Za-z0-9]*) = \$input\.path\('(?P<path>\$(?:\.[A-Za-z0-9_]+)*)'\)\)\n?", re.M
)
_STATUS_LINE = re.compile(
    r"^#if\(\$(?P<name>[A-Za-z][A-Za-z0-9]*)\.matches\('(?P<pattern>[^']*)'\)\)"
    r"#set\(\$context\.responseOverride\.status = (?P<status>[1-5]\d\d)\)"
    r"(?:#set\(\$(?P<assigned>[A-Za-z][A-Za-z0-9]*) = '(?P<text>[^'$#\\]*)'\))?#end\n?",
    re.M,
)


class UnsupportedTemplate(ValueError):
    """A mapping template uses VTL the local gateway does not evaluate."""


@dataclass(frozen=True)
class _Response:
    status: int
    selection_pattern: str | None
    template: str


@dataclass(frozen=True)
class StartExecutionIntegration:
    """One method's ``StartExecution`` integration: its request template and its responses."""

    request_template: str
    responses: tuple[_Response, ...]

    def respond(self, body: bytes, request_id: str, environment: LocalEnvironment) -> Response:
        """Call ``StartExecution`` as the request template says and answer as the integration responses say."""
        try:
            document = json.loads(body or b"{}")
        except json.JSONDecodeError:
            document = None
        parameters = json.loads(render(self.request_template, document, request_id))
        client = local_client("stepfunctions", environment.endpoint, environment.region)
        try:
            result = client.start_execution(
                **{key: parameters[key] for key in ("stateMachineArn", "name", "input") if key in parameters}
            )
            status, answer = 200, {"executionArn": result["executionArn"], "startDate": result["startDate"].timestamp()}
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)
            details = error.response.get("Error", {})
            answer = {"__type": details.get("Code", ""), "message": details.get("Message", "")}
        chosen = self._select(status)
        if chosen is None:  # API Gateway answers 500 when no integration response matches
            return Response(json.dumps({"message": "Internal server error"}), 500, mimetype="application/json")
        if not chosen.template:
            return Response(json.dumps(answer), chosen.status, mimetype="application/json")
        override, template, variables = status_override(chosen.template, answer)
        text = render(template, answer, request_id, variables)
        return Response(text, override or chosen.status, mimetype="application/json")

    def _select(self, status: int) -> _Response | None:
        for response in self.responses:
            if response.selection_pattern and re.fullmatch(response.selection_pattern, str(status)):
                return response
        return next((response for response in self.responses if not response.selection_pattern), None)


def read_integration(integration: Mapping[str, Any]) -> StartExecutionIntegration:
    """The integration as the local gateway serves it (``integration``: the method's resolved ``Integration``)."""
    templates = integration.get("RequestTemplates") or {}
    template = templates.get("application/json")
    if template is None:
        raise UnsupportedTemplate("StartExecution integration without an application/json request template")
    check_template(template)
    responses = []
    for response in integration.get("IntegrationResponses", []):
        text = str((response.get("ResponseTemplates") or {}).get("application/json", ""))
        check_template(text)
        responses.append(
            _Response(int(response.get("StatusCode", 200)), response.get("SelectionPattern") or None, text)
        )
    return StartExecutionIntegration(str(template), tuple(responses))


def check_template(template: str) -> None:
    """UnsupportedTemplate when ``template`` holds VTL beyond the expressions this module evaluates."""
    rest = _EXPRESSION.sub("", _STATUS_LINE.sub("", _SET_LINE.sub("", template)))
    if "$" in rest or "#" in rest:
        raise UnsupportedTemplate(f"mapping template uses VTL that is not evaluated locally: {template!r}")


def status_override(template: str, document: Any) -> tuple[int | None, str, dict[str, str]]:
    """The status ``template``'s ``responseOverride`` lines set for ``document`` (or None), the rest of it,
    and the variables its ``#set`` directives leave."""
    variables: dict[str, str] = {}
    for match in _SET_LINE.finditer(template):
        variables[match["name"]] = _evaluate("path", match["path"], document)
    status: int | None = None
    for match in _STATUS_LINE.finditer(template):
        if match["name"] not in variables:
            raise UnsupportedTemplate(f"${match['name']} is used before it is set: {template!r}")
        if re.fullmatch(match["pattern"], variables[match["name"]]):
            status = int(match["status"])
            if match["assigned"]:
                variables[match["assigned"]] = match["text"]
    return status, _STATUS_LINE.sub("", _SET_LINE.sub("", template)), variables


def render(template: str, document: Any, request_id: str, variables: Mapping[str, str] | None = None) -> str:
    """``template`` with each supported expression replaced by its value for ``document`` (the JSON input)
    and ``variables`` (what its ``#set`` directives left, from ``status_override``)."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$context.requestId":
            return request_id
        if match.group("variable"):
            name = match.group("variable")
            if variables is None or name not in variables:
                raise UnsupportedTemplate(f"${name} is used before it is set: {template!r}")
            return _escape_javascript(variables[name], unquote=bool(match.group("unquote")))
        if match.group("escaped"):
            inner = _ARGUMENT.fullmatch(match.group("escaped"))
            assert inner is not None
            text = _evaluate(inner.group("function"), inner.group("path"), document)
            return _escape_javascript(text, unquote=bool(match.group("unquote")))
        return _evaluate(match.group("function"), match.group("path"), document)

    return _EXPRESSION.sub(value, template)


def _escape_javascript(text: str, *, unquote: bool) -> str:
    """``$util.escapeJavaScript(text)``: JavaScript string escaping, which turns ``'`` into ``\\'`` (not
    valid in JSON); with ``unquote``, the ``.replaceAll("\\\\'","'")`` after it undoes that."""
    escaped = json.dumps(text)[1:-1]
    return escaped if unquote else escaped.replace("'", "\\'")


def _evaluate(function: str, path: str, document: Any) -> str:
    node = document
    for part in path.split(".")[1:]:
        node = node.get(part) if isinstance(node, dict) else None
    if function == "json":
        return json.dumps(node)
    if node is None:
        return ""
    return node if isinstance(node, str) else json.dumps(node)
