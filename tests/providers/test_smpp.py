"""The SMPP adapter's decisions, with values: what goes in each submit_sm, what a deliver_sm means."""

from __future__ import annotations

import pytest

from gateway.providers.base import OutboundMessage, Rejected, Retryable, Status, Throttled
from gateway.providers.smpp import (
    MESSAGE_STATE,
    RECEIPTED_MESSAGE_ID,
    Deliver,
    inbound_of,
    read_submit,
    receipt_of,
    relative_validity,
    submits,
)


def message(body: str, sender: str = "+12015550124") -> OutboundMessage:
    return OutboundMessage(sid="SM" + "a" * 32, sender=sender, to="+33612345678", body=body, validity_period=3600)


@pytest.mark.parametrize(
    ("sender", "expected"),
    [("+12015550124", ("12015550124", 1, 1)), ("22395", ("22395", 3, 0)), ("AcmeDental", ("AcmeDental", 5, 0))],
)
def test_the_source_ton_and_npi_follow_the_senders_kind(sender, expected):
    """An E.164 number is international/ISDN (1/1), a short code 3/0, an alphanumeric sender 5/0."""
    [part] = submits(message("Hi", sender), concatenation="udh", ref=1)
    assert (part.source_addr, part.source_addr_ton, part.source_addr_npi) == expected


def test_a_gsm7_body_goes_as_unpacked_septets_with_data_coding_0():
    """ "@€" is GSM-7: @ is septet 0, € the escape 0x1B then 0x65."""
    [part] = submits(message("@€"), concatenation="udh", ref=1)
    assert (part.data_coding, part.short_message, part.registered_delivery) == (0, b"\x00\x1b\x65", 1)


def test_the_validity_period_is_relative_time():
    assert relative_validity(90061) == "000001010101000R"


def test_throttling_and_a_full_queue_are_throttled_with_the_pause():
    for status in (0x58, 0x14):
        with pytest.raises(Throttled) as throttled:
            read_submit(status, None, pause=2.5)
        assert throttled.value.retry_after == 2.5


def test_a_system_error_is_retried_and_an_unmapped_refusal_is_30008():
    with pytest.raises(Retryable):
        read_submit(0x08, None, pause=1.0)
    with pytest.raises(Rejected) as refused:
        read_submit(0x45, None, pause=1.0)
    assert refused.value.code == 30008


def deliver(short_message: bytes, esm_class: int = 0x04, tlvs: tuple[tuple[int, bytes], ...] = ()) -> Deliver:
    return Deliver("33612345678", 1, "12015550124", 1, esm_class, 0, short_message, tlvs)


def test_a_receipts_tlvs_win_over_its_text():
    """receipted_message_id and message_state (5: UNDELIVERABLE) are read before the text."""
    event = receipt_of(
        deliver(b"id:other stat:DELIVRD", tlvs=((RECEIPTED_MESSAGE_ID, b"m-9\x00"), (MESSAGE_STATE, b"\x05")))
    )
    assert (event.provider_sid, event.status, event.error_code) == ("m-9", Status.UNDELIVERED, 30008)


def test_an_expired_receipt_is_undelivered_with_30036():
    event = receipt_of(
        deliver(b"id:m-1 sub:001 dlvrd:000 submit date:2612011726 done date:2612021726 stat:EXPIRED err:000")
    )
    assert (event.provider_sid, event.status, event.error_code) == ("m-1", Status.UNDELIVERED, 30036)


def test_an_unknown_receipt_word_is_unknown():
    assert receipt_of(deliver(b"id:m-1 stat:WEIRD")).status is Status.UNKNOWN


def test_an_mo_carries_twilios_fields_then_the_pdus():
    """From and To in E.164, the body decoded, and every PDU field kept as smpp.*."""
    inbound = inbound_of(deliver(b"STOP", esm_class=0), "SMPP1")
    assert (inbound.sender, inbound.to, inbound.body, inbound.part) == ("+33612345678", "+12015550124", "STOP", None)
    assert ("smpp.short_message", b"STOP".hex()) in inbound.raw
