import boto3


def test_boto3_clients_reach_the_local_server_over_http(aws):
    assert aws.startswith("http://127.0.0.1:")
    sqs = boto3.client("sqs")
    assert sqs.meta.endpoint_url == aws
    url = sqs.create_queue(QueueName="probe")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    messages = sqs.receive_message(QueueUrl=url)["Messages"]
    assert [m["Body"] for m in messages] == ["hello"]


def test_each_test_starts_from_an_empty_account(aws):
    assert boto3.client("sqs").list_queues().get("QueueUrls", []) == []
