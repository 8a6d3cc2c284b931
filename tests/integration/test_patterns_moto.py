"""Cross-check webhook_processor.patterns against moto's EventBridge, run as a real server.

Every case of tests/unit/patterns_cases.json is replayed through moto: one custom event bus, and
for each distinct pattern a rule with an SQS queue target (the queue policy lets
events.amazonaws.com send); the cases' events go out with PutEvents (10 a call), and the EventIds
that reach the queue are the events moto matched.  moto's verdict must equal ours, except for cases
whose ``moto_skip`` records where moto is known to differ from EventBridge; those are still
replayed, and a ``moto_skip`` that moto no longer needs fails the test so the table stays honest.

Needs ``moto[server]`` (and boto3); skips when it is not installed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from webhook_processor.patterns import compile as compile_pattern

moto_server = pytest.importorskip(
    "moto.server",
    reason="moto[server] is not importable: pip install 'moto[server]'",
    exc_type=ImportError,
)
boto3 = pytest.importorskip(
    "boto3", reason="boto3 is not importable (moto[server] brings it)", exc_type=ImportError
)

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "unit" / "patterns_cases.json").read_text(encoding="utf-8")
)

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
BUS = "patterns-crosscheck"
ENVELOPE = {"version", "id", "source", "detail-type", "time", "region", "account", "resources"}
ENVELOPE |= {"detail"}
# Top-level pattern keys moto's envelope reproduces, and the value it gives them (None: whatever
# PutEvents sent).  'time' (an epoch number in moto) and 'id' (random) cannot be reproduced.
REPRODUCED: dict[str, str | None] = {
    "source": None,
    "detail-type": None,
    "detail": None,
    "resources": None,
    "account": ACCOUNT,
    "region": REGION,
    "version": "0",
}


def _top_level_keys(pattern: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    for key, value in pattern.items():
        if key == "$or" and isinstance(value, list):
            for branch in value:
                keys |= _top_level_keys(branch)
        else:
            keys.add(key)
    return keys


def moto_cannot_replay(case: dict[str, Any]) -> str | None:
    """Why moto's PutEvents cannot reproduce the case's envelope, or None if it can."""
    event = case["event"]
    if not set(event) <= ENVELOPE:
        return f"event has non-envelope keys {sorted(set(event) - ENVELOPE)}"
    if not (isinstance(event.get("source"), str) and event["source"]):
        return "PutEvents needs a non-empty source"
    if not (isinstance(event.get("detail-type"), str) and event["detail-type"]):
        return "PutEvents needs a non-empty detail-type"
    if not isinstance(event.get("detail"), dict):
        return "PutEvents needs a JSON object as detail"
    resources = event.get("resources", [])
    if not (isinstance(resources, list) and all(isinstance(r, str) for r in resources)):
        return "PutEvents resources are strings"
    for key in _top_level_keys(case["pattern"]):
        if key not in REPRODUCED:
            return f"the pattern uses {key!r}, which moto's envelope does not reproduce"
        wanted = REPRODUCED[key]
        if wanted is not None and event.get(key) != wanted:
            return f"moto's envelope has {key}={wanted!r}, the case {event.get(key)!r}"
    return None


def test_every_unreplayable_case_records_why() -> None:
    for case in CASES:
        problem = moto_cannot_replay(case)
        assert problem is None or "moto_skip" in case, f"{case['name']}: {problem}"


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[Any, Any]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto accepts any credentials
            region_name=REGION,
        )
        endpoint = f"http://{host}:{port}"
        yield (
            session.client("events", endpoint_url=endpoint),
            session.client("sqs", endpoint_url=endpoint),
        )
    finally:
        server.stop()


def _queue_policy(queue_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                }
            ],
        }
    )


def _replay(
    events: Any, sqs: Any, index: int, pattern: Any, cases: list[dict[str, Any]]
) -> set[str]:
    """Names of the cases whose event moto delivered for this pattern."""
    queue_url = sqs.create_queue(QueueName=f"patterns-{index}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": _queue_policy(queue_arn)})
    rule = f"patterns-{index}"
    events.put_rule(Name=rule, EventBusName=BUS, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=BUS, Targets=[{"Id": "q", "Arn": queue_arn}])
    by_event_id: dict[str, str] = {}
    try:
        for start in range(0, len(cases), 10):
            batch = cases[start : start + 10]
            entries = [
                {
                    "Source": case["event"]["source"],
                    "DetailType": case["event"]["detail-type"],
                    "Detail": json.dumps(case["event"]["detail"]),
                    "Resources": case["event"].get("resources", []),
                    "EventBusName": BUS,
                }
                for case in batch
            ]
            answer = events.put_events(Entries=entries)
            assert answer["FailedEntryCount"] == 0, answer
            for case, entry in zip(batch, answer["Entries"], strict=True):
                by_event_id[entry["EventId"]] = case["name"]
        delivered: set[str] = set()
        while True:  # moto delivers during PutEvents, so the queue is complete by now
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                delivered.add(by_event_id[json.loads(message["Body"])["id"]])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return delivered
    finally:
        events.remove_targets(Rule=rule, EventBusName=BUS, Ids=["q"])
        events.delete_rule(Name=rule, EventBusName=BUS)
        sqs.delete_queue(QueueUrl=queue_url)


@pytest.fixture(scope="module")
def moto_verdicts(aws: tuple[Any, Any]) -> dict[str, bool]:
    """For every replayable case: did moto deliver its event to its pattern's rule?"""
    events, sqs = aws
    events.create_event_bus(Name=BUS)
    groups: dict[str, list[dict[str, Any]]] = {}
    for case in CASES:
        if moto_cannot_replay(case) is None:
            groups.setdefault(json.dumps(case["pattern"], sort_keys=True), []).append(case)
    verdicts: dict[str, bool] = {}
    for index, group in enumerate(groups.values()):
        delivered = _replay(events, sqs, index, group[0]["pattern"], group)
        verdicts.update({case["name"]: case["name"] in delivered for case in group})
    return verdicts


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_moto_agrees(case: dict[str, Any], moto_verdicts: dict[str, bool]) -> None:
    ours = compile_pattern(case["pattern"]).matches(case["event"])
    assert ours is case["match"]
    skip = case.get("moto_skip")
    if case["name"] not in moto_verdicts:
        assert skip, f"{case['name']}: moto cannot replay it and no moto_skip says why"
        pytest.skip(f"moto_skip: {skip}")
    theirs = moto_verdicts[case["name"]]
    if skip:
        assert theirs is not ours, f"moto now agrees on {case['name']!r}; drop its moto_skip"
        pytest.skip(f"moto_skip: {skip}")
    assert theirs is ours, f"moto says {theirs}, EventBridge semantics say {ours}"
