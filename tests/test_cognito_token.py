"""The token command for deployed pools, run against the local sign-in server (same OAuth endpoints)
on 127.0.0.1: authorization code + PKCE, loopback redirect, state check, code exchange."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import jwt
import pytest

from patterns import cognito_token
from patterns.cognito_token import TokenError, get_tokens, loopback_redirect_uri
from patterns.local.model import LocalEnvironment, LocalStack, LocalUserPool
from patterns.local.signin import SignInServer

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
USER, PASSWORD = "ada@example.com", "Str0ng-Passw0rd!"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Pool:
    client_id: str
    sign_in_url: str  # the local stand-in for https://PREFIX.auth.REGION.amazoncognito.com
    port: int  # the loopback port registered in the client's callback URL


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
    port = free_port()
    client_id = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName="app",
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["openid", "items/read", "items/write"],
        CallbackURLs=[loopback_redirect_uri(port)],
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(
        UserPoolId=pool_id,
        Username=USER,
        MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": USER}, {"Name": "email_verified", "Value": "true"}],
    )
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=USER, Password=PASSWORD, Permanent=True)
    local_pool = LocalUserPool("Demo", "Pool", pool_id, created["Arn"], {"App": client_id})
    environment = LocalEnvironment(aws, REGION, [LocalStack("Demo", {}, {}, {}, {}, [], {"Pool": local_pool})])
    server = SignInServer(local_pool, environment, log=lambda line: None).start()
    try:
        yield Pool(client_id, server.url, port)
    finally:
        server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def fetch(url: str, form: dict | None = None) -> tuple[int, dict, str]:
    assert urlsplit(url).hostname in ("127.0.0.1", "localhost"), url
    data = urlencode(form).encode() if form is not None else None
    try:
        with _OPENER.open(urllib.request.Request(url, data=data), timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


class Browser:
    """Does what the user does in the browser: open the URL, sign in, follow the redirect home."""

    def __init__(self, password: str = PASSWORD, forged_callback_first: bool = False) -> None:
        self.password = password
        self.forged_callback_first = forged_callback_first
        self.opened: list[str] = []
        self.callback_status: list[int] = []

    def __call__(self, url: str) -> None:
        self.opened.append(url)
        status, headers, body = fetch(url)
        if status == 302:  # the authorization server refused and redirects with ?error=
            self._follow(headers["Location"])
            return
        session = re.search(r'name="session" value="([^"]+)"', body).group(1)
        status, headers, _ = fetch(
            f"{urlsplit(url).scheme}://{urlsplit(url).netloc}/login",
            {"session": session, "username": USER, "password": self.password},
        )
        if status == 302:
            location = headers["Location"]
            if self.forged_callback_first:
                self._follow(re.sub(r"state=[^&]+", "state=forged", location))
            self._follow(location)

    def _follow(self, location: str) -> None:
        status, _, _ = fetch(location)
        self.callback_status.append(status)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_signs_in_with_code_and_pkce_and_returns_a_scoped_access_token(pool):
    browser = Browser()
    tokens = get_tokens(
        pool.sign_in_url,
        pool.client_id,
        scopes=["items/read", "items/write"],
        port=pool.port,
        open_url=browser,
        log=lambda line: None,
    )
    access = claims(tokens["access_token"])
    assert access["token_use"] == "access" and access["client_id"] == pool.client_id
    assert access["scope"].split() == ["items/read", "items/write"]
    assert browser.callback_status == [200]


def test_the_authorize_url_asks_for_code_with_an_s256_challenge_and_the_loopback_redirect(pool):
    browser = Browser()
    get_tokens(
        pool.sign_in_url, pool.client_id, scopes=["items/read"], port=pool.port, open_url=browser, log=lambda line: None
    )
    (url,) = browser.opened
    query = dict(parse_qsl(urlsplit(url).query))
    assert urlsplit(url).path == "/oauth2/authorize"
    assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43 and query["state"]
    assert query["redirect_uri"] == f"http://localhost:{pool.port}/callback"


def test_a_callback_with_another_state_is_ignored_and_the_real_one_still_counts(pool):
    browser = Browser(forged_callback_first=True)
    tokens = get_tokens(
        pool.sign_in_url, pool.client_id, scopes=["items/read"], port=pool.port, open_url=browser, log=lambda line: None
    )
    assert browser.callback_status == [400, 200]
    assert claims(tokens["access_token"])["scope"] == "items/read"


class Interceptor(Browser):
    """Another local process that receives the redirect instead of the listener (``localhost`` may
    resolve to ``::1``, where the listener does not bind) and tries to redeem the code itself, with
    everything the browser saw."""

    def _follow(self, location: str) -> None:
        seen = dict(parse_qsl(urlsplit(self.opened[0]).query))
        callback = dict(parse_qsl(urlsplit(location).query))
        status, _, body = fetch(
            f"{urlsplit(self.opened[0]).scheme}://{urlsplit(self.opened[0]).netloc}/oauth2/token",
            {
                "grant_type": "authorization_code",
                "client_id": seen["client_id"],
                "code": callback["code"],
                "redirect_uri": seen["redirect_uri"],
                "code_verifier": seen["code_challenge"],  # the best an onlooker has
            },
        )
        self.callback_status.append(status)
        self.stolen = body


def test_an_intercepted_code_cannot_be_redeemed_without_the_verifier_that_never_leaves_the_command(pool):
    interceptor = Interceptor()
    with pytest.raises(TokenError, match="no sign-in redirect reached"):
        get_tokens(
            pool.sign_in_url,
            pool.client_id,
            scopes=["items/read"],
            port=pool.port,
            open_url=interceptor,
            timeout_seconds=0.5,
            log=lambda line: None,
        )
    assert interceptor.callback_status == [400]
    assert "invalid_grant" in interceptor.stolen and "access_token" not in interceptor.stolen


def test_an_error_redirect_from_the_authorization_server_is_reported(pool):
    with pytest.raises(TokenError, match="sign-in refused: invalid_scope"):
        get_tokens(
            pool.sign_in_url,
            pool.client_id,
            scopes=["items/admin"],
            port=pool.port,
            open_url=Browser(),
            log=lambda line: None,
        )


def test_no_redirect_within_the_timeout_is_an_error(pool):
    with pytest.raises(TokenError, match="no sign-in redirect reached"):
        get_tokens(
            pool.sign_in_url,
            pool.client_id,
            port=pool.port,
            open_url=lambda url: None,
            timeout_seconds=0.2,
            log=lambda line: None,
        )


def test_the_listener_is_on_the_loopback_only_and_closed_afterwards(pool):
    seen = {}

    def browser(url: str) -> None:
        with socket.create_connection(("127.0.0.1", pool.port), timeout=5):
            seen["loopback"] = True
        Browser()(url)

    get_tokens(pool.sign_in_url, pool.client_id, port=pool.port, open_url=browser, log=lambda line: None)
    assert cognito_token.LISTEN_HOST == "127.0.0.1" and seen["loopback"]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", pool.port), timeout=1):
        pass


@pytest.mark.parametrize("domain", ["http://items.auth.eu-west-1.amazoncognito.com", "ftp://localhost"])
def test_a_domain_without_tls_off_the_loopback_is_refused(domain):
    with pytest.raises(TokenError, match="https://"):
        get_tokens(domain, "client", open_url=lambda url: pytest.fail("must not open"), log=lambda line: None)


def test_main_prints_only_the_access_token_on_stdout(pool, monkeypatch, capsys):
    monkeypatch.setattr(cognito_token.webbrowser, "open", Browser())
    code = cognito_token.main(
        ["--domain", pool.sign_in_url, "--client-id", pool.client_id, "--port", str(pool.port), "--scope", "items/read"]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert claims(out.strip())["scope"] == "items/read"
    assert "/oauth2/authorize?" in err


def test_main_with_a_wrong_password_ends_with_an_error_and_no_token(pool, monkeypatch, capsys):
    monkeypatch.setattr(cognito_token.webbrowser, "open", Browser(password="wrong"))
    code = cognito_token.main(
        ["--domain", pool.sign_in_url, "--client-id", pool.client_id, "--port", str(pool.port), "--timeout", "0.5"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "no sign-in redirect reached" in err


def test_it_runs_with_the_standard_library_alone(tmp_path):
    package = tmp_path / "patterns"
    package.mkdir()
    for name in ("__init__.py", "cognito_token.py"):
        shutil.copy(ROOT / "patterns" / name, package / name)
    # -S: no site-packages, so neither the CDK nor any other installed package can be imported.
    result = subprocess.run(
        [sys.executable, "-S", "-m", "patterns.cognito_token", "--help"],
        cwd=tmp_path,
        env={key: value for key, value in os.environ.items() if key != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--client-id" in result.stdout
