"""Run moto's server on 127.0.0.1 as a stand-in for AWS endpoints during tests.

The server is the one ``python -m patterns.local`` starts (``patterns.local.endpoint``), so the
tests and the local runner use the same local AWS.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from patterns.local.endpoint import FAKE_CREDENTIALS, MotoServer

FAKE_AWS_ENV = {
    **FAKE_CREDENTIALS,
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Start ``moto.server`` on a free loopback port; yield its endpoint URL; stop it."""
    server = MotoServer().start()
    try:
        yield server.endpoint
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    """Drop every resource the server holds, so each test starts from nothing."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def create_id_table(dynamodb, name: str) -> None:
    """An on-demand table on the local server keyed by the string ``id``, as the bundled handlers' tables are."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
