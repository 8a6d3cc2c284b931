"""What the four handlers share: a function set up at its first invocation, with powertools'
Logger (a correlation id on every line, the core's loggers included) and Metrics (EMF, with the
cold-start metric) around it.

Importing this module imports nothing but the standard library: powertools (which imports
botocore) and the composition root (pydantic, yaml, boto3) come at the first invocation, so a
tool or a test imports a handler without AWS, and the import is no part of the cold start's
cost beyond the interpreter's own. Tracing is Lambda's active tracing (the function's
tracing_config): no X-Ray SDK is imported (docs/aws.md, "Tracing").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
Handler = Callable[[Event, Any], Any]
# The core logs to `whp.*` (delivery, routing) and to its modules' names (`webhook_processor.*`).
CORE_LOGGERS = ("whp", "webhook_processor")
_made: list[Function] = []


def reset() -> None:
    """Set every handler up again at its next invocation (tests: a new deployment)."""
    for function in _made:
        function.reset()


class Function:
    """A handler built by `build` at the first invocation, then reused for the container's life.
    A setup failure is raised (the invocation fails, and the next one tries again) unless
    `on_setup_error` answers it."""

    def __init__(
        self,
        build: Callable[[], Handler],
        correlation_id_path: str | None = None,
        on_setup_error: Callable[[Exception], Any] | None = None,
    ) -> None:
        self._build = build
        self._path = correlation_id_path
        self._on_setup_error = on_setup_error
        self._app: Handler | None = None
        self._observed: Handler | None = None
        self._metrics: Any = None
        self.logger: Any = None  # powertools' Logger, once set up
        _made.append(self)

    def reset(self) -> None:
        self._app = None

    def __call__(self, event: Event, context: Any) -> Any:
        if self._observed is None:
            self._observed = self._observe()
        return self._observed(event, context)

    def _observe(self) -> Handler:
        from aws_lambda_powertools import Logger, Metrics  # noqa: PLC0415 - see the docstring

        logger = Logger()
        level = _package_level(logger.log_level)
        logging.getLogger(logger.name).setLevel(level)
        for name in CORE_LOGGERS:
            if name != logger.name:  # its records get the service, correlation id and keys
                core = logging.getLogger(name)
                core.handlers = [logger.registered_handler]
                core.setLevel(level)
                core.propagate = False
        if os.environ.get("AWS_LAMBDA_LOG_LEVEL"):
            # The runtime gave the root logger Lambda's level; third-party libraries stay at
            # Python's WARNING, as under the Text format (botocore writes response bodies, secret
            # values included, at DEBUG).
            logging.getLogger().setLevel(logging.WARNING)
        self.logger = logger
        self._metrics = metrics = Metrics()
        observed = logger.inject_lambda_context(correlation_id_path=self._path, clear_state=True)(
            self._invoke
        )
        wrapped: Handler = metrics.log_metrics(capture_cold_start_metric=True)(observed)
        return wrapped

    def _invoke(self, event: Event, context: Any) -> Any:
        if self._app is None:
            try:
                self._app = self._build()
            except Exception as exc:
                self.logger.exception("the function could not be set up")
                self._metrics.add_metric(name="SetupFailures", unit="Count", value=1)
                if self._on_setup_error is None:
                    raise
                return self._on_setup_error(exc)
        return self._app(event, context)


def _package_level(powertools_level: int) -> int | str:
    """POWERTOOLS_LOG_LEVEL (the module's `log_level`), else powertools' own choice.

    Under Lambda's advanced logging controls (the module's logging_config) Lambda sets
    AWS_LAMBDA_LOG_LEVEL, and powertools' Logger takes it over POWERTOOLS_LOG_LEVEL (powertools'
    Logger docs, "AWS Lambda Advanced Logging Controls (ALC)"). The module keeps Lambda's level
    at INFO or DEBUG, where it drops nothing the functions write (infra/terraform/lambda.tf), so
    the filter is POWERTOOLS_LOG_LEVEL, here as without Lambda's levels.
    """
    wanted = os.environ.get("POWERTOOLS_LOG_LEVEL")
    return wanted.upper() if wanted else powertools_level
