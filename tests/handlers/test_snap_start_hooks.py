"""SnapStart runtime hooks of the bundled handlers: a restored environment gets its own clients and seed.

Lambda sets ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` while it initializes a SnapStart version and
ships ``snapshot_restore_py`` with its Python runtimes; here a stand-in module records what the
handler registers, and the test runs the hooks as Lambda would after a restore.
"""

from __future__ import annotations

import json
import random
import sys
import types

import boto3
import pytest
from aws_local import create_id_table
from handler_loader import load_handler
from lambda_context import LambdaContext

# handler -> (its environment, the module attributes holding its AWS clients)
HANDLERS = {
    "event_recorder": ({"TABLE_NAME": "records"}, ("dynamodb",)),
    "fanout_consumer": ({"TABLE_NAME": "records"}, ("dynamodb",)),
    "stream_publisher": ({"TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:changes"}, ("sns",)),
    "items_api": ({"TABLE_NAME": "records"}, ("dynamodb",)),
    "order_saga": ({"ORDERS_TABLE": "orders"}, ("_dynamodb",)),
    "regional_health": ({"TABLE_NAME": "records", "PARTITION_KEY": "id"}, ("dynamodb",)),
    "stream_aggregator": ({"TABLE_NAME": "records"}, ("dynamodb",)),
    "scheduled_job": ({"ITEMS_TABLE_NAME": "items"}, ()),  # the job uses the runner's client (below)
    "upload_grant": ({"UPLOAD_BUCKET": "uploads"}, ("s3",)),
    # Under SnapStart the S3 client is made at init too (else on first use): both are re-created.
    "image_processor": ({"OUTPUT_BUCKET": "renditions", "TABLE_NAME": "records"}, ("s3", "dynamodb")),
    "canary_hook": (
        {"TARGET_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:f:1", "SMOKE_PAYLOAD": "{}"},
        ("lambda_client", "codedeploy"),
    ),
}
# handler -> {module beside app.py that makes clients of its own: those clients}; each module that makes
# clients registers its hook.
SIBLINGS = {"scheduled_job": {"run_once": ("dynamodb", "cloudwatch")}}


@pytest.fixture
def restore_hooks(monkeypatch) -> list:
    """The after-restore hooks handlers register, through a stand-in ``snapshot_restore_py``."""
    registered: list = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_after_restore = lambda func, *args, **kwargs: registered.append((func, args, kwargs))
    module.register_before_snapshot = lambda func, *args, **kwargs: None
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return registered


def load(function: str, monkeypatch, snap_start: bool):
    environment, _ = HANDLERS[function]
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"snap-{function}")
    if snap_start:
        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    else:
        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    for sibling in SIBLINGS.get(function, {}):
        monkeypatch.delitem(sys.modules, sibling, raising=False)  # imported anew, so its hook registers again
    return load_handler(function)


def clients_of(function: str, module) -> dict[tuple[str, str], object]:
    """(module, attribute) -> client, for the handler module and the modules beside it."""
    _, attributes = HANDLERS[function]
    clients: dict[tuple[str, str], object] = {("app", name): getattr(module, name) for name in attributes}
    for sibling, names in SIBLINGS.get(function, {}).items():
        clients.update({(sibling, name): getattr(sys.modules[sibling], name) for name in names})
    return clients


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_a_restored_environment_gets_new_clients_and_a_new_seed(function, monkeypatch, restore_hooks, aws):
    module = load(function, monkeypatch, snap_start=True)
    _, attributes = HANDLERS[function]
    assert len(restore_hooks) == bool(attributes) + len(SIBLINGS.get(function, {}))
    frozen = clients_of(function, module)
    random.seed(1234)  # what every copy of one snapshot would share
    shared_state = random.getstate()

    for hook, args, kwargs in restore_hooks:
        hook(*args, **kwargs)

    restored = clients_of(function, module)
    for where, client in frozen.items():
        fresh = restored[where]
        assert fresh is not client
        assert fresh.meta.service_model.service_name == client.meta.service_model.service_name
        assert fresh._request_signer._credentials is not client._request_signer._credentials  # resolved anew
    assert random.getstate() != shared_state


@pytest.mark.parametrize("function", sorted(HANDLERS))
def test_without_snap_start_no_hook_is_registered(function, monkeypatch, restore_hooks, aws):
    load(function, monkeypatch, snap_start=False)
    assert restore_hooks == []


def test_the_restored_client_does_the_work(monkeypatch, restore_hooks, aws):
    create_id_table(boto3.client("dynamodb"), "records")
    recorder = load("event_recorder", monkeypatch, snap_start=True)
    hook, args, kwargs = restore_hooks[0]
    hook(*args, **kwargs)
    calls: list[str] = []
    recorder.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.*", lambda model, **_: calls.append(model.name)
    )

    batch = {"Records": [{"messageId": "m-1", "body": json.dumps({"id": "evt-1"})}]}
    assert recorder.handler(batch, LambdaContext()) == {"batchItemFailures": []}
    assert calls == ["PutItem"]
    assert boto3.client("dynamodb").get_item(TableName="records", Key={"id": {"S": "evt-1"}})["Item"]


def test_a_jobs_clients_made_after_a_restore_come_from_a_new_session(monkeypatch, restore_hooks, aws):
    """A job makes its clients from ``run_once.session`` (as its docs say): after a restore that session is
    a new one, so their credentials are resolved anew rather than the snapshot's cached ones."""
    load("scheduled_job", monkeypatch, snap_start=True)
    run_once = sys.modules["run_once"]
    frozen = run_once.session
    for hook, args, kwargs in restore_hooks:
        hook(*args, **kwargs)
    assert run_once.session is not frozen
    assert run_once.session.get_component("data_loader") is frozen.get_component("data_loader")  # models kept
