"""``python -m patterns.cognito_token``: sign in to a deployed user pool and print an access token.

    python -m patterns.cognito_token --domain https://PREFIX.auth.REGION.amazoncognito.com \\
        --client-id ID --scope items/read --scope items/write

Custom scopes such as ``items/read`` come only from a pool domain's OAuth endpoints, never from SRP
or password sign-in through the API. This command runs the authorization code grant with PKCE
(RFC 7636) the way a native app does (RFC 8252): it listens on 127.0.0.1, opens (and prints) the
pool's ``/oauth2/authorize`` URL with the loopback redirect ``http://localhost:PORT/callback``,
lets you sign in in your browser (password, then the TOTP code; on the first sign-in Cognito asks
for a new password and shows the authenticator set-up), receives the code on the loopback, checks
the ``state``, exchanges the code and the PKCE verifier at ``/oauth2/token`` and prints the access
token on stdout (everything else goes to stderr, so ``TOKEN=$(python -m ...)`` works).

The listener binds 127.0.0.1 while the redirect names ``localhost``: Cognito accepts plain
``http://`` redirect URIs only for ``localhost``, whereas RFC 8252 (section 8.3) prefers the IP
literal. A browser that resolves ``localhost`` to ``::1`` first falls back to 127.0.0.1 when nothing
listens there, but another local process listening on ``[::1]:PORT`` would receive the redirect.
That is safe: the code alone is useless, since redeeming it takes the PKCE verifier, which never
leaves this process (the browser only sees its S256 challenge); and this listener accepts only a
redirect carrying the ``state`` of its own request, so nothing can slip it a code of another
sign-in. The worst such a process can do is make the sign-in fail.

The app client must allow the authorization code grant and list the loopback redirect among its
callback URLs (the demo stacks register ``http://localhost:8400/callback``). It works against the
local run's sign-in page too (``patterns.local``), which speaks the same endpoints.

Standard library only: no CDK, no AWS SDK; it runs from an installed wheel without extras.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import secrets
import sys
import threading
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

#: The loopback port the demo stacks register in their app client's callback URLs.
LOOPBACK_PORT = 8400
CALLBACK_PATH = "/callback"
#: Where the listener binds: the loopback interface only, never a routable address.
LISTEN_HOST = "127.0.0.1"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def loopback_redirect_uri(port: int = LOOPBACK_PORT) -> str:
    """The redirect URI for ``port``, as it must be registered on the app client (Cognito accepts
    ``http://`` only for ``localhost``)."""
    return f"http://localhost:{port}{CALLBACK_PATH}"


class TokenError(Exception):
    """The sign-in did not end with tokens; the message says at which step and why."""


@dataclass
class _Callback:
    """What came back to the loopback listener."""

    code: str | None = None
    error: str | None = None


def pkce_challenge(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier: base64url of its SHA-256, without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _base_url(domain: str) -> str:
    """The pool domain as ``https://host``; plain HTTP only for a loopback host (a local run)."""
    if "://" not in domain:
        domain = f"https://{domain}"
    parts = urlsplit(domain)
    if not parts.hostname:
        raise TokenError(f"--domain {domain!r} has no host name")
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS):
        raise TokenError(f"--domain must be an https:// URL (http:// only on localhost), got {domain!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class _CallbackListener(HTTPServer):
    """Accepts one redirect carrying the expected ``state``; anything else is answered and ignored."""

    def __init__(self, port: int, state: str, log: Callable[[str], None]) -> None:
        self.expected_state = state
        self.result = _Callback()
        self.done = threading.Event()
        self.log = log
        super().__init__((LISTEN_HOST, port), _CallbackHandler)


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackListener

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self._answer(404, "Not found", "This address only receives the sign-in redirect.")
            return
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if self.server.done.is_set() or query.get("state") != self.server.expected_state:
            # Not the answer to our request (a stale tab, or another local process): ignore it.
            self.server.log("ignored a callback that does not answer this sign-in (state mismatch)")
            self._answer(400, "Sign-in not accepted", "This redirect does not answer the pending sign-in.")
            return
        if "error" in query:
            description = query.get("error_description", "")
            self.server.result.error = f"{query['error']}: {description}" if description else query["error"]
            self._answer(400, "Sign-in refused", self.server.result.error)
        elif query.get("code"):
            self.server.result.code = query["code"]
            self._answer(200, "Signed in", "You can close this window and return to the terminal.")
        else:
            self.server.result.error = "the redirect carried neither a code nor an error"
            self._answer(400, "Sign-in failed", self.server.result.error)
        self.server.done.set()

    def _answer(self, status: int, title: str, message: str) -> None:
        body = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        body += f"<p>{html.escape(message)}</p>"
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the request line holds the code: keep it out of the terminal


def authorize_url(
    base_url: str, client_id: str, redirect_uri: str, scopes: Sequence[str], state: str, challenge: str
) -> str:
    """The ``/oauth2/authorize`` URL of an authorization code request with a PKCE S256 challenge."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if scopes:
        query["scope"] = " ".join(scopes)
    return f"{base_url}/oauth2/authorize?{urlencode(query)}"


def _exchange(base_url: str, client_id: str, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
    ).encode("ascii")
    request = urllib.request.Request(
        f"{base_url}/oauth2/token", data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            tokens: dict[str, Any] = json.load(reply)
            return tokens
    except urllib.error.HTTPError as error:
        raise TokenError(
            f"the token endpoint refused the code ({error.code}): {error.read().decode('utf-8', 'replace')}"
        ) from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise TokenError(f"cannot reach the token endpoint {base_url}/oauth2/token: {error}") from error


def get_tokens(
    domain: str,
    client_id: str,
    *,
    scopes: Sequence[str] = (),
    port: int = LOOPBACK_PORT,
    open_url: Callable[[str], object] = webbrowser.open,
    timeout_seconds: float = 300,
    log: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True),
) -> dict[str, Any]:
    """Run the authorization code + PKCE flow against ``domain``; return the token response.

    ``open_url`` is given the authorize URL once the loopback listener is up (default: the
    browser); the URL is also logged. ``port`` 0 takes any free port (then the redirect URI,
    ``http://localhost:<port>/callback``, must still be registered on the client).
    Raises :class:`TokenError` saying which step failed.
    """
    base_url = _base_url(domain)
    verifier, state = secrets.token_urlsafe(64), secrets.token_urlsafe(24)
    try:
        listener = _CallbackListener(port, state, log)
    except OSError as error:
        raise TokenError(f"cannot listen on {LISTEN_HOST}:{port} for the sign-in redirect: {error}") from error
    redirect_uri = loopback_redirect_uri(listener.server_address[1])
    url = authorize_url(base_url, client_id, redirect_uri, scopes, state, pkce_challenge(verifier))
    thread = threading.Thread(target=listener.serve_forever, name="sign-in callback", daemon=True)
    thread.start()
    try:
        log(f"Sign in at (waiting on {redirect_uri}):\n{url}")
        open_url(url)
        if not listener.done.wait(timeout_seconds):
            raise TokenError(f"no sign-in redirect reached {redirect_uri} within {timeout_seconds:g} seconds")
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join()
    if listener.result.error:
        raise TokenError(f"sign-in refused: {listener.result.error}")
    return _exchange(base_url, client_id, listener.result.code or "", redirect_uri, verifier)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m patterns.cognito_token",
        description="Sign in to a Cognito user pool's domain in your browser (authorization code + PKCE, with a "
        "redirect to this machine's loopback) and print the access token.",
    )
    parser.add_argument(
        "--domain",
        required=True,
        help="the pool domain, e.g. the SignInDomainUrl output (https://PREFIX.auth.REGION.amazoncognito.com)",
    )
    parser.add_argument("--client-id", required=True, help="the app client (e.g. the AppClientId output)")
    parser.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        default=[],
        metavar="SCOPE",
        help="a scope to ask for (repeatable; default: every scope the client allows)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=LOOPBACK_PORT,
        help=f"loopback port of the registered redirect http://localhost:PORT/callback (default: {LOOPBACK_PORT})",
    )
    parser.add_argument("--no-browser", action="store_true", help="only print the sign-in URL; open it yourself")
    parser.add_argument(
        "--timeout", type=float, default=300, metavar="SECONDS", help="how long to wait for the sign-in (default: 300)"
    )
    parser.add_argument("--id-token", action="store_true", help="print the ID token instead of the access token")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        tokens = get_tokens(
            args.domain,
            args.client_id,
            scopes=args.scopes,
            port=args.port,
            open_url=(lambda url: None) if args.no_browser else webbrowser.open,
            timeout_seconds=args.timeout,
        )
        wanted = "id_token" if args.id_token else "access_token"
        if wanted not in tokens:
            raise TokenError(f"the token response has no {wanted} (ask for the openid scope to get an ID token)")
    except TokenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(tokens[wanted])
    return 0


if __name__ == "__main__":
    sys.exit(main())
