"""Kinesis data streams created on the local endpoint (moto's server serves ``kinesis``).

Encryption is not reproduced (moto keeps records in the clear); an on-demand stream gets moto's
on-demand shard count, a provisioned one its ``ShardCount``. Enhanced fan-out consumers are not
made: a mapping that reads through one is polled from its stream (see ``pollers_kinesis``).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .provision_stack import Resource, StackProvisionerBase, error_code

# Service limit on physical names.
_STREAM_NAME_LIMIT = 128


class KinesisProvisioner(StackProvisionerBase):
    """Creates a stack's Kinesis streams."""

    def _kinesis_stream(self, resource: Resource) -> None:
        name = resource.prop("Name") or self._physical_name(resource.logical_id, _STREAM_NAME_LIMIT)
        mode = (resource.prop("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
        request: dict[str, Any] = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
        if mode == "PROVISIONED":
            request["ShardCount"] = int(resource.prop("ShardCount", 1))
        kinesis = self.run.clients("kinesis")
        try:
            kinesis.create_stream(**request)
        except ClientError as error:
            if error_code(error) != "ResourceInUseException":
                raise  # otherwise it exists: reused as it is
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        self._record(resource.logical_id, name, Arn=arn)
