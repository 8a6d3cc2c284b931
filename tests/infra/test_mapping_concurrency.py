"""A destination's `max_concurrency` N on AWS is the module's and the function's together: the
delivery mapping runs up to M invocations (terraform computes M), each attempting up to
`deliverer.attempts_at_once(N)` of its batch at once. The module's expression, evaluated by
terraform itself, against the function's side: at most N in flight, and not far below it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.infra import hclkit, tfkit
from webhook_processor.adapters.aws import deliverer

LIMITS = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 19, 20, 64, 100, 999, 1000, 2001, 5000, 10000]
BATCH_SIZES = [1, 2, 5, 10, 100, 10000]  # the module's default is 5; 10000 with a window


def _mapping_concurrency(
    module: hclkit.Module, terraform: tfkit.Terraform, work: Path
) -> dict[int, dict[int, int]]:
    """batch size -> N -> M: the module's `dest_mapping_concurrency` for each (terraform console
    in a directory of no configuration: the expression alone, its inputs given as literals)."""
    expression = module.locals()["dest_mapping_concurrency"].removeprefix("${").removesuffix("}")
    limits = "{" + ", ".join(f'"{n}" = {n}' for n in LIMITS) + "}"
    each_size = expression.replace("local.dest_concurrency", limits).replace(
        "var.batching.delivery_batch_size", "size"
    )
    sizes = ", ".join(str(size) for size in BATCH_SIZES)
    outputs = json.loads(
        tfkit.console(terraform, work, f"jsonencode([for size in [{sizes}] : {each_size}])")
    )
    assert len(outputs) == len(BATCH_SIZES), outputs
    return {
        size: {int(n): m for n, m in found.items()}
        for size, found in zip(BATCH_SIZES, outputs, strict=True)
    }


def test_invocations_times_attempts_each_stay_within_max_concurrency(
    module: hclkit.Module, terraform: tfkit.Terraform, tmp_path: Path
) -> None:
    computed = _mapping_concurrency(module, terraform, tmp_path)
    for size, by_limit in computed.items():
        for n, mapping in by_limit.items():
            where = f"max_concurrency {n}, batch size {size}: mapping {mapping}"
            assert 2 <= mapping <= 1000, where  # what AWS allows
            at_once = min(size, deliverer.attempts_at_once(n))  # a batch of `size` at most
            if n == 1:
                assert at_once == 1, where  # one after the other, and a lease between the two
                continue
            assert mapping * at_once <= n, where
            # not far below: N less what one invocation takes, unless AWS's 1000 caps it
            assert mapping * at_once > min(n - at_once, 1000 * at_once - 1), where


def test_the_default_deployment_attempts_a_batch_of_five_at_once(
    module: hclkit.Module, terraform: tfkit.Terraform, tmp_path: Path
) -> None:
    """max_concurrency 10 (the config's default), batch size 5 (the module's): 2 x 5."""
    assert module.variables()["batching"]["type"].count("delivery_batch_size") == 1
    assert _mapping_concurrency(module, terraform, tmp_path)[5][10] == 2
    assert deliverer.attempts_at_once(10) == 5
