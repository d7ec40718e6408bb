"""ObjectPipeline: private buckets, notifications into the buffer, the processor and its exact grants,
the CDN, the upload endpoint, alarms, escape hatches, bad props and the Pillow cache's synth-time error."""

from __future__ import annotations

import pytest
from aws_cdk import App, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from patterns import ObjectPipeline, SecureFunction
from patterns.blocks import DEFAULT_RUNTIME
from patterns.object_pipeline import DEFAULT_PROCESSOR_MEMORY, PROCESSOR_READ_ACTIONS, PROCESSOR_TABLE_ACTIONS
from patterns.pillow_cache import CACHE_ENV, FETCH_COMMAND, PYTHON_VERSION, PillowLayerMissing

INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


def new_stack() -> Stack:
    return Stack(App(), "Test")


@pytest.fixture(scope="module")
def default() -> tuple[ObjectPipeline, Template]:
    stack = new_stack()
    pipeline = ObjectPipeline(stack, "Images")
    return pipeline, Template.from_stack(stack)


@pytest.fixture(scope="module")
def own_resources() -> tuple[ObjectPipeline, Template]:
    """Existing buckets, a processor alias, no upload endpoint, a custom domain, geo restriction and a web ACL."""
    stack = new_stack()
    uploads = s3.Bucket.from_bucket_name(stack, "Uploads", "my-uploads")
    outputs = s3.Bucket(stack, "Outputs", enforce_ssl=True)
    processor = SecureFunction(stack, "Mine", code=INLINE, timeout=Duration.seconds(20))
    alias = lambda_.Alias(stack, "Live", alias_name="live", version=processor.function.current_version)
    pipeline = ObjectPipeline(
        stack,
        "Docs",
        upload_bucket=uploads,
        output_bucket=outputs,
        processor=alias,
        serve_uploads=False,
        domain_names=["cdn.example.com"],
        certificate=acm.Certificate.from_certificate_arn(
            stack, "Cert", "arn:aws:acm:us-east-1:123456789012:certificate/abc"
        ),
        geo_restriction=cloudfront.GeoRestriction.allowlist("DE", "FR"),
        web_acl_id="arn:aws:wafv2:us-east-1:123456789012:global/webacl/cdn/1",
    )
    return pipeline, Template.from_stack(stack)


def statements(template: Template, role_prefix: str) -> list[dict]:
    found = []
    for logical_id, policy in template.find_resources("AWS::IAM::Policy").items():
        if logical_id.startswith(role_prefix):
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_contract_attributes_are_the_resources_made(default):
    pipeline, _ = default
    assert pipeline.function is pipeline.secure_function.function
    assert pipeline.queue is pipeline.buffer.queue and pipeline.dead_letter_queue is pipeline.buffer.dead_letter_queue
    assert pipeline.table is pipeline.secure_table.table
    assert pipeline.upload_api is pipeline.upload_endpoint.api
    assert pipeline.distribution is pipeline.delivery.distribution
    assert {pipeline.upload_bucket, pipeline.output_bucket} <= {
        child for child in pipeline.node.children if isinstance(child, s3.Bucket)
    }


def test_buckets_are_private_ssl_only_encrypted_versioned_and_logged(default):
    _, template = default
    for prefix in ("ImagesUploads", "ImagesRenditions"):
        (bucket,) = [v for k, v in template.find_resources("AWS::S3::Bucket").items() if k.startswith(prefix)]
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert props["LoggingConfiguration"]["DestinationBucketName"]["Ref"].startswith("ImagesLogs")
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_originals_expire_and_incomplete_uploads_are_aborted(default):
    _, template = default
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    Match.object_like(
                        {
                            "Prefix": "uploads/",
                            "ExpirationInDays": 30,
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        }
                    )
                ]
            }
        },
    )


def test_new_uploads_under_the_prefix_notify_the_encrypted_buffer_queue(default):
    _, template = default
    template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
                        "QueueArn": {"Fn::GetAtt": [Match.string_like_regexp("ImagesBufferQueue"), "Arn"]},
                    }
                ]
            }
        },
    )
    template.has_resource_properties(
        "AWS::SQS::Queue",
        {
            "SqsManagedSseEnabled": True,
            "VisibilityTimeout": 360,
            "RedrivePolicy": {"maxReceiveCount": 5, "deadLetterTargetArn": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"BatchSize": 5, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    )


def test_processor_is_arm64_on_the_layers_python_with_the_benchmarked_memory(default):
    _, template = default
    assert DEFAULT_RUNTIME.name == f"python{PYTHON_VERSION}"
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "app.handler",
            "MemorySize": DEFAULT_PROCESSOR_MEMORY,
            "Timeout": 60,
            "Architectures": ["arm64"],
            "Layers": Match.array_with([{"Ref": Match.string_like_regexp("ImagesPillowLayer")}]),
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "WIDTHS": "320,640,1280",
                        "FORMATS": "webp,jpeg",
                        "OUTPUT_PREFIX": "renditions/",
                        "MAX_PIXELS": "50000000",
                        "STOP_BEFORE_TIMEOUT_MS": "10000",
                    }
                )
            },
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        {"CompatibleArchitectures": ["arm64"], "CompatibleRuntimes": [DEFAULT_RUNTIME.name]},
    )


def test_processor_may_read_uploads_write_renditions_and_the_table_only(default):
    _, template = default
    granted = {
        (action, str(statement["Resource"]))
        for statement in statements(template, "ImagesProcessorRole")
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    actions = {action for action, _ in granted}
    assert actions == {
        *PROCESSOR_READ_ACTIONS,
        "s3:PutObject",
        *PROCESSOR_TABLE_ACTIONS,
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    assert any(a == "s3:GetObject" and "ImagesUploads" in r and "/uploads/*" in r for a, r in granted)
    assert any(a == "s3:PutObject" and "ImagesRenditions" in r and "/renditions/*" in r for a, r in granted)


def test_the_grant_function_may_only_put_objects_under_the_upload_prefix(default):
    _, template = default
    (grant,) = [s for s in statements(template, "ImagesUploadGrantsGrantFunctionRole") if s["Action"] == "s3:PutObject"]
    assert "/uploads/*" in str(grant["Resource"]) and "ImagesUploads" in str(grant["Resource"])
    assert not [s for s in statements(template, "ImagesUploadGrantsGrantFunctionRole") if "s3:GetObject" in s["Action"]]


def test_post_uploads_is_iam_authorized_and_validates_its_body(default):
    _, template = default
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "RequestValidatorId": Match.any_value(),
            "RequestModels": {"application/json": Match.any_value()},
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Model",
        {
            "Schema": Match.object_like(
                {
                    "required": ["content_type"],
                    "additionalProperties": False,
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::Stage", {"TracingEnabled": True, "AccessLogSetting": Match.any_value()}
    )


def test_cdn_reads_the_private_bucket_through_oac_over_https_only_with_logs(default):
    _, template = default
    template.resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "DefaultCacheBehavior": Match.object_like(
                        {"ViewerProtocolPolicy": "https-only", "AllowedMethods": ["GET", "HEAD"]}
                    ),
                    "Logging": {"Bucket": Match.any_value(), "Prefix": "cloudfront/"},
                    "Origins": [
                        Match.object_like(
                            {"OriginAccessControlId": Match.any_value(), "S3OriginConfig": {"OriginAccessIdentity": ""}}
                        )
                    ],
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::CloudFront::CachePolicy",
        {
            "CachePolicyConfig": Match.object_like(
                {
                    "DefaultTTL": 31536000,
                    "MaxTTL": 31536000,
                }
            )
        },
    )
    template.has_resource_properties(
        "AWS::CloudFront::ResponseHeadersPolicy",
        {
            "ResponseHeadersPolicyConfig": {
                "Comment": Match.any_value(),
                "Name": Match.any_value(),
                "SecurityHeadersConfig": Match.object_like(
                    {
                        "StrictTransportSecurity": Match.object_like({"AccessControlMaxAgeSec": 63072000}),
                        "FrameOptions": {"FrameOption": "DENY", "Override": True},
                    }
                ),
            }
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {"Principal": {"Service": "cloudfront.amazonaws.com"}, "Action": "s3:GetObject"}
                        )
                    ]
                )
            }
        },
    )


def test_alarms_cover_the_dlq_the_buffer_age_the_processor_and_the_rejected_rate(default):
    pipeline, template = default
    assert pipeline.rejected_rate_alarm is not None
    for alarm in (
        pipeline.dead_letter_alarm,
        pipeline.message_age_alarm,
        pipeline.errors_alarm,
        pipeline.throttles_alarm,
        pipeline.rejected_rate_alarm,
    ):
        assert alarm in pipeline.alarms
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Threshold": 0.25,
            "Metrics": Match.array_with(
                [
                    Match.object_like(
                        {
                            # Rejections with no processed datapoint count as a share of 1, not as missing data.
                            "Expression": "IF((FILL(rejected, 0) + FILL(processed, 0)) >= 3, "
                            "FILL(rejected, 0) / (FILL(rejected, 0) + FILL(processed, 0)), 0)"
                        }
                    )
                ]
            ),
        },
    )


def test_own_resources_are_used_and_nothing_is_made_for_them(own_resources):
    pipeline, template = own_resources
    assert pipeline.upload_api is None and pipeline.upload_endpoint is None
    assert pipeline.secure_function is None and pipeline.pillow_layer is None and pipeline.rejected_rate_alarm is None
    assert isinstance(pipeline.function, lambda_.Alias)
    template.resource_count_is("AWS::ApiGateway::RestApi", 0)
    template.resource_count_is("AWS::Lambda::LayerVersion", 0)
    template.has_resource_properties("Custom::S3BucketNotifications", {"BucketName": "my-uploads"})
    # The queue waits six times the processor's own timeout.
    template.has_resource_properties("AWS::SQS::Queue", {"VisibilityTimeout": 120})
    template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "Aliases": ["cdn.example.com"],
                    "ViewerCertificate": {
                        "AcmCertificateArn": Match.any_value(),
                        "MinimumProtocolVersion": "TLSv1.2_2021",
                        "SslSupportMethod": "sni-only",
                    },
                    "Restrictions": {"GeoRestriction": {"Locations": ["DE", "FR"], "RestrictionType": "whitelist"}},
                    "WebACLId": Match.any_value(),
                }
            )
        },
    )


def test_an_existing_api_and_a_cognito_authorizer_serve_the_grants():
    stack = new_stack()
    api = apigw.RestApi(stack, "Api")
    api.root.add_method("GET")
    pool = __import__("aws_cdk.aws_cognito", fromlist=["UserPool"]).UserPool(stack, "Pool")
    authorizer = apigw.CognitoUserPoolsAuthorizer(stack, "Auth", cognito_user_pools=[pool])
    pipeline = ObjectPipeline(stack, "Images", api=api, authorizer=authorizer, scopes=["images/upload"])
    assert pipeline.upload_api is api
    Template.from_stack(stack).has_resource_properties(
        "AWS::ApiGateway::Method",
        {"HttpMethod": "POST", "AuthorizationType": "COGNITO_USER_POOLS", "AuthorizationScopes": ["images/upload"]},
    )
    with pytest.raises(ValueError, match="IAM authorization"):
        pipeline.upload_endpoint.grant_invoke(pipeline.function)


def test_a_missing_pillow_cache_is_a_clear_error_naming_the_command(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    with pytest.raises(PillowLayerMissing, match=FETCH_COMMAND.replace(".", r"\.")):
        ObjectPipeline(new_stack(), "Images")
    # Your own code or layer needs no cache.
    ObjectPipeline(new_stack(), "Mine", processor_code=INLINE)
    stack = new_stack()
    ObjectPipeline(
        stack,
        "Layered",
        pillow_layer=lambda_.LayerVersion.from_layer_version_arn(
            stack, "Pillow", "arn:aws:lambda:us-east-1:123456789012:layer:pillow:1"
        ),
    )


@pytest.mark.parametrize(
    "props, message",
    [
        ({"processor": "FN", "memory_size": 512}, "processor= was given, so memory_size"),
        ({"processor_handler": "x.y"}, "processor_handler= needs processor_code="),
        ({"processor_code": INLINE, "pillow_layer": "LAYER"}, "pillow_layer= is for the bundled processor"),
        ({"upload_prefix": "uploads"}, "upload_prefix must be a key prefix ending in '/'"),
        ({"output_prefix": "/out/"}, "output_prefix must be a key prefix"),
        ({"widths": ()}, "widths must be one or more"),
        ({"widths": (320, 0)}, "widths must be one or more"),
        ({"formats": ("gif",)}, "formats must be one or more of webp, jpeg"),
        ({"max_pixels": 0}, "max_pixels must be positive"),
        ({"allowed_content_types": ("jpeg",)}, "allowed_content_types must be MIME types"),
        ({"max_upload_bytes": 0}, "max_upload_bytes must be between"),
        ({"grant_expiry": Duration.hours(2)}, "grant_expiry must be between"),
        ({"expire_uploads_after": Duration.hours(2)}, "expire_uploads_after must be a whole number of days"),
        ({"rejected_rate_threshold": 0}, "rejected_rate_threshold"),
        ({"rejected_rate_min_objects": 0}, "rejected_rate_min_objects must be at least 1"),
        ({"cors_allow_origins": ["example.com"]}, "cors_allow_origins"),
        ({"serve_uploads": False, "scopes": ["a/b"]}, "serve_uploads=False, so scopes"),
        ({"scopes": ["a/b"]}, "scopes need a Cognito user-pool authorizer"),
        ({"domain_names": ["cdn.example.com"]}, "domain_names and certificate go together"),
        ({"manage_account_logging_role": False}, "manage_account_logging_role=False"),
        ({"upload_bucket": "SAME", "output_bucket": "SAME"}, "upload_bucket and output_bucket must differ"),
        ({"delivery": False, "geo_restriction": "GEO"}, "delivery=False, so geo_restriction"),
    ],
)
def test_bad_props_raise(props, message):
    stack = new_stack()
    replacements = {
        "FN": lambda: SecureFunction(stack, "Fn", code=INLINE).function,
        "GEO": lambda: cloudfront.GeoRestriction.denylist("XX"),
        "LAYER": lambda: lambda_.LayerVersion.from_layer_version_arn(
            stack, "L", "arn:aws:lambda:us-east-1:1:layer:x:1"
        ),
    }
    same = s3.Bucket(stack, "Same")
    resolved = {
        k: (same if v == "SAME" else replacements[v]() if isinstance(v, str) and v in replacements else v)
        for k, v in props.items()
    }
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("=", "=")):
        ObjectPipeline(stack, "Images", **resolved)


@pytest.mark.parametrize("region", ["cn-north-1", "us-gov-west-1"])
def test_regions_without_cloudfront_oac_need_delivery_off(region):
    stack = Stack(App(), "Test", env={"region": region, "account": "123456789012"})
    with pytest.raises(ValueError, match=f"not available in {region}.*delivery=False"):
        ObjectPipeline(stack, "Images")
    pipeline = ObjectPipeline(stack, "Served", delivery=False)
    assert pipeline.distribution is None and pipeline.delivery is None
    Template.from_stack(stack).resource_count_is("AWS::CloudFront::Distribution", 0)


def metrics_dimension(template: Template) -> tuple[str, str]:
    """The processor's POWERTOOLS_SERVICE_NAME and the rejected-rate alarm's ``service`` dimension."""
    (function,) = [
        f
        for f in template.find_resources("AWS::Lambda::Function").values()
        if "WIDTHS" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    (alarm,) = [a for a in template.find_resources("AWS::CloudWatch::Alarm").values() if "FILL(rejected" in str(a)]
    (dimension,) = {
        str(d["Value"])
        for m in alarm["Properties"]["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
    }
    return str(function["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]), dimension


def test_names_unique_per_account_hold_the_region_and_metrics_are_unique_per_pipeline(default):
    app = App()
    stacks = {
        region: Stack(app, region, stack_name="West", env={"account": "123456789012", "region": region})
        for region in ("eu-west-1", "us-west-2")
    }
    for stack in stacks.values():
        ObjectPipeline(stack, "Images", serve_uploads=False)
    names = {}
    for region, stack in stacks.items():
        template = Template.from_stack(stack)
        (policy,) = template.find_resources("AWS::CloudFront::ResponseHeadersPolicy").values()
        (oac,) = template.find_resources("AWS::CloudFront::OriginAccessControl").values()
        names[region] = (
            policy["Properties"]["ResponseHeadersPolicyConfig"]["Name"],
            oac["Properties"]["OriginAccessControlConfig"]["Name"],
        )
        assert names[region][0].endswith(f"-{region}") and len(names[region][0]) <= 128
        assert names[region][1].endswith(f"-{region}") and len(names[region][1]) <= 64
        assert metrics_dimension(template) == ("West/Images", "West/Images")
    # One stack in two Regions asks for different names ...
    assert names["eu-west-1"] != names["us-west-2"]
    # ... and two stacks with the same construct id emit their outcome metrics apart.
    assert metrics_dimension(default[1]) == ("Test/Images", "Test/Images")
    # Unbound to a Region, the names take it at deploy time.
    (oac,) = default[1].find_resources("AWS::CloudFront::OriginAccessControl").values()
    assert {"Ref": "AWS::Region"} in oac["Properties"]["OriginAccessControlConfig"]["Name"]["Fn::Join"][1]


def test_existing_kms_encrypted_buckets_keys_are_granted_to_the_functions_that_use_them():
    stack = new_stack()
    upload_key = kms.Key.from_key_arn(stack, "UploadKey", "arn:aws:kms:us-east-1:123456789012:key/up")
    output_key = kms.Key.from_key_arn(stack, "OutputKey", "arn:aws:kms:us-east-1:123456789012:key/out")
    uploads = s3.Bucket.from_bucket_attributes(stack, "Uploads", bucket_name="up-bucket", encryption_key=upload_key)
    outputs = s3.Bucket.from_bucket_attributes(stack, "Outputs", bucket_name="out-bucket", encryption_key=output_key)
    ObjectPipeline(stack, "Images", upload_bucket=uploads, output_bucket=outputs)
    template = Template.from_stack(stack)
    kms_grants = {
        (role, statement["Resource"], str(statement["Action"]))
        for role in ("ImagesProcessorRole", "ImagesUploadGrantsGrantFunctionRole")
        for statement in statements(template, role)
        if "kms:" in str(statement["Action"])
    }
    assert kms_grants == {
        ("ImagesProcessorRole", "arn:aws:kms:us-east-1:123456789012:key/up", "kms:Decrypt"),
        ("ImagesProcessorRole", "arn:aws:kms:us-east-1:123456789012:key/out", "kms:GenerateDataKey"),
        ("ImagesUploadGrantsGrantFunctionRole", "arn:aws:kms:us-east-1:123456789012:key/up", "kms:GenerateDataKey"),
    }


@pytest.mark.parametrize("region", ["af-south-1", "me-south-1"])
def test_regions_cloudfront_delivers_no_standard_logs_to_are_refused(region):
    stack = Stack(App(), "Test", env={"region": region, "account": "123456789012"})
    with pytest.raises(ValueError, match=f"does not deliver standard logs to buckets in {region}.*delivery=False"):
        ObjectPipeline(stack, "Images")
