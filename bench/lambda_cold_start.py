"""Lambda cold start: each handler, from its package, against a process that only uses boto3.

Builds the package (`whp aws build --arch x86_64 --python 3.13`, this machine's architecture),
unpacks it, and makes a venv of Python 3.13 holding only boto3 (what the Lambda runtime gives).
moto runs in server mode on 127.0.0.1 with the resources of docs/aws.md (prefix `wh-bench`), and a
receiver on 127.0.0.1 answers the delivery's POST. Then, in interleaved rounds (the order rotates
each round), fresh processes (bench/lambda_cold_start_child.py) measure:

- baseline: `import boto3`, one client, one call (SQS ListQueues);
- each handler: the import of `webhook_processor.entrypoints.lambdas.NAME`, then its first
  invocation with a realistic event. Until a handler module exists in the package, a stand-in
  takes its place (imports what the handler will import, does what its first invocation will
  do: load the embedded whp.yaml, make its boto3 clients, resolve a secret, make its calls), and
  the report says so on every line.

Targets: a handler's import at most 1.4 x the baseline; its first invocation (import + first
call: the whole cold start) at most 2 x. Times are taken inside the process (interpreter start-up
is the same for every subject and left out), with the page cache warm after the first round
(which is not counted). Also printed: the package's size (target: under 10 MB zipped).

Usage:  python -m bench.lambda_cold_start [--rounds 6] [--workdir DIR] [--keep]
Exit status: 0 measured (targets met or not), 1 a process failed, 2 no Python 3.13 here,
130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import http.server
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import boto3
from moto import server as moto_server

from webhook_processor.adapters.aws import names
from webhook_processor.packaging import lambda_zip, wheels

ROOT = Path(__file__).resolve().parent.parent
CHILD = (ROOT / "bench" / "lambda_cold_start_child.py").read_text(encoding="utf-8")
PYTHON = "3.13"
ARCH = "x86_64"
PREFIX = names.prefix("bench")
HANDLERS = ("ingest", "router", "delivery", "rotation")
IMPORT_TARGET = 1.4
INVOKE_TARGET = 2.0
SIZE_TARGET = 10_000_000
GITHUB_SECRET = "bench-github-secret"  # moto's, made up for the run
CONFIG = """\
sources:
  github: {verify: github, secret: "aws-sm:github"}
destinations:
  orders: {url: "%s", signing_secret: "aws-sm:orders"}
routes:
  - {name: pushes, destination: orders, pattern: {source: [github]}}
"""
ACCOUNT = "123456789012"  # moto's


def build_package(workdir: Path, receiver_url: str) -> lambda_zip.Result:
    (workdir / "whp.yaml").write_text(CONFIG % receiver_url)
    cache = wheels.default_cache(os.environ) / "wheels"
    opts = lambda_zip.Options(
        config=workdir / "whp.yaml",
        output=workdir / "whp-lambda.zip",
        cache=cache,
        arch=ARCH,
        python=PYTHON,
        interpreter=wheels.find_python(PYTHON, os.environ),
    )
    return lambda_zip.build(opts, log=print)


def boto3_venv(where: Path, python: str) -> Path:
    subprocess.run([python, "-m", "venv", str(where)], check=True)
    version = f"boto3=={boto3.__version__}"
    pip = [str(where / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, version], check=True, capture_output=True)
    return where / "bin/python"


@contextlib.contextmanager
def moto() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()


def create_resources(endpoint: str) -> dict[str, str]:
    """The layout of docs/aws.md; returns the functions' environment."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    keys: list[tuple[str, Literal["HASH", "RANGE"]]] = [("pk", "HASH"), ("sk", "RANGE")]
    ddb.create_table(
        TableName=names.table(PREFIX),
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k, _ in keys],
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in keys],
    )
    sqs = session.client("sqs", endpoint_url=endpoint)
    for queue in (names.ingest_dlq(PREFIX), names.destination_dlq(PREFIX, "orders")):
        sqs.create_queue(QueueName=queue)
    ingest_url = sqs.create_queue(QueueName=names.ingest_queue(PREFIX))["QueueUrl"]
    sqs.create_queue(QueueName=names.destination_queue(PREFIX, "orders"))
    session.client("events", endpoint_url=endpoint).create_event_bus(Name=names.bus(PREFIX))
    sm = session.client("secretsmanager", endpoint_url=endpoint)
    sm.create_secret(Name=names.secret_id(PREFIX, "github"), SecretString=GITHUB_SECRET)
    orders = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    orders_id = names.secret_id(PREFIX, "orders")
    sm.create_secret(Name=orders_id, SecretString=orders)
    # rotation on (moto stages a version of its own at once: the value is put back after it)
    sm.rotate_secret(SecretId=orders_id, RotationRules={"AutomaticallyAfterDays": 30})
    sm.put_secret_value(SecretId=orders_id, SecretString=orders)
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=names.bucket(PREFIX, ACCOUNT))
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "WHP_PREFIX": PREFIX,
        "WHP_TABLE": names.table(PREFIX),
        "WHP_BUS": names.bus(PREFIX),
        "WHP_INGEST_QUEUE_URL": ingest_url,
        "WHP_BODIES_BUCKET": names.bucket(PREFIX, ACCOUNT),
        "POWERTOOLS_SERVICE_NAME": "whp",
        "POWERTOOLS_METRICS_NAMESPACE": "whp",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def queue_arn(queue: str) -> str:
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}"


def sqs_event(body: dict[str, Any], queue: str) -> dict[str, Any]:
    """A one-record SQS batch as Lambda's event source mapping sends it."""
    text = json.dumps(body)
    now = str(int(time.time() * 1000))
    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "bench-" + uuid.uuid4().hex,
        "body": text,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": ACCOUNT,
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn(queue),
        "awsRegion": "us-east-1",
    }
    return {"Records": [record]}


def event_for(name: str, real: bool, event_id: str) -> dict[str, Any]:
    """A first event for each handler. For a real handler, the shapes of docs/aws.md: API
    Gateway's REST proxy event, the ingest queue's `{"event_id"}`, a destination queue's
    `{"route", "event"}`, a rotation step. The stand-ins read only what they use."""
    if name == "ingest":  # the body is verified over its exact bytes
        body = json.dumps({"ref": "refs/heads/main", "zen": "bench"})
        sig = hmac.new(GITHUB_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": f"sha256={sig}",
        }
        return {
            "resource": "/webhooks/{source}",
            "path": "/webhooks/github",
            "httpMethod": "POST",
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "pathParameters": {"source": "github"},
            "requestContext": {"requestId": str(uuid.uuid4()), "stage": "live"},
            "body": body,
            "isBase64Encoded": False,
        }
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": "github",
        "detail-type": "push",
        "account": ACCOUNT,
        "region": "us-east-1",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "resources": [f"whp:event:{event_id}" if real else event_id],
        "detail": {"ref": "refs/heads/main"},
    }
    if name == "router":
        if not real:
            return envelope
        return sqs_event({"event_id": event_id}, names.ingest_queue(PREFIX))
    if name == "delivery":
        message = {"route": "pushes", "event": envelope}
        return sqs_event(message, names.destination_queue(PREFIX, "orders"))
    return {
        "SecretId": names.secret_id(PREFIX, "orders"),
        "ClientRequestToken": event_id if real else str(uuid.uuid4()),
        "Step": "createSecret",
    }


class Seeds:
    """What each real handler's first invocation works on, fresh every round: an event stored
    by the real ingest handler and not routed yet (the router's), one routed already (the
    delivery's: a delivery to attempt), a rotation's pending version (the rotation's). Made
    before the rounds, untimed."""

    def __init__(self, python: Path, task: Path, env: dict[str, str], real: set[str]) -> None:
        self._python, self._task, self._env, self._real = python, task, env, real
        self._unrouted: list[str] = []
        self._routed: list[str] = []

    def make(self, rounds: int) -> None:
        if "ingest" not in self._real:
            return
        for _ in range(2 * rounds):
            run_child(
                self._python,
                self._task,
                self._env,
                ["handler", "ingest"],
                event_for("ingest", True, ""),
            )
        ids = self._queued()
        if len(ids) != 2 * rounds:
            raise RuntimeError(f"the ingest handler queued {len(ids)} of {2 * rounds} events")
        self._routed, self._unrouted = ids[:rounds], ids[rounds:]
        if "router" in self._real:
            for start in range(0, rounds, 10):
                batch = [
                    sqs_event({"event_id": i}, names.ingest_queue(PREFIX))["Records"][0]
                    for i in self._routed[start : start + 10]
                ]
                run_child(
                    self._python, self._task, self._env, ["handler", "router"], {"Records": batch}
                )

    def _queued(self) -> list[str]:
        sqs = moto_client("sqs", self._env)
        url = self._env["WHP_INGEST_QUEUE_URL"]
        found: list[str] = []
        while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for m in got:
                found.append(json.loads(m["Body"])["event_id"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return found

    def event(self, name: str, real: bool) -> Any:
        if not real:
            return event_for(name, False, "evt_seed")
        if name == "router":
            return event_for(name, True, self._unrouted.pop())
        if name == "delivery":
            return event_for(name, True, self._routed.pop())
        if name == "rotation":
            return event_for(name, True, pending_version(self._env))
        return event_for(name, True, "")


def moto_client(service: str, env: dict[str, str]) -> Any:
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def pending_version(env: dict[str, str]) -> str:
    """A version of the orders secret staged AWSPENDING, as RotateSecret makes one."""
    sm = moto_client("secretsmanager", env)
    token = str(uuid.uuid4())
    sm.put_secret_value(
        SecretId=names.secret_id(PREFIX, "orders"),
        ClientRequestToken=token,
        SecretString="whsec_" + "QmVuY2hQZW5kaW5nU2VjcmV0S2V5Qnl0ZXMxMjM0NTY=",
        VersionStages=["AWSPENDING"],
    )
    return token


def run_child(python: Path, task: Path, env: dict[str, str], argv: list[str], event: Any) -> Any:
    child_env = {
        "PATH": os.environ["PATH"],
        "LAMBDA_TASK_ROOT": str(task),
        "PYTHONDONTWRITEBYTECODE": "1",  # the task root is read-only on Lambda
        "BENCH_EVENT": json.dumps(event),
        **env,
    }
    done = subprocess.run(
        [str(python), "-s", "-c", CHILD, *argv],
        cwd=task,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def real_handlers(task: Path) -> set[str]:
    """The handlers whose module is in the package: measured themselves, not by a stand-in."""
    lambdas = task / "webhook_processor" / "entrypoints" / "lambdas"
    return {name for name in HANDLERS if (lambdas / f"{name}.py").is_file()}


def subjects(real: set[str]) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = [("baseline", ["baseline"])]
    for name in HANDLERS:
        if name in real:
            out.append((name, ["handler", name]))
        else:
            out.append((f"{name} (stand-in)", ["standin", name]))
    return out


def print_report(times: dict[str, list[dict[str, float]]]) -> None:
    base = statistics.median(t["import"] + t["invoke"] for t in times["baseline"])
    print(f"\nbaseline (import boto3 + one client + one call): median {base * 1000:.0f} ms")
    print(
        f"{'subject':<22} {'import':>9} {'x base':>7} {'invoke':>9} "
        f"{'cold start':>11} {'x base':>7}"
    )
    for name, runs in times.items():
        imp = statistics.median(t["import"] for t in runs)
        inv = statistics.median(t["invoke"] for t in runs)
        total = statistics.median(t["import"] + t["invoke"] for t in runs)
        print(
            f"{name:<22} {imp * 1000:>7.0f}ms {imp / base:>7.2f} {inv * 1000:>7.0f}ms "
            f"{total * 1000:>9.0f}ms {total / base:>7.2f}"
        )
    for name, runs in times.items():
        if name == "baseline":
            continue
        imp = statistics.median(t["import"] for t in runs) / base
        total = statistics.median(t["import"] + t["invoke"] for t in runs) / base
        print(
            f"target {name}: import {imp:.2f} x <= {IMPORT_TARGET}: "
            f"{'ok' if imp <= IMPORT_TARGET else 'FAIL'}; "
            f"first invocation {total:.2f} x <= {INVOKE_TARGET}: "
            f"{'ok' if total <= INVOKE_TARGET else 'FAIL'}"
        )
    if any("stand-in" in name for name in times):
        print(
            "NOTE: '(stand-in)' rows measure what the handler will import and do, not the "
            "handler itself: its module is not in the package yet."
        )


def bench(args: argparse.Namespace, workdir: Path) -> int:
    interpreter = wheels.find_python(PYTHON, os.environ)
    if interpreter is None:
        print(
            f"no Python {PYTHON} here (pyenv, python{PYTHON}, WHP_LAMBDA_PYTHON)", file=sys.stderr
        )
        return 2
    with moto() as endpoint, receiver() as receiver_url:
        return measure(args, workdir, interpreter, endpoint, receiver_url)


def measure(
    args: argparse.Namespace, workdir: Path, interpreter: str, endpoint: str, receiver_url: str
) -> int:
    result = build_package(workdir, receiver_url)
    pkg = result.function
    heaviest = ", ".join(f"{what} {n / 1e6:.2f} MB" for what, n in pkg.weights[:6])
    verdict = "ok" if pkg.size < SIZE_TARGET else "FAIL"
    print(
        f"package: {pkg.size / 1e6:.2f} MB zipped ({pkg.size:,} bytes), "
        f"{pkg.unzipped / 1e6:.1f} MB unzipped; target < 10 MB: {verdict}"
    )
    print(f"  heaviest: {heaviest}")
    task = workdir / "task"
    with zipfile.ZipFile(pkg.path) as zf:
        zf.extractall(task)
    python = boto3_venv(workdir / "venv", interpreter)
    env = create_resources(endpoint)
    real = real_handlers(task)
    seeds = Seeds(python, task, env, real)
    seeds.make(args.rounds + 1)
    runs = subjects(real)
    print(
        f"Python {PYTHON} venv with boto3 {boto3.__version__} only; moto at {endpoint}; "
        f"real handlers: {', '.join(sorted(real)) or 'none yet (stand-ins)'}"
    )
    times: dict[str, list[dict[str, float]]] = {name: [] for name, _ in runs}
    for round_no in range(args.rounds + 1):  # round 0 warms the page cache: not counted
        shift = round_no % len(runs)
        for name, argv in runs[shift:] + runs[:shift]:
            event = seeds.event(argv[-1], argv[0] == "handler")
            t = run_child(python, task, env, argv, event)
            if round_no:
                times[name].append(t)
        if round_no:
            cells = [
                f"{n} {(ts[-1]['import'] + ts[-1]['invoke']) * 1000:.0f}" for n, ts in times.items()
            ]
            print(f"round {round_no} (ms, import + first invocation): " + ", ".join(cells))
    print_report(times)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Lambda cold start: handlers against boto3 alone.")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--workdir", help="where the package, its venv and unpacked copy go")
    p.add_argument("--keep", action="store_true", help="keep the workdir")
    args = p.parse_args(argv)
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="whp-cold-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        return bench(args, base)
    except RuntimeError as exc:
        print(f"invalid run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
