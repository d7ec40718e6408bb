"""A small CRUD API for items in one DynamoDB table, behind an API Gateway REST API (proxy events).

Routes: ``POST /items``, ``GET /items``, ``GET /items/{id}``, ``PUT /items/{id}`` (replace, with
optimistic locking on ``version``) and ``DELETE /items/{id}`` (idempotent). Every request is
validated here too, as defense in depth behind the API's request models; a rejected request
never writes to the table, and errors are always JSON ``{"message": ...}``.

Behind a Cognito authorizer the caller's ``sub`` is logged (never the token), and when
``ADMIN_GROUP`` is set only members of that group (the ``cognito:groups`` claim) may delete:
others get 403.

With ``CORS_ALLOW_ORIGINS`` (comma-separated origins, as the API allows them) every answer to a
request from one of those origins carries ``Access-Control-Allow-Origin`` naming it, and every
answer carries ``Vary: Origin`` so caches keep one copy per origin.

Routing is this asset's own ``router`` module (it answers as Powertools' REST resolver did);
Powertools' event handler would import its AppSync, Bedrock and GraphQL resolvers on every cold
start. Logs, metrics and traces are Powertools' (Logger, Metrics, Tracer on botocore).

Environment: ``TABLE_NAME`` (required), ``PARTITION_KEY`` (default ``id``; the table's only key, a string),
``ADMIN_GROUP`` (optional), ``CORS_ALLOW_ORIGINS`` (optional),
plus Powertools' ``POWERTOOLS_SERVICE_NAME``, ``POWERTOOLS_METRICS_NAMESPACE``, ``POWERTOOLS_LOG_LEVEL``
and ``POWERTOOLS_TRACE_DISABLED``.
DynamoDB actions: PutItem, GetItem, Scan, UpdateItem, DeleteItem.
"""

from __future__ import annotations

import base64
import gc
import json
import os
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import botocore.session
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:  # the type checker names the module by its path; Lambda finds it beside this file
    from lambda_src.items_api.router import JSON, Response, Router
else:
    from router import JSON, Response, Router

TABLE_NAME = os.environ["TABLE_NAME"]
PARTITION_KEY = os.environ.get("PARTITION_KEY") or "id"
ADMIN_GROUP = os.environ.get("ADMIN_GROUP") or None
CORS_ALLOW_ORIGINS = [
    origin.strip() for origin in os.environ.get("CORS_ALLOW_ORIGINS", "").split(",") if origin.strip()
]

MAX_BODY_BYTES = 16 * 1024
MAX_INTEGER = 2**53 - 1  # the largest integer every JSON client can represent exactly
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,1024}")
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
THROTTLING_ERRORS = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
# Attributes of a stored item besides its key, in the order the API returns them.
ITEM_FIELDS = ("name", "description", "quantity", "version", "created_at", "updated_at")
CREATE_FIELDS = frozenset({"id", "name", "description", "quantity"})
REPLACE_FIELDS = frozenset({"name", "description", "quantity", "version"})
if PARTITION_KEY in ITEM_FIELDS:
    raise RuntimeError(f"PARTITION_KEY must not be one of the item's attributes {ITEM_FIELDS}")

logger = Logger()
# Only the AWS SDK is traced: patching every library X-Ray knows costs cold-start time for nothing.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
# An allowed Origin is answered with Access-Control-Allow-Origin naming it, others with none.
app = Router(CORS_ALLOW_ORIGINS)
# Created once per execution environment; few, quick retries so a throttled request fails fast.
# botocore's client: boto3's session layer adds cold-start time for nothing a low-level client uses.
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)
_session = botocore.session.get_session()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while the client loads its service model: tens of thousands of objects,
    all kept, nothing to collect. Otherwise their allocation sets off a full collection during init,
    which walks every module imported too (with the X-Ray SDK the Tracer imports, about a tenth of this
    function's cold start). The collector resumes (if it ran) right after."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


with _collector_paused():
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


class ApiError(Exception):
    """A request the API answers with a 4xx/5xx JSON error instead of a result."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response[dict[str, str]]:
    return Response(status_code=status, content_type=JSON, body={"message": message}, headers=headers)


# --- validation ---------------------------------------------------------------------------------


def _is_text(value: Any) -> bool:
    """A string DynamoDB can store: JSON allows lone surrogates (``"\\ud800"``), UTF-8 does not."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_integer(value: Any, minimum: int) -> bool:
    return type(value) is int and minimum <= value <= MAX_INTEGER  # bool is not an int here


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def check_path_id(item_id: str) -> str:
    if not valid_id(item_id):
        raise ApiError(400, "path parameter 'id' must be 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")
    return item_id


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or an ApiError (413 when too large, else 400)."""
    event = app.current_event
    body = event.body
    if body is None or body == "":
        raise ApiError(400, "request body is required")
    if event.is_base64_encoded:
        if len(body) > (MAX_BODY_BYTES // 3 + 1) * 4:
            raise ApiError(413, f"request body must be at most {MAX_BODY_BYTES} bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            raise ApiError(400, "request body is not valid base64") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"request body must be at most {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def validate_item(data: dict[str, Any], allowed: frozenset[str], required: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiError(400, "unknown field(s): " + ", ".join(f"'{name}'" for name in unknown))
    for name in required:
        if name not in data:
            raise ApiError(400, f"field '{name}' is required")
    if "id" in data and not valid_id(data["id"]):
        raise ApiError(400, "field 'id' must be a string of 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")
    name = data["name"]
    if not _is_text(name) or not 1 <= len(name) <= 200:
        raise ApiError(400, "field 'name' must be a string of 1 to 200 characters")
    if "description" in data and (not _is_text(data["description"]) or len(data["description"]) > 2000):
        raise ApiError(400, "field 'description' must be a string of at most 2000 characters")
    if "quantity" in data and not _is_integer(data["quantity"], 0):
        raise ApiError(400, f"field 'quantity' must be an integer from 0 to {MAX_INTEGER}")
    if "version" in data and not _is_integer(data["version"], 1):
        raise ApiError(400, f"field 'version' must be an integer from 1 to {MAX_INTEGER}")
    return data


def parse_limit(params: dict[str, str]) -> int:
    value = params.get("limit")
    if value is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", value) or not 1 <= int(value) <= MAX_LIMIT:
        raise ApiError(400, f"query parameter 'limit' must be an integer from 1 to {MAX_LIMIT}")
    return int(value)


def encode_token(last_evaluated_key: dict[str, Any]) -> str:
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    """The ExclusiveStartKey in a next_token, which must be exactly ``{<pk>: {"S": <valid id>}}``."""
    invalid = ApiError(400, "query parameter 'next_token' is not a valid token")
    if not TOKEN_PATTERN.fullmatch(token):
        raise invalid
    try:
        key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, RecursionError):
        raise invalid from None
    if not (isinstance(key, dict) and list(key) == [PARTITION_KEY] and isinstance(key[PARTITION_KEY], dict)):
        raise invalid
    value = key[PARTITION_KEY]
    if list(value) != ["S"] or not valid_id(value["S"]):
        raise invalid
    return key


# --- the caller ---------------------------------------------------------------------------------


def caller_claims(event: dict[str, Any] | None = None) -> dict[str, Any]:
    """The token claims a Cognito user-pool authorizer put in the request context ({} otherwise)."""
    event = app.current_event.raw_event if event is None else event
    context = event.get("requestContext") if isinstance(event, dict) else None
    authorizer = (context.get("authorizer") if isinstance(context, dict) else None) or {}
    claims = authorizer.get("claims") if isinstance(authorizer, dict) else None
    return claims if isinstance(claims, dict) else {}


def caller_groups(claims: dict[str, Any]) -> set[str]:
    """``cognito:groups`` as API Gateway passes it: a list, or text like ``[admins readers]`` or ``admins,readers``."""
    groups = claims.get("cognito:groups")
    if isinstance(groups, list):
        return {str(group) for group in groups}
    if isinstance(groups, str):
        return {group for group in re.split(r"[\s,]+", groups.strip("[]")) if group}
    return set()


def require_admin() -> None:
    """403 unless the caller is in ADMIN_GROUP (when one is configured)."""
    if ADMIN_GROUP is None:
        return
    claims = caller_claims()
    if not claims.get("sub"):
        raise ApiError(403, "this operation needs a signed-in user")
    if ADMIN_GROUP not in caller_groups(claims):
        raise ApiError(403, f"only members of the '{ADMIN_GROUP}' group may delete items")


# --- DynamoDB items <-> API items ---------------------------------------------------------------


def _to_attribute(value: str | int) -> dict[str, str]:
    return {"S": value} if isinstance(value, str) else {"N": str(value)}


def _from_attribute(attribute: dict[str, str]) -> Any:
    if "S" in attribute:
        return attribute["S"]
    if "N" in attribute:
        number = Decimal(attribute["N"])
        return int(number) if number == number.to_integral_value() else float(number)
    return None  # never written by this API


def to_api_item(attributes: dict[str, Any]) -> dict[str, Any]:
    item = {"id": attributes[PARTITION_KEY]["S"]}
    for name in ITEM_FIELDS:
        if name in attributes:
            item[name] = _from_attribute(attributes[name])
    return item


def key_of(item_id: str) -> dict[str, dict[str, str]]:
    return {PARTITION_KEY: {"S": item_id}}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- routes -------------------------------------------------------------------------------------


def _new_id() -> str:
    import uuid  # only this path needs it, so it is not imported at cold start

    return str(uuid.uuid4())


@app.post("/items")
def create_item() -> Response[dict[str, Any]]:
    data = validate_item(read_json_object(), CREATE_FIELDS, ("name",))
    now = now_iso()
    item = {"id": data.get("id") or _new_id(), "name": data["name"]}
    item.update({name: data[name] for name in ("description", "quantity") if name in data})
    item.update(version=1, created_at=now, updated_at=now)
    attributes = {name: _to_attribute(value) for name, value in item.items() if name != "id"}
    attributes.update(key_of(item["id"]))
    try:
        dynamodb.put_item(
            TableName=TABLE_NAME,
            Item=attributes,
            ConditionExpression="attribute_not_exists(#pk)",
            ExpressionAttributeNames={"#pk": PARTITION_KEY},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise ApiError(409, f"an item with id '{item['id']}' already exists") from None
        raise
    metrics.add_metric(name="ItemsCreated", unit=MetricUnit.Count, value=1)
    logger.info("item created", extra={"item_id": item["id"]})
    return Response(
        status_code=201,
        content_type=JSON,
        body=item,
        headers={"Location": f"/items/{item['id']}"},
    )


@app.get("/items")
def list_items() -> dict[str, Any]:
    params = app.current_event.query_string_parameters
    request: dict[str, Any] = {"TableName": TABLE_NAME, "Limit": parse_limit(params)}
    if params.get("next_token") is not None:
        request["ExclusiveStartKey"] = decode_token(params["next_token"])
    page = dynamodb.scan(**request)
    last_key = page.get("LastEvaluatedKey")
    return {
        "items": [to_api_item(attributes) for attributes in page.get("Items", [])],
        "next_token": encode_token(last_key) if last_key else None,
    }


@app.get("/items/<item_id>")
def get_item(item_id: str) -> dict[str, Any]:
    check_path_id(item_id)
    found = dynamodb.get_item(TableName=TABLE_NAME, Key=key_of(item_id), ConsistentRead=True)
    if "Item" not in found:
        raise ApiError(404, f"item '{item_id}' not found")
    return to_api_item(found["Item"])


@app.put("/items/<item_id>")
def replace_item(item_id: str) -> dict[str, Any]:
    check_path_id(item_id)
    data = validate_item(read_json_object(), REPLACE_FIELDS, ("name", "version"))
    expected = data["version"]
    names = {"#pk": PARTITION_KEY, "#name": "name", "#version": "version", "#updated_at": "updated_at"}
    values = {
        ":name": _to_attribute(data["name"]),
        ":expected": _to_attribute(expected),
        ":next": _to_attribute(expected + 1),
        ":now": _to_attribute(now_iso()),
    }
    assignments, removals = ["#name = :name", "#version = :next", "#updated_at = :now"], []
    for name in ("description", "quantity"):  # replace semantics: an omitted optional field is removed
        names[f"#{name}"] = name
        if name in data:
            assignments.append(f"#{name} = :{name}")
            values[f":{name}"] = _to_attribute(data[name])
        else:
            removals.append(f"#{name}")
    expression = "SET " + ", ".join(assignments) + (" REMOVE " + ", ".join(removals) if removals else "")
    try:
        updated = dynamodb.update_item(
            TableName=TABLE_NAME,
            Key=key_of(item_id),
            UpdateExpression=expression,
            ConditionExpression="attribute_exists(#pk) AND #version = :expected",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        current = error.response.get("Item")
        if not current:
            raise ApiError(404, f"item '{item_id}' not found") from None
        current_version = _from_attribute(current.get("version", {}))
        raise ApiError(
            409, f"version {expected} of item '{item_id}' is stale; the current version is {current_version}"
        ) from None
    metrics.add_metric(name="ItemsUpdated", unit=MetricUnit.Count, value=1)
    logger.info("item replaced", extra={"item_id": item_id, "version": expected + 1})
    return to_api_item(updated["Attributes"])


@app.delete("/items/<item_id>")
def delete_item(item_id: str) -> Response[str]:
    check_path_id(item_id)
    require_admin()
    deleted = dynamodb.delete_item(TableName=TABLE_NAME, Key=key_of(item_id), ReturnValues="ALL_OLD")
    if deleted.get("Attributes"):
        metrics.add_metric(name="ItemsDeleted", unit=MetricUnit.Count, value=1)
        logger.info("item deleted", extra={"item_id": item_id})
    return Response(status_code=204, body="")


# --- errors -------------------------------------------------------------------------------------

ALLOWED_METHODS = {"/items": ("GET", "POST"), "/items/{id}": ("GET", "PUT", "DELETE")}


@app.not_found
def route_not_found() -> Response[dict[str, str]]:
    """404 for an unknown path; 405 for a wrong method on a known one; 400 for an id no route accepts."""
    path = app.current_event.path
    method = app.current_event.method
    shape = "/items" if path == "/items" else "/items/{id}" if re.fullmatch(r"/items/[^/]+", path) else None
    if shape is None:
        return error_response(404, "no such resource")
    allowed = ALLOWED_METHODS[shape]
    if method in allowed:  # e.g. /items/<characters the route pattern cannot match>
        return error_response(400, "path parameter 'id' must be 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'")
    return error_response(405, f"method {method} is not allowed here", {"Allow": ", ".join(allowed)})


@app.exception_handler(ApiError)
def api_error(error: ApiError) -> Response[dict[str, str]]:
    logger.info("request rejected", extra={"status": error.status, "reason": error.message})
    return error_response(error.status, error.message, error.headers)


@app.exception_handler(ClientError)
def dynamodb_error(error: ClientError) -> Response[dict[str, str]]:
    code = error.response.get("Error", {}).get("Code", "")
    if code in THROTTLING_ERRORS:
        logger.warning("DynamoDB throttled the request", extra={"error_code": code})
        return error_response(503, "The service is busy; retry the request shortly", {"Retry-After": "1"})
    logger.exception("DynamoDB request failed", extra={"error_code": code})
    return error_response(500, "Internal server error")


@app.exception_handler(Exception)
def unexpected_error(_: Exception) -> Response[dict[str, str]]:
    logger.exception("unexpected error")
    return error_response(500, "Internal server error")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    subject = caller_claims(event).get("sub")
    if subject:  # who is calling, on every log line of the request; never the token
        logger.append_keys(caller=subject)
    response = app.resolve(event)
    if CORS_ALLOW_ORIGINS:  # the answer depends on the Origin header
        response.setdefault("multiValueHeaders", {})["Vary"] = ["Origin"]
    return response
