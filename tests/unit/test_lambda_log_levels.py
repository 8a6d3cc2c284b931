"""The functions' log level is the module's `log_level` (POWERTOOLS_LOG_LEVEL) under Lambda's
advanced logging controls too.

The module's logging_config (infra/terraform/lambda.tf) makes Lambda set AWS_LAMBDA_LOG_LEVEL,
which powertools' Logger takes over POWERTOOLS_LOG_LEVEL, and which the Python runtime gives
its root logger (aws-lambda-python-runtime-interface-client, bootstrap.py `_setup_logging`).
The module keeps Lambda's level at INFO or DEBUG (a filter that drops nothing the package
writes); these tests hold the package to POWERTOOLS_LOG_LEVEL, and third-party libraries to
Python's WARNING, as under the Text format (botocore writes response bodies, secret values
included, at DEBUG).

Each case runs in a fresh interpreter: powertools' Logger and the logging tree are global.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# One invocation of a function whose handler logs at every level through the core's loggers,
# powertools' Logger and a third-party logger (botocore's), after the root logger is set up as
# the runtime sets it up: a handler on stdout, and AWS_LAMBDA_LOG_LEVEL as its level if set.
SCRIPT = """
import logging, os, sys
root = logging.getLogger()
root.addHandler(logging.StreamHandler(sys.stdout))
if os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
    root.setLevel(os.environ["AWS_LAMBDA_LOG_LEVEL"])

from webhook_processor.entrypoints.lambdas import common

class Context:
    function_name = "wh-test-delivery"
    function_version = "1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:wh-test-delivery"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-4000-8000-000000000000"
    log_group_name = "/aws/lambda/wh-test-delivery"
    log_stream_name = "test"

def build():
    def run(event, context):
        core = logging.getLogger("whp.delivery")
        core.debug("core-debug")
        core.info("core-info")
        core.warning("core-warning")
        function.logger.info("logger-info")
        function.logger.warning("logger-warning")
        logging.getLogger("botocore.parsers").debug("third-party-debug")
        logging.getLogger("botocore.credentials").info("third-party-info")
        logging.getLogger("botocore.hooks").warning("third-party-warning")
        return "done"
    return run

function = common.Function(build)
assert function({}, Context()) == "done"
"""


def invoke(lambda_level: str | None, package_level: str) -> tuple[set[str], str]:
    """The messages one invocation writes to stdout, and its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA_", "POWERTOOLS"))}
    env.update(
        POWERTOOLS_SERVICE_NAME="whp",
        POWERTOOLS_METRICS_NAMESPACE="whp",
        POWERTOOLS_LOG_LEVEL=package_level,
    )
    if lambda_level is not None:
        env["AWS_LAMBDA_LOG_LEVEL"] = lambda_level
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    messages = set()
    for line in done.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            messages.add(line.strip())  # the root handler's plain lines
            continue
        if isinstance(record, dict) and "message" in record:
            messages.add(str(record["message"]))
    return messages, done.stderr


# What each logger writes, by level.
DEBUG = {"core-debug"}
INFO = {"core-info", "logger-info"}
WARNING = {"core-warning", "logger-warning"}
LIBRARIES = {"third-party-warning"}  # botocore's WARNING line; its DEBUG and INFO never
WRITTEN = DEBUG | INFO | WARNING | {"third-party-debug", "third-party-info", "third-party-warning"}


@pytest.mark.parametrize(
    ("lambda_level", "package_level", "expected"),
    [
        # The lean profile: Lambda's level stays INFO (EMF lines carry no level), the package's
        # is WARNING.
        ("INFO", "WARNING", WARNING | LIBRARIES),
        ("INFO", "ERROR", LIBRARIES),
        ("INFO", "INFO", INFO | WARNING | LIBRARIES),  # the default
        # log_level = "DEBUG": Lambda's level follows; botocore's DEBUG lines stay out.
        ("DEBUG", "DEBUG", DEBUG | INFO | WARNING | LIBRARIES),
        # No advanced logging controls (the Text format): as before them.
        (None, "WARNING", WARNING | LIBRARIES),
    ],
    ids=["lean", "error", "default", "debug", "text-format"],
)
def test_the_package_logs_at_its_level_and_libraries_at_warning(
    lambda_level: str | None, package_level: str, expected: set[str]
) -> None:
    messages, stderr = invoke(lambda_level, package_level)
    assert messages & WRITTEN == expected
    assert "Advanced Logging Controls" not in stderr  # powertools' mismatch warning
