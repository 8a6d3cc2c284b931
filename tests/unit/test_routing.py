"""routing: which routes an event matches, through the envelope EventBridge would see."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_processor import models, routing

PUSH = models.Event(
    "evt_0", "github", "push", None, 1_700_000_000_000, "application/json", {}, b'{"ref": "main"}'
)


def routes(*patterns: dict[str, Any]) -> list[routing.Route]:
    return routing.compile_routes((f"r{i}", "d", p) for i, p in enumerate(patterns))


@pytest.mark.parametrize(
    ("pattern", "uses_detail"),
    [
        ({"source": ["github"]}, False),
        ({"detail-type": [{"prefix": "pu"}], "time": [{"exists": True}]}, False),
        ({"detail": {"ref": ["main"]}}, True),
        ({"$or": [{"source": ["github"]}, {"detail": {"ref": ["main"]}}]}, True),
        ({"$or": [{"source": ["github"]}, {"detail-type": ["push"]}]}, False),
    ],
)
def test_the_body_is_parsed_only_for_patterns_that_look_at_detail(
    pattern: dict[str, Any], uses_detail: bool
) -> None:
    [route] = routes(pattern)
    assert route.uses_detail is uses_detail
    assert routing.matches([route], PUSH) == [("r0", "d")]


def test_routes_without_detail_still_see_it_when_another_route_needs_it() -> None:
    both = routes({"source": ["github"]}, {"detail": {"ref": ["main"]}}, {"detail": {"ref": ["x"]}})
    assert routing.matches(both, PUSH) == [("r0", "d"), ("r1", "d")]
    assert "detail" not in routing.envelope(PUSH, with_detail=False)
    assert routing.envelope(PUSH)["detail"] == {"ref": "main"}
