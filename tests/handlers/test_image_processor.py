"""The bundled image processor on real images it is sent by S3's own notifications (moto's server over HTTP).

Objects are put in an upload bucket whose notifications go to a queue, as ObjectPipeline wires them;
the queue's messages are handed to the handler as Lambda's SQS event. Every object ends ``processed``
or ``rejected`` (recorded with its reason), or its record fails (and would reach the DLQ).
"""

from __future__ import annotations

import io
import json

import boto3
import pytest
from handler_loader import load_handler
from lambda_context import LambdaContext
from PIL import Image
from sqs_events import receive_sqs_event

UPLOADS, RENDITIONS, TABLE = "uploads-bucket", "renditions-bucket", "objects"


def jpeg(width: int, height: int, exif: bool = False, orientation: int = 6) -> bytes:
    image = Image.new("RGB", (width, height), (180, 90, 30))
    buffer = io.BytesIO()
    options = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"  # Make
        data[0x0112] = orientation  # 6: rotate 90
        options["exif"] = data.tobytes()
    image.save(buffer, "JPEG", quality=85, **options)
    return buffer.getvalue()


def png_with_alpha(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 255, 100)).save(buffer, "PNG")
    return buffer.getvalue()


class Pipeline:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
        self.s3 = boto3.client("s3")
        self.sqs = boto3.client("sqs")
        self.dynamodb = boto3.client("dynamodb")
        for bucket in (UPLOADS, RENDITIONS):
            self.s3.create_bucket(Bucket=bucket)
        self.queue_url = self.sqs.create_queue(QueueName="buffer")["QueueUrl"]
        self.queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.s3.put_bucket_notification_configuration(
            Bucket=UPLOADS,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": self.queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                    }
                ]
            },
        )
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        defaults = {
            "OUTPUT_BUCKET": RENDITIONS,
            "TABLE_NAME": TABLE,
            "POWERTOOLS_METRICS_NAMESPACE": "Test",
            # The test context's timeout is 10 s; ObjectPipeline sets a quarter of the function's, at most 10 s.
            "STOP_BEFORE_TIMEOUT_MS": "2500",
        }
        for name, value in {**defaults, **env}.items():
            monkeypatch.setenv(name, value)
        self.app = load_handler("image_processor")

    def event(self) -> dict:
        return receive_sqs_event(self.sqs, self.queue_url, self.queue_arn)

    def run(self, event: dict) -> list[str]:
        result = self.app.handler(event, LambdaContext())
        return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]

    def upload_and_process(self, key: str, body: bytes) -> dict:
        self.s3.put_object(Bucket=UPLOADS, Key=key, Body=body)
        event = self.event()
        assert self.run(event) == []
        return self.row(key)

    def row(self, key: str) -> dict:
        (item,) = [i for i in self.dynamodb.scan(TableName=TABLE)["Items"] if i["key"]["S"] == key]
        return item

    def renditions(self) -> list[str]:
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=RENDITIONS).get("Contents", []))


@pytest.fixture
def pipeline(aws, monkeypatch) -> Pipeline:
    made = Pipeline(monkeypatch)
    # S3's test event, sent when notifications are configured, is a no-op that succeeds.
    test_event = made.event()
    assert "s3:TestEvent" in test_event["Records"][0]["body"]
    assert made.run(test_event) == []
    assert made.dynamodb.scan(TableName=TABLE)["Items"] == []
    return made


def test_the_s3_client_is_made_for_the_first_object_not_for_a_test_event(pipeline):
    assert pipeline.app.s3 is None  # S3's test event (run by the fixture) needed none
    assert pipeline.upload_and_process("uploads/u/first.jpg", jpeg(400, 300))["status"]["S"] == "processed"
    assert pipeline.app.s3 is not None


def test_a_photo_becomes_webp_and_jpeg_renditions_without_metadata_and_a_processed_row(pipeline):
    key = "uploads/user-1/holiday photo+1.jpg"  # notifications carry it URL-encoded
    row = pipeline.upload_and_process(key, jpeg(1600, 1200, exif=True))
    assert row["status"]["S"] == "processed"
    # Recorded as shown: the EXIF orientation (rotate 90) swaps the stored 1600x1200.
    assert (row["format"]["S"], row["width"]["N"], row["height"]["N"]) == ("JPEG", "1200", "1600")
    assert int(row["size"]["N"]) > 0 and row["etag"]["S"]
    assert {"download", "process", "upload", "total"} <= set(row["timings_ms"]["M"])
    outputs = [o["M"] for o in row["outputs"]["L"]]
    # The EXIF orientation (rotate 90) is applied: renditions are portrait.
    assert sorted((int(o["width"]["N"]), int(o["height"]["N"]), o["format"]["S"]) for o in outputs) == [
        (320, 427, "jpeg"),
        (320, 427, "webp"),
        (640, 853, "jpeg"),
        (640, 853, "webp"),
        (1200, 1600, "jpeg"),
        (1200, 1600, "webp"),
    ]
    assert pipeline.renditions() == sorted(o["key"]["S"] for o in outputs)
    for output in outputs:
        found = pipeline.s3.get_object(Bucket=RENDITIONS, Key=output["key"]["S"])
        assert found["CacheControl"] == "public, max-age=31536000, immutable"
        assert output["key"]["S"].startswith(f"renditions/{key}/{row['etag']['S']}/")
        image = Image.open(io.BytesIO(found["Body"].read()))
        assert found["ContentType"] == f"image/{image.format.lower()}"
        assert not image.getexif() and "icc_profile" not in image.info


def test_small_images_are_never_upscaled_and_transparency_is_kept_in_webp(pipeline):
    row = pipeline.upload_and_process("uploads/u/icon.png", png_with_alpha(500, 250))
    outputs = sorted((int(o["M"]["width"]["N"]), o["M"]["format"]["S"]) for o in row["outputs"]["L"])
    assert outputs == [(320, "jpeg"), (320, "webp"), (500, "jpeg"), (500, "webp")]
    webp = next(o["M"]["key"]["S"] for o in row["outputs"]["L"] if o["M"]["format"]["S"] == "webp")
    assert Image.open(io.BytesIO(pipeline.s3.get_object(Bucket=RENDITIONS, Key=webp)["Body"].read())).mode == "RGBA"


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"%PDF-1.7 not an image at all", "not an image"),
        (jpeg(800, 600)[:2000], "corrupt image"),
    ],
    ids=["non-image", "corrupt"],
)
def test_bad_files_are_rejected_with_their_reason_and_not_retried(pipeline, body, reason):
    row = pipeline.upload_and_process("uploads/u/bad.jpg", body)
    assert row["status"]["S"] == "rejected"
    assert reason in row["reason"]["S"]
    assert pipeline.renditions() == []


def test_a_decompression_bomb_and_an_oversized_object_are_rejected(aws, monkeypatch):
    pipeline = Pipeline(monkeypatch, MAX_PIXELS="1000000", MAX_OBJECT_BYTES="60000")
    pipeline.run(pipeline.event())
    bomb = pipeline.upload_and_process("uploads/u/bomb.png", png_with_alpha(1500, 1000))
    assert bomb["status"]["S"] == "rejected" and "decompression bomb" in bomb["reason"]["S"]
    noise = Image.effect_noise((400, 400), 90).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, "PNG")
    assert len(buffer.getvalue()) > 60000
    large = pipeline.upload_and_process("uploads/u/large.png", buffer.getvalue())
    assert large["status"]["S"] == "rejected" and "more than the 60000 allowed" in large["reason"]["S"]
    assert pipeline.renditions() == []


def test_a_redelivered_notification_writes_nothing_a_second_time(pipeline):
    pipeline.s3.put_object(Bucket=UPLOADS, Key="uploads/u/once.jpg", Body=jpeg(700, 500))
    event = pipeline.event()
    assert pipeline.run(event) == []
    first = pipeline.row("uploads/u/once.jpg")
    before = {o["Key"]: o["LastModified"] for o in pipeline.s3.list_objects_v2(Bucket=RENDITIONS)["Contents"]}
    assert pipeline.run(event) == []  # the same messages again, as SQS may deliver them
    assert pipeline.row("uploads/u/once.jpg") == first
    after = {o["Key"]: o["LastModified"] for o in pipeline.s3.list_objects_v2(Bucket=RENDITIONS)["Contents"]}
    assert after == before


def test_unexpected_errors_and_foreign_messages_fail_alone_for_a_retry(pipeline):
    pipeline.s3.put_object(Bucket=UPLOADS, Key="uploads/u/good.jpg", Body=jpeg(400, 300))
    event = pipeline.event()
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody="not a notification")
    vanished_bucket = json.loads(event["Records"][0]["body"])
    vanished_bucket["Records"][0]["s3"]["bucket"]["name"] = "no-such-bucket"
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=json.dumps(vanished_bucket))
    extra = pipeline.event()["Records"]
    failed = pipeline.run({"Records": event["Records"] + extra})
    assert sorted(failed) == sorted(record["messageId"] for record in extra)
    assert pipeline.row("uploads/u/good.jpg")["status"]["S"] == "processed"


def test_a_record_that_fails_unexpectedly_is_logged_with_its_message_id(pipeline, monkeypatch, capsys):
    # Powertools configures a service's logger once; a new service name binds one to capsys.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "images-failure-log")
    pipeline.app = load_handler("image_processor")
    pipeline.s3.put_object(Bucket=UPLOADS, Key="uploads/u/gone.jpg", Body=jpeg(40, 30))
    notification = json.loads(pipeline.event()["Records"][0]["body"])
    notification["Records"][0]["s3"]["bucket"]["name"] = "no-such-bucket"  # S3 refuses: not a rejection
    pipeline.sqs.send_message(QueueUrl=pipeline.queue_url, MessageBody=json.dumps(notification))
    records = pipeline.event()["Records"]
    assert pipeline.run({"Records": records}) == [records[0]["messageId"]]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    failures = [entry for entry in logged if entry.get("message") == "record failed; it will be delivered again"]
    assert [entry["message_id"] for entry in failures] == [records[0]["messageId"]]
    assert failures[0]["level"] == "ERROR" and "NoSuchBucket" in failures[0]["exception"]


def sizes(row: dict) -> list[tuple[int, int, str]]:
    return sorted(
        (int(o["M"]["width"]["N"]), int(o["M"]["height"]["N"]), o["M"]["format"]["S"]) for o in row["outputs"]["L"]
    )


@pytest.mark.parametrize("orientation", [6, 8])
def test_a_turned_jpeg_is_drafted_and_recorded_as_shown(pipeline, orientation):
    row = pipeline.upload_and_process("uploads/u/tall.jpg", jpeg(8000, 1000, exif=True, orientation=orientation))
    assert row["status"]["S"] == "processed"
    assert (row["width"]["N"], row["height"]["N"]) == ("1000", "8000")
    assert sizes(row) == sorted(
        (w, h, f) for w, h in ((320, 2560), (640, 5120), (1000, 8000)) for f in ("jpeg", "webp")
    )


def test_an_image_taller_than_webp_allows_is_narrowed_to_fit(pipeline):
    buffer = io.BytesIO()
    Image.new("RGB", (400, 20000), (10, 20, 30)).save(buffer, "PNG")
    row = pipeline.upload_and_process("uploads/u/scroll.png", buffer.getvalue())
    assert row["status"]["S"] == "processed", row.get("reason")
    assert sizes(row) == [(320, 16000, "jpeg"), (320, 16000, "webp"), (327, 16350, "jpeg"), (327, 16350, "webp")]


def test_what_an_encoder_refuses_is_rejected_not_retried(pipeline, monkeypatch):
    body = png_with_alpha(300, 200)

    def refuse(*args, **kwargs):
        raise OSError("encoder error -2 when writing image file")

    monkeypatch.setattr(Image.Image, "save", refuse)
    row = pipeline.upload_and_process("uploads/u/odd.png", body)
    assert row["status"]["S"] == "rejected" and "cannot be encoded as webp at 300x200" in row["reason"]["S"]


class RunningOut(LambdaContext):
    """An invocation with 20 s left at the first record and 2 s at the next."""

    def __init__(self) -> None:
        super().__init__()
        self.remaining = iter([20_000, 2_000])

    def get_remaining_time_in_millis(self) -> int:
        return next(self.remaining, 0)


def test_records_not_started_before_the_timeout_are_left_for_a_later_delivery(pipeline):
    for name in ("first", "second"):
        pipeline.s3.put_object(Bucket=UPLOADS, Key=f"uploads/u/{name}.jpg", Body=jpeg(400, 300))
    event = pipeline.event()
    assert len(event["Records"]) == 2
    failed = pipeline.app.handler(event, RunningOut())["batchItemFailures"]
    assert [f["itemIdentifier"] for f in failed] == [event["Records"][1]["messageId"]]
    assert len(pipeline.dynamodb.scan(TableName=TABLE)["Items"]) == 1
