"""The local Cognito sign-in: authorization code + PKCE and client credentials, tokens that verify on moto."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import jwt
import pytest

from patterns.local.model import LocalEnvironment, LocalStack, LocalUserPool
from patterns.local.signin import SignInError, SignInServer, sign_in

REGION = "us-east-1"
CALLBACK = "https://localhost:3000/callback"
USER, PASSWORD = "ada@example.com", "Str0ng-Passw0rd!"


@dataclass
class Pool:
    endpoint: str
    pool_id: str
    app_client: str  # public, authorization code + PKCE
    machine_client: str  # with a secret, client credentials
    machine_secret: str
    url: str  # the sign-in server


@pytest.fixture
def pool(aws: str) -> Iterator[Pool]:
    cognito = boto3.client("cognito-idp", endpoint_url=aws, region_name=REGION)
    created = cognito.create_user_pool(PoolName="demo", UsernameAttributes=["email"])["UserPool"]
    pool_id = created["Id"]
    cognito.create_resource_server(
        UserPoolId=pool_id,
        Identifier="items",
        Name="items",
        Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}, {"ScopeName": "write", "ScopeDescription": "write"}],
    )
    app = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="app",
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["openid", "email", "items/read", "items/write"],
        CallbackURLs=[CALLBACK],
        AccessTokenValidity=15,
        IdTokenValidity=15,
        TokenValidityUnits={"AccessToken": "minutes", "IdToken": "minutes"},
    )["UserPoolClient"]
    machine = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="machine",
        GenerateSecret=True,
        AllowedOAuthFlows=["client_credentials"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["items/read"],
    )["UserPoolClient"]
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=USER,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": USER}, {"Name": "email_verified", "Value": "true"}],
    )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=USER, Password=PASSWORD, Permanent=True)
    for group in ("admins", "readers"):
        cognito.create_group(UserPoolId=pool_id, GroupName=group)
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=USER, GroupName=group)

    local_pool = LocalUserPool(
        "Demo", "Pool", pool_id, created["Arn"], {"App": app["ClientId"], "Machine": machine["ClientId"]}
    )
    environment = LocalEnvironment(aws, REGION, [LocalStack("Demo", {}, {}, {}, {}, [], {"Pool": local_pool})])
    server = SignInServer(local_pool, environment, log=lambda line: None).start()
    try:
        yield Pool(aws, pool_id, app["ClientId"], machine["ClientId"], machine["ClientSecret"], server.url)
    finally:
        server.stop()


def verified(pool: Pool, token: str) -> dict:
    """The token's claims, verified against the pool's JWKS as served by moto."""
    key = jwt.PyJWKClient(f"{pool.endpoint}/{pool.pool_id}/.well-known/jwks.json").get_signing_key_from_jwt(token).key
    return jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        issuer=f"https://cognito-idp.{REGION}.amazonaws.com/{pool.pool_id}",
        options={"verify_aud": False},
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def http(
    url: str, form: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, Mapping[str, str], str]:
    data = urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.build_opener(_NoRedirect).open(
            urllib.request.Request(url, data, dict(headers or {})), timeout=10
        ) as reply:
            return reply.status, reply.headers, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(pool: Pool, verifier: str | None = "v" * 50, **overrides: str) -> tuple[int, Mapping[str, str], str]:
    query = {
        "response_type": "code",
        "client_id": pool.app_client,
        "redirect_uri": CALLBACK,
        "state": "s1",
        "scope": "openid items/read",
    }
    if verifier is not None:
        query.update(code_challenge=challenge_of(verifier), code_challenge_method="S256")
    query.update(overrides)
    return http(f"{pool.url}/oauth2/authorize?{urlencode(query)}")


def code_for(pool: Pool, verifier: str = "v" * 50) -> str:
    """A fresh authorization code for the app client, step by step."""
    status, _, page = authorize(pool, verifier)
    assert status == 200
    session = re.search(r'name="session" value="([^"]+)"', page).group(1)
    status, headers, _ = http(f"{pool.url}/login", {"session": session, "username": USER, "password": PASSWORD})
    assert status == 302
    location = urlsplit(headers["Location"])
    assert location.geturl().startswith(CALLBACK) and parse_qs(location.query)["state"] == ["s1"]
    return parse_qs(location.query)["code"][0]


def exchange(pool: Pool, code: str, verifier: str = "v" * 50, redirect_uri: str = CALLBACK) -> tuple[int, dict]:
    status, _, body = http(
        f"{pool.url}/oauth2/token",
        {
            "grant_type": "authorization_code",
            "client_id": pool.app_client,
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
    )
    return status, json.loads(body)


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


# -- authorization code + PKCE ---------------------------------------------------------------------


def test_code_flow_gives_tokens_that_verify_on_moto_with_groups_and_scopes(pool: Pool) -> None:
    tokens = sign_in(pool.url, pool.app_client, CALLBACK, USER, PASSWORD, ["openid", "email", "items/read"])

    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 900
    assert jwt.get_unverified_header(tokens["access_token"])["kid"] == "dummy"  # moto's key id
    access = verified(pool, tokens["access_token"])
    assert access["token_use"] == "access" and access["scope"] == "openid email items/read"
    assert sorted(access["cognito:groups"]) == ["admins", "readers"] and access["client_id"] == pool.app_client
    assert access["version"] == 2 and access["exp"] - access["iat"] == 900 and access["username"] == access["sub"]
    identity = verified(pool, tokens["id_token"])
    assert identity["token_use"] == "id" and identity["aud"] == pool.app_client and identity["email"] == USER
    assert identity["email_verified"] is True and identity["sub"] == access["sub"]
    assert identity["origin_jti"] == access["origin_jti"] and identity["at_hash"]


def test_without_openid_there_is_no_id_token_and_the_default_callback_is_used(pool: Pool) -> None:
    tokens = sign_in(pool.url, pool.app_client, None, USER, PASSWORD, ["items/write"])
    assert "id_token" not in tokens and verified(pool, tokens["access_token"])["scope"] == "items/write"


def test_wrong_password_shows_the_form_again(pool: Pool) -> None:
    with pytest.raises(SignInError, match="Incorrect username or password"):
        sign_in(pool.url, pool.app_client, CALLBACK, USER, "Wr0ng-Passw0rd!", ["items/read"])
    status, _, page = authorize(pool)
    session = re.search(r'name="session" value="([^"]+)"', page).group(1)
    status, _, page = http(
        f"{pool.url}/login", {"session": session, "username": "nobody@example.com", "password": PASSWORD}
    )
    assert status == 400 and "Incorrect username or password." in page and 'name="password"' in page


def test_wrong_verifier_and_reused_code_are_invalid_grants(pool: Pool) -> None:
    assert exchange(pool, code_for(pool), verifier="w" * 50) == (400, {"error": "invalid_grant"})

    code = code_for(pool)
    assert exchange(pool, code, redirect_uri="https://localhost:3000/other") == (400, {"error": "invalid_grant"})
    code = code_for(pool)
    status, tokens = exchange(pool, code)
    assert status == 200 and "access_token" in tokens
    assert exchange(pool, code) == (400, {"error": "invalid_grant"})


def test_authorize_refuses_unregistered_callbacks_missing_pkce_and_foreign_scopes(pool: Pool) -> None:
    status, headers, page = authorize(pool, redirect_uri="https://evil.example.com/callback")
    assert status == 400 and "redirect_mismatch" in page and "Location" not in headers
    assert authorize(pool, client_id="unknown")[0] == 400

    for overrides, error in (
        ({"verifier": None}, "invalid_request"),
        ({"scope": "items/delete"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ):
        status, headers, _ = authorize(pool, **overrides)
        query = parse_qs(urlsplit(headers["Location"]).query)
        assert status == 302 and query["error"] == [error] and query["state"] == ["s1"], overrides


# -- client credentials ----------------------------------------------------------------------------


def test_client_credentials_need_the_right_secret(pool: Pool) -> None:
    url = f"{pool.url}/oauth2/token"
    grant = {"grant_type": "client_credentials", "scope": "items/read"}
    for headers in ({}, basic(pool.machine_client, "wrong-secret")):
        status, _, body = http(url, grant, headers)
        assert (status, json.loads(body)) == (401, {"error": "invalid_client"})
    status, _, body = http(url, {**grant, "scope": "items/write"}, basic(pool.machine_client, pool.machine_secret))
    assert (status, json.loads(body)) == (400, {"error": "invalid_scope"})
    status, _, body = http(url, {**grant, "client_id": pool.app_client})
    assert (status, json.loads(body)) == (400, {"error": "unauthorized_client"})

    status, _, body = http(url, grant, basic(pool.machine_client, pool.machine_secret))
    assert status == 200
    claims = verified(pool, json.loads(body)["access_token"])
    assert claims["sub"] == pool.machine_client and claims["scope"] == "items/read" and claims["token_use"] == "access"


def test_unknown_grant_types_and_pages(pool: Pool) -> None:
    status, _, body = http(f"{pool.url}/oauth2/token", {"grant_type": "password", "client_id": pool.app_client})
    assert (status, json.loads(body)) == (400, {"error": "unsupported_grant_type"})
    assert http(f"{pool.url}/nothing")[0] == 404
    assert (
        http(f"{pool.url}/login", {"session": secrets.token_urlsafe(8), "username": USER, "password": PASSWORD})[0]
        == 400
    )
