"""Message statuses only move forward."""

import pytest

from gateway.lifecycle import advances, is_final
from gateway.providers.base import Status as S


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.ACCEPTED, S.QUEUED),
        (S.QUEUED, S.SENT),
        (S.SENT, S.DELIVERED),
        (S.SENT, S.UNDELIVERED),
        (S.QUEUED, S.CANCELED),
        (S.DELIVERED, S.READ),
    ],
)
def test_forward_moves_apply(current, new):
    assert advances(current, new)


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.DELIVERED, S.SENT),
        (S.SENT, S.QUEUED),
        (S.FAILED, S.DELIVERED),
        (S.CANCELED, S.SENT),
        (S.UNDELIVERED, S.READ),
        (S.SENT, S.SENT),
    ],
)
def test_late_or_repeated_reports_change_nothing(current, new):
    """A late `sent` after `delivered`, or the same report twice, is logged but not applied."""
    assert not advances(current, new)


def test_unknown_words_never_apply():
    assert not advances(S.QUEUED, S.UNKNOWN)


def test_final_statuses():
    assert is_final(S.DELIVERED) and is_final(S.CANCELED) and not is_final(S.SENT)
