"""CORS for a REST API end to end: preflight, the function's answers, and API Gateway's own errors."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw

#: The environment variable that tells a handler the allowed origins (comma-separated).
CORS_ALLOW_ORIGINS_ENV = "CORS_ALLOW_ORIGINS"
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "X-Amz-Date", "X-Amz-Security-Token")
# What a browser sends as Origin: scheme, host and optional port, in lowercase (the URL standard
# lowercases both); no path, no trailing slash.
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
# API Gateway's own answers (authorizer refusals, request validation, throttling, integration
# failures) fall back on these two types unless a narrower type is customized.
_ERROR_RESPONSE_TYPES = {"Default4XX": apigw.ResponseType.DEFAULT_4_XX, "Default5XX": apigw.ResponseType.DEFAULT_5_XX}


def check_origins(origins: Sequence[str]) -> None:
    """ValueError unless ``origins`` lists origins exactly as browsers send them, or is ``["*"]``.

    The handler and the preflight compare the ``Origin`` header with each origin as text, so an
    origin with an uppercase letter would never match; and ``*`` means every origin, so it stands alone.
    """
    if isinstance(origins, str) or not origins:
        raise ValueError("cors_allow_origins must list at least one origin (or be None for no CORS)")
    if "*" in origins and len(origins) > 1:
        raise ValueError(
            f"cors_allow_origins {list(origins)} mixes '*' (every origin) with other entries: "
            "pass ['*'] alone, or the origins alone"
        )
    uppercase = [origin for origin in origins if origin != origin.lower()]
    if uppercase:
        raise ValueError(
            f"cors_allow_origins {uppercase} hold uppercase letters, but browsers send the Origin header in "
            f"lowercase and it is matched exactly: pass {[origin.lower() for origin in uppercase]}"
        )
    wrong = [origin for origin in origins if origin != "*" and not _ORIGIN.match(origin)]
    if wrong:
        raise ValueError(
            "cors_allow_origins must be origins as browsers send them (https://host[:port], no path or "
            f"trailing slash) or '*', got {wrong}"
        )


def preflight_options(origins: Sequence[str], methods: Sequence[str]) -> apigw.CorsOptions:
    """The ``OPTIONS`` mock answering browsers' preflight requests for ``origins``."""
    return apigw.CorsOptions(
        allow_origins=list(origins),
        allow_methods=[*methods, "OPTIONS"],
        allow_headers=list(CORS_ALLOW_HEADERS),
        max_age=Duration.hours(1),
    )


def add_error_responses(api: apigw.RestApi, origins: Sequence[str]) -> list[apigw.GatewayResponse]:
    """4XX/5XX gateway responses carrying ``Access-Control-Allow-Origin``, so a browser can read them.

    A gateway response's headers are static: it names one origin, the first of ``origins``. A
    browser on another allowed origin still gets the function's own answers, which name its origin.
    """
    headers = {
        "Access-Control-Allow-Origin": f"'{origins[0]}'",
        "Access-Control-Allow-Headers": f"'{','.join(CORS_ALLOW_HEADERS)}'",
        "Vary": "'Origin'",
    }
    return [
        api.add_gateway_response(id, type=response_type, response_headers=headers)
        for id, response_type in _ERROR_RESPONSE_TYPES.items()
    ]
