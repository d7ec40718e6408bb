"""SagaWorkflow in the consumer matrix: its names stay apart when built twice, and its partition is the stack's."""

from __future__ import annotations

import json

from consumer.test_matrix import resources


def test_two_sagas_in_one_stack_get_their_own_state_machine_log_group_and_api(matrix):
    template = matrix.template("TwiceWorkloads")
    assert len(resources(template, "AWS::StepFunctions::StateMachine")) == 2
    groups = [
        json.dumps(group["Properties"]["LogGroupName"])
        for group in resources(template, "AWS::Logs::LogGroup").values()
        if "/aws/vendedlogs/states/" in json.dumps(group["Properties"].get("LogGroupName", ""))
    ]
    assert len(groups) == 2 and groups[0] != groups[1]


def test_the_saga_names_its_partition_in_aws_cn_and_aws_us_gov(matrix):
    for case, partition in (("Partitions/China", "aws-cn"), ("Partitions/GovCloud", "aws-us-gov")):
        (machine,) = resources(matrix.template(case), "AWS::StepFunctions::StateMachine").values()
        assert f"arn:{partition}:states:::aws-sdk:cloudwatch:putMetricData" in json.dumps(machine)
