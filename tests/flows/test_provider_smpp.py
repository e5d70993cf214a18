"""SMPP end to end: the gateway binds as an ESME to smpp34's SMSC (started by the test), submits
over the bind and reads what the SMSC delivers; a TCP relay in front of it drops the bind."""

from __future__ import annotations

import httpx
import pytest

from bench.harness import Gateway
from gateway.encoding import gsm7_text
from tests.conftest import FR_MOBILE, GB_MOBILE
from tests.flows.provider_standins import french_opt_out_reply, register, service_with
from tests.flows.server import free_port
from tests.flows.smsc import PASSWORD, SYSTEM_ID, proxy, smsc
from tests.flows.standins import app_server
from tests.flows.test_inbound import forwards
from tests.poll import wait_until
from tests.postgres import new_database

OUR_NUMBER = "+12015550124"
TWO_PARTS = (
    "Votre rendez-vous chez Acme Dental est confirmé pour demain à 9h30. Répondez ARRÊT pour ne plus rien recevoir 📅"
)


@pytest.fixture
def center():  # type: ignore[no-untyped-def]
    with smsc() as state:
        yield state


@pytest.fixture
def relay(center):  # type: ignore[no-untyped-def]
    with proxy(center.port) as state:
        yield state


@pytest.fixture
def gateway_overrides(center, relay):  # type: ignore[no-untyped-def]
    return {
        "smpp_url": f"smpp://127.0.0.1:{relay.port}",
        "smpp_system_id": SYSTEM_ID,
        "smpp_password": PASSWORD,
        "smpp_system_type": "GATEWAY",
    }


@pytest.fixture
def service(stack, center):  # type: ignore[no-untyped-def]
    service = service_with(stack, (OUR_NUMBER, "smpp"))
    wait_until(lambda: center.binds)
    return service


def status(stack, sid: str) -> str:  # type: ignore[no-untyped-def]
    return str(stack.client().messages(sid).fetch().status)


def test_the_gateway_binds_as_a_transceiver_with_its_system_id(stack, center, service):
    """The bind carries GATEWAY_SMPP_SYSTEM_ID and can receive (a transceiver)."""
    [(system_id, session)] = center.binds
    assert system_id == SYSTEM_ID and center.sessions[session].can_receive


@pytest.mark.gateway(smpp_bind="pair")
def test_a_pair_of_binds_submits_over_the_transmitter_and_receives_over_the_receiver(stack, center, service):
    """GATEWAY_SMPP_BIND=pair: a transmitter and a receiver; the message goes over the one, its
    receipt and a person's STOP come over the other."""
    wait_until(lambda: len(center.binds) == 2)
    assert sorted(center.sessions[session].can_receive for _, session in center.binds) == [False, True]
    message = stack.client().messages.create(from_=OUR_NUMBER, to=GB_MOBILE, body="Your code is 4821")
    wait_until(lambda: status(stack, message.sid) == "delivered")
    center.deliver(GB_MOBILE.lstrip("+"), OUR_NUMBER.lstrip("+"), b"STOP", source_addr_ton=1, dest_addr_ton=1)
    [forward] = wait_until(lambda: forwards(stack, GB_MOBILE))
    assert forward.field("OptOutType") == "STOP"


def test_readyz_shows_the_bind_and_no_webhooks_for_smpp(stack, center, service):
    wait_until(lambda: httpx.get(f"{stack.url}/readyz").json()["links"] == {"smpp": "bound"})
    ready = httpx.get(f"{stack.url}/readyz").json()
    assert ready["webhooks"]["smpp"] == "none: reports and messages arrive over its bind"


@pytest.fixture
def nowhere():  # type: ignore[no-untyped-def]
    """A port nothing listens on: an SMSC that is down."""
    return free_port()


def test_a_bind_that_cannot_be_made_reads_binding_and_the_gateway_stays_ready(stack, nowhere):
    stack.restart(smpp_url=f"smpp://127.0.0.1:{nowhere}")
    ready = httpx.get(f"{stack.url}/readyz")
    assert (ready.status_code, ready.json()["links"]) == (200, {"smpp": "binding"})


def test_a_two_segment_ucs2_message_goes_in_two_udh_parts_and_its_receipt_delivers_it(stack, center, service):
    """A UCS-2 body of two segments: two submit_sm with data_coding 8 and one UDH reference, the
    sender as an international number (1/1), a receipt asked on the last part, which delivers it."""
    message = stack.client().messages.create(from_=OUR_NUMBER, to=FR_MOBILE, body=TWO_PARTS)
    assert message.num_segments == "2"
    wait_until(lambda: status(stack, message.sid) == "delivered")
    first, second = center.to(FR_MOBILE.lstrip("+"))
    assert {p.data_coding for p in (first, second)} == {8} and {p.esm_class for p in (first, second)} == {0x40}
    assert first.short_message[:5] == second.short_message[:5] == bytes((5, 0, 3, first.short_message[3], 2))
    assert (first.short_message[5], second.short_message[5]) == (1, 2)
    text = (first.short_message[6:] + second.short_message[6:]).decode("utf-16-be")
    assert text == TWO_PARTS
    assert (first.source_addr, first.source_addr_ton, first.source_addr_npi) == (OUR_NUMBER.lstrip("+"), 1, 1)
    assert (first.registered_delivery, second.registered_delivery) == (0, 1)
    assert stack.client().messages(message.sid).fetch().sid == message.sid


@pytest.mark.gateway(smpp_concatenation="sar")
def test_sar_concatenation_carries_the_parts_in_tlvs(stack, center, service):
    """GATEWAY_SMPP_CONCATENATION=sar: no UDH, the SAR TLVs number the parts under one reference."""
    stack.client().messages.create(from_=OUR_NUMBER, to=FR_MOBILE, body=TWO_PARTS)
    first, second = wait_until(
        lambda: center.to(FR_MOBILE.lstrip("+")) if len(center.to(FR_MOBILE.lstrip("+"))) == 2 else None
    )
    assert first.esm_class == second.esm_class == 0
    assert first.tlvs[0x020C] == second.tlvs[0x020C]
    assert [(p.tlvs[0x020E], p.tlvs[0x020F]) for p in (first, second)] == [(b"\x02", b"\x01"), (b"\x02", b"\x02")]
    assert (first.short_message + second.short_message).decode("utf-16-be") == TWO_PARTS


def test_an_arret_from_france_over_smpp_is_confirmed_and_forwarded_with_opt_out_type(stack, center, service, shipped):
    """ARRÊT in a deliver_sm (UCS-2) from +33 opts out: the French confirmation is submitted from the
    number written to, and the app gets OptOutType STOP as for a Twilio inbound."""
    center.deliver(
        FR_MOBILE.lstrip("+"),
        OUR_NUMBER.lstrip("+"),
        "ARRÊT".encode("utf-16-be"),
        source_addr_ton=1,
        dest_addr_ton=1,
        data_coding=8,
    )
    [reply] = wait_until(lambda: center.to(FR_MOBILE.lstrip("+")))
    expected = french_opt_out_reply(shipped, FR_MOBILE, OUR_NUMBER)
    body = gsm7_text(reply.short_message) if reply.data_coding == 0 else reply.short_message.decode("utf-16-be")
    assert (reply.source_addr, body) == (OUR_NUMBER.lstrip("+"), expected)
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    assert (forward.field("Body"), forward.field("OptOutType"), forward.field("To")) == ("ARRÊT", "STOP", OUR_NUMBER)


def test_a_long_mo_in_two_udh_parts_is_one_message(stack, center, service):
    """A person's STOP split over two deliver_sm (UDH, reference 7) is joined before matching."""
    for number, text in ((1, "ST"), (2, "OP")):
        center.deliver(
            GB_MOBILE.lstrip("+"),
            OUR_NUMBER.lstrip("+"),
            bytes((5, 0, 3, 7, 2, number)) + text.encode(),
            source_addr_ton=1,
            dest_addr_ton=1,
            esm_class=0x40,
        )
    [forward] = wait_until(lambda: forwards(stack, GB_MOBILE))
    assert (forward.field("Body"), forward.field("OptOutType")) == ("STOP", "STOP")


def test_throttled_submits_pause_the_bind_and_the_message_goes_once_it_resumes(stack, center, service):
    """ESME_RTHROTTLED twice: the message waits like after a 429, then is taken, once."""
    center.throttle = 2
    message = stack.client().messages.create(from_=OUR_NUMBER, to=GB_MOBILE, body="Your code is 4821")
    wait_until(lambda: status(stack, message.sid) == "delivered", timeout=30)
    assert center.throttled == 2 and len(center.to(GB_MOBILE.lstrip("+"))) == 1


def test_an_invalid_destination_fails_the_message_with_21211(stack, center, service):
    """ESME_RINVDSTADR (0x0B) is permanent: the message fails with Twilio's 21211."""
    center.refuse[GB_MOBILE.lstrip("+")] = 0x0B
    message = stack.client().messages.create(from_=OUR_NUMBER, to=GB_MOBILE, body="Your code is 4821")
    wait_until(lambda: status(stack, message.sid) == "failed")
    assert stack.client().messages(message.sid).fetch().error_code == 21211


def test_a_dropped_bind_is_bound_again_and_each_message_is_submitted_once(stack, center, relay, service):
    """The connection drops between sends: the gateway binds again, and every message reaches the
    SMSC exactly once."""
    client = stack.client()
    first = [client.messages.create(from_=OUR_NUMBER, to=GB_MOBILE, body=f"before {i}") for i in range(3)]
    wait_until(lambda: all(status(stack, m.sid) == "delivered" for m in first))
    relay.cut()
    second = [client.messages.create(from_=OUR_NUMBER, to=GB_MOBILE, body=f"after {i}") for i in range(3)]
    wait_until(lambda: all(status(stack, m.sid) == "delivered" for m in second), timeout=30)
    assert len(center.binds) == 2
    bodies = sorted(gsm7_text(s.short_message) for s in center.to(GB_MOBILE.lstrip("+")))
    assert bodies == sorted([f"before {i}" for i in range(3)] + [f"after {i}" for i in range(3)])


def test_the_senders_mps_holds_at_the_smsc(stack, center):
    """A sender at 2 MPS with 5 messages queued: the SMSC never sees more than 2 in one second."""
    register(stack, OUR_NUMBER, "smpp", mps=2)
    wait_until(lambda: center.binds)
    client = stack.client()
    for i in range(5):
        client.messages.create(from_=OUR_NUMBER, to=GB_MOBILE, body=f"paced {i}")
    wait_until(lambda: len(center.to(GB_MOBILE.lstrip("+"))) == 5, timeout=20)
    stamps = sorted(s.at for s in center.submitted)
    worst = max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps)
    assert worst <= 2


def test_a_worker_only_process_holds_the_bind_and_handles_what_arrives_over_it(postgres, center, tmp_path, shipped):
    """`gateway worker` beside an API process that runs none: the worker binds, and an ARRÊT coming
    over its bind is confirmed (submitted over it) and forwarded, as a webhook would be."""
    smpp = {
        "GATEWAY_SMPP_URL": f"smpp://127.0.0.1:{center.port}",
        "GATEWAY_SMPP_SYSTEM_ID": SYSTEM_ID,
        "GATEWAY_SMPP_PASSWORD": PASSWORD,
    }
    with app_server() as app:
        gateway = Gateway(tmp_path, database_url=new_database(postgres), env=smpp)
        with gateway.node(workers=False), gateway.worker(worker_id="worker-1"):
            service = gateway.post(
                "/v1/Services", {"FriendlyName": "Acme Dental", "InboundRequestUrl": app.url("/inbound")}
            )
            number = gateway.post(
                f"/2010-04-01/Accounts/{gateway.account_sid}/IncomingPhoneNumbers.json",
                {"PhoneNumber": OUR_NUMBER, "Provider": "smpp"},
            )
            gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": number["sid"]})
            [(system_id, _)] = wait_until(lambda: center.binds)
            center.deliver(
                FR_MOBILE.lstrip("+"),
                OUR_NUMBER.lstrip("+"),
                "ARRÊT".encode("utf-16-be"),
                source_addr_ton=1,
                dest_addr_ton=1,
                data_coding=8,
            )
            [reply] = wait_until(lambda: center.to(FR_MOBILE.lstrip("+")), timeout=20)
            [forward] = wait_until(
                lambda: [r for r in app.received if r.path == "/inbound" and r.field("From") == FR_MOBILE]
            )
    body = gsm7_text(reply.short_message) if reply.data_coding == 0 else reply.short_message.decode("utf-16-be")
    assert body == french_opt_out_reply(shipped, FR_MOBILE, OUR_NUMBER)
    assert (forward.field("Body"), forward.field("OptOutType")) == ("ARRÊT", "STOP")
