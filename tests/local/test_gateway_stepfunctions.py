"""The StartExecution integration's mapping templates: what the local gateway evaluates, and what it refuses."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from patterns.local import gateway_stepfunctions
from patterns.local.gateway_stepfunctions import (
    UnsupportedTemplate,
    check_template,
    read_integration,
    render,
    status_override,
)
from patterns.saga_start_api import ERROR_MESSAGES, error_template

# The request template SagaWorkflow's start API renders (state machine ARN resolved).
REQUEST = (
    '{"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:Saga", '
    '"name": "$util.escapeJavaScript($input.path(\'$.order_id\'))", '
    + r'''"input": "$util.escapeJavaScript($input.json('$')).replaceAll("\\'","'")"'''
    + "}"
)


def test_the_request_becomes_the_run_name_and_its_input_a_json_string():
    body = {"order_id": "o-1", "note": 'it\'s "quoted"', "lines": [1, 2]}
    parameters = json.loads(render(REQUEST, body, "req-1"))
    assert parameters["name"] == "o-1"
    assert json.loads(parameters["input"]) == body
    assert parameters["stateMachineArn"].endswith(":stateMachine:Saga")


def test_paths_that_are_missing_render_empty_and_context_request_id_is_known():
    assert render("$input.path('$.a.b')|$context.requestId|$input.json('$.x')", {"a": {}}, "r") == "|r|null"


@pytest.mark.parametrize(
    "template",
    ["#set($x = 1)", "$input.params('id')", "$util.base64Encode($input.body)", "$stageVariables.name"],
)
def test_other_vtl_is_refused(template):
    with pytest.raises(UnsupportedTemplate):
        check_template(template)


def test_responses_are_selected_by_the_action_status():
    integration = read_integration(
        {
            "RequestTemplates": {"application/json": REQUEST},
            "IntegrationResponses": [
                {
                    "StatusCode": "200",
                    "ResponseTemplates": {"application/json": '{"arn": "$input.path(\'$.executionArn\')"}'},
                },
                {"StatusCode": "400", "SelectionPattern": "4\\d{2}"},
            ],
        }
    )
    assert integration._select(200).status == 200
    assert integration._select(400).status == 400
    assert integration._select(503).status == 200  # the default response, as API Gateway picks it


def test_an_integration_without_a_json_request_template_is_not_served():
    with pytest.raises(UnsupportedTemplate):
        read_integration({"RequestTemplates": {"text/plain": "x"}})


class _Refusing:
    """A Step Functions client whose StartExecution fails with one error, as the service answers it (HTTP 400)."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = f"{code} happened" if message is None else message

    def start_execution(self, **parameters):
        raise ClientError(
            {
                "Error": {"Code": self.code, "Message": self.message},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "StartExecution",
        )


def start_api_answer(monkeypatch, refusal: _Refusing):
    """What the saga start API's integration (as SagaWorkflow builds it) answers when StartExecution refuses."""
    integration = read_integration(
        {
            "RequestTemplates": {"application/json": REQUEST},
            "IntegrationResponses": [
                {"StatusCode": "200"},
                {
                    "StatusCode": "400",
                    "SelectionPattern": "4\\d{2}",
                    "ResponseTemplates": {"application/json": error_template()},
                },
                {"StatusCode": "500", "SelectionPattern": "5\\d{2}"},
            ],
        }
    )
    monkeypatch.setattr(gateway_stepfunctions, "local_client", lambda *args: refusal)
    environment = SimpleNamespace(endpoint="http://127.0.0.1:1", region="us-east-1")
    return integration.respond(json.dumps({"order_id": "o-1"}).encode(), "req-1", environment)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ExecutionAlreadyExists", 409),
        ("com.amazonaws.swf.service.v2.model#ExecutionAlreadyExists", 409),
        ("ThrottlingException", 429),
        ("KmsThrottlingException", 429),
        ("AccessDeniedException", 500),
        ("KmsAccessDeniedException", 500),
        ("StateMachineDoesNotExist", 500),
        ("InvalidName", 400),
        ("InvalidExecutionInput", 400),
    ],
)
def test_the_start_apis_400_template_gives_each_error_its_status(monkeypatch, code, status):
    response = start_api_answer(monkeypatch, _Refusing(code))
    assert response.status_code == status
    # Only the caller's own errors pass Step Functions' message on: an AccessDenied or KMS message names
    # the integration's role or the key.
    message = ERROR_MESSAGES.get(status, f"{code} happened")
    assert json.loads(response.get_data()) == {"message": message}


def test_status_lines_are_refused_when_their_variable_was_never_set():
    with pytest.raises(UnsupportedTemplate):
        status_override("#if($x.matches('.*'))#set($context.responseOverride.status = 409)#end\n{}", {})


def test_an_access_denied_message_naming_the_role_does_not_reach_the_caller(monkeypatch):
    role = "arn:aws:sts::123456789012:assumed-role/SagaStartRole/session"
    response = start_api_answer(monkeypatch, _Refusing("AccessDeniedException", f"User: {role} is not"))
    assert (response.status_code, json.loads(response.get_data())) == (500, {"message": "Internal server error"})
    assert "123456789012" not in response.get_data(as_text=True)


def test_a_variable_used_before_it_is_set_is_refused():
    with pytest.raises(UnsupportedTemplate):
        render('{"message": "$util.escapeJavaScript($message)"}', {}, "req-1", {})


def test_a_message_with_quotes_stays_json(monkeypatch):
    """Step Functions quotes names in its messages; escapeJavaScript would answer \\' (not JSON) without
    the template's replaceAll."""
    message = "Execution Already Exists: 'arn:aws:states:us-east-1:123456789012:execution:Saga:o-1'"
    response = start_api_answer(monkeypatch, _Refusing("ExecutionAlreadyExists", message))
    assert (response.status_code, json.loads(response.get_data())) == (409, {"message": message})


def test_escape_javascript_escapes_apostrophes_unless_the_template_undoes_it():
    document = {"name": "it's"}
    assert render("$util.escapeJavaScript($input.path('$.name'))", document, "r") == "it\\'s"
    undone = "$util.escapeJavaScript($input.path('$.name')).replaceAll(\"\\\\'\",\"'\")"
    assert render(undone, document, "r") == "it's"
