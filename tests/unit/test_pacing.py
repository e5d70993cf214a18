"""Pacing decisions: a sender never exceeds its MPS in any one-second window, and stays busy."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.pacing import SlidingWindow, backoff, default_mps


def simulate(mps: int, sizes: list[int], latency: float = 0.0) -> list[tuple[float, int]]:
    """Send every message as early as the window allows, one at a time, each answered after
    `latency`; return (time the provider received it, segments), received at mid-flight."""
    window, now, sent = SlidingWindow(mps), 0.0, []
    for size in sizes:
        at = window.earliest(now, size)
        assert at is not None
        window.start(size)
        window.finish(at + latency, size)
        sent.append((at + latency / 2, size))
        now = at
    return sent


def worst_window(sent: list[tuple[float, int]]) -> int:
    return max(sum(k for t, k in sent if start <= t < start + 1.0) for start, _ in sent)


def test_a_burst_up_to_the_mps_goes_at_once():
    """Ten single-segment messages at 10 MPS all go at t=0."""
    assert [t for t, _ in simulate(10, [1] * 10)] == [0.0] * 10


def test_the_next_message_waits_for_the_window_to_slide():
    """The eleventh message at 10 MPS waits just over a second."""
    assert simulate(10, [1] * 11)[-1][0] == 1.005


def test_segments_not_messages_are_counted():
    """At 3 MPS (toll-free), a 2-segment message and a 2-segment message cannot share a second."""
    sent = simulate(3, [2, 2])
    assert sent[1][0] > 1.0


def test_a_message_longer_than_the_mps_goes_alone_and_holds_the_window():
    """A 5-segment message at 1 MPS goes, then the sender rests about 5 seconds."""
    sent = simulate(1, [5, 1])
    assert sent[0][0] == 0.0 and sent[1][0] >= 5.0


@given(mps=st.integers(1, 120), sizes=st.lists(st.integers(1, 4), min_size=1, max_size=300))
def test_no_one_second_window_ever_exceeds_the_mps(mps, sizes):
    sizes = [min(size, mps) for size in sizes]
    assert worst_window(simulate(mps, sizes)) <= mps


def test_a_send_in_flight_blocks_until_it_is_answered():
    """At 1 MPS, while the first send awaits its answer, the next cannot even be scheduled."""
    window = SlidingWindow(1)
    window.start(1)
    assert window.earliest(0.0, 1) is None
    window.finish(0.2, 1)
    assert window.earliest(0.2, 1) == pytest.approx(1.205)


@given(mps=st.integers(1, 50), latencies=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=200))
def test_no_window_at_the_provider_exceeds_the_mps_whatever_the_latency(mps, latencies):
    """Receipt happens anywhere between start and answer; counting until the answer keeps the promise."""
    window, now, received = SlidingWindow(mps), 0.0, []
    pending = []  # (answer time, receipt time)
    for latency in latencies:
        while (at := window.earliest(now, 1)) is None:
            answer, _ = min(pending)
            pending.remove((answer, _))
            window.finish(answer, 1)
            now = max(now, answer)
        window.start(1)
        pending.append((at + latency, at + latency * 0.999))
        received.append(at + latency * 0.999)
        now = at
    assert max(sum(1 for t in received if s <= t < s + 1.0) for s in received) <= mps


def test_a_backlogged_sender_keeps_at_least_98_percent_of_its_mps():
    rng = random.Random(1)
    sizes = [rng.choice([1, 1, 1, 2]) for _ in range(5000)]
    sent = simulate(50, sizes)
    duration = sent[-1][0] + 1.0
    assert sum(sizes) / duration >= 0.98 * 50


def test_backoff_honours_retry_after_else_doubles_up_to_the_cap():
    assert backoff(3, 7.5) == 7.5
    assert [backoff(n, None) for n in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 60.0]


def test_default_mps_per_sender_type_and_country():
    """Twilio's defaults: long code 1 in US/CA and 10 elsewhere, toll-free 3, short code 100, alpha 10."""
    assert [
        default_mps("long_code", "US"),
        default_mps("long_code", "CA"),
        default_mps("mobile", "GB"),
        default_mps("toll_free", "US"),
        default_mps("short_code", "US"),
        default_mps("alpha", None),
    ] == [1, 1, 10, 3, 100, 10]
