"""S3 buckets and the CDK's bucket-notification custom resources, created on the local endpoint.

moto's S3 delivers object-created notifications to SQS queues itself (an ``s3:TestEvent`` first,
prefix and suffix filters honoured, keys URL-encoded as on AWS), so configuring them here is all a
local run needs for uploads to reach a buffer queue and its poller.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from .provision_stack import NotLocal, Resource, StackProvisionerBase, error_code

# Service limit on bucket names (which must also be lower case).
_BUCKET_NAME_LIMIT = 63
#: The custom resource type the CDK uses for a bucket's notification configuration.
BUCKET_NOTIFICATIONS_TYPE = "Custom::S3BucketNotifications"


class S3Provisioner(StackProvisionerBase):
    """Creates a stack's buckets (versioning as the template says) and their SQS notifications."""

    def _bucket(self, resource: Resource) -> None:
        name = resource.prop("BucketName") or self._physical_name(resource.logical_id, _BUCKET_NAME_LIMIT).lower()
        s3 = self.run.clients("s3")
        try:
            s3.create_bucket(Bucket=name)
        except ClientError as error:  # it exists from an earlier run: reuse it as it is
            if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        if (resource.prop("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        self._record(
            resource.logical_id,
            name,
            Arn=f"arn:aws:s3:::{name}",
            DomainName=f"{name}.s3.amazonaws.com",
            RegionalDomainName=f"{name}.s3.{self.region}.amazonaws.com",
        )

    def _bucket_notifications(self, resource: Resource) -> None:
        configuration = resource.required("NotificationConfiguration")
        unsupported = sorted(set(configuration) - {"QueueConfigurations"})
        if unsupported:
            raise NotLocal(f"only SQS notifications are delivered locally, not {', '.join(unsupported)}")
        self.run.clients("s3").put_bucket_notification_configuration(
            Bucket=resource.required("BucketName"), NotificationConfiguration=configuration
        )
        self._record(resource.logical_id, self._stable_uuid(resource.logical_id))
