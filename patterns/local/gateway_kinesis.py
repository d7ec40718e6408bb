"""The API Gateway -> Kinesis ``PutRecords`` integration, served locally.

The request template ``patterns.stream_processor.put_records_template`` renders is read for its
three parts - the stream name, the body's list of events (``#foreach($event in
$input.path('$.LIST'))``) and the field each record is keyed by (``$event.get('FIELD')``) - and the
records are put on the local endpoint's stream: each event's JSON as the data (what
``$input.json`` renders), the field as the partition key. Kinesis' answer (or its error) is
returned with its HTTP status for the integration responses to map.

The key is read as ``$util.escapeJavaScript(...)`` renders it: followed by
``.replaceAll("\\'","'")`` it is the value itself; without, a key with an apostrophe renders as
``\'``, which is not JSON, and the call is refused as API Gateway's would be.

``render`` applies the library's integration response templates (``SUCCESS_RESPONSE_TEMPLATE``,
``REFUSED_RESPONSE_TEMPLATE`` of ``patterns.stream_processor.ingestion``): the status override on
``FailedRecordCount`` > 0 and the error type's. moto never refuses a single record nor throttles,
so locally a partial failure (207) or a throughput error (503) is only reached through ``render``
itself; a record over 1 MB is refused (400) as on AWS.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from .endpoint import local_client
from .gateway_errors import internal
from .gateway_model import ServiceIntegration
from .gateway_routing import Call
from .model import LocalEnvironment

_STREAM = re.compile(r'"StreamName"\s*:\s*"(?P<name>[^"$]+)"')
_EVENTS = re.compile(r"#foreach\(\$(?P<var>\w+) in \$input\.path\('\$\.(?P<path>\w+)'\)\)")
_KEY = re.compile(
    r"\$util\.escapeJavaScript\(\$(?P<var>\w+)\.get\('(?P<field>[^']+)'\)\)"
    r"(?P<unescaped>\.replaceAll\(\"\\\\'\",\"'\"\))?"
)
_OVERRIDE = r"#set\(\$context\.responseOverride\.status = (?P<status>\d{3})\)#end"
_ON_FAILED_RECORDS = re.compile(
    r"#if\(\$input\.path\('\$\.FailedRecordCount'\) > 0\)" + _OVERRIDE + r"\$input\.json\('\$'\)"
)
_ON_ERROR_TYPE = re.compile(
    r"#set\(\$type = \"\$!input\.path\('\$\.__type'\)\"\)#if\(\$type\.matches\('(?P<pattern>[^']*)'\)\)"
    + _OVERRIDE
    + r"(?P<body>.*)",
    re.DOTALL,
)


def put_records(integration: ServiceIntegration, call: Call, environment: LocalEnvironment) -> tuple[int, str]:
    """Put the request's events on the stream; returns Kinesis' HTTP status and JSON body."""
    template = integration.request_templates.get("application/json", "")
    stream, events, key = _STREAM.search(template), _EVENTS.search(template), _KEY.search(template)
    if stream is None or events is None or key is None or key["var"] != events["var"]:
        raise internal("the PutRecords request template is not one the local run reads (see gateway_kinesis)")
    try:
        body = json.loads(call.request.get_data(as_text=True) or "null")
    except ValueError:
        body = None
    items = body.get(events["path"]) if isinstance(body, dict) else None
    if not isinstance(items, list):
        return 400, json.dumps({"__type": "SerializationException", "message": "no records"})
    records = [_record(item, key["field"]) for item in items]
    if not key["unescaped"] and any("'" in record["PartitionKey"] for record in records):
        return 400, json.dumps({"__type": "SerializationException", "message": "\\' in the request is not JSON"})
    kinesis = local_client("kinesis", environment.endpoint, environment.region)
    try:
        answer = kinesis.put_records(StreamName=stream["name"], Records=records)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
        return status, json.dumps({"__type": error.response["Error"].get("Code"), "message": str(error)})
    answer.pop("ResponseMetadata", None)
    return 200, json.dumps(answer)


def _record(event: Any, field: str) -> dict[str, Any]:
    key = event.get(field) if isinstance(event, dict) else None
    return {
        "Data": json.dumps(event, separators=(",", ":")).encode(),
        # VTL renders a missing value as an empty string, which Kinesis refuses: so does moto.
        "PartitionKey": "" if key is None else str(key),
    }


def render(template: str, status: int, body: str) -> tuple[int, str]:
    """The integration response ``template`` applied to Kinesis' ``body``: the HTTP status and body.

    Only the library's two templates are evaluated; any other is returned as a static body.
    """
    found = _ON_FAILED_RECORDS.fullmatch(template)
    if found:
        failed = json.loads(body).get("FailedRecordCount") or 0
        return (int(found["status"]) if failed > 0 else status), body
    found = _ON_ERROR_TYPE.fullmatch(template)
    if found:
        error_type = str(json.loads(body).get("__type") or "")
        if re.fullmatch(found["pattern"], error_type):
            status = int(found["status"])
        return status, found["body"].replace("$util.escapeJavaScript($type)", json.dumps(error_type)[1:-1])
    return status, template
