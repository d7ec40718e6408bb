"""Request validation: required parameters and the body against the method's JSON-Schema model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft4Validator  # type: ignore[import-untyped]  # jsonschema ships no type information

from .gateway_errors import GatewayError
from .gateway_model import LocalMethod
from .gateway_routing import Call


def validate(method: LocalMethod, call: Call) -> None:
    if method.validate_parameters:
        missing = [
            name for location, name in method.required_parameters if not (call.parameter(location, name) or "").strip()
        ]
        if missing:
            raise GatewayError(
                400,
                {"message": f"Missing required request parameters: [{', '.join(missing)}]"},
                "request validator",
                "BAD_REQUEST_PARAMETERS",
            )
    if method.validate_body:
        schema = _model_for(method.models, call.request.headers.get("Content-Type"))
        if schema is not None:
            problem = _body_problem(schema, call.request.get_data(cache=True))
            if problem:
                raise GatewayError(
                    400, {"message": "Invalid request body"}, f"request validator: {problem}", "BAD_REQUEST_BODY"
                )


def _model_for(models: Mapping[str, dict[str, Any]], content_type: str | None) -> dict[str, Any] | None:
    """The model API Gateway picks: the content type's (application/json when absent), else ``$default``."""
    media_type = (content_type or "application/json").split(";", 1)[0].strip().lower()
    return models.get(media_type, models.get("$default"))


def _body_problem(schema: dict[str, Any], raw: bytes) -> str | None:
    """Why the body fails the model, or None. An empty body is checked as an empty object."""
    try:
        document = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError):
        return "body is not JSON"
    error = next(iter(sorted(Draft4Validator(schema).iter_errors(document), key=lambda e: list(e.path))), None)
    return None if error is None else f"{'/'.join(str(p) for p in error.path) or 'body'}: {error.message}"
