"""A local stand-in for a Cognito user pool's hosted sign-in: the OAuth 2.0 endpoints moto lacks.

APIs behind a Cognito authorizer with ``AuthorizationScopes`` want access tokens holding custom
scopes such as ``items/read``. Cognito gives those only through its hosted UI (authorization code
+ PKCE for users) or the client-credentials grant (for machine clients); moto serves neither, and
its ``initiate_auth`` tokens carry only ``aws.cognito.signin.user.admin``. :class:`SignInServer`
serves, for one pool:

- ``GET /oauth2/authorize``: checks the client, its callback URL, the response type, the scopes and
  (for clients without a secret) the PKCE challenge, then shows a login form;
- ``POST /login``: checks the password with moto (``ADMIN_USER_PASSWORD_AUTH``) and redirects to the
  callback with a single-use code, valid for 5 minutes;
- ``POST /oauth2/token``: ``authorization_code`` (with the PKCE verifier) and ``client_credentials``
  (HTTP Basic client authentication), answering as Cognito does.

Tokens carry Cognito's claims and are signed with the key moto signs its own tokens with, so they
verify against the pool's JWKS on the local endpoint like any moto token. Not reproduced: MFA and
password-change challenges (the password check is enough locally; the log says so), refresh tokens,
the implicit grant, logout, identity providers and the hosted UI's sign-up and branding.

:func:`sign_in` is the client side of the code + PKCE flow, for the CLI and tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from botocore.exceptions import ClientError
from werkzeug.wrappers import Request, Response

from ..cognito_token import pkce_challenge
from .endpoint import local_client
from .gateway import LOOPBACK, HttpServer
from .model import LocalEnvironment, LocalRunError, LocalUserPool

Log = Callable[[str], None]

CODE_LIFETIME_SECONDS = 300  # Cognito's authorization codes are valid for 5 minutes
DEFAULT_TOKEN_VALIDITY_SECONDS = 3600  # Cognito's default for access and ID tokens
_UNIT_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
_REJECTED_SIGN_IN = frozenset({"NotAuthorizedException", "UserNotFoundException", "PasswordResetRequiredException"})


class SignInError(LocalRunError):
    """The sign-in flow was refused; the message says at which step and why."""


# -- tokens ---------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _signing_key() -> tuple[Any, dict[str, Any]]:
    """moto's private JWK (the one behind every pool's JWKS) as a key, and the JWK itself."""
    from moto.utilities.utils import (
        load_resource,  # moto's own loader reads its packaged, gzipped resources
    )

    jwk = load_resource("cognitoidp/resources/jwks-private.json")
    return jwt.algorithms.RSAAlgorithm.from_jwk(jwk), jwk


def sign_token(claims: Mapping[str, Any]) -> str:
    """A JWT with these claims, RS256-signed so that it verifies against moto's user-pool JWKS."""
    key, jwk = _signing_key()
    return jwt.encode(dict(claims), key, algorithm="RS256", headers={"kid": jwk["kid"]})


def _at_hash(access_token: str) -> str:
    """OpenID Connect's ``at_hash``: the left half of the access token's SHA-256, base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _check_endpoint_key(endpoint: str, pool_id: str) -> None:
    """Refuse to start when the endpoint's JWKS is not moto's: tokens signed here would never verify."""
    url = f"{endpoint}/{pool_id}/.well-known/jwks.json"
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            keys = json.load(reply).get("keys", [])
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise LocalRunError(f"cannot read the user pool's JWKS at {url}: {error}") from error
    jwk = _signing_key()[1]
    if not any(key.get("kid") == jwk["kid"] and key.get("n") == jwk["n"] for key in keys):
        raise LocalRunError(f"the JWKS at {url} is not moto's; tokens from the local sign-in would not verify there")


# -- the pool's clients and the flow's state --------------------------------------------------------


@dataclass(frozen=True)
class _Client:
    client_id: str
    secret: str | None
    callback_urls: tuple[str, ...]
    flows: frozenset[str]  # AllowedOAuthFlows: code, implicit, client_credentials
    scopes: tuple[str, ...]  # AllowedOAuthScopes
    oauth_enabled: bool  # AllowedOAuthFlowsUserPoolClient
    access_seconds: int
    id_seconds: int
    session_seconds: int  # how long the login form stays usable (AuthSessionValidity)


def _client_from(description: Mapping[str, Any]) -> _Client:
    units = description.get("TokenValidityUnits", {})

    def seconds(value_key: str, unit_key: str) -> int:
        if value_key not in description:
            return DEFAULT_TOKEN_VALIDITY_SECONDS
        return int(description[value_key]) * _UNIT_SECONDS[units.get(unit_key, "hours")]

    return _Client(
        client_id=description["ClientId"],
        secret=description.get("ClientSecret"),
        callback_urls=tuple(description.get("CallbackURLs", [])),
        flows=frozenset(description.get("AllowedOAuthFlows", [])),
        scopes=tuple(description.get("AllowedOAuthScopes", [])),
        oauth_enabled=bool(description.get("AllowedOAuthFlowsUserPoolClient")),
        access_seconds=seconds("AccessTokenValidity", "AccessToken"),
        id_seconds=seconds("IdTokenValidity", "IdToken"),
        session_seconds=int(description.get("AuthSessionValidity", 3)) * 60,
    )


@dataclass(frozen=True)
class _Pending:
    """An authorization request waiting for the user to sign in."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    challenge: str | None
    nonce: str | None
    expires: float


@dataclass(frozen=True)
class _Grant:
    """What an authorization code stands for until it is exchanged (once)."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str | None
    nonce: str | None
    username: str
    auth_time: int
    expires: float


# -- the pages ----------------------------------------------------------------------------------------


class SignInPages:
    """The WSGI application of one pool's sign-in endpoints."""

    def __init__(self, pool: LocalUserPool, environment: LocalEnvironment, log: Log = print) -> None:
        self.pool = pool
        self.environment = environment
        self.log = log
        self.issuer = f"https://cognito-idp.{environment.region}.amazonaws.com/{pool.pool_id}"
        self.cognito = local_client("cognito-idp", environment.endpoint, environment.region)
        self._pending: dict[str, _Pending] = {}
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._routes = {
            ("GET", "/oauth2/authorize"): self._authorize,
            ("POST", "/login"): self._login,
            ("POST", "/oauth2/token"): self._token,
        }

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        handler = self._routes.get((request.method, request.path))
        response = handler(request) if handler else _page(404, "Not found", "This sign-in server has no such page.")
        return response(environ, start_response)

    # -- GET /oauth2/authorize ------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        args = request.args
        client = self._client(args.get("client_id", ""))
        if client is None:
            return _page(400, "Sign-in error", "invalid_request: unknown client_id.")
        redirect_uri = args.get("redirect_uri") or (client.callback_urls[0] if client.callback_urls else "")
        if redirect_uri not in client.callback_urls:
            return _page(
                400, "Sign-in error", f"redirect_mismatch: {redirect_uri!r} is not a callback URL of this client."
            )
        state = args.get("state")
        problem = _authorization_problem(
            client,
            args.get("response_type"),
            args.get("scope"),
            args.get("code_challenge"),
            args.get("code_challenge_method"),
        )
        if problem is not None:
            error, description = problem
            self._say(f"authorize refused for client {client.client_id}: {error}: {description}")
            return _redirect(redirect_uri, {"error": error, "error_description": description, "state": state})
        pending = _Pending(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=tuple(str(args.get("scope") or "").split() or client.scopes),
            state=state,
            challenge=args.get("code_challenge"),
            nonce=args.get("nonce"),
            expires=time.monotonic() + client.session_seconds,
        )
        session = secrets.token_urlsafe(24)
        with self._lock:
            self._drop_expired()
            self._pending[session] = pending
        return _login_page(session, pending.scopes)

    # -- POST /login ------------------------------------------------------------------------------

    def _login(self, request: Request) -> Response:
        form = request.form
        session = form.get("session", "")
        with self._lock:
            pending = self._pending.get(session)
        if pending is None or pending.expires < time.monotonic():
            return _page(400, "Sign-in expired", "This sign-in page has expired. Start again from your application.")
        username, password = form.get("username", "").strip(), form.get("password", "")
        cognito_username = self._check_password(pending.client_id, username, password)
        if cognito_username is None:
            self._say(f"wrong username or password for {username!r}")
            return _login_page(session, pending.scopes, "Incorrect username or password.", username)
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            scopes=pending.scopes,
            challenge=pending.challenge,
            nonce=pending.nonce,
            username=cognito_username,
            auth_time=int(time.time()),
            expires=time.monotonic() + CODE_LIFETIME_SECONDS,
        )
        with self._lock:
            self._pending.pop(session, None)
            self._codes[code] = grant
        self._say(f"{username} signed in to client {pending.client_id} ({' '.join(pending.scopes)})")
        return _redirect(pending.redirect_uri, {"code": code, "state": pending.state})

    def _check_password(self, client_id: str, username: str, password: str) -> str | None:
        """The user's Cognito username if the password is right, else None."""
        if not username or not password:
            return None
        try:
            result = self.cognito.admin_initiate_auth(
                UserPoolId=self.pool.pool_id,
                ClientId=client_id,
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": username, "PASSWORD": password},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _REJECTED_SIGN_IN:
                return None
            raise
        if "ChallengeName" in result:
            self._say(f"{username}: challenge {result['ChallengeName']} is not asked locally")
        return str(self.cognito.admin_get_user(UserPoolId=self.pool.pool_id, Username=username)["Username"])

    # -- POST /oauth2/token -------------------------------------------------------------------------

    def _token(self, request: Request) -> Response:
        client = self._authenticated_client(request)
        if client is None:
            return _oauth_error(401, "invalid_client", {"WWW-Authenticate": 'Basic realm="token"'})
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(client, request.form)
        if grant_type == "client_credentials":
            return self._client_credentials(client, request.form)
        return _oauth_error(400, "unsupported_grant_type")

    def _authenticated_client(self, request: Request) -> _Client | None:
        """The calling client: HTTP Basic (or client_secret in the form) for clients with a secret."""
        basic = request.authorization if request.authorization and request.authorization.type == "basic" else None
        client_id = basic.username if basic else request.form.get("client_id")
        client = self._client(client_id or "")
        if client is None or client.secret is None:
            return client
        presented = (basic.password if basic else request.form.get("client_secret")) or ""
        return client if hmac.compare_digest(presented.encode(), client.secret.encode()) else None

    def _exchange_code(self, client: _Client, form: Mapping[str, str]) -> Response:
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use, even when the exchange fails
        if grant is None or grant.expires < time.monotonic() or grant.client_id != client.client_id:
            return _oauth_error(400, "invalid_grant")
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error(400, "invalid_grant")
        if grant.challenge is not None and pkce_challenge(form.get("code_verifier", "")) != grant.challenge:
            return _oauth_error(400, "invalid_grant")
        return _token_response(self._user_tokens(client, grant), client.access_seconds)

    def _user_tokens(self, client: _Client, grant: _Grant) -> dict[str, str]:
        user = self.cognito.admin_get_user(UserPoolId=self.pool.pool_id, Username=grant.username)
        attributes = {item["Name"]: item["Value"] for item in user.get("UserAttributes", [])}
        groups = [
            group["GroupName"]
            for group in self.cognito.admin_list_groups_for_user(UserPoolId=self.pool.pool_id, Username=grant.username)[
                "Groups"
            ]
        ]
        now, origin_jti = int(time.time()), str(uuid.uuid4())
        common = {
            "sub": attributes["sub"],
            **({"cognito:groups": groups} if groups else {}),
            "iss": self.issuer,
            "origin_jti": origin_jti,
            "auth_time": grant.auth_time,
            "iat": now,
        }
        access_token = sign_token(
            {
                **common,
                "version": 2,
                "client_id": client.client_id,
                "token_use": "access",
                "scope": " ".join(grant.scopes),
                "exp": now + client.access_seconds,
                "jti": str(uuid.uuid4()),
                "username": user["Username"],
            }
        )
        tokens = {"access_token": access_token}
        if "openid" in grant.scopes:
            tokens["id_token"] = sign_token(
                {
                    **common,
                    **_id_token_attributes(attributes),
                    "at_hash": _at_hash(access_token),
                    "cognito:username": user["Username"],
                    "aud": client.client_id,
                    "token_use": "id",
                    "exp": now + client.id_seconds,
                    "jti": str(uuid.uuid4()),
                    **({"nonce": grant.nonce} if grant.nonce else {}),
                }
            )
        return tokens

    def _client_credentials(self, client: _Client, form: Mapping[str, str]) -> Response:
        if client.secret is None or not client.oauth_enabled or "client_credentials" not in client.flows:
            return _oauth_error(400, "unauthorized_client")
        custom_scopes = [scope for scope in client.scopes if "/" in scope]  # only resource-server scopes apply
        requested = str(form.get("scope") or "").split() or custom_scopes
        if not requested or not set(requested) <= set(custom_scopes):
            return _oauth_error(400, "invalid_scope")
        now = int(time.time())
        access_token = sign_token(
            {
                "sub": client.client_id,
                "token_use": "access",
                "scope": " ".join(requested),
                "auth_time": now,
                "iss": self.issuer,
                "exp": now + client.access_seconds,
                "iat": now,
                "version": 2,
                "jti": str(uuid.uuid4()),
                "client_id": client.client_id,
            }
        )
        self._say(f"client {client.client_id} got a token ({' '.join(requested)})")
        return _token_response({"access_token": access_token}, client.access_seconds)

    # -- helpers -------------------------------------------------------------------------------------

    def _client(self, client_id: str) -> _Client | None:
        """The pool's app client as moto holds it now (so changes made after provisioning count)."""
        if not client_id:
            return None
        try:
            description = self.cognito.describe_user_pool_client(UserPoolId=self.pool.pool_id, ClientId=client_id)
        except ClientError:
            return None
        return _client_from(description["UserPoolClient"])

    def _say(self, message: str) -> None:
        self.log(f"[{self.pool.stack}] sign-in {self.pool.logical_id}: {message}")

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for store in (self._pending, self._codes):
            for key in [key for key, item in store.items() if item.expires < now]:
                del store[key]


def _authorization_problem(
    client: _Client,
    response_type: str | None,
    scope: str | None,
    challenge: str | None,
    challenge_method: str | None,
) -> tuple[str, str] | None:
    """The OAuth error an authorization request earns, or None when it may proceed to the login form."""
    if response_type != "code":
        return "unsupported_response_type", "only response_type=code is served locally"
    if not client.oauth_enabled or "code" not in client.flows:
        return "unauthorized_client", "the client is not allowed the authorization code flow"
    requested = str(scope or "").split()
    if not set(requested) <= set(client.scopes):
        return "invalid_scope", f"the client may ask only for {' '.join(client.scopes)}"
    if challenge and challenge_method != "S256":
        return "invalid_request", "code_challenge_method must be S256"
    if client.secret is None and not challenge:
        return "invalid_request", "a client without a secret must send a PKCE code_challenge (S256)"
    return None


def _id_token_attributes(attributes: Mapping[str, str]) -> dict[str, Any]:
    """User attributes as an ID token carries them: ``*_verified`` as booleans, the rest as strings."""
    return {
        name: (value == "true") if name.endswith("_verified") else value
        for name, value in attributes.items()
        if name != "sub"
    }


def _token_response(tokens: Mapping[str, str], expires_in: int) -> Response:
    body = {**tokens, "token_type": "Bearer", "expires_in": expires_in}
    return Response(
        json.dumps(body),
        200,
        content_type="application/json",
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def _oauth_error(status: int, error: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": error}), status, content_type="application/json", headers=dict(headers or {}))


def _redirect(uri: str, parameters: Mapping[str, str | None]) -> Response:
    """A 302 to ``uri`` with the parameters added to its query (None values left out)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in parameters.items() if v is not None]
    return Response(status=302, headers={"Location": urlunsplit(parts._replace(query=urlencode(query)))})


def _page(status: int, title: str, message: str) -> Response:
    body = (
        f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
    )
    return Response(body, status, content_type="text/html; charset=utf-8")


def _login_page(session: str, scopes: Sequence[str], error: str = "", username: str = "") -> Response:
    """The login form; the session field ties it to the pending authorization request."""
    alert = f'<p role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        "<!doctype html><title>Sign in</title><h1>Sign in</h1>"
        f"<p>Local sign-in (scopes: {html.escape(' '.join(scopes))})</p>{alert}"
        '<form method="post" action="/login">'
        f'<input type="hidden" name="session" value="{html.escape(session)}">'
        f'<label>Username <input name="username" value="{html.escape(username)}" autocomplete="username"></label>'
        '<label>Password <input name="password" type="password" autocomplete="current-password"></label>'
        '<button type="submit">Sign in</button></form>'
    )
    return Response(body, 400 if error else 200, content_type="text/html; charset=utf-8")


class SignInServer(HttpServer):
    """One user pool's sign-in endpoints; :attr:`url` is the base, like a pool domain's."""

    def __init__(
        self,
        pool: LocalUserPool,
        environment: LocalEnvironment,
        host: str = LOOPBACK,
        port: int = 0,
        log: Log = print,
    ) -> None:
        self.pool = pool
        self.pages = SignInPages(pool, environment, log)
        super().__init__(self.pages, host, port, "")

    def start(self) -> SignInServer:
        _check_endpoint_key(self.pages.environment.endpoint, self.pool.pool_id)
        super().start()
        return self


# -- the client side ----------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand redirects back to the caller: the last hop goes to the app's callback, which may not exist."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _http(url: str, form: Mapping[str, str] | None = None) -> tuple[int, Message[str, str], str]:
    data = urlencode(form).encode("ascii") if form is not None else None
    try:
        with _OPENER.open(urllib.request.Request(url, data=data), timeout=30) as reply:
            return reply.status, reply.headers, reply.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode("utf-8", "replace")


def _page_message(body: str) -> str:
    found = re.search(r'<p role="alert">(.*?)</p>', body) or re.search(r"<p>(.*?)</p>\s*$", body)
    return html.unescape(found.group(1)) if found else body[:200]


def sign_in(
    signin_url: str,
    client_id: str,
    redirect_uri: str | None,
    username: str,
    password: str,
    scopes: Sequence[str] = (),
) -> dict[str, Any]:
    """Sign in through a local sign-in server with the authorization code + PKCE flow.

    Returns the token response (``access_token``, ``id_token`` when ``openid`` was asked for,
    ``token_type``, ``expires_in``). ``redirect_uri`` None means the client's first callback URL.
    Raises :class:`SignInError` saying which step was refused.
    """
    base = signin_url.rstrip("/")
    verifier, state = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "state": state,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if redirect_uri:
        query["redirect_uri"] = redirect_uri
    if scopes:
        query["scope"] = " ".join(scopes)
    status, headers, body = _http(f"{base}/oauth2/authorize?{urlencode(query)}")
    if status == 302:
        raise SignInError(f"authorization refused: {dict(parse_qsl(urlsplit(headers['Location']).query))}")
    session = re.search(r'name="session" value="([^"]+)"', body)
    if status != 200 or session is None:
        raise SignInError(f"authorization refused ({status}): {_page_message(body)}")
    status, headers, body = _http(
        f"{base}/login", {"session": html.unescape(session.group(1)), "username": username, "password": password}
    )
    if status != 302:
        raise SignInError(f"sign-in refused ({status}): {_page_message(body)}")
    callback = urlsplit(headers["Location"])
    parameters = dict(parse_qsl(callback.query, keep_blank_values=True))
    if parameters.get("state") != state or "code" not in parameters:
        raise SignInError(f"unexpected redirect after sign-in: {headers['Location']}")
    remaining = [(k, v) for k, v in parse_qsl(callback.query, keep_blank_values=True) if k not in ("code", "state")]
    status, _, body = _http(
        f"{base}/oauth2/token",
        {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": parameters["code"],
            "redirect_uri": redirect_uri or urlunsplit(callback._replace(query=urlencode(remaining))),
            "code_verifier": verifier,
        },
    )
    if status != 200:
        raise SignInError(f"token request refused ({status}): {body}")
    tokens: dict[str, Any] = json.loads(body)
    return tokens
