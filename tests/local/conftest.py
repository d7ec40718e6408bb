"""Fixtures of the local gateway tests: a Cognito pool on moto's server and the hand-built API served on 127.0.0.1.

A test module that defines a fixture of the same name (``pool``, for instance) uses its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from gateway_stack import REGION, FakeInvoke, local_environment

from patterns.local.gateway import ApiServer, build_apis
from patterns.local.model import LocalUserPool


@pytest.fixture
def pool(aws: str) -> LocalUserPool:
    cognito = boto3.client("cognito-idp", endpoint_url=aws, region_name=REGION)
    created = cognito.create_user_pool(PoolName="demo")["UserPool"]
    client = cognito.create_user_pool_client(UserPoolId=created["Id"], ClientName="app")["UserPoolClient"]
    return LocalUserPool(
        "Demo",
        "Pool",
        created["Id"],
        created["Arn"],
        {"App": client["ClientId"]},
        ["admins", "readers"],
        ["items/read", "items/write"],
    )


@pytest.fixture
def invoke() -> FakeInvoke:
    return FakeInvoke()


@pytest.fixture
def lines() -> list[str]:
    return []


@pytest.fixture
def server(aws: str, pool: LocalUserPool, invoke: FakeInvoke, lines: list[str]) -> Iterator[ApiServer]:
    environment = local_environment(aws, pool)
    (api,) = build_apis(environment)
    running = ApiServer(api, environment, invoke, log=lines.append).start()
    try:
        yield running
    finally:
        running.stop()
