"""The inbound pipeline end to end: a signed Twilio webhook in; the stand-in Twilio gets the
confirmation, the stand-in app gets the forward, and the opt-out is in force."""

from __future__ import annotations

import base64
import json
import threading
import uuid

import httpx
import pytest
from sqlmodel import Session, select
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from gateway.encoding import segment
from gateway.forwarding.signing import verify_standard_webhook
from gateway.locales import Catalogs
from gateway.policy.evaluate import country_of
from gateway.store.db import make_engine
from gateway.store.tables import ConsentEvent, Message
from tests.conftest import DE_MOBILE, ES_MOBILE, FR_MOBILE, GB_MOBILE, JP_MOBILE, ROOT, US_MOBILE
from tests.flows.conftest import PROVIDER_TOKEN
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

CATALOGS = Catalogs.load(ROOT / "locales")


def inbound(
    stack,
    sender: str,
    body: str,
    *,
    to: str = US_SENDER,
    sid: str | None = None,
    token: str = PROVIDER_TOKEN,
    headers: dict[str, str] | None = None,
) -> httpx.Response:  # type: ignore[no-untyped-def]
    """POST Twilio's inbound webhook, signed as Twilio signs it (the SDK's own algorithm)."""
    url = f"{stack.settings.public_url}/webhooks/twilio/inbound"
    params = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": stack.settings.twilio_account_sid,
        "From": sender,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
        "SmsStatus": "received",
    }
    signature = RequestValidator(token).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature, **(headers or {})})


@pytest.fixture
def service(stack):  # type: ignore[no-untyped-def]
    number = _register(stack, US_SENDER, mps=20)
    client = stack.client()
    created = client.messaging.v1.services.create(
        friendly_name="Acme Dental",
        inbound_request_url=stack.app.url("/inbound"),
        status_callback=stack.app.url("/status"),
    )
    client.messaging.v1.services(created.sid).phone_numbers.create(phone_number_sid=number["sid"])
    return created


def confirmations(stack, to: str):  # type: ignore[no-untyped-def]
    return [r for r in stack.provider.received if r.to == to]


def forwards(stack, sender: str):  # type: ignore[no-untyped-def]
    return [r for r in stack.app.received if r.path == "/inbound" and r.field("From") == sender]


HELP_ANSWER = "Help at"  # in the shipped English HELP reply


def before_a_help(
    stack,
    person: str,
    *,
    word: str = "HELP",
    answer: str = HELP_ANSWER,  # type: ignore[no-untyped-def]
    send=None,
    replies=None,
    timeout: float = 20.0,
) -> tuple[list, list]:
    """(forwards, replies) that `person`'s earlier texts produced, read once a HELP texted now has been
    forwarded and answered. Forwards keep their order per conversation and a sender sends in order,
    so a further forward or reply, had one been queued, arrives before the HELP's: this is the positive
    event that tests of "nothing more was sent" wait for, instead of sleeping and hoping. Another
    provider's tests pass how to `send` the HELP `word` and read the `replies` it `answer`s."""
    (send or (lambda: inbound(stack, person, word)))()
    received = replies or (lambda: confirmations(stack, person))
    wait_until(
        lambda: (
            any(r.field("Body") == word for r in forwards(stack, person)) and any(answer in r.body for r in received())
        ),
        timeout,
    )
    sent, answers = forwards(stack, person), received()
    return (
        sent[: next(i for i, r in enumerate(sent) if r.field("Body") == word)],
        answers[: next(i for i, r in enumerate(answers) if answer in r.body)],
    )


@pytest.mark.parametrize(
    ("person", "keyword", "language"),
    [
        (US_MOBILE, "STOP", "en"),
        (ES_MOBILE, "Baja", "es"),
        (FR_MOBILE, "Arrêt", "fr"),
        (DE_MOBILE, "Stopp", "de"),
        (JP_MOBILE, "配信停止", "ja"),
    ],
)
def test_signed_stop_is_confirmed_in_the_keyword_language_from_the_number_written_to(
    stack, service, shipped, person, keyword, language
):
    """The confirmation is the language's opt-out reply, rendered with the service's brand, as sent
    (the service's Smart Encoding applies to it like to any message)."""
    response = inbound(stack, person, keyword)
    assert response.status_code == 200 and "<Response/>" in response.text
    [reply] = wait_until(lambda: confirmations(stack, person))
    assert reply.sender == US_SENDER
    words = shipped.table(country_of(person)).reply_words(language)
    rendered = CATALOGS.render("opt_out", language, {"brand": "Acme Dental", "help_contact": US_SENDER} | words)
    assert reply.body == segment(rendered, smart=True).text


def test_the_app_receives_opt_out_type_stop_signed_for_its_validator(stack, service):
    inbound(stack, US_MOBILE, "STOP")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert forward.field("OptOutType") == "STOP" and forward.field("Body") == "STOP"
    assert forward.field("AccountSid") == stack.account_sid and forward.field("MessagingServiceSid") == service.sid
    assert RequestValidator(stack.auth_token).validate(
        stack.app.url("/inbound"), dict(forward.form), forward.headers["x-twilio-signature"]
    )


def test_after_stop_sends_are_refused_with_21610(stack, service):
    inbound(stack, US_MOBILE, "stop")
    wait_until(lambda: forwards(stack, US_MOBILE))
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="Sale today!")
    assert error.value.code == 21610


def test_stop_cancels_what_is_still_queued_for_the_number(stack, service):
    stack.provider.throttle(50, retry_after=30)  # the provider holds everything back: messages stay queued
    client = stack.client()
    sids = [
        client.messages.create(
            messaging_service_sid=service.sid, to=FR_MOBILE, body=f"promo {i}", status_callback=stack.app.url("/status")
        ).sid
        for i in range(3)
    ]
    inbound(stack, FR_MOBILE, "STOP")
    wait_until(lambda: [s for s in sids if client.messages(s).fetch().status == "canceled"] == sids)
    assert client.messages(sids[-1]).fetch().error_code == 21610
    stack.app.wait_for(lambda r: r.field("MessageSid") == sids[-1] and r.field("MessageStatus") == "canceled")


def test_start_lets_sends_through_again(stack, service):
    inbound(stack, US_MOBILE, "STOP")
    wait_until(lambda: forwards(stack, US_MOBILE))
    inbound(stack, US_MOBILE, "START")
    wait_until(lambda: len(forwards(stack, US_MOBILE)) == 2)
    assert forwards(stack, US_MOBILE)[-1].field("OptOutType") == "START"
    assert stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="Welcome back").sid


def test_help_is_answered_and_changes_nothing(stack, service):
    inbound(stack, US_MOBILE, "HELP")
    [reply] = wait_until(lambda: confirmations(stack, US_MOBILE))
    assert "Msg & data rates may apply" in reply.body
    engine = stack.engine()
    with Session(engine) as session:
        assert session.exec(select(ConsentEvent)).all() == []
    assert stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi").sid


def test_help_to_an_opted_out_number_is_answered(stack, service):
    inbound(stack, US_MOBILE, "STOP")
    wait_until(lambda: confirmations(stack, US_MOBILE))
    inbound(stack, US_MOBILE, "HELP")
    assert wait_until(lambda: len(confirmations(stack, US_MOBILE)) == 2)


def test_repeated_stop_within_the_window_is_confirmed_once(stack, service):
    for _ in range(3):
        inbound(stack, US_MOBILE, "STOP")
    sent, replies = before_a_help(stack, US_MOBILE)
    assert len(sent) == 3 and len(replies) == 1


def test_a_forged_signature_is_refused_and_stores_nothing(stack, service):
    response = inbound(stack, US_MOBILE, "STOP", token="not-the-token")
    assert response.status_code == 403
    engine = stack.engine()
    with Session(engine) as session:
        assert session.exec(select(Message)).all() == []
    assert before_a_help(stack, US_MOBILE) == ([], [])


def test_an_unknown_to_number_is_404(stack, service):
    response = inbound(stack, US_MOBILE, "hello", to="+12125550100")
    assert response.status_code == 404 and response.json()["code"] == 20404


def test_a_retried_webhook_is_processed_once_even_when_copies_arrive_together(stack, service):
    sid = "SM" + uuid.uuid4().hex
    threads = [threading.Thread(target=inbound, args=(stack, US_MOBILE, "STOP"), kwargs={"sid": sid}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inbound(stack, US_MOBILE, "STOP", sid=sid).status_code == 200
    sent, replies = before_a_help(stack, US_MOBILE)
    assert len(sent) == 1 and len(replies) == 1


def test_the_app_down_for_a_while_then_up_receives_every_forward(stack, service):
    stack.app.status = 503
    for body in ("Is my appointment at 9?", "STOP", "Thanks"):
        inbound(stack, US_MOBILE, body)

    def refused() -> list[str | None]:  # every forward so far was answered 503
        return [r.field("Body") for r in forwards(stack, US_MOBILE)]

    wait_until(lambda: len(refused()) > len(set(refused())), timeout=20)  # down for a while: a retry was refused too
    stack.app.status = 200
    wait_until(
        lambda: {r.field("Body") for r in forwards(stack, US_MOBILE)} >= {"Is my appointment at 9?", "STOP", "Thanks"},
        timeout=20,
    )
    bodies = [r.field("Body") for r in forwards(stack, US_MOBILE)]
    last_of_each = [b for i, b in enumerate(bodies) if b not in bodies[i + 1 :]]
    assert last_of_each == ["Is my appointment at 9?", "STOP", "Thanks"]  # order kept per conversation


def test_the_audit_trail_records_each_decision_with_its_policy_revision(stack, service):
    revision = httpx.get(f"{stack.url}/readyz").json()["policy"]["revision"]
    inbound(stack, FR_MOBILE, "Arrêt")
    wait_until(lambda: forwards(stack, FR_MOBILE))
    inbound(stack, FR_MOBILE, "START")
    wait_until(lambda: len(forwards(stack, FR_MOBILE)) == 2)
    engine = stack.engine()
    with Session(engine) as session:
        events = session.exec(select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert [(e.opted_out, e.keyword, e.language, e.source, e.scope) for e in events] == [
        (True, "ARRÊT", "fr", "keyword", service.sid),
        (False, "START", "fr", "keyword", service.sid),
    ]
    assert {e.policy_revision for e in events} == {revision}
    assert all(e.inbound_message_sid and e.inbound_message_sid.startswith("SM") for e in events)


def test_json_format_forward_is_signed_the_standard_webhooks_way(stack, service):
    secret = "whsec_" + base64.b64encode(b"a" * 24).decode()
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}",
        data={"InboundFormat": "json", "WebhookSecret": secret},
        auth=(stack.account_sid, stack.auth_token),
    ).raise_for_status()
    inbound(stack, US_MOBILE, "STOP")
    [forward] = wait_until(lambda: [r for r in stack.app.received if r.path == "/inbound"])
    body = json.loads(forward.raw)
    assert body["data"]["OptOutType"] == "STOP" and body["data"]["From"] == US_MOBILE
    assert verify_standard_webhook(secret, forward.headers, forward.raw)
    assert not verify_standard_webhook("whsec_" + base64.b64encode(b"b" * 24).decode(), forward.headers, forward.raw)


def test_fallback_url_receives_the_forward_when_the_primary_fails(stack, service):
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}",
        data={"InboundRequestUrl": stack.app.url("/down"), "FallbackUrl": stack.app.url("/fallback")},
        auth=(stack.account_sid, stack.auth_token),
    ).raise_for_status()
    stack.app.failing_paths.add("/down")
    inbound(stack, US_MOBILE, "Where are you located?")
    [forward] = stack.app.wait_for(lambda r: r.path == "/fallback")
    assert forward.field("Body") == "Where are you located?"


def test_the_numbers_own_webhook_wins_when_the_service_says_so(stack, service):
    auth = (stack.account_sid, stack.auth_token)
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}", data={"UseInboundWebhookOnNumber": "true"}, auth=auth
    ).raise_for_status()
    engine = stack.engine()
    with Session(engine) as session:
        from gateway.store.tables import Sender

        sender = session.exec(select(Sender).where(Sender.address == US_SENDER)).one()
        sender.sms_url = stack.app.url("/number-hook")
        session.add(sender)
        session.commit()
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}", data={"FriendlyName": "Acme Dental"}, auth=auth
    )  # refresh caches
    inbound(stack, US_MOBILE, "hello")
    assert stack.app.wait_for(lambda r: r.path == "/number-hook")


def test_gateway_sim_inbound_works_against_a_make_run_gateway(tmp_path):
    """What a newcomer does: `gateway serve --demo` (what `make run` runs), then `gateway sim inbound`
    from the README, which signs with the random token the server wrote beside the database."""
    import os
    import subprocess
    import sys

    from gateway.accounts import Accounts
    from gateway.demo import DEMO_NAME, DEMO_NUMBER
    from gateway.settings import load_settings
    from gateway.tokens import token_cipher
    from tests.flows.server import free_port

    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    port = free_port()
    env = {**os.environ, "GATEWAY_DATABASE_URL": url, "GATEWAY_PORT": str(port), "GATEWAY_SIMULATOR_DELAY": "0.05"}
    env.pop("GATEWAY_SIMULATOR_TOKEN", None)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--demo"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/readyz"), timeout=60)  # one process per core, each importing the gateway
        token = (tmp_path / "gateway.db.sim-token").read_text()
        assert token != "simulator-token" and token not in (tmp_path / "serve.log").read_text()  # the file only
        completed = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "sim", "inbound", "--from", US_MOBILE, "--to", DEMO_NUMBER, "STOP"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert completed.returncode == 0, completed.stderr
        engine = make_engine(url)
        with Session(engine) as session:
            assert [e.keyword for e in session.exec(select(ConsentEvent)).all()] == ["STOP"]
        account = Accounts(engine, token_cipher(load_settings(env))).named(DEMO_NAME)  # the token is stored sealed
        engine.dispose()
        assert account is not None
        replies = wait_until(
            lambda: httpx.get(
                f"{base}/2010-04-01/Accounts/{account.sid}/Messages.json",
                params={"To": US_MOBILE},
                auth=(account.sid, account.auth_token),
            ).json()["messages"]
        )
        assert replies[0]["direction"] == "outbound-reply"
    finally:
        server.terminate()
        server.wait(15)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.gateway(forward_retry_horizon=1.0)
def test_a_forward_that_exhausts_its_retries_is_a_dead_letter_listed_and_replayable(stack, service):
    """With GATEWAY_FORWARD_RETRY_HORIZON at 1 s, a forward to a failing app is retried, then dies; staff
    replay it once the app is back."""
    stack.app.status = 503
    inbound(stack, US_MOBILE, "Hello?")
    auth = (stack.account_sid, stack.auth_token)
    dead = wait_until(lambda: httpx.get(f"{stack.url}/v1/DeadLetters", auth=auth).json()["dead_letters"])
    assert dead[0]["params"]["Body"] == "Hello?" and dead[0]["last_error"] == "HTTP 503" and dead[0]["attempts"] >= 2
    stack.app.status = 200
    assert httpx.post(f"{stack.url}/v1/DeadLetters/{dead[0]['id']}/Replay", auth=auth).json() == {"replayed": 1}
    assert stack.app.wait_for(lambda r: r.path == "/inbound" and r.field("Body") == "Hello?" and True)
    wait_until(lambda: httpx.get(f"{stack.url}/v1/DeadLetters", auth=auth).json()["dead_letters"] == [])


def test_a_whatsapp_stop_silences_whatsapp_but_not_sms(stack, service):
    """Channels are separate unless the policy links them: SMS still goes after a WhatsApp STOP."""
    whatsapp = _register(stack, "whatsapp:" + US_SENDER, mps=20)
    client = stack.client()
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=whatsapp["sid"])
    inbound(stack, "whatsapp:" + US_MOBILE, "STOP", to="whatsapp:" + US_SENDER)
    [reply] = wait_until(lambda: confirmations(stack, "whatsapp:" + US_MOBILE))
    assert reply.sender == "whatsapp:" + US_SENDER
    with pytest.raises(TwilioRestException) as error:
        client.messages.create(messaging_service_sid=service.sid, to="whatsapp:" + US_MOBILE, body="hi")
    assert error.value.code == 21610
    assert client.messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi").sid


def test_a_confirmation_goes_before_bulk_traffic_waiting_on_the_same_sender(stack):
    """At 1 MPS with four bulk messages queued, the HELP reply overtakes the ones still waiting."""
    number = _register(stack, US_SENDER, mps=1)
    client = stack.client()
    service = client.messaging.v1.services.create(friendly_name="Acme Dental")
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number["sid"])
    for i in range(4):
        client.messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body=f"bulk {i}")
    wait_until(lambda: stack.provider.received)
    inbound(stack, US_MOBILE, "HELP")
    wait_until(lambda: len(stack.provider.received) >= 5, timeout=15)
    order = [r.to for r in stack.provider.received]
    assert order.index(US_MOBILE) < 3, order
