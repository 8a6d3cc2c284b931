"""The test layout is docs/aws.md's, and where moto cannot follow it, the difference is pinned."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.aws import layout

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef


def test_the_layout_has_the_documented_names_and_no_index(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """No index: every item is written once per write (docs/aws.md, "The table")."""
    table = aws.dynamodb().describe_table(TableName="wh-test-events")["Table"]
    assert table.get("GlobalSecondaryIndexes", []) == []
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    ttl = aws.dynamodb().describe_time_to_live(TableName="wh-test-events")
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert deployed.ingest_queue_url.endswith("/wh-test-ingest")
    assert deployed.destination_queue_urls["orders"].endswith("/wh-test-d-orders")
    assert deployed.destination_dlq_urls["orders"].endswith("/wh-test-d-orders-dlq")
    redrive = aws.sqs().get_queue_attributes(
        QueueUrl=deployed.destination_queue_urls["orders"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    assert json.loads(redrive)["maxReceiveCount"] == 3  # the destination's max_attempts
    assert deployed.rules == {
        "github-pushes": "wh-test-r-github-pushes",
        "everything": "wh-test-r-everything",
    }
    # aws-sm:NAME gets <prefix>/NAME; an aws-sm:arn:... is used as it is, not created
    assert set(deployed.secret_ids) == {"github-secret", "orders-signing"}


def test_moto_lacks_the_route_wrappers_event_variable(
    aws: layout.Aws, deployed: layout.Layout
) -> None:
    """docs/aws.md's target input is `<aws.events.event>` (the event without its detail, as
    EventBridge documents it). moto replaces only `<aws.events.event.json>`; given the documented
    variable, its PutEvents fails with a 500 (it cannot parse the template). So the test layout
    uses the .json one: the delivery function reads only the route and `resources`."""
    events = boto3.client(
        "events", config=botocore.config.Config(retries={"max_attempts": 1}), **aws.kwargs()
    )
    sqs = aws.sqs()
    queue = sqs.create_queue(QueueName="probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="probe", EventBusName=deployed.bus, EventPattern='{"source": ["probe"]}')
    template = '{"route": "r", "event": <aws.events.event>}'
    events.put_targets(
        Rule="probe",
        EventBusName=deployed.bus,
        Targets=[{"Id": "q", "Arn": arn, "InputTransformer": {"InputTemplate": template}}],
    )
    entry: PutEventsRequestEntryTypeDef = {
        "Source": "probe",
        "DetailType": "t",
        "Detail": "{}",
        "EventBusName": deployed.bus,
    }
    with pytest.raises(botocore.exceptions.ClientError) as failed:
        events.put_events(Entries=[entry])
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert layout.messages(sqs, queue) == []
