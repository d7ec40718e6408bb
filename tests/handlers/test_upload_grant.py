"""The upload grant handler: a presigned POST for one new key under the caller's own prefix, used against moto."""

from __future__ import annotations

import json
import urllib.request
import uuid

import boto3
import pytest
from handler_loader import load_handler
from lambda_context import LambdaContext

BUCKET = "uploads-bucket"


@pytest.fixture
def grant(aws, monkeypatch):
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("UPLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example.com")
    app = load_handler("upload_grant")

    def call(
        body, *, sub: str | None = "user-1", user_arn: str | None = None, origin: str | None = None
    ) -> tuple[int, dict, dict]:
        context: dict = {"identity": {"userArn": user_arn}}
        if sub:
            context["authorizer"] = {"claims": {"sub": sub}}
        event = {
            "body": body if isinstance(body, str) else json.dumps(body),
            "requestContext": context,
            "headers": {"origin": origin} if origin else {},
        }
        response = app.handler(event, LambdaContext())
        return response["statusCode"], json.loads(response["body"]), response["headers"]

    return call


def post(grant_body: dict, content: bytes, content_type: str) -> int:
    """POST a file with the grant's fields as multipart/form-data, the way a browser form does."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in grant_body["fields"].items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        grant_body["url"], data=b"".join(parts), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_a_cognito_user_gets_a_short_grant_for_a_new_key_under_their_own_prefix(grant):
    status, body, headers = grant({"content_type": "image/png"}, origin="https://app.example.com")
    assert status == 201
    assert body["key"].startswith("uploads/user-1/") and body["key"].endswith(".png")
    assert body["fields"]["key"] == body["key"] and body["fields"]["Content-Type"] == "image/png"
    assert (body["expires_in"], body["max_bytes"]) == (300, 1000)
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    policy = json.loads(__import__("base64").b64decode(body["fields"]["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert post(body, b"\x89PNG tiny", "image/png") == 204
    assert boto3.client("s3").head_object(Bucket=BUCKET, Key=body["key"])["ContentType"] == "image/png"
    # Every grant is for a key of its own.
    assert grant({"content_type": "image/png"})[1]["key"] != body["key"]


def test_an_iam_caller_gets_a_prefix_derived_from_its_arn(grant):
    status, body, headers = grant({"content_type": "image/jpeg"}, sub=None, user_arn="arn:aws:iam::1:user/ada")
    assert status == 201 and body["key"].startswith("uploads/iam-") and body["key"].endswith(".jpg")
    assert "Access-Control-Allow-Origin" not in headers
    assert (
        grant({"content_type": "image/jpeg"}, sub=None, user_arn="arn:aws:iam::1:user/ada")[1]["key"].split("/")[1]
        == (body["key"].split("/")[1])
    )


@pytest.mark.parametrize(
    "body, status",
    [({"content_type": "application/pdf"}, 400), ("{not json", 400), ({}, 400), ([], 400)],
    ids=["type-not-allowed", "not-json", "no-type", "not-an-object"],
)
def test_bad_requests_get_400(grant, body, status):
    assert grant(body)[0] == status


def test_no_authenticated_caller_gets_403(grant):
    assert grant({"content_type": "image/jpeg"}, sub=None)[0] == 403


def call_with_context(app, request_context: dict) -> tuple[int, dict]:
    event = {"body": json.dumps({"content_type": "image/png"}), "requestContext": request_context, "headers": {}}
    response = app.handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_a_lambda_authorizers_principal_gets_its_own_hashed_prefix(grant):
    app = load_handler("upload_grant")
    context = {"authorizer": {"principalId": "customer|42", "integrationLatency": 3}, "identity": {"userArn": None}}
    status, body = call_with_context(app, context)
    assert status == 201 and body["key"].startswith("uploads/principal-")
    assert call_with_context(app, context)[1]["key"].split("/")[1] == body["key"].split("/")[1]
    other = call_with_context(app, {**context, "authorizer": {"principalId": "customer|43"}})[1]
    assert other["key"].split("/")[1] != body["key"].split("/")[1]


def test_cognito_identity_pool_callers_sharing_one_role_get_prefixes_of_their_own(grant):
    app = load_handler("upload_grant")
    shared = "arn:aws:sts::1:assumed-role/Authenticated/CognitoIdentityCredentials"
    prefixes = {
        call_with_context(app, {"identity": {"userArn": shared, "cognitoIdentityId": f"eu-west-1:{n}"}})[1][
            "key"
        ].split("/")[1]
        for n in ("a", "b")
    }
    assert len(prefixes) == 2 and all(prefix.startswith("identity-") for prefix in prefixes)


@pytest.mark.parametrize(
    "request_context",
    [
        {"authorizer": {"claims": "sub=user-1"}, "identity": {"userArn": "arn:aws:iam::1:user/ada"}},
        {"authorizer": ["not", "a", "dict"], "identity": "not a dict"},
        "not a dict",
    ],
    ids=["claims-a-string", "authorizer-a-list", "context-a-string"],
)
def test_odd_request_contexts_are_read_safely(grant, request_context):
    status, body = call_with_context(load_handler("upload_grant"), request_context)
    if isinstance(request_context, dict) and isinstance(request_context.get("identity"), dict):
        assert status == 201 and body["key"].startswith("uploads/iam-")
    else:
        assert status == 403


@pytest.mark.parametrize(
    "region, host",
    [
        ("eu-west-1", "https://uploads-bucket.s3.eu-west-1.amazonaws.com/"),
        ("us-east-1", "https://uploads-bucket.s3.us-east-1.amazonaws.com/"),
        ("cn-north-1", "https://uploads-bucket.s3.cn-north-1.amazonaws.com.cn/"),
    ],
)
def test_grants_use_the_buckets_regional_virtual_hosted_endpoint(monkeypatch, region, host):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.setenv("UPLOAD_BUCKET", BUCKET)
    app = load_handler("upload_grant")
    status, body = call_with_context(app, {"authorizer": {"claims": {"sub": "user-1"}}})
    assert status == 201 and body["url"] == host
