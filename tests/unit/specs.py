"""Source specs for the verifiers' tests, made from config as whp.yaml's would be."""

from __future__ import annotations

from typing import Any

from webhook_processor import config, verify, wiring


def validated(raw: dict[str, Any]) -> verify.Spec:
    """The spec of a source written as `raw` in whp.yaml (validated, defaults filled in)."""
    return wiring.source_spec(config.Source.model_validate(raw))
