"""GitLab: `X-Gitlab-Token: <the webhook's secret token>`, compared as is.

https://docs.gitlab.com/user/project/integrations/webhooks/#validate-requests-with-a-secret-token
"""

from __future__ import annotations

from collections.abc import Sequence

from webhook_processor.verify import base

HEADER = "x-gitlab-token"


def verifier(source: base.Spec, secrets: Sequence[str]) -> base.Verify:
    tokens = [s.encode() for s in secrets]

    def verify(request: base.Request, now: float) -> None:
        given = base.header(request.headers, HEADER).encode()
        base.check_secret(tokens, given, "token")

    return verify


def signer(source: base.Spec, secret: str) -> base.Sign:
    def sign(body: bytes, now: float, url: str) -> base.Signed:
        return base.Signed({"X-Gitlab-Token": secret}, url)

    return sign
