"""StreamProcessor: a stream (new, existing or a table's) -> function in tumbling windows, with its
failure destination, exact grants, alarms and ingestion API.

One app holds every variant, synthesized once under the strict profile: its six rule sets include
AwsSolutions and Serverless, so one synth shows every variant clean under all of them (grants then
sit in customer-managed policies, which the statement checks read as well)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template
from strict_check import findings_under, strict_app, synth_findings

from patterns import SecureTable, StreamProcessor, bundled_code, route_alarms

INLINE = lambda_.Code.from_inline("def handler(event, context):\n    return {}\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    """Every variant in one strict app, synthesized once with the six rule sets."""
    app = strict_app(tmp_path_factory.mktemp("stream-processor"))
    stack = Stack(app, "Streams")
    clicks = StreamProcessor(stack, "Clicks", key_field="page", value_field="ms", removal_policy=RemovalPolicy.DESTROY)
    clicks.add_ingestion_api(partition_key_field="page")
    producer = iam.Role(stack, "Producer", assumed_by=iam.AccountRootPrincipal())
    clicks.grant_write(producer)

    table = SecureTable(stack, "Orders", stream=dynamodb.StreamViewType.NEW_IMAGE).table
    changes = StreamProcessor(stack, "Changes", source_table=table, key_field="status")

    key = kms.Key(stack, "ExistingKey", enable_key_rotation=True)
    existing = kinesis.Stream(
        stack, "Existing", encryption=kinesis.StreamEncryption.KMS, encryption_key=key, shard_count=2
    )
    own = StreamProcessor(
        stack,
        "Own",
        stream=existing,
        code=INLINE,
        handler="index.handler",
        enhanced_fan_out=True,
        parallelization_factor=4,
        batch_size=500,
        starting_position=lambda_.StartingPosition.LATEST,
    )
    from_function = StreamProcessor(
        stack,
        "Yours",
        stream=existing,
        function=lambda_.Function(
            stack, "YourFunction", code=INLINE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_13
        ),
    )
    route_alarms(app)
    findings = synth_findings(app)
    template = json.loads((Path(app.outdir) / "Streams.template.json").read_text())
    return {
        "stack": stack,
        "template": Template.from_json(template),
        "raw": template,
        "findings": findings,
        "clicks": clicks,
        "changes": changes,
        "own": own,
        "yours": from_function,
        "producer": producer,
    }


def logical_id(built, construct) -> str:
    return built["stack"].get_logical_id(construct.node.default_child)


def mapping_of(built, processor) -> dict:
    return built["raw"]["Resources"][logical_id(built, processor.event_source)]["Properties"]


def statements_of(built, role) -> list[dict]:
    """Every statement of the inline and customer-managed policies attached to ``role``."""
    role_id = logical_id(built, role)
    return [
        statement
        for resource in built["raw"]["Resources"].values()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": role_id} in resource["Properties"].get("Roles", [])
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def one(resource):
    """A statement's resource, a one-element list read as its element."""
    return resource[0] if isinstance(resource, list) and len(resource) == 1 else resource


def actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


@pytest.mark.parametrize("variant", ["Clicks", "Changes", "Own", "Yours"])
def test_every_variant_is_clean_under_the_six_rule_sets(built, variant):
    assert findings_under(built["findings"], f"Streams/{variant}/") == []


def test_a_new_stream_is_on_demand_with_its_own_rotating_key(built):
    clicks = built["clicks"]
    built["template"].has_resource_properties(
        "AWS::Kinesis::Stream",
        {
            "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
            "RetentionPeriodHours": 24,
            "StreamEncryption": {
                "EncryptionType": "KMS",
                "KeyId": {"Fn::GetAtt": [logical_id(built, clicks.key), "Arn"]},
            },
        },
    )
    assert built["raw"]["Resources"][logical_id(built, clicks.key)]["Properties"]["EnableKeyRotation"] is True
    # removal_policy covers the stream and its key, as the table
    assert built["raw"]["Resources"][logical_id(built, clicks.stream)]["DeletionPolicy"] == "Delete"
    changes_stream_key = built["raw"]["Resources"][logical_id(built, built["changes"].table)]
    assert changes_stream_key["DeletionPolicy"] == "Retain"  # the default


def test_the_mapping_has_the_documented_defaults_and_a_one_minute_window(built):
    clicks = built["clicks"]
    assert mapping_of(built, clicks) == {
        "FunctionName": {"Ref": logical_id(built, clicks.function)},
        "EventSourceArn": {"Fn::GetAtt": [logical_id(built, clicks.stream), "Arn"]},
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 1,
        "ParallelizationFactor": 1,
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": 3,
        "MaximumRecordAgeInSeconds": 3600,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "TumblingWindowInSeconds": 60,
        "DestinationConfig": {
            "OnFailure": {"Destination": {"Fn::GetAtt": [logical_id(built, clicks.failure_destination), "Arn"]}}
        },
    }


def test_the_aggregator_may_read_the_stream_update_its_table_and_report_failures_only(built):
    clicks = built["clicks"]
    statements = statements_of(built, clicks.function.role)
    by_action = {action: one(statement["Resource"]) for statement in statements for action in actions(statement)}
    stream_arn = {"Fn::GetAtt": [logical_id(built, clicks.stream), "Arn"]}
    key_arn = {"Fn::GetAtt": [logical_id(built, clicks.key), "Arn"]}
    assert by_action == {
        **{
            f"kinesis:{a}": stream_arn
            for a in ("DescribeStream", "DescribeStreamSummary", "GetRecords", "GetShardIterator", "ListShards")
        },
        "kms:Decrypt": key_arn,
        "dynamodb:UpdateItem": {"Fn::GetAtt": [logical_id(built, clicks.table), "Arn"]},
        "sqs:SendMessage": {"Fn::GetAtt": [logical_id(built, clicks.failure_destination), "Arn"]},
        "xray:PutTraceSegments": "*",
        "xray:PutTelemetryRecords": "*",
        "logs:CreateLogStream": by_action.get("logs:CreateLogStream"),
        "logs:PutLogEvents": by_action.get("logs:PutLogEvents"),
    }


def test_the_aggregator_is_told_its_table_and_fields(built):
    clicks = built["clicks"]
    function = built["raw"]["Resources"][logical_id(built, clicks.function)]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == {"Ref": logical_id(built, clicks.table)}
    assert (variables["KEY_FIELD"], variables["VALUE_FIELD"]) == ("page", "ms")
    table = built["raw"]["Resources"][logical_id(built, clicks.table)]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "key", "KeyType": "HASH"},
        {"AttributeName": "window_start", "KeyType": "RANGE"},
    ]


def test_producers_get_put_records_and_the_data_key_only(built):
    clicks = built["clicks"]
    statements = statements_of(built, built["producer"])
    assert sorted(a for s in statements for a in actions(s)) == [
        "kinesis:PutRecord",
        "kinesis:PutRecords",
        "kms:GenerateDataKey",
    ]
    api_role = statements_of(built, clicks.ingestion_api.role)
    assert sorted(a for s in api_role for a in actions(s)) == ["kinesis:PutRecords", "kms:GenerateDataKey"]


def test_the_ingestion_api_validates_authorizes_and_puts_records_without_a_function(built):
    template = built["template"]
    api = built["clicks"].ingestion_api
    template.has_resource_properties(
        "AWS::ApiGateway::Method",
        {
            "HttpMethod": "POST",
            "AuthorizationType": "AWS_IAM",
            "RequestValidatorId": Match.any_value(),
            "RequestModels": {"application/json": Match.any_value()},
            "Integration": Match.object_like(
                {
                    "Type": "AWS",
                    "Uri": {"Fn::Join": ["", Match.array_with([":kinesis:action/PutRecords"])]},
                    "Credentials": {"Fn::GetAtt": [logical_id(built, api.role), "Arn"]},
                    "PassthroughBehavior": "NEVER",
                }
            ),
        },
    )
    model = next(r for r in built["raw"]["Resources"].values() if r["Type"] == "AWS::ApiGateway::Model")
    schema = model["Properties"]["Schema"]
    assert schema["properties"]["events"]["maxItems"] == 500
    assert schema["properties"]["events"]["items"]["required"] == ["page"]
    template.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {"TracingEnabled": True, "MethodSettings": Match.array_with([Match.object_like({"ThrottlingRateLimit": 100})])},
    )


def test_the_ingestion_api_passes_refusals_on_and_flags_partial_failures(built):
    method = next(r for r in built["raw"]["Resources"].values() if r["Type"] == "AWS::ApiGateway::Method")
    integration = method["Properties"]["Integration"]
    responses = {r["StatusCode"]: r for r in integration["IntegrationResponses"]}
    assert set(responses) == {"200", "400", "503"}
    assert "SelectionPattern" not in responses["200"]
    assert (responses["400"]["SelectionPattern"], responses["503"]["SelectionPattern"]) == ("4\\d{2}", "5\\d{2}")
    success = responses["200"]["ResponseTemplates"]["application/json"]
    assert "FailedRecordCount') > 0)#set($context.responseOverride.status = 207)" in success
    refused = responses["400"]["ResponseTemplates"]["application/json"]
    assert "ProvisionedThroughputExceeded" in refused and "responseOverride.status = 503" in refused
    assert {r["StatusCode"] for r in method["Properties"]["MethodResponses"]} == {"200", "207", "400", "503"}
    # escapeJavaScript turns ' into \', which is not JSON: undone as API Gateway's docs advise
    request = json.dumps(integration["RequestTemplates"])
    assert json.dumps(""".replaceAll("\\\\'","'")""")[1:-1] in request


def metric_names(alarm) -> set[str]:
    """The metrics an alarm reads: its own, or those of its math expression."""
    resource = alarm.node.default_child
    if resource.metric_name:
        return {resource.metric_name}
    return {query.metric_stat.metric.metric_name for query in resource.metrics if query.metric_stat is not None}


def test_alarms_cover_iterator_age_errors_throttles_the_destination_and_the_api(built):
    clicks = built["clicks"]
    assert len(clicks.alarms) == 9
    metrics = set().union(*(metric_names(alarm) for alarm in clicks.alarms))
    assert metrics == {
        "IteratorAge",
        "Errors",
        "Throttles",
        "ApproximateNumberOfMessagesVisible",
        "DestinationDeliveryFailures",
        "GetRecords.IteratorAgeMilliseconds",
        "IncomingRecords",
        "Invocations",
        "PutRecords.FailedRecords",
        "PutRecords.ThrottledRecords",
        "5XXError",
    }
    stream_age = built["raw"]["Resources"][logical_id(built, clicks.stream_iterator_age_alarm)]["Properties"]
    assert (stream_age["Threshold"], stream_age["Statistic"]) == (300_000, "Maximum")
    assert stream_age["Dimensions"] == [{"Name": "StreamName", "Value": {"Ref": logical_id(built, clicks.stream)}}]


def test_alarms_are_routed(built):
    for processor in ("clicks", "changes", "own", "yours"):
        for alarm in built[processor].alarms:
            assert built["raw"]["Resources"][logical_id(built, alarm)]["Properties"].get("AlarmActions")


def test_an_enhanced_fan_out_reader_is_watched_through_its_consumer(built):
    own = built["own"]
    assert metric_names(own.stream_iterator_age_alarm) == {"SubscribeToShardEvent.MillisBehindLatest"}
    assert own.stalled_alarm is not None and own.put_records_alarm is not None


def test_a_table_source_has_no_stream_alarms(built):
    changes = built["changes"]
    assert (changes.stream_iterator_age_alarm, changes.stalled_alarm, changes.put_records_alarm) == (None, None, None)
    assert len(changes.alarms) == 5  # iterator age, errors, throttles, the destination and its deliveries


def test_a_table_source_reads_the_table_stream(built):
    changes = built["changes"]
    assert changes.stream is None
    table_id = next(k for k in built["raw"]["Resources"] if k.startswith("OrdersTable"))
    assert mapping_of(built, changes)["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    read = next(s for s in statements_of(built, changes.function.role) if "dynamodb:GetRecords" in actions(s))
    assert read["Resource"] == {"Fn::GetAtt": [table_id, "StreamArn"]}


def test_a_table_source_may_list_streams_in_a_policy_of_its_own_the_mapping_waits_for(built):
    changes = built["changes"]
    listing_id = logical_id(built, changes.stream_listing_policy)
    listing = built["raw"]["Resources"][listing_id]
    assert listing["Type"] == "AWS::IAM::ManagedPolicy"  # the strict profile
    assert listing["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "dynamodb:ListStreams", "Effect": "Allow", "Resource": "*"}
    ]
    assert listing_id in built["raw"]["Resources"][logical_id(built, changes.event_source)]["DependsOn"]
    assert built["clicks"].stream_listing_policy is None


def test_the_failure_queue_is_kept_or_removed_with_the_stream(built):
    resources = built["raw"]["Resources"]
    assert resources[logical_id(built, built["clicks"].failure_destination)]["DeletionPolicy"] == "Delete"
    assert resources[logical_id(built, built["changes"].failure_destination)]["DeletionPolicy"] == "Retain"


def test_enhanced_fan_out_reads_through_a_consumer_it_may_subscribe_to(built):
    own = built["own"]
    consumer_arn = {"Fn::GetAtt": [logical_id(built, own.consumer), "ConsumerARN"]}
    mapping = mapping_of(built, own)
    assert mapping["EventSourceArn"] == consumer_arn
    assert (mapping["ParallelizationFactor"], mapping["BatchSize"], mapping["StartingPosition"]) == (4, 500, "LATEST")
    assert "TumblingWindowInSeconds" not in mapping  # own code: no window unless asked
    subscribe = next(s for s in statements_of(built, own.function.role) if "kinesis:SubscribeToShard" in actions(s))
    assert subscribe["Resource"] == consumer_arn
    assert own.table is None


def test_an_existing_function_gets_the_mapping_grants_and_alarms(built):
    yours = built["yours"]
    statements = statements_of(built, yours.function.role)
    assert any("sqs:SendMessage" in actions(s) for s in statements)
    assert any("kms:Decrypt" in actions(s) for s in statements)  # the existing stream's key
    assert len(yours.alarms) == 8


# --- bad props --------------------------------------------------------------------------------------


def fresh() -> Stack:
    from aws_cdk import App

    return Stack(App(), "Bad")


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"tumbling_window": Duration.minutes(16)}, "tumbling_window"),
        ({"tumbling_window": Duration.seconds(0)}, "needs a tumbling window"),
        ({"parallelization_factor": 0}, "parallelization_factor"),
        ({"parallelization_factor": 11}, "parallelization_factor"),
        ({"parallelization_factor": 2}, "parallelization_factor must be 1 with a tumbling window"),
        (
            {"code": INLINE, "tumbling_window": Duration.minutes(1), "parallelization_factor": 10},
            "parallelization_factor must be 1 with a tumbling window",
        ),
        ({"report_batch_item_failures": False}, "report_batch_item_failures"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 10_001}, "batch_size"),
        ({"max_batching_window": Duration.minutes(6)}, "max_batching_window"),
        ({"retry_attempts": -1}, "retry_attempts"),
        ({"max_record_age": Duration.seconds(30)}, "max_record_age"),
        ({"max_record_age": Duration.days(2)}, "longer than the stream keeps records"),
        ({"retention_period": Duration.hours(1)}, "retention_period"),
        ({"shard_count": 0}, "shard_count"),
        ({"starting_position": lambda_.StartingPosition.AT_TIMESTAMP}, "AT_TIMESTAMP"),
        ({"max_iterator_age": Duration.seconds(0)}, "max_iterator_age"),
        ({"handler": "x.y"}, "handler= needs code="),
        ({"key_field": " "}, "key_field"),
    ],
)
def test_invalid_props_raise_a_clear_error(props, message):
    with pytest.raises(ValueError, match=message):
        StreamProcessor(fresh(), "Bad", **props)


def test_contradicting_sources_and_functions_raise():
    stack = fresh()
    stream = kinesis.Stream(stack, "S")
    table = SecureTable(stack, "T", stream=dynamodb.StreamViewType.NEW_IMAGE).table
    plain = SecureTable(stack, "Plain").table
    cases = [
        ({"stream": stream, "source_table": table}, "not both"),
        ({"source_table": plain}, "no stream"),
        ({"stream": stream, "retention_period": Duration.days(2)}, "describe a new stream"),
        ({"source_table": table, "enhanced_fan_out": True}, "enhanced_fan_out"),
        ({"code": INLINE, "key_field": "page"}, "bundled aggregator"),
        ({"code": INLINE, "function": lambda_.Function.from_function_name(stack, "F", "f")}, "not both"),
        ({"function": lambda_.Function.from_function_name(stack, "G", "g")}, "cannot reach|no role"),
        ({"failure_destination": sqs.Queue(stack, "Fifo", fifo=True)}, "standard queue"),
        ({"source_table": table, "max_record_age": Duration.days(2)}, "longer than the stream keeps records"),
    ]
    for index, (props, message) in enumerate(cases):
        with pytest.raises(ValueError, match=message):
            StreamProcessor(stack, f"Bad{index}", **props)


def test_a_table_source_has_no_ingestion_api_nor_producers():
    stack = fresh()
    table = SecureTable(stack, "T", stream=dynamodb.StreamViewType.NEW_IMAGE).table
    processor = StreamProcessor(stack, "P", source_table=table)
    with pytest.raises(ValueError, match="table's stream"):
        processor.add_ingestion_api()
    with pytest.raises(ValueError, match="table's stream"):
        processor.grant_write(iam.Role(stack, "R", assumed_by=iam.AccountRootPrincipal()))


def test_an_imported_failure_queue_key_is_granted_only_when_known():
    stack = fresh()
    key = kms.Key(stack, "QueueKey")
    with_key = sqs.Queue.from_queue_attributes(
        stack, "WithKey", queue_arn="arn:aws:sqs:us-east-1:123456789012:failed", key_arn=key.key_arn
    )
    without = sqs.Queue.from_queue_arn(stack, "Without", "arn:aws:sqs:us-east-1:123456789012:failed2")
    known = StreamProcessor(stack, "Known", failure_destination=with_key)
    unknown = StreamProcessor(stack, "Unknown", failure_destination=without)
    template = Template.from_stack(stack).to_json()

    def key_actions(processor) -> list:
        role_id = stack.get_logical_id(processor.function.role.node.default_child)
        return [
            sorted(statement["Action"])
            for resource in template["Resources"].values()
            if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"]["Roles"]
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
            if statement.get("Resource") == {"Fn::GetAtt": [stack.get_logical_id(key.node.default_child), "Arn"]}
        ]

    assert key_actions(known) == [["kms:Decrypt", "kms:GenerateDataKey"]]
    assert key_actions(unknown) == []


def test_bundled_code_is_shipped():
    assert bundled_code("stream_aggregator") is not None


def test_ingestion_api_props_are_checked_and_it_is_made_once():
    stack = fresh()
    processor = StreamProcessor(stack, "P")
    with pytest.raises(ValueError, match="stage_name"):
        processor.add_ingestion_api("Bad", stage_name="a b")
    with pytest.raises(ValueError, match="partition_key_field"):
        processor.add_ingestion_api("Quoted", partition_key_field="it's")
    processor.add_ingestion_api()
    with pytest.raises(ValueError, match="already has an ingestion API"):
        processor.add_ingestion_api("Again")


def test_the_mapping_waits_for_the_role_policy_that_lets_it_read_the_stream(built):
    clicks = built["clicks"]
    mapping = built["raw"]["Resources"][logical_id(built, clicks.event_source)]
    grants = [k for k in mapping["DependsOn"] if k.startswith("ClicksProcessorRole")]
    assert grants and any("kinesis:GetRecords" in str(built["raw"]["Resources"][k]) for k in grants)
