"""An encrypted SNS topic that CloudWatch alarms can publish to, with the people who read it."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .queue import dead_letter_alarm, standalone_dead_letter_queue
from .topic import SecureTopic

#: The service principal CloudWatch alarms publish with.
CLOUDWATCH_SERVICE_PRINCIPAL = "cloudwatch.amazonaws.com"
#: What a service needs on the key of an encrypted topic to publish to it (the SNS Developer Guide,
#: "Enable compatibility between event sources from AWS services and encrypted topics").
KEY_ACTIONS_FOR_PUBLISHING = ("kms:Decrypt", "kms:GenerateDataKey*")


class AlarmTopic(Construct):
    """Where alarms go: an SNS topic, encrypted with a customer-managed key, that CloudWatch may use.

    CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed ``alias/aws/sns`` key,
    and the SSL-only topic policy of ``SecureTopic`` replaces SNS's default policy. So this topic's
    key policy lets ``cloudwatch.amazonaws.com`` use the key (``kms:Decrypt``,
    ``kms:GenerateDataKey*``) and its topic policy lets it ``sns:Publish``, both only on behalf of
    this account's alarms in this region (``aws:SourceAccount`` and ``aws:SourceArn`` on
    ``arn:<partition>:cloudwatch:<region>:<account>:alarm:*``).

    What it makes:
      * ``secure_topic``: the ``SecureTopic`` it is built on;
      * ``topic``: the ``sns.Topic`` (standard, not FIFO: alarms publish to standard topics);
      * ``key``: the KMS key (rotation on), or the one you passed (under the strict profile a key
        made here lets only AWS services create grants on it, as ``SecureTopic``'s does);
      * ``failed_deliveries_alarm``: fires when SNS fails to deliver a notification.
        ``route_alarms`` sends it to this very topic with an alarm action only: an OK action would
        loop with a broken subscriber (each failed OK message turns the alarm back to ALARM). Its
        ALARM message reaches the subscribers that still work, and it stays visible in the
        CloudWatch console when none does;
      * ``dead_letter_queue`` and ``dead_letter_alarm`` (only with ``email``): the e-mail
        subscriptions' dead-letter queue (SQS-managed encryption, 14 days), which keeps the
        notifications SNS could not deliver, and its alarm (routed like the one above);
      * ``alarm_action``: an ``SnsAction`` for ``alarm.add_alarm_action(...)``.

    Args:
        email: one address or several; each gets an e-mail subscription (SNS sends each a
            confirmation link first). Default: none.
        subscriptions: any other ``sns.ITopicSubscription`` (SQS, Lambda, HTTPS, SMS...), added as
            given: give it its own ``dead_letter_queue``. Default: none.
        encryption_key: an existing KMS key made in this app (its policy gets the CloudWatch
            statement). Default: a new key with yearly rotation. An imported key is refused: its
            policy cannot be changed here, so CloudWatch could not publish.
        display_name: shown in e-mail and SMS subscriptions. Default: none.
        key_removal_policy: for a key this construct creates. Default DESTROY (after the KMS
            waiting period), as notifications are not kept.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        email: str | Sequence[str] | None = None,
        subscriptions: Sequence[sns.ITopicSubscription] = (),
        encryption_key: kms.IKey | None = None,
        display_name: str | None = None,
        key_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, id)
        addresses = email_addresses(email)
        self.secure_topic = SecureTopic(
            self,
            "Encrypted",
            encryption_key=encryption_key,
            display_name=display_name,
            key_removal_policy=key_removal_policy,
        )
        self.topic = self.secure_topic.topic
        self.key = self.secure_topic.key
        self.failed_deliveries_alarm = self.secure_topic.failed_deliveries_alarm
        self.email_addresses: tuple[str, ...] = addresses

        stack = Stack.of(self)
        from_this_accounts_alarms = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {
                "aws:SourceArn": stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name="*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            },
        }
        key_policy = self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncryptNotifications",
                principals=[iam.ServicePrincipal(CLOUDWATCH_SERVICE_PRINCIPAL)],
                actions=list(KEY_ACTIONS_FOR_PUBLISHING),
                # In a key policy "*" is the key the policy belongs to.
                resources=["*"],
                conditions=from_this_accounts_alarms,
            )
        )
        if not key_policy.statement_added:
            raise ValueError(
                f"{self.node.path}: encryption_key is imported, so its key policy cannot let CloudWatch "
                "use it and alarms could not publish; pass a kms.Key made in this app, or leave "
                "encryption_key out to get a new key"
            )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_SERVICE_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=from_this_accounts_alarms,
            )
        )
        self.dead_letter_queue: sqs.Queue | None = None
        self.dead_letter_alarm = None
        if addresses:
            self.dead_letter_queue = standalone_dead_letter_queue(
                self,
                "UndeliveredNotifications",
                dead_letter_queue_of="the dead-letter queue of the topic's e-mail subscriptions (their redrive policy)",
            )
            self.dead_letter_alarm = dead_letter_alarm(self, self.dead_letter_queue)
        for address in addresses:
            self.topic.add_subscription(
                sns_subscriptions.EmailSubscription(address, dead_letter_queue=self.dead_letter_queue)
            )
        for subscription in subscriptions:
            self.topic.add_subscription(subscription)

    @property
    def alarm_action(self) -> cloudwatch_actions.SnsAction:
        """An alarm action that publishes to this topic."""
        return cloudwatch_actions.SnsAction(self.topic)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [alarm for alarm in (self.failed_deliveries_alarm, self.dead_letter_alarm) if alarm is not None]


def email_addresses(email: str | Sequence[str] | None) -> tuple[str, ...]:
    """``email`` as a tuple of addresses: one string may hold several, separated by commas.

    Raises ``ValueError`` for an entry that is not an e-mail address.
    """
    if email is None:
        return ()
    entries = email.split(",") if isinstance(email, str) else list(email)
    addresses = []
    for entry in entries:
        if not isinstance(entry, str):
            raise ValueError(f"email: expected e-mail addresses as strings, got {entry!r}")
        address = entry.strip()
        if not address:
            continue
        local, at, domain = address.partition("@")
        if not (local and at and domain) or " " in address:
            raise ValueError(f"email: {address!r} is not an e-mail address (expected name@example.com)")
        addresses.append(address)
    return tuple(addresses)
