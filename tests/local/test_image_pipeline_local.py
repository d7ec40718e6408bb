"""ImagePipelineDemo run locally and used over HTTP as `make local STACK=ImagePipelineDemo` serves it.

A SigV4-signed ``POST /uploads`` gets a presigned POST grant; a real JPEG is posted with it to the local
S3; S3's notification reaches the buffer queue, whose poller runs the processor; the renditions are
then served by the CloudFront stand-in and the metadata row is in the table. A non-image ends
``rejected``; a poison message in the buffer ends in its dead-letter queue.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image
from polling import eventually

from patterns.local.runner import LocalRun, LocalRunOptions

STACK = "ImagePipelineDemo"


@pytest.fixture(scope="module")
def run(demo_app) -> Iterator[LocalRun]:
    options = LocalRunOptions(assembly_dir=demo_app.outdir, stacks=[STACK], port=0, retry_delay_seconds=0)
    with LocalRun(options, log=lambda line: None) as local_run:
        yield local_run


def client(run: LocalRun, service: str):
    assert run.environment is not None
    return boto3.client(
        service,
        endpoint_url=run.environment.endpoint,
        region_name=run.environment.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def http(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def upload_grant(run: LocalRun, content_type: str) -> dict:
    (api,) = run.apis
    url = f"{api.url}uploads"
    request = AWSRequest(
        method="POST",
        url=url,
        data=json.dumps({"content_type": content_type}),
        headers={"Content-Type": "application/json"},
    )
    SigV4Auth(Credentials("AKIDLOCALUSER", "secret"), "execute-api", "us-east-1").add_auth(request)
    status, _, body = http(url, "POST", request.body, dict(request.headers))
    assert status == 201, body
    return json.loads(body)


def post_file(grant: dict, content: bytes, content_type: str) -> int:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in grant["fields"].items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, _, _ = http(
        grant["url"], "POST", b"".join(parts), {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    return status


def row(run: LocalRun, key: str) -> dict | None:
    stack = run.environment.stack(STACK)
    (table,) = [f.environment["TABLE_NAME"] for f in stack.functions.values() if "TABLE_NAME" in f.environment]
    items = client(run, "dynamodb").scan(TableName=table)["Items"]
    return next((item for item in items if item["key"]["S"] == key), None)


def test_an_uploaded_photo_is_processed_recorded_and_served_by_the_cdn_stand_in(run):
    grant = upload_grant(run, "image/jpeg")
    assert grant["key"].startswith("uploads/iam-")
    photo = io.BytesIO()
    Image.new("RGB", (1800, 1200), (40, 120, 200)).save(photo, "JPEG")
    assert post_file(grant, photo.getvalue(), "image/jpeg") == 204

    recorded = eventually(lambda: row(run, grant["key"]), timeout=60)
    assert recorded["status"]["S"] == "processed"
    widths = sorted({int(o["M"]["width"]["N"]) for o in recorded["outputs"]["L"]})
    assert widths == [320, 640, 1280]
    (cdn,) = run.cdns
    webp = next(o["M"]["key"]["S"] for o in recorded["outputs"]["L"] if o["M"]["format"]["S"] == "webp")
    status, headers, body = http(cdn.url + webp)
    assert status == 200 and headers["Content-Type"] == "image/webp"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["X-Content-Type-Options"] == "nosniff" and "max-age=63072000" in headers["Strict-Transport-Security"]
    assert Image.open(io.BytesIO(body)).format == "WEBP"
    assert http(cdn.url + "renditions/nothing-here.webp")[0] == 403
    assert http(cdn.url + webp, "DELETE")[0] == 405


def test_a_non_image_is_rejected_and_a_poison_message_ends_in_the_dead_letter_queue(run):
    grant = upload_grant(run, "image/png")
    assert post_file(grant, b"this is not a picture", "image/png") == 204
    rejected = eventually(lambda: row(run, grant["key"]), timeout=60)
    assert rejected["status"]["S"] == "rejected" and rejected["reason"]["S"] == "not an image"

    sqs = client(run, "sqs")
    urls = sqs.list_queues()["QueueUrls"]
    buffer = next(url for url in urls if "BufferQueue" in url)
    dead_letters = next(url for url in urls if "BufferDeadLetterQueue" in url)
    sqs.send_message(QueueUrl=buffer, MessageBody="poison: not an S3 notification")

    def dead() -> list[str]:
        messages = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [m["Body"] for m in messages.get("Messages", [])]

    assert eventually(dead, timeout=60) == ["poison: not an S3 notification"]
