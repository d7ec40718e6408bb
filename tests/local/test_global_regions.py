"""GlobalItemsDemo run locally: each region's API on its own port against the endpoint's regions, no replication."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from http_client import request

from patterns.local.regions import RegionalRuns, local_run, stack_regions
from patterns.local.runner import LocalRun, LocalRunOptions
from stacks.global_items_demo import DEFAULT_REGIONS, HOME_STACK, REPLICA_STACK

# The local gateway checks a SigV4 header's shape, not its signature.
SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef",
    "X-Amz-Date": "20260101T000000Z",
    "Content-Type": "application/json",
}


@pytest.fixture(scope="module")
def regions(demo_app) -> Iterator[RegionalRuns]:
    lines: list[str] = []
    options = LocalRunOptions(assembly_dir=demo_app.outdir, stacks=[HOME_STACK, REPLICA_STACK], port=0)
    run = local_run(options, log=lines.append)
    assert isinstance(run, RegionalRuns)
    with run:
        run.lines = lines  # type: ignore[attr-defined]
        yield run


def url_of(run: RegionalRuns, stack: str) -> str:
    (url,) = [api.url for api in run.apis if api.stack == stack]
    return url


def test_the_demo_stacks_are_bound_to_the_default_regions(demo_app):
    regions = stack_regions(demo_app.outdir)
    assert (regions[HOME_STACK], regions[REPLICA_STACK]) == DEFAULT_REGIONS
    assert regions["ItemsServiceDemo"] is None


def test_each_region_answers_its_own_health_route_on_its_own_port(regions):
    urls = {stack: url_of(regions, stack) for stack in (HOME_STACK, REPLICA_STACK)}
    assert len(set(urls.values())) == 2
    for stack, region in zip((HOME_STACK, REPLICA_STACK), DEFAULT_REGIONS, strict=True):
        status, _, body = request(urls[stack], "GET", "/health")
        assert (status, json.loads(body)) == (200, {"status": "healthy", "region": region})


def test_replication_is_not_emulated_and_the_run_says_so(regions):
    home, replica = url_of(regions, HOME_STACK), url_of(regions, REPLICA_STACK)
    status, _, body = request(home, "POST", "/items", SIGNED, json.dumps({"name": "chair", "quantity": 1}).encode())
    assert status == 201, body
    item_id = json.loads(body)["id"]
    assert request(home, "GET", f"/items/{item_id}", SIGNED)[0] == 200
    assert request(replica, "GET", f"/items/{item_id}", SIGNED)[0] == 404
    notes = [line for line in regions.lines if "replication between regions is not emulated" in line]
    assert notes and "global-items-demo" in notes[0]


def test_stacks_of_one_region_get_one_plain_run(demo_app):
    run = local_run(LocalRunOptions(assembly_dir=demo_app.outdir, stacks=["ApiLambdaTableDemo", HOME_STACK]))
    assert isinstance(run, LocalRun)  # ApiLambdaTableDemo is env-agnostic: it runs in the home region


def test_regions_run_in_deploy_order(regions):
    # The replica region's stack holds its key, which the table needs first: its ports come first too.
    assert regions.groups == {DEFAULT_REGIONS[1]: [REPLICA_STACK], DEFAULT_REGIONS[0]: [HOME_STACK]}
    assert list(regions.groups) == [DEFAULT_REGIONS[1], DEFAULT_REGIONS[0]]
