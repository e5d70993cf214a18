"""A provider that fails for a while (500, 503, or 429 with Retry-After): messages wait, are retried and
go out after it recovers, never above the sender's MPS; one whose validity ends first fails with 30036
and its status callback says so; nothing is lost and nothing is sent twice.  A provider that cannot be
reached at all: tests/flows/test_provider_unreachable.py."""

from __future__ import annotations

import pytest

from tests.conftest import US_MOBILE
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

MPS = 2
BODIES = [f"Rappel {i}" for i in range(8)]


def most_in_one_second(moments: list[float]) -> int:
    """The largest number of moments in any half-open one-second window."""
    moments = sorted(moments)
    return max(sum(1 for other in moments if start <= other < start + 1.0) for start in moments)


@pytest.mark.parametrize("fault", ["500", "503", "429"])
def test_messages_outlast_a_failing_provider_paced_and_once_and_the_expired_one_reports_30036(stack, fault):
    """Six failed requests in a row, then recovery: every long-lived message is sent exactly once, at most
    MPS in any second; the message valid for 1 s, first in line, expires with 30036 and a callback."""
    _register(stack, US_SENDER, mps=MPS)
    if fault == "429":
        stack.provider.throttle(6, retry_after=1.5)
    else:
        stack.provider.fail_next(6, status=int(fault))
    client = stack.client()
    callback = stack.app.url("/status")
    short_lived = client.messages.create(
        from_=US_SENDER, to=US_MOBILE, body="Code 123456", validity_period=1, status_callback=callback
    ).sid
    sids = [
        client.messages.create(from_=US_SENDER, to=US_MOBILE, body=body, status_callback=callback).sid
        for body in BODIES
    ]

    def states() -> dict[str, str]:
        return {sid: client.messages(sid).fetch().status for sid in [short_lived, *sids]}

    wait_until(
        lambda: all(status in ("sent", "delivered", "failed") for status in states().values()),
        timeout=40,
        message=states,
    )
    expired = client.messages(short_lived).fetch()
    assert (expired.status, expired.error_code) == ("failed", 30036)
    [report] = stack.app.wait_for(
        lambda r: r.field("MessageSid") == short_lived and r.field("MessageStatus") == "failed"
    )
    assert report.field("ErrorCode") == "30036"
    assert all(client.messages(sid).fetch().status in ("sent", "delivered") for sid in sids)
    received = [r for r in stack.provider.received if r.to == US_MOBILE]
    assert sorted(r.body for r in received) == sorted(BODIES)  # each once; the expired one never
    assert most_in_one_second([moment for sender, moment in stack.provider.requests if sender == US_SENDER]) <= MPS
