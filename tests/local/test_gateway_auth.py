"""The local API Gateway refuses requests before the function runs: Cognito, IAM and Lambda authorizers, validators."""

from __future__ import annotations

import base64
import json
import time

from gateway_stack import ACCOUNT, FakeInvoke, bearer, reply, request, token

from patterns.local.gateway import ApiServer
from patterns.local.model import Invocation, LocalFunction, LocalUserPool

# -- Cognito authorizer ----------------------------------------------------------------------------


def test_missing_malformed_tampered_foreign_and_expired_tokens_are_401(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    header, payload, signature = token(pool).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "items/read items/write"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    foreign = token(pool, iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other")

    for headers in ({}, bearer("not-a-jwt"), bearer(f"{header}.{forged}.{signature}"), bearer(foreign)):
        status, _, body = request(server, "GET", "/items", headers)
        assert (status, json.loads(body)) == (401, {"message": "Unauthorized"}), headers
    status, _, body = request(server, "GET", "/items", bearer(token(pool, lifetime=-60)))
    assert (status, json.loads(body)) == (401, {"message": "The incoming token has expired"})
    assert invoke.calls == []


def test_scopes_are_enforced_and_the_function_sees_the_claims(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    assert request(server, "GET", "/items", bearer(token(pool, scope="items/write")))[0] == 401
    assert request(server, "GET", "/items", bearer(token(pool, "id")))[0] == 401  # scoped methods want access tokens
    assert (
        request(
            server, "POST", "/items", {**bearer(token(pool)), "Content-Type": "application/json"}, b'{"name": "a"}'
        )[0]
        == 401
    )
    assert invoke.calls == []

    status, _, _ = request(server, "GET", "/items?limit=5", bearer("Bearer " + token(pool, scope="openid items/read")))
    assert status == 200
    (event,) = invoke.events()
    claims = event["requestContext"]["authorizer"]["claims"]
    assert claims["sub"] == "user-1" and claims["cognito:groups"] == "admins,readers"
    assert claims["scope"] == "openid items/read" and claims["version"] == "2"
    assert claims["exp"].endswith(time.strftime("%Y", time.gmtime())) and " UTC " in claims["exp"]
    assert claims["auth_time"].isdigit()


def test_methods_without_scopes_accept_id_tokens_only(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    assert request(server, "GET", "/profile", bearer(token(pool, "access")))[0] == 401
    assert request(server, "GET", "/profile", bearer(token(pool, "id")))[0] == 200
    claims = invoke.events()[0]["requestContext"]["authorizer"]["claims"]
    assert claims["email_verified"] == "true" and claims["aud"] == pool.client_ids["App"]


# -- IAM and Lambda authorizers --------------------------------------------------------------------


def test_iam_methods_want_a_sigv4_header(server: ApiServer, invoke: FakeInvoke, lines: list[str]) -> None:
    status, _, body = request(server, "DELETE", "/items/1")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    status, _, body = request(server, "DELETE", "/items/1", bearer("Bearer abc"))
    assert status == 403 and json.loads(body)["message"].startswith(
        "Authorization header requires 'Credential' parameter."
    )
    assert invoke.calls == []

    signed = {
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDLOCAL/20260101/us-east-1/execute-api/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0123abcd",
        "X-Amz-Date": "20260101T000000Z",
    }
    assert request(server, "DELETE", "/items/1", signed)[0] == 200
    assert invoke.events()[0]["requestContext"]["identity"]["accessKey"] == "AKIDLOCAL"
    assert any("not verified locally" in line for line in lines)


def _policy(effect: str, resource: str) -> dict:
    return {
        "principalId": "user-7",
        "context": {"tier": "gold", "admin": True},
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }


def test_token_authorizer_policy_context_and_cache(server: ApiServer, invoke: FakeInvoke) -> None:
    def answer(function: LocalFunction, event: dict) -> Invocation:
        if function.logical_id == "Fn":
            return reply(200, "{}")
        if event["authorizationToken"] == "deny":
            return Invocation("a", payload=_policy("Deny", "*"))
        if event["authorizationToken"] == "bad":
            return Invocation("a", error={"errorType": "Exception", "errorMessage": "Unauthorized"})
        return Invocation("a", payload=_policy("Allow", "arn:aws:execute-api:us-east-1:*:a1b2c3d4e5/prod/GET/*"))

    invoke.answer = answer
    assert request(server, "GET", "/custom")[0] == 401
    assert request(server, "GET", "/custom", {"X-Token": "good"})[0] == 200
    assert request(server, "GET", "/custom", {"X-Token": "good"})[0] == 200
    status, _, body = request(server, "GET", "/custom", {"X-Token": "deny"})
    assert (status, json.loads(body)) == (
        403,
        {"Message": "User is not authorized to access this resource with an explicit deny"},
    )
    assert request(server, "GET", "/custom", {"X-Token": "bad"})[0] == 401

    authorizer_events = invoke.events("AuthFn")
    assert [event["authorizationToken"] for event in authorizer_events] == ["good", "deny", "bad"]  # "good" was cached
    assert authorizer_events[0]["methodArn"] == f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/prod/GET/custom"
    assert invoke.events()[0]["requestContext"]["authorizer"] == {
        "principalId": "user-7",
        "tier": "gold",
        "admin": "true",
    }


# -- request validation ----------------------------------------------------------------------------


def test_validator_refuses_missing_parameters_and_bad_bodies_without_invoking(
    server: ApiServer, invoke: FakeInvoke, pool: LocalUserPool
) -> None:
    status, _, body = request(server, "GET", "/search?page=2")
    assert (status, json.loads(body)) == (400, {"message": "Missing required request parameters: [q, X-Tenant]"})
    status, _, body = request(server, "GET", "/search?q=", {"X-Tenant": "t1"})
    assert json.loads(body) == {"message": "Missing required request parameters: [q]"}

    write = {**bearer(token(pool, scope="items/write")), "Content-Type": "application/json"}
    for bad in (b'{"name": ""}', b'{"name": "a", "colour": "red"}', b'{"name": "a", "quantity": 1.5}', b"name=a", b""):
        status, _, body = request(server, "POST", "/items", write, bad)
        assert (status, json.loads(body)) == (400, {"message": "Invalid request body"}), bad
    assert invoke.calls == []

    assert request(server, "GET", "/search?q=lamp", {"X-Tenant": "t1"})[0] == 200
    assert request(server, "POST", "/items", write, b'{"name": "lamp", "quantity": 2}')[0] == 200
    assert len(invoke.calls) == 2
