"""Alarm routing: every alarm under a scope notifies someone, applied once by an Aspect.

``route_alarms(app)`` is the one line: each CloudWatch alarm under ``app`` (L2 ``Alarm`` or
``CompositeAlarm``, or an L1 ``CfnAlarm`` / ``CfnCompositeAlarm``) gets an SNS alarm action, and an
OK action, when synthesized. Patterns only make and expose their alarms; they never route them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from typing import NamedTuple, TypeGuard, cast

import jsii
from aws_cdk import (
    Annotations,
    AspectPriority,
    Aspects,
    CfnResource,
    IAspect,
    Resource,
    Stack,
    Stage,
    Token,
)
from aws_cdk import (
    aws_cloudwatch as cloudwatch,
)
from aws_cdk import (
    aws_cloudwatch_actions as cloudwatch_actions,
)
from aws_cdk import (
    aws_sns as sns,
)
from constructs import Construct, IConstruct, Node

from .blocks.alarm_topic import AlarmTopic, email_addresses
from .blocks.topic import SecureTopic

#: CDK context key holding the e-mail address(es) of the topics ``route_alarms`` makes.
ALARM_EMAIL_CONTEXT = "alarmEmail"
#: Environment variable read when the context key is not set.
ALARM_EMAIL_ENVIRONMENT_VARIABLE = "ALARM_EMAIL"
#: Construct id of the topic ``route_alarms`` makes in each stack that holds alarms.
ALARM_TOPIC_ID = "AlarmTopic"

_L1_ALARM_TYPES = ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
_ROUTED_ALARM_ID = "RoutedAlarm"
_registration_order = itertools.count()
#: The routings registered on each scope (``route_alarms`` is the one way to register one), by the scope's
#: jsii reference: answering "which routing is nearest" from here asks the CDK's Node process nothing.
_routings_on: dict[str, list[AlarmRouting]] = {}

AlarmTarget = AlarmTopic | sns.ITopic | cloudwatch.IAlarmAction


def route_alarms(scope: IConstruct, target: AlarmTarget | None = None, *, ok_actions: bool = True) -> AlarmRouting:
    """Send every alarm under ``scope`` to ``target`` when the app is synthesized.

    Args:
        scope: an ``App``, a ``Stage``, a ``Stack`` (nested stacks included) or any construct.
            Stages under an App or Stage that exist when you call this are routed too (CDK does
            not carry an App's Aspects into its Stages): call it after creating your stages.
        target: where alarms go: an ``AlarmTopic``, any ``sns.ITopic`` (its key and policy must
            let CloudWatch publish; ``AlarmTopic`` does), or any ``cloudwatch.IAlarmAction``.
            Default ``None``: each stack (nested stacks included) that holds an alarm gets its own
            ``AlarmTopic`` with id ``AlarmTopic``, subscribed by e-mail to the address(es) in the
            CDK context ``alarmEmail`` or else the environment variable ``ALARM_EMAIL``
            (comma-separated; none: the topic alone). An explicit topic must be in the same
            environment (account and region) as the alarms it receives, or ``ValueError`` is
            raised; an ``IAlarmAction`` is used as given.
        ok_actions: also notify when an alarm returns to OK. Default True. Insufficient data is
            never routed: the library's alarms treat missing data as not breaching.

    The nearest scope wins: ``route_alarms(app)`` with ``route_alarms(construct, other)`` sends the
    alarms under ``construct`` to ``other`` only; calling it again on the same scope replaces that
    scope's routing. An alarm that already has an alarm, OK or insufficient-data action when the app
    is synthesized is left exactly as its author set it.

    Returns the ``AlarmRouting`` Aspect registered on ``scope``.
    """
    if not isinstance(scope, Construct):
        raise TypeError(f"scope: expected a construct (App, Stage, Stack or any construct), got {type(scope).__name__}")
    if not isinstance(ok_actions, bool):
        raise TypeError(f"ok_actions: expected True or False, got {ok_actions!r}")
    _check_target(target)
    routing = next((aspect for aspect in Aspects.of(scope).all if _is_routing_of(aspect, scope)), None)
    if routing is None:
        routing = AlarmRouting(scope, target, ok_actions=ok_actions)
        Aspects.of(scope).add(routing, priority=AspectPriority.MUTATING)
        _register(routing, scope)
    else:
        routing.configure(target, ok_actions=ok_actions)
    # CDK synthesizes each Stage on its own, with only the Aspects applied inside it.
    for stage in _stages_under(scope):
        if routing not in Aspects.of(stage).all:
            Aspects.of(stage).add(routing, priority=AspectPriority.MUTATING)
            _register(routing, stage)
    if _topic_of(target) is not None:  # only an explicit topic can be in another environment
        for stack in _stacks_under(scope):
            if any(routing_for(alarm) is routing for alarm in _alarms_of(stack)):
                routing.check_environment(stack)
    return routing


@jsii.implements(IAspect)
class AlarmRouting:
    """The Aspect ``route_alarms`` registers: routes the alarms for which its scope is the nearest."""

    def __init__(self, scope: Construct, target: AlarmTarget | None, *, ok_actions: bool) -> None:
        self.scope = scope
        self._depth = len(scope.node.scopes)
        self._order = next(_registration_order)
        # What visiting each stack decided about its alarms, by jsii reference: where an alarm this routing
        # routes sits, or None for a construct it leaves alone. See _plan.
        self._decided: dict[str, _Placement | None] = {}
        self._actions: dict[str, cloudwatch.IAlarmAction] = {}  # by the jsii reference of the stack
        self._topics: dict[str, sns.ITopic | None] = {}  # likewise
        self.configure(target, ok_actions=ok_actions)

    def configure(self, target: AlarmTarget | None, *, ok_actions: bool) -> None:
        self.target = target
        self.ok_actions = ok_actions
        self._actions.clear()
        self._topics.clear()

    @property
    def precedence(self) -> tuple[int, int]:
        """Deeper scopes first; on one scope, the latest registered."""
        return (self._depth, self._order)

    def visit(self, node: IConstruct) -> None:
        if node is self.scope and isinstance(node, Stage):
            _refuse_unrouted_stages(node)
        # Every construct of the app is visited: a Python type check first (jsii gives each construct
        # its Python class, NestedStack included), so the many that are neither a stack nor an
        # alarm cost no call into the CDK's Node process.
        if isinstance(node, Stack):
            self._plan(node)
            return
        if not _may_be_alarm(node):
            return
        reference = _ref(node)
        if reference in self._decided:
            placement = self._decided[reference]
            if placement is not None:
                self.route(node, placement)
        # Made after its stack was visited (by another Aspect, say): the whole check.
        elif _is_alarm(node) and routing_for(node) is self:
            self.route(node)

    def route(self, alarm: IConstruct, placement: _Placement | None = None) -> None:
        """Give ``alarm`` this routing's action(s), unless it already has actions of its own."""
        if placement is None:
            placement = _placement_of(alarm, alarm.node)
        scopes, resource = placement
        # Routed (or left as its author set it) from here on: a later visit of the alarm, or of the L1
        # inside it, has nothing to do (the topic's own alarms are routed as the topic is made).
        self._decided[_ref(alarm)] = None
        if resource is not None and resource is not alarm:
            self._decided[_ref(resource)] = None
        stack = _stack_in(scopes)
        if _has_actions(resource, stack):
            return
        action = self._action_for(stack)
        # An alarm on the delivery failures of the very topic it notifies gets no OK action: with a
        # broken subscriber each OK message would fail, turn the alarm back to ALARM and start again.
        # Its ALARM message still reaches the subscribers that work, once per state change.
        ok_actions = self.ok_actions and not _watches_deliveries_of(alarm, self._topic_for(stack), scopes)
        if isinstance(alarm, cloudwatch.AlarmBase):
            alarm.add_alarm_action(action)
            if ok_actions:
                alarm.add_ok_action(action)
            return
        # _is_alarm admits only these L1s here (and _has_actions reads their action properties).
        if not isinstance(alarm, (cloudwatch.CfnAlarm, cloudwatch.CfnCompositeAlarm)):
            raise TypeError(f"{alarm.node.path}: expected a CloudWatch alarm, got {type(alarm).__name__}")
        arn = action.bind(alarm, _alarm_reference(alarm)).alarm_action_arn
        alarm.alarm_actions = [arn]
        if ok_actions:
            alarm.ok_actions = [arn]

    def check_environment(self, stack: Stack) -> None:
        """Raise ``ValueError`` if this routing's explicit target is in another environment than ``stack``."""
        topic = _topic_of(self.target)
        if topic is not None:
            _check_topic_environment(topic, stack)

    def _plan(self, stack: Stack) -> None:
        """Decide, in one pass over ``stack``, which of its alarms (not its nested stacks') this routing routes.

        The alarms' own visits then find the decision by reference, so the check costs a few calls into
        the CDK's Node process per alarm, and none per other construct. With the default target, the
        stack's ``AlarmTopic`` is made here, before CDK walks the stack's children, so every Aspect
        visits the new topic too.
        """
        own = _ref(stack)
        mine: list[_Placement] = []
        for node in stack.node.find_all():  # parents before their children
            if not _may_be_alarm(node):
                continue
            reference = _ref(node)
            if (
                reference in self._decided
                and self._decided[reference] is None
                and not isinstance(node, cloudwatch.AlarmBase)
            ):
                continue  # the L1 inside an L2 alarm found just before it: routed through the L2
            if type(node) is CfnResource and node.cfn_resource_type not in _L1_ALARM_TYPES:
                self._decided[reference] = None  # another resource type
                continue
            placement = _placement_of(node, node.node)
            if placement.resource is None:  # an alarm imported by ARN (not an owned resource)
                self._decided[reference] = None
                continue
            if placement.resource is not node:
                self._decided[_ref(placement.resource)] = None
            if _ref(_stack_in(placement.scopes)) != own:
                continue  # a nested stack's: decided when that stack is visited
            if routing_for(node, placement.scopes) is self:
                self._decided[reference] = placement
                mine.append(placement)
            else:
                self._decided[reference] = None
        if self.target is None and any(not _has_actions(found.resource, stack) for found in mine):
            _alarm_topic_of(stack)

    def _topic_for(self, stack: Stack) -> sns.ITopic | None:
        reference = _ref(stack)
        if reference not in self._topics:
            self._topics[reference] = _alarm_topic_of(stack).topic if self.target is None else _topic_of(self.target)
        return self._topics[reference]

    def _action_for(self, stack: Stack) -> cloudwatch.IAlarmAction:
        reference = _ref(stack)
        if reference not in self._actions:
            self._actions[reference] = self._new_action_for(stack)
        return self._actions[reference]

    def _new_action_for(self, stack: Stack) -> cloudwatch.IAlarmAction:
        if self.target is None:
            return _alarm_topic_of(stack).alarm_action
        self.check_environment(stack)
        topic = _topic_of(self.target)
        if topic is not None:
            return cloudwatch_actions.SnsAction(topic)
        # _check_target let through only topics (handled above) and objects with a callable bind.
        return cast(cloudwatch.IAlarmAction, self.target)


def routing_for(alarm: IConstruct, scopes: Sequence[IConstruct] | None = None) -> AlarmRouting | None:
    """The routing that applies to ``alarm``: the one registered on its nearest scope, if any.

    ``scopes``: ``alarm.node.scopes``, when the caller has them already.
    """
    found = [
        routing
        for scope in (alarm.node.scopes if scopes is None else scopes)
        for routing in _routings_on.get(_ref(scope), ())
    ]
    return max(found, key=lambda routing: routing.precedence, default=None)


class _Placement(NamedTuple):
    """Where an alarm sits: its ``node.scopes`` (itself last), and the resource holding its actions (the
    L2's default child, the L1 itself; None for an alarm imported by ARN)."""

    scopes: tuple[IConstruct, ...]
    resource: IConstruct | None


def _placement_of(alarm: IConstruct, tree: Node) -> _Placement:
    resource = tree.default_child if isinstance(alarm, cloudwatch.AlarmBase) else alarm
    return _Placement(tuple(tree.scopes), resource)


def _register(routing: AlarmRouting, scope: IConstruct) -> None:
    _routings_on.setdefault(_ref(scope), []).append(routing)


def _ref(construct: IConstruct) -> str:
    """The construct's jsii object reference: stable for the construct's life, unlike its Python proxy
    (a construct made by the CDK itself gets a new proxy each time it crosses into Python)."""
    return cast(str, construct.__jsii_ref__.ref)  # type: ignore[attr-defined]


def _stack_in(scopes: Sequence[IConstruct]) -> Stack:
    """The stack (nested or not) of the construct whose ``node.scopes`` these are: ``Stack.of``, without a call."""
    for scope in reversed(scopes):
        if isinstance(scope, Stack):
            return scope
    raise ValueError(f"{'/'.join(s.node.id for s in scopes)}: not inside a stack")


def _may_be_alarm(node: IConstruct) -> bool:
    """A Python type check that lets through every alarm (and, rarely, a plain ``CfnResource`` of another type)."""
    return isinstance(node, (cloudwatch.AlarmBase, cloudwatch.CfnAlarm, cloudwatch.CfnCompositeAlarm)) or (
        type(node) is CfnResource
    )


def _watches_deliveries_of(alarm: IConstruct, topic: sns.ITopic | None, scopes: Sequence[IConstruct]) -> bool:
    """Whether ``alarm`` is the failed-deliveries alarm of ``topic`` (of its ``SecureTopic``)."""
    owner = next((scope for scope in reversed(scopes) if isinstance(scope, SecureTopic)), None)
    return owner is not None and topic is owner.topic and alarm is owner.failed_deliveries_alarm


def alarm_email(scope: IConstruct) -> tuple[str, ...]:
    """The e-mail address(es) for topics made under ``scope``: context ``alarmEmail``, else ``ALARM_EMAIL``."""
    configured = scope.node.try_get_context(ALARM_EMAIL_CONTEXT)
    if configured is None:
        configured = os.environ.get(ALARM_EMAIL_ENVIRONMENT_VARIABLE)
    try:
        return email_addresses(configured)
    except ValueError as error:
        raise ValueError(
            f"context {ALARM_EMAIL_CONTEXT!r} / environment variable {ALARM_EMAIL_ENVIRONMENT_VARIABLE}: {error}"
        ) from None


def _alarm_topic_of(stack: Stack) -> AlarmTopic:
    """The stack's own ``AlarmTopic``, made on first use with its own alarms routed."""
    existing = stack.node.try_find_child(ALARM_TOPIC_ID)
    if existing is not None:
        if not isinstance(existing, AlarmTopic):
            raise ValueError(
                f"{stack.node.path}: route_alarms makes an AlarmTopic with id {ALARM_TOPIC_ID!r}, but the stack "
                f"already has a {type(existing).__name__} with that id; rename it, or pass route_alarms a target"
            )
        return existing
    email = alarm_email(stack)
    topic = AlarmTopic(stack, ALARM_TOPIC_ID, email=email)
    if not email:
        Annotations.of(topic).add_warning_v2(
            "serverless-patterns:alarm-topic-without-subscriber",
            f"the alarms of {stack.node.path} go to an AlarmTopic nobody subscribes to: set the context value "
            f"{ALARM_EMAIL_CONTEXT} (in cdk.json, so that every deploy keeps the subscription) or "
            f"{ALARM_EMAIL_ENVIRONMENT_VARIABLE}, or subscribe to the topic yourself",
        )
    # Without CDK's Aspect stabilization, constructs made while Aspects run are not visited.
    for alarm in topic.alarms:
        routing = routing_for(alarm)
        if routing is not None:
            routing.route(alarm)
    return topic


def _check_target(target: object) -> None:
    if target is None or isinstance(target, AlarmTopic) or _topic_of(target) is not None:
        return
    if isinstance(target, (str, bytes)):
        raise TypeError(
            "target: a string is not a target; for a topic you have the ARN of, pass "
            "sns.Topic.from_topic_arn(scope, id, arn)"
        )
    if not callable(getattr(target, "bind", None)):
        raise TypeError(
            f"target: expected an AlarmTopic, an sns.ITopic or a cloudwatch.IAlarmAction, got {type(target).__name__}"
        )


def _topic_of(target: object) -> sns.ITopic | None:
    if isinstance(target, AlarmTopic):
        return target.topic
    if all(hasattr(target, name) for name in ("topic_arn", "topic_name", "add_subscription")):
        return target  # type: ignore[return-value]
    return None


def _check_topic_environment(topic: sns.ITopic, stack: Stack) -> None:
    if Resource.is_owned_resource(topic):
        owner = Stack.of(topic)
        if owner.environment != stack.environment:
            raise ValueError(
                f"route_alarms: the alarms of {stack.node.path} ({stack.environment}) cannot publish to topic "
                f"{topic.node.path} of {owner.environment}: an alarm only notifies a topic of its own account "
                "and region. Route that stack's alarms to a topic of its environment (or leave target out)"
            )
        return
    for what, theirs, ours in (
        ("account", topic.env.account, stack.account),
        ("region", topic.env.region, stack.region),
    ):
        if _differ(theirs, ours):
            raise ValueError(
                f"route_alarms: the alarms of {stack.node.path} ({what} {ours}) cannot publish to topic "
                f"{topic.node.path} ({what} {theirs}): an alarm only notifies a topic of its own account and region"
            )


def _differ(theirs: str, ours: str) -> bool:
    """Both known and not equal (an unresolved value may be anything)."""
    return not Token.is_unresolved(theirs) and not Token.is_unresolved(ours) and theirs != ours


def _is_alarm(node: IConstruct) -> bool:
    if isinstance(node, cloudwatch.AlarmBase):
        return Resource.is_owned_resource(node)  # not an alarm imported by ARN
    # An L1 alarm is a CfnAlarm / CfnCompositeAlarm, or a plain CfnResource of that type; any other
    # L1 class is another resource type, known without asking the CDK's Node process for it.
    if isinstance(node, (cloudwatch.CfnAlarm, cloudwatch.CfnCompositeAlarm)):
        pass
    elif not (type(node) is CfnResource and node.cfn_resource_type in _L1_ALARM_TYPES):
        return False
    # The L1 inside an L2 alarm is routed through its L2.
    parent = node.node.scope
    return not (
        isinstance(parent, cloudwatch.AlarmBase)
        and parent.node.default_child is not None
        and parent.node.default_child.node.path == node.node.path
    )


def _has_actions(resource: IConstruct | None, stack: Stack) -> bool:
    """Whether an alarm's resource (``_Placement.resource``) has an alarm, OK or insufficient-data action."""
    names = ("alarm_actions", "ok_actions", "insufficient_data_actions")
    return any(stack.resolve([getattr(resource, name, None) for name in names]) or ())


def _alarm_reference(alarm: CfnResource) -> cloudwatch.IAlarm:
    """An ``IAlarm`` for an L1 alarm, for actions whose ``bind`` needs one."""
    existing = alarm.node.try_find_child(_ROUTED_ALARM_ID)
    if isinstance(existing, cloudwatch.AlarmBase):  # the imported alarm made on a previous call
        return existing
    return cloudwatch.Alarm.from_alarm_arn(alarm, _ROUTED_ALARM_ID, alarm.get_att("Arn").to_string())


def _alarms_of(stack: Stack) -> Iterator[IConstruct]:
    """The alarms whose stack is ``stack`` (not those of its nested stacks), lazily: ``any`` stops at the first."""
    return (node for node in stack.node.find_all() if _is_alarm(node) and Stack.of(node).node.path == stack.node.path)


def _stacks_under(scope: IConstruct) -> list[Stack]:
    """The stacks in ``scope``, and the stack ``scope`` is in."""
    stacks = [node for node in scope.node.find_all() if isinstance(node, Stack)]  # no Node call per construct
    if not Stage.is_stage(scope) and not Stack.is_stack(scope):
        stacks.append(Stack.of(scope))
    return stacks


def _stages_under(scope: IConstruct) -> list[Stage]:
    """The stages below ``scope``. A stage is never inside a stack, so stacks are not searched."""
    found: list[Stage] = []
    for child in scope.node.children:
        if Stack.is_stack(child):
            continue
        if isinstance(child, Stage):
            found.append(child)
        found += _stages_under(child)
    return found


def _is_routing_of(aspect: object, scope: IConstruct) -> TypeGuard[AlarmRouting]:
    return isinstance(aspect, AlarmRouting) and aspect.scope is scope


def _refuse_unrouted_stages(scope: Stage) -> None:
    """CDK has already synthesized nested Stages when this runs; name those nothing routed."""
    for stage in _stages_under(scope):
        if any(isinstance(aspect, AlarmRouting) for aspect in Aspects.of(stage).all):
            continue
        unrouted = [
            node.node.path
            for node in stage.node.find_all()
            if _is_alarm(node) and not _has_actions(_placement_of(node, node.node).resource, Stack.of(node))
        ]
        if unrouted:
            raise ValueError(
                f"route_alarms({scope.node.path or 'app'}): stage {stage.node.path} was created after the call, so "
                f"its alarms ({', '.join(unrouted[:3])}...) are not routed; call route_alarms after creating "
                "your stages, or route_alarms(stage) as well"
            )
