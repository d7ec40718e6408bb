"""SQS queues, SNS topics and the topics' SQS subscriptions, created on the local endpoint."""

from __future__ import annotations

from botocore.exceptions import ClientError

from .provision_stack import NotLocal, Resource, StackProvisionerBase, attribute_string, error_code, flag

# Service limits on physical names.
_QUEUE_NAME_LIMIT = 80
_TOPIC_NAME_LIMIT = 256

_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoThroughputLimit",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "VisibilityTimeout",
)


class MessagingProvisioner(StackProvisionerBase):
    """Creates a stack's queues, topics and SQS subscriptions."""

    def _queue(self, resource: Resource) -> None:
        fifo = flag(resource.prop("FifoQueue", False))
        name = resource.prop("QueueName") or self._physical_name(
            resource.logical_id, _QUEUE_NAME_LIMIT, ".fifo" if fifo else ""
        )
        attributes = {
            key: attribute_string(resource.prop(key)) for key in _QUEUE_ATTRIBUTES if key in resource.properties
        }
        if fifo:
            attributes["FifoQueue"] = "true"
        sqs = self.run.clients("sqs")
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as error:  # it exists with other attributes: reuse it as it is
            if error_code(error) != "QueueAlreadyExists":
                raise
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.run.queue_urls[arn] = url
        self._record(resource.logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)

    def _topic(self, resource: Resource) -> None:
        fifo = flag(resource.prop("FifoTopic", False))
        name = resource.prop("TopicName") or self._physical_name(
            resource.logical_id, _TOPIC_NAME_LIMIT, ".fifo" if fifo else ""
        )
        attributes = {"FifoTopic": "true"} if fifo else {}
        if "ContentBasedDeduplication" in resource.properties:
            attributes["ContentBasedDeduplication"] = attribute_string(resource.prop("ContentBasedDeduplication"))
        arn = self.run.clients("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        self._record(resource.logical_id, arn, TopicArn=arn, TopicName=name)

    def _subscription(self, resource: Resource) -> None:
        protocol = resource.required("Protocol")
        if protocol != "sqs":
            raise NotLocal(f"only SQS subscriptions are delivered locally, not {protocol}")
        attributes = {
            key: attribute_string(resource.prop(key))
            for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
            if key in resource.properties
        }
        arn = self.run.clients("sns").subscribe(
            TopicArn=resource.required("TopicArn"),
            Protocol=protocol,
            Endpoint=resource.required("Endpoint"),
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        self._record(resource.logical_id, arn)
