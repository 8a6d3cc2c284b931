"""The AWS runtime: moto in server mode with docs/aws.md's layout, the four Lambda handlers run
in-process by tests/aws/runtime.py's driver (API Gateway's and the SQS event source mappings'
parts), and the operator's commands as `whp ... --backend aws --outputs FILE` runs them
(bootstrap/aws.py's operator, over the outputs the Terraform module would print)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.aws import layout
from tests.aws import runtime as driver
from tests.e2e import receiver as receiving
from tests.scenarios import runtimes, whp_config
from webhook_processor import config
from webhook_processor.adapters.aws import items, sqs
from webhook_processor.bootstrap import aws as bootstrap_aws

POLL_SECONDS = 0.1


class AwsRuntime(runtimes.Operated):
    name: whp_config.Kind = "aws"

    def __init__(
        self,
        folder: Path,
        receiver: receiving.Receiver,
        held: whp_config.Secrets,
        aws: layout.Aws,
        monkeypatch: pytest.MonkeyPatch,
        api: driver.Api = "rest",
    ) -> None:
        self.receiver = receiver
        self._api: driver.Api = api  # REST API (payload 1.0, base64 body) or HTTP API (2.0)
        self.secrets = held
        self._aws = aws
        text = whp_config.render("aws", receiver.url(""), held)
        values = {name: held.current(name) for name in whp_config.SECRET_NAMES}
        self._rt = driver.deploy(aws, folder, text, monkeypatch, values)
        self._sqs = aws.sqs()
        deployed = self._rt.deployed
        self._queues = [deployed.ingest_queue_url, *deployed.destination_queue_urls.values()]
        self._outputs = folder / "outputs.json"
        self._outputs.write_text(json.dumps(terraform_outputs(deployed)), encoding="utf-8")
        self._config = config.load(self._rt.config_file)
        self.operator = bootstrap_aws.operator(self._config, str(self._outputs))
        self.moves: list[sqs.Redriven] = []  # the whole-DLQ redrives, as they went

    def send(self, source: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, Any]:
        answer = self._rt.post(source, body, headers, api=self._api)
        return answer.status, answer.json()

    def settle(self) -> None:
        """Pump the ingest queue through the router and the destination queues through the
        delivery function until every queue is empty, in flight included. Backoffs take their
        real time: a failed attempt's message comes back when the visibility timeout the
        delivery function gave it ends (moto honours ChangeMessageVisibility in real time)."""

        def step() -> None:
            if not self._rt.route() + self._rt.deliver():
                time.sleep(POLL_SECONDS)  # a backoff under way

        runtimes.wait_until(self._quiet, self._left, step)
        # Empty queues and the table agree: nothing acknowledged waits without a message.
        assert self.pending() == (0, 0), self.pending()

    def _depths(self) -> dict[str, tuple[int, int]]:
        """(waiting, in flight) of every queue a function reads, by queue name."""
        return {url.rsplit("/", 1)[-1]: sqs.Queue(url, self._sqs).depth() for url in self._queues}

    def _quiet(self) -> bool:
        return all(depth == (0, 0) for depth in self._depths().values())

    def _left(self) -> str:
        return f"(waiting, in flight) by queue: {self._depths()}"

    def redrive_destination(self, destination: str) -> int:
        """As the CLI does it on AWS: the destination's DLQ moved back to its queue (a message
        move task, or the bounded loop where there is none); the delivery function revives each
        dead delivery as its message comes."""
        moved = bootstrap_aws.redrive_queues(self._config, str(self._outputs), destination)
        self.moves += moved.values()
        return sum(done.moved for done in moved.values())

    def rotate_secret(self, name: str, new_value: str) -> None:
        """PutSecretValue moves AWSCURRENT to the new value and AWSPREVIOUS to the old one. A
        warm container reads the secret again within secrets.TTL_SECONDS; here new containers
        start (as locally whp serve restarts), so the rotation is seen at once."""
        self.secrets.rotate(name, new_value)
        self._rt.put_secret(name, new_value)
        self._rt.reset()

    def body_location(self, event_id: str) -> str:
        s3 = self._aws.s3()
        bucket = self._rt.deployed.bucket
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=items.body_ref(event_id))
        return "s3" if listed.get("KeyCount", 0) else "dynamodb"

    def destination_messages(self, destination: str) -> list[Any]:
        """The messages the delivery function was given from `destination`'s queue, parsed."""
        queue = self._rt.deployed.destination_queue_urls[destination].rsplit("/", 1)[-1]
        return [
            json.loads(record["body"])
            for batch in self._rt.batches
            if batch.queue == queue
            for record in batch.records
        ]

    def close(self) -> None:
        self._rt.reset()  # the container's event loop closed, none left to the next test


def terraform_outputs(deployed: layout.Layout) -> dict[str, Any]:
    """`terraform output -json` of the module (infra/terraform/outputs.tf) for this layout."""
    values = {
        "table_name": deployed.table,
        "event_bus_name": deployed.bus,
        "bodies_bucket_name": deployed.bucket,
        "resource_prefix": deployed.prefix,
        "ingest_queue_url": deployed.ingest_queue_url,
        "ingest_dlq_url": deployed.ingest_dlq_url,
        "destination_queue_urls": deployed.destination_queue_urls,
        "destination_dlq_urls": deployed.destination_dlq_urls,
        "secret_ids": deployed.secret_ids,
        "function_names": {
            function: f"{deployed.prefix}-{function}"
            for function in ("ingest", "router", "delivery", "rotation")
        },
    }
    return {name: {"sensitive": False, "value": value} for name, value in values.items()}
