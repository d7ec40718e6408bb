"""IAM grants to call a REST API: ``execute-api:Invoke`` on exactly the methods and paths asked for."""

from __future__ import annotations

import re

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from .nag import acknowledge

_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


def grant_execute_api(
    api: apigw.RestApi,
    stage_name: str,
    grantee: iam.IGrantable,
    *,
    method: str | None = None,
    path: str | None = None,
) -> iam.Grant:
    """Grant ``execute-api:Invoke`` on ``method`` ``path`` of ``api``'s ``stage_name`` stage.

    ``method`` None means every method; ``path`` None every path, else one of the API's resource
    paths, whose ``{param}`` segments become ``*`` (one value of the parameter). A wildcard in the
    ARN is acknowledged (AwsSolutions-IAM5) on the grantee's principal (e.g. its role) for that ARN only.
    """
    verb = _invoke_method(method)
    resource = _invoke_path(api, path)
    arn = api.arn_for_execute_api(verb, resource, stage_name)
    grant = iam.Grant.add_to_principal(grantee=grantee, actions=["execute-api:Invoke"], resource_arns=[arn])
    # The finding is on the policy of the principal (e.g. a function's role), wherever that sits.
    holder = grantee.grant_principal if isinstance(grantee.grant_principal, Construct) else grantee
    if "*" in f"{verb}{resource}" and isinstance(holder, Construct):
        acknowledge(
            holder,
            "AwsSolutions-IAM5",
            f"Invoke on {verb} {resource} of {api.node.path}'s {stage_name} stage only: the wildcard stands for "
            "every method, or for the values of a path parameter, of that one API and stage.",
            findings=[f"Resource::{arn}"],
        )
    return grant


def _invoke_method(method: str | None) -> str:
    if method is None:
        return "*"
    verb = method.upper()
    if verb not in _METHODS:
        raise ValueError(f"grant_invoke: method must be an HTTP method like 'GET' (or None for all), got {method!r}")
    return verb


def _invoke_path(api: apigw.RestApi, path: str | None) -> str:
    if path is None:
        return "/*"
    known = {resource.path for resource in _resources(api.root)}
    if path not in known:
        raise ValueError(f"grant_invoke: path must be one of the API's resource paths {sorted(known)}, got {path!r}")
    return re.sub(r"\{[^/}]+\}", "*", path)


def _resources(resource: apigw.IResource) -> list[apigw.IResource]:
    found = [resource]
    for child in resource.node.children:
        if isinstance(child, apigw.Resource):
            found += _resources(child)
    return found
