"""Routing a request to a stage, a resource and a method, as API Gateway matches them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request

from .gateway_errors import forbidden, missing_token
from .gateway_model import LocalApi, LocalMethod, LocalResource, UnservedMethod
from .model import ACCOUNT


@dataclass
class Call:
    """One request as API Gateway sees it once the route is matched."""

    request: Request
    api: LocalApi
    resource: LocalResource
    method: LocalMethod | UnservedMethod
    path: str  # without the stage: "/items/1"
    path_parameters: dict[str, str]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)
    function_request_id: str | None = None
    function: str | None = None

    @property
    def method_arn(self) -> str:
        api, resource = self.api, f"{self.request.method}/{self.path.lstrip('/')}"
        return f"arn:aws:execute-api:{api.region}:{ACCOUNT}:{api.api_id}/{api.stage}/{resource}"

    def parameter(self, location: str, name: str) -> str | None:
        if location == "header":
            return self.request.headers.get(name)
        if location == "querystring":
            return self.request.args.get(name)
        return self.path_parameters.get(name)


def route(api: LocalApi, request: Request) -> Call:
    """The call a request makes, or the 403 API Gateway answers for an unknown stage, path or method."""
    raw_path = urlsplit(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or request.path).path
    segments = [unquote(segment) for segment in raw_path.split("/") if segment]
    if not segments or segments[0] != api.stage:
        raise forbidden(f"no stage {segments[0] if segments else '(none)'!r}; this API serves /{api.stage}/")
    matched = match(api.root, segments[1:], {})
    if matched is None:
        raise missing_token("no resource matches the path")
    resource, parameters = matched
    method = resource.methods.get(request.method) or resource.methods.get("ANY")
    if method is None:
        raise missing_token(f"{resource.path} has no {request.method} method")
    path = "/" + "/".join(segments[1:])
    return Call(request, api, resource, method, path, parameters)


def match(
    resource: LocalResource, segments: Sequence[str], parameters: dict[str, str]
) -> tuple[LocalResource, dict[str, str]] | None:
    """The most specific resource for the path: literals first, then ``{param}``, then ``{proxy+}``."""
    if not segments:
        return resource, parameters
    head, rest = segments[0], segments[1:]
    for child in resource.children:
        name = child.parameter
        if child.greedy:
            return child, {**parameters, str(name): "/".join(segments)}
        if name is None and child.part != head:
            continue
        found = match(child, rest, parameters if name is None else {**parameters, name: head})
        if found is not None:
            return found
    return None
