"""What alarm routing costs at synth: calls into the CDK's Node process per alarm, none per other construct.

Every construct of an app is visited by the routing Aspect, so a call per visit is paid hundreds of
times (each a round trip to jsii's Node process). The counts are exact, so these tests are stable.
"""

from __future__ import annotations

import collections

import pytest
from alarms import alarm, l1_alarm
from aws_cdk import App, Stack, Stage
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from jsii._kernel.providers import process

from patterns import AlarmRouting, route_alarms
from patterns.alarm_routing import ALARM_EMAIL_ENVIRONMENT_VARIABLE

#: Calls for routing one alarm: read its three action properties and resolve them in one call, then
#: add the alarm and OK actions; its place in the tree was read when its stack was visited.
CALLS_PER_ALARM = 6


@pytest.fixture(autouse=True)
def no_alarm_email_in_the_environment(monkeypatch):
    monkeypatch.delenv(ALARM_EMAIL_ENVIRONMENT_VARIABLE, raising=False)


def kind(node: object) -> str:
    if isinstance(node, Stage):
        return "app or stage"
    if isinstance(node, Stack):
        return "stack"
    if isinstance(node, cloudwatch.AlarmBase):
        return "L2 alarm" if node.node.default_child is not None else "imported alarm"
    if isinstance(node, (cloudwatch.CfnAlarm, cloudwatch.CfnCompositeAlarm)):
        inside_an_l2 = isinstance(node.node.scope, cloudwatch.AlarmBase)
        return "L1 alarm inside an L2" if inside_an_l2 else "L1 alarm"
    return "other"


def calls_per_visit(monkeypatch, queues: int) -> dict[str, list[int]]:
    """Build a stack with ``queues`` queues and three alarms (L2, L1, composite), route, synthesize, and
    count the calls into Node each routing visit made, by the kind of construct visited."""
    app = App()
    stack = Stack(app, "Service")
    for number in range(queues):
        sqs.Queue(stack, f"Queue{number}", enforce_ssl=True)
    first = alarm(stack, "First")
    l1_alarm(stack, "Raw")
    cloudwatch.CompositeAlarm(stack, "Either", alarm_rule=cloudwatch.AlarmRule.any_of(first))
    route_alarms(app)

    calls = {"n": 0}
    send = process._NodeProcess.send

    def counting(self, request, response_type):
        calls["n"] += 1
        return send(self, request, response_type)

    visits: list[tuple[object, int]] = []
    visit = AlarmRouting.visit

    def measured(self, node):
        before = calls["n"]
        visit(self, node)
        visits.append((node, calls["n"] - before))

    monkeypatch.setattr(process._NodeProcess, "send", counting)
    monkeypatch.setattr(AlarmRouting, "visit", measured)
    app.synth()
    monkeypatch.undo()  # stop counting before sorting the visits (which asks the CDK things)
    found: dict[str, list[int]] = collections.defaultdict(list)
    for node, count in visits:
        found[kind(node)].append(count)
    return found


def test_a_construct_that_is_neither_a_stack_nor_an_alarm_costs_no_call(monkeypatch):
    found = calls_per_visit(monkeypatch, queues=10)
    assert len(found["other"]) > 30  # queues, their policies, the topic's parts ...
    assert set(found["other"]) == {0}


def test_each_alarm_costs_a_few_calls_and_the_l1_inside_an_l2_none(monkeypatch):
    found = calls_per_visit(monkeypatch, queues=0)
    # First, Either, and the AlarmTopic's failed-deliveries alarm (routed as the topic is made: no call).
    assert len(found["L2 alarm"]) == 3
    assert max(found["L2 alarm"]) <= CALLS_PER_ALARM and found["L2 alarm"].count(0) == 1
    assert found["L1 alarm inside an L2"] == [0, 0, 0]
    assert found["app or stage"] == [found["app or stage"][0]]  # the routed scope: once


def test_visiting_a_stack_costs_the_same_whatever_else_it_holds(monkeypatch):
    few = calls_per_visit(monkeypatch, queues=2)["stack"]
    many = calls_per_visit(monkeypatch, queues=40)["stack"]
    assert len(few) == len(many) == 1 and few == many
