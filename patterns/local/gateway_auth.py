"""Method authorization: Cognito user-pool tokens, SigV4 shape for AWS_IAM, Lambda authorizers."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jwt
from werkzeug.wrappers import Request

from .gateway_errors import GatewayError, missing_token, unauthorized
from .gateway_model import Invoke, LambdaAuthorizer, LocalApi, Log, MethodAuth, glob, render_value
from .gateway_proxy import proxy_event
from .gateway_routing import Call
from .model import ACCOUNT, LocalEnvironment, LocalUserPool


class Authorizers:
    """Authorizes the calls of one API: caches JWKS clients and Lambda authorizer answers."""

    def __init__(self, api: LocalApi, environment: LocalEnvironment, invoke: Invoke, log: Log) -> None:
        self.api = api
        self.environment = environment
        self.invoke = invoke
        self.log = log
        self._jwks: dict[str, jwt.PyJWKClient] = {}
        self._authorizer_cache: dict[tuple[str, tuple[str, ...]], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._warned_iam = False

    def authorize(self, auth: MethodAuth, call: Call) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The event's ``requestContext.authorizer`` and identity fields, or the refusal."""
        if auth.type == "COGNITO_USER_POOLS":
            return {"claims": _render_claims(self._verify_token(auth, call.request))}, {}
        if auth.type == "AWS_IAM":
            return None, self._check_sigv4(call.request)
        if auth.type == "CUSTOM" and auth.authorizer is not None:
            return self._run_authorizer(auth.authorizer, call), {}
        return None, {}

    def _verify_token(self, auth: MethodAuth, request: Request) -> dict[str, Any]:
        token = (request.headers.get(auth.token_header) or "").strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if not token:
            raise unauthorized(f"no token in the {auth.token_header} header")
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError as error:
            raise unauthorized(f"not a JWT: {error}") from None
        pool = next((pool for pool in auth.user_pools if self._issuer(pool) == issuer), None)
        if pool is None:
            raise unauthorized(f"token issuer {issuer!r} is not one of the authorizer's user pools")
        try:
            key = self._jwks_client(pool).get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=issuer,
                options={"require": ["exp", "iat", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token expired", "The incoming token has expired") from None
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as error:
            raise unauthorized(f"token rejected: {error}") from None
        _check_token_use(claims, auth.scopes)
        return claims

    def _issuer(self, pool: LocalUserPool) -> str:
        return f"https://cognito-idp.{self.environment.region}.amazonaws.com/{pool.pool_id}"

    def _jwks_client(self, pool: LocalUserPool) -> jwt.PyJWKClient:
        """One cached JWKS client per pool: keys are fetched once, and again only for an unknown ``kid``."""
        with self._lock:
            if pool.pool_id not in self._jwks:
                url = f"{self.environment.endpoint}/{pool.pool_id}/.well-known/jwks.json"
                self._jwks[pool.pool_id] = jwt.PyJWKClient(url, cache_keys=True, timeout=10)
            return self._jwks[pool.pool_id]

    def _check_sigv4(self, request: Request) -> dict[str, Any]:
        header = request.headers.get("Authorization")
        if not header:
            raise missing_token("AWS_IAM method called without a SigV4 Authorization header")
        parameters = dict(
            item.strip().split("=", 1) for item in header.removeprefix("AWS4-HMAC-SHA256").split(",") if "=" in item
        )
        problems = [
            f"Authorization header requires '{name}' parameter."
            for name in ("Credential", "Signature", "SignedHeaders")
            if not header.startswith("AWS4-HMAC-SHA256 ") or not parameters.get(name)
        ]
        if "X-Amz-Date" not in request.headers and "Date" not in request.headers:
            problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        if problems:
            raise GatewayError(
                403,
                {"message": " ".join(problems) + f" Authorization={header}"},
                "malformed SigV4 header",
                "INCOMPLETE_SIGNATURE",
            )
        if not self._warned_iam:
            self._warned_iam = True
            self.log(f"[{self.api.stack}] AWS_IAM methods: SigV4 signatures are not verified locally, only their shape")
        return {"accessKey": parameters["Credential"].split("/", 1)[0], "accountId": ACCOUNT}

    def _run_authorizer(self, authorizer: LambdaAuthorizer, call: Call) -> dict[str, Any]:
        identity = tuple(call.parameter(location, name) or "" for location, name in authorizer.identity_sources)
        if authorizer.kind == "TOKEN":
            if not identity or not identity[0]:
                raise unauthorized("no token for the authorizer")
            if authorizer.validation_expression and not re.fullmatch(authorizer.validation_expression, identity[0]):
                raise unauthorized("token does not match the authorizer's IdentityValidationExpression")
        elif authorizer.ttl_seconds > 0 and not all(identity):
            raise unauthorized("an identity source of the authorizer is missing")
        result = self._authorizer_result(authorizer, call, identity)
        decision = _evaluate_policy(result.get("policyDocument", {}), call.method_arn)
        if decision == "Deny":
            raise GatewayError(
                403,
                {"Message": "User is not authorized to access this resource with an explicit deny"},
                "authorizer policy denies",
                "ACCESS_DENIED",
            )
        if decision != "Allow":
            raise GatewayError(
                403,
                {"Message": "User is not authorized to access this resource"},
                f"authorizer policy does not allow {call.method_arn}",
                "ACCESS_DENIED",
            )
        context = {key: render_value(value) for key, value in (result.get("context") or {}).items()}
        return {"principalId": str(result.get("principalId", "")), **context}

    def _authorizer_result(self, authorizer: LambdaAuthorizer, call: Call, identity: tuple[str, ...]) -> dict[str, Any]:
        """The authorizer's answer, cached by identity for its TTL as API Gateway does (policy included)."""
        key = (authorizer.logical_id, identity)
        with self._lock:
            cached = self._authorizer_cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        if authorizer.kind == "TOKEN":
            event: dict[str, Any] = {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": call.method_arn}
        else:
            request = proxy_event(call, None, {}, self.api.binary_media_types)
            del request["body"], request["isBase64Encoded"]  # a REQUEST authorizer sees everything but the body
            event = {"type": "REQUEST", "methodArn": call.method_arn, **request}
        invocation = self.invoke(authorizer.function, event)
        if not invocation.ok:
            error = invocation.error or {}
            if error.get("errorMessage") == "Unauthorized":
                raise unauthorized("the authorizer answered Unauthorized")
            raise GatewayError(
                500,
                {"message": None},
                f"authorizer failed: {error.get('errorType')}: {error.get('errorMessage')}",
                "AUTHORIZER_FAILURE",
            )
        result = invocation.payload
        if (
            not isinstance(result, dict)
            or "principalId" not in result
            or not isinstance(result.get("policyDocument"), dict)
        ):
            raise GatewayError(
                500,
                {"message": None},
                "authorizer returned no principalId and policyDocument",
                "AUTHORIZER_CONFIGURATION_ERROR",
            )
        if authorizer.ttl_seconds > 0:
            with self._lock:
                self._authorizer_cache[key] = (time.monotonic() + authorizer.ttl_seconds, result)
        return result


def _check_token_use(claims: Mapping[str, Any], scopes: Sequence[str]) -> None:
    """With scopes, API Gateway wants an access token holding one of them; without, an ID token."""
    token_use = claims.get("token_use")
    if scopes:
        if token_use != "access":
            raise unauthorized(
                f"method needs one of the scopes {list(scopes)}: an access token is required, got {token_use!r}"
            )
        granted = str(claims.get("scope", "")).split()
        if not set(granted) & set(scopes):
            raise unauthorized(f"token scopes {granted} hold none of {list(scopes)}")
    elif token_use != "id":
        raise unauthorized(f"method has no AuthorizationScopes, so only ID tokens are accepted; got {token_use!r}")


def _render_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims the way API Gateway passes them: strings, dates for exp/iat, lists comma-joined."""
    rendered = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, (int, float)):
            rendered[name] = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
        else:
            rendered[name] = render_value(value)
    return rendered


def _evaluate_policy(policy: Mapping[str, Any], method_arn: str) -> str | None:
    """ "Deny" if a statement denies the method ARN, else "Allow" if one allows it, else None."""
    statements = policy.get("Statement", [])
    decisions = set()
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        if any(glob(str(action), "execute-api:Invoke", case=False) for action in actions) and any(
            glob(str(resource), method_arn) for resource in resources
        ):
            decisions.add(statement.get("Effect"))
    return "Deny" if "Deny" in decisions else "Allow" if "Allow" in decisions else None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
