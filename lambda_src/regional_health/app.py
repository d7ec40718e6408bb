"""``GET /health`` of one region: is this region's replica of the global table usable?

Route 53 health checkers call it every few seconds from several places; DNS sends users away from
the region while it answers anything but 2XX. It answers 200 ``{"status": "healthy", ...}`` when
the local replica is ``ACTIVE``, its key usable, and a read on a sentinel key (absent or not)
succeeds; else 503 ``{"status": "unhealthy", "reason": ...}``. Each unhealthy answer also counts
one ``UnhealthyResponses`` metric (this region's alarm watches it: Route 53's own health-check
metrics are published in us-east-1 only).

Environment: ``TABLE_NAME`` (required), ``PARTITION_KEY`` (required), ``PARTITION_KEY_TYPE``
(``S``, ``N`` or ``B``; default ``S``), plus Powertools' ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE``. DynamoDB actions: DescribeTable, GetItem (and the key's
``kms:Decrypt`` for the read).
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import botocore.session
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

TABLE_NAME = os.environ["TABLE_NAME"]
PARTITION_KEY = os.environ["PARTITION_KEY"]
PARTITION_KEY_TYPE = os.environ.get("PARTITION_KEY_TYPE") or "S"
REGION = os.environ.get("AWS_REGION", "")
# A key no item of the service uses: reading it exercises the data plane and the replica's key.
SENTINEL = {"S": "__health__", "N": "0", "B": b"__health__"}
if PARTITION_KEY_TYPE not in SENTINEL:
    raise RuntimeError(f"PARTITION_KEY_TYPE must be S, N or B, got {PARTITION_KEY_TYPE!r}")

logger = Logger()
metrics = Metrics()

# Route 53 wants an answer within two seconds of connecting. Each of the two calls below gets one attempt
# (``total_max_attempts`` counts the first; ``max_attempts`` would still allow a retry) of at most
# CONNECT_TIMEOUT + READ_TIMEOUT, so both together end within DEADLINE_SECONDS: a slow replica is an unhealthy one.
CONNECT_TIMEOUT, READ_TIMEOUT = 0.25, 0.35
DEADLINE_SECONDS = 2 * (CONNECT_TIMEOUT + READ_TIMEOUT)
_CLIENT_CONFIG = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, retries={"total_max_attempts": 1})
# One low-level client per execution environment, made during init; botocore's, since boto3's
# session layer adds cold-start time for nothing a low-level client uses.
_session = botocore.session.get_session()
dynamodb = _session.create_client("dynamodb", config=_CLIENT_CONFIG)


def _after_restore() -> None:
    """SnapStart: each environment restored from the snapshot gets its own client (new connections,
    credentials resolved anew) and random seed, not the copies frozen in the snapshot. The service
    models stay loaded: the new session shares the old one's loader."""
    global dynamodb
    session = botocore.session.get_session()
    session.register_component("data_loader", _session.get_component("data_loader"))
    dynamodb = session.create_client("dynamodb", config=_CLIENT_CONFIG)
    random.seed()


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":  # set by Lambda; the hooks' library is there
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda's runtime only

    register_after_restore(_after_restore)

HEALTHY_TABLE_STATES = frozenset({"ACTIVE", "UPDATING"})  # UPDATING: e.g. a replica being added elsewhere
HEALTHY_KEY_STATES = frozenset({"ENABLED", "UPDATING"})


def check_replica() -> str:
    """Empty when the local replica is usable, else why it is not."""
    try:
        table = dynamodb.describe_table(TableName=TABLE_NAME)["Table"]
        status = table.get("TableStatus", "")
        if status not in HEALTHY_TABLE_STATES:
            return f"table {status}"
        key_status = table.get("SSEDescription", {}).get("Status")
        if key_status is not None and key_status not in HEALTHY_KEY_STATES:
            return f"encryption {key_status}"
        dynamodb.get_item(
            TableName=TABLE_NAME,
            Key={PARTITION_KEY: {PARTITION_KEY_TYPE: SENTINEL[PARTITION_KEY_TYPE]}},
            ProjectionExpression="#k",
            ExpressionAttributeNames={"#k": PARTITION_KEY},
        )
    except ClientError as error:
        code: str = error.response.get("Error", {}).get("Code", "ClientError")
        return code
    except BotoCoreError as error:
        return type(error).__name__
    return ""


def answer(status_code: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body),
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    reason = check_replica()
    if reason:
        logger.warning("replica unhealthy", extra={"reason": reason, "table": TABLE_NAME})
        metrics.add_metric(name="UnhealthyResponses", unit=MetricUnit.Count, value=1)
        metrics.flush_metrics()  # only unhealthy answers count: healthy ones publish nothing
        return answer(503, {"status": "unhealthy", "region": REGION, "reason": reason})
    return answer(200, {"status": "healthy", "region": REGION})
