"""An SNS topic encrypted with its own rotating KMS key, reachable over TLS only."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from .alarms import threshold_alarm
from .compliance_resources import rotating_key

#: What SNS calls on an encrypted topic's key on behalf of a publisher.
PUBLISHER_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


def grant_publish(grantee: iam.IGrantable, topic: sns.ITopic, key: kms.IKey | None = None) -> iam.Grant:
    """Let ``grantee`` publish to ``topic``: ``sns:Publish`` on it and, when it is encrypted,
    exactly the KMS actions SNS needs from a publisher on its key.

    ``key`` defaults to the topic's own ``master_key``. Unlike ``topic.grant_publish`` (whose
    ``kms:GenerateDataKey*`` is a wildcard action cdk-nag reports as AwsSolutions-IAM5 on the
    grantee's policy), this grant names no wildcard, so the grantee's stack stays nag-clean.
    """
    grant = iam.Grant.add_to_principal(grantee=grantee, actions=["sns:Publish"], resource_arns=[topic.topic_arn])
    key = key or topic.master_key
    if key is not None:
        key.grant(grantee, *PUBLISHER_KEY_ACTIONS)
    return grant


class SecureTopic(Construct):
    """A topic whose messages are encrypted at rest with a customer-managed key.

    What it makes:
      * ``key``: the KMS key (rotation on), or the one you passed. Under the strict profile a key
        made here lets only AWS services create grants on it (Control Tower's CT.KMS.PR.3); a key
        you pass is yours to shape;
      * ``topic``: the ``sns.Topic`` with an SSL-only topic policy;
      * ``failed_deliveries_alarm``: fires when SNS fails to deliver a notification.

    Publishers: ``grant_publish(grantee)`` (not ``topic.grant_publish``, whose wildcard key action
    cdk-nag reports on the grantee).

    Args:
        encryption_key: an existing KMS key. Default: a new key with yearly rotation.
        fifo: a FIFO topic (ordered, deduplicated). Default False.
        content_based_deduplication: FIFO only. Default False.
        display_name: shown in SMS and email subscriptions.
        key_removal_policy: for a key this construct creates. Default DESTROY (after the
            KMS waiting period), as nothing outlives the topic's messages.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        encryption_key: kms.IKey | None = None,
        fifo: bool = False,
        content_based_deduplication: bool = False,
        display_name: str | None = None,
        key_removal_policy: RemovalPolicy = RemovalPolicy.DESTROY,
    ) -> None:
        super().__init__(scope, id)
        if content_based_deduplication and not fifo:
            raise ValueError("content_based_deduplication needs fifo=True")
        self.key = encryption_key or rotating_key(
            self, "Key", description=f"Encrypts messages of {self.node.path}", removal_policy=key_removal_policy
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            master_key=self.key,
            enforce_ssl=True,
            fifo=fifo or None,
            content_based_deduplication=content_based_deduplication or None,
            display_name=display_name,
        )
        self.failed_deliveries_alarm = threshold_alarm(
            self,
            "FailedDeliveriesAlarm",
            self.topic.metric_number_of_notifications_failed(period=Duration.minutes(1), statistic="Sum"),
            threshold=1,
            description=f"{self.node.path}: notifications failed to deliver",
        )

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` publish: ``sns:Publish`` on the topic, ``kms:GenerateDataKey`` and
        ``kms:Decrypt`` on its key (no wildcard action, so no cdk-nag finding on the grantee)."""
        return grant_publish(grantee, self.topic, self.key)

    @property
    def alarms(self) -> list[cloudwatch.Alarm]:
        """Every alarm this construct made."""
        return [self.failed_deliveries_alarm]
