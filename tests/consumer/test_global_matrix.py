"""GlobalTable and RegionalEndpoint in the consumer matrix: bound stacks, twice per stack pair, aws-cn and
aws-us-gov, a Stage; and the clear error env-agnostic stacks get."""

from __future__ import annotations

import json

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_apigateway as apigw

from consumer.global_cases import GLOBAL_CASES
from patterns import GlobalTable, RegionalEndpoint

PARTITIONS = {
    "GlobalPartitions/ChinaNorth": "aws-cn",
    "GlobalPartitions/ChinaNorthwest": "aws-cn",
    "GlobalPartitions/GovWest": "aws-us-gov",
    "GlobalPartitions/GovEast": "aws-us-gov",
}


@pytest.mark.parametrize("case", sorted(GLOBAL_CASES))
def test_every_region_of_the_case_is_nag_clean_and_was_checked(matrix, case):
    assert matrix.findings("violations", case) == []
    # Acknowledged findings prove the packs looked at the case (its endpoint's unsigned health route).
    assert ("AwsSolutions-APIG4", f"{GLOBAL_CASES[case][0]}/OrdersApi/Api/Default/health/GET/Resource") in (
        matrix.findings("suppressedViolations", case)
    )


@pytest.mark.parametrize(("stack", "partition"), sorted(PARTITIONS.items()))
def test_other_partitions_get_their_own_arns_only(matrix, stack, partition):
    text = json.dumps(matrix.template(stack))
    assert "arn:aws:" not in text
    assert f"arn:{partition}:" in text


def test_two_services_share_the_stack_pair_with_their_own_tables_keys_and_records(matrix):
    home, europe = matrix.template("GlobalHome"), matrix.template("GlobalEurope")
    tables = [r for r in home["Resources"].values() if r["Type"] == "AWS::DynamoDB::GlobalTable"]
    assert len({t["Properties"]["TableName"] for t in tables}) == 2
    aliases = [r["Properties"]["AliasName"] for r in europe["Resources"].values() if r["Type"] == "AWS::KMS::Alias"]
    assert len(set(aliases)) == 2
    records = [r["Properties"] for r in europe["Resources"].values() if r["Type"] == "AWS::Route53::RecordSet"]
    assert sorted(r["Name"] for r in records) == ["orders.example.com.", "users.example.com."]
    assert {r["SetIdentifier"] for r in records} == {"eu-west-1"}

    # Both services' health checks in both regions alarm in us-east-1, where Route 53 publishes their status.
    def status_alarms(template: dict) -> list[dict]:
        return [
            r
            for r in template["Resources"].values()
            if r.get("Properties", {}).get("MetricName") == "HealthCheckStatus"
        ]

    assert (len(status_alarms(home)), len(status_alarms(europe))) == (4, 0)


def test_in_a_stage_the_home_stack_deploys_after_the_other_region(matrix):
    manifest = json.loads((matrix.outdir / "assembly-GlobalProd" / "manifest.json").read_text())
    ids = {a.get("displayName"): artifact_id for artifact_id, a in manifest["artifacts"].items()}
    assert ids["GlobalProd/Europe"] in manifest["artifacts"][ids["GlobalProd/Home"]]["dependencies"]


def test_env_agnostic_stacks_are_refused_with_a_clear_error():
    app = App()
    with pytest.raises(ValueError, match="GlobalTable needs a stack bound to a concrete account and region"):
        GlobalTable(Stack(app, "Anywhere"), "Table", regions=["us-east-1", "eu-west-1"])
    home = Stack(app, "Home", env=Environment(account="123456789012", region="us-east-1"))
    table = GlobalTable(home, "Table", regions=["us-east-1", "eu-west-1"])
    loose = Stack(app, "Loose")
    with pytest.raises(ValueError, match="RegionalEndpoint needs a stack bound"):
        RegionalEndpoint(
            loose,
            "Endpoint",
            api=apigw.RestApi(loose, "Api"),
            global_table=table,
            domain_name="orders.example.com",
            hosted_zone_id="Z0123456789EXAMPLE",
            zone_name="example.com",
        )
