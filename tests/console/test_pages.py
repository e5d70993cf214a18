"""The console over HTTP, on the whole gateway under uvicorn (SQLite and PostgreSQL): sign-in,
what each page shows after real inbound messages, the audited consent change, replay, and the
defences of the forms that change state."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy import insert, select

from gateway.store.db import utcnow
from gateway.store.tables import Delivery
from tests.conftest import FR_MOBILE, US_MOBILE
from tests.console.conftest import console, csrf, post, text
from tests.flows.test_outbound import US_SENDER
from tests.poll import wait_until

PAGES = [
    "/console",
    "/console/",
    "/console/numbers",
    f"/console/numbers/{US_MOBILE}",
    "/console/tester?text=STOP",
    "/console/queues",
    "/console/messages",
    "/console/console.css",
]


def test_every_console_page_asks_the_browser_for_credentials(stack, service, stop):
    """Without credentials each page answers 401 with WWW-Authenticate (the browser's sign-in prompt) and shows no data."""
    stop(US_MOBILE, "STOP")
    for path in PAGES:
        response = httpx.get(f"{stack.url}{path}")
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith('Basic realm="optout-gateway console"'), path
        assert US_MOBILE not in response.text and stack.account_sid not in response.text, path


def test_console_without_its_slash_leads_a_signed_in_browser_to_the_overview(stack):
    """/console answers 401 like every console URL; signed in, it redirects to /console/."""
    response = console(stack, "/console?lang=fr")
    assert (response.status_code, response.headers["location"]) == (307, "/console/?lang=fr")


def test_a_wrong_auth_token_is_refused_like_no_credentials(stack):
    response = console(stack, auth=(stack.account_sid, "0" * 32))
    assert response.status_code == 401 and "www-authenticate" in response.headers


def test_a_number_typed_in_local_format_opens_its_consent_history(stack, service, stop):
    """'(201) 555-0123' is read as the US number the account's sender country suggests; its page shows the STOP."""
    stop(US_MOBILE, "Stop")
    found = console(stack, "/console/numbers", params={"q": "(201) 555-0123"})
    assert found.status_code == 303 and found.headers["location"] == f"/console/numbers/{US_MOBILE}"
    page = text(console(stack, found.headers["location"]))
    assert "Acme Dental sms opted out" in page
    assert "opt-out sms Acme Dental STOP (exact) en Stop SM" in page


def test_the_confirmation_is_the_only_message_after_an_opt_out(stack, service, stop):
    stop(US_MOBILE, "STOP")
    wait_until(lambda: [r for r in stack.provider.received if r.to == US_MOBILE])
    page = text(console(stack, f"/console/numbers/{US_MOBILE}"))
    assert "confirmation or reply: expected" in page
    assert "sent after the opt-out" not in page


def test_staff_opt_in_with_a_reason_is_audited_and_lets_sends_through(stack, service, stop):
    stop(US_MOBILE, "STOP")
    page = console(stack, f"/console/numbers/{US_MOBILE}")
    answer = post(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        {
            "csrf": csrf(page),
            "action": "opt_in",
            "scope": service.sid,
            "channel": "sms",
            "reason": "Customer asked by phone, ticket 4711",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/numbers/{US_MOBILE}?done=opted_in"
    shown = text(console(stack, answer.headers["location"]))
    assert "Opted back in." in shown and "Acme Dental sms opted in" in shown
    assert "opt-in sms Acme Dental" in shown and "console: Customer asked by phone, ticket 4711" in shown
    assert stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="Welcome back").sid


def test_staff_opt_out_of_a_number_already_opted_out_records_nothing(stack, service, stop):
    stop(US_MOBILE, "STOP")
    page = console(stack, f"/console/numbers/{US_MOBILE}")
    answer = post(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        {"csrf": csrf(page), "action": "opt_out", "scope": service.sid, "channel": "sms", "reason": "Complaint"},
    )
    assert answer.headers["location"].endswith("?done=unchanged")
    assert text(console(stack, f"/console/numbers/{US_MOBILE}")).count("opt-out sms") == 1


def test_a_consent_change_without_the_forms_token_changes_nothing(stack, service, stop):
    """A forged POST (the browser would add the Basic credentials) lacks the token: 403, still opted out."""
    stop(US_MOBILE, "STOP")
    answer = post(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        {"action": "opt_in", "scope": service.sid, "channel": "sms", "reason": "forged"},
    )
    assert answer.status_code == 403
    assert "Acme Dental sms opted out" in text(console(stack, f"/console/numbers/{US_MOBILE}"))


def test_a_consent_change_posted_from_another_site_changes_nothing(stack, service, stop):
    stop(US_MOBILE, "STOP")
    token = csrf(console(stack, f"/console/numbers/{US_MOBILE}"))
    answer = post(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        {"csrf": token, "action": "opt_in", "scope": service.sid, "channel": "sms", "reason": "x"},
        headers={"Origin": "https://attacker.example"},
    )
    assert answer.status_code == 403
    assert "Acme Dental sms opted out" in text(console(stack, f"/console/numbers/{US_MOBILE}"))


def test_a_consent_change_posted_from_the_same_host_over_https_changes_nothing(stack, service, stop):
    """An origin is scheme, host and port: https on the console's own host and port is another site."""
    stop(US_MOBILE, "STOP")
    token = csrf(console(stack, f"/console/numbers/{US_MOBILE}"))
    ours = httpx.URL(stack.url)
    answer = post(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        {"csrf": token, "action": "opt_in", "scope": service.sid, "channel": "sms", "reason": "x"},
        headers={"Origin": f"https://{ours.host}:{ours.port}"},
    )
    assert answer.status_code == 403
    assert "Acme Dental sms opted out" in text(console(stack, f"/console/numbers/{US_MOBILE}"))


def test_a_consent_change_posted_from_the_consoles_own_origin_is_applied(stack, service, stop):
    stop(US_MOBILE, "STOP")
    token = csrf(console(stack, f"/console/numbers/{US_MOBILE}"))
    ours = httpx.URL(stack.url)
    answer = post(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        {"csrf": token, "action": "opt_in", "scope": service.sid, "channel": "sms", "reason": "called back"},
        headers={"Origin": f"HTTP://{ours.host}:{ours.port}"},
    )
    assert answer.status_code == 303
    assert "Acme Dental sms opted in" in text(console(stack, f"/console/numbers/{US_MOBILE}"))


def test_a_consent_change_needs_a_reason(stack, service, stop):
    stop(US_MOBILE, "STOP")
    token = csrf(console(stack, f"/console/numbers/{US_MOBILE}"))
    answer = post(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        {"csrf": token, "action": "opt_in", "scope": service.sid, "channel": "sms", "reason": "  "},
    )
    assert answer.status_code == 400
    assert "Acme Dental sms opted out" in text(console(stack, f"/console/numbers/{US_MOBILE}"))


def test_get_never_changes_consent(stack, service, stop):
    stop(US_MOBILE, "STOP")
    response = console(
        stack,
        f"/console/numbers/{US_MOBILE}/consent",
        params={"action": "opt_in", "scope": service.sid, "channel": "sms", "reason": "x"},
    )
    assert response.status_code == 405
    assert "Acme Dental sms opted out" in text(console(stack, f"/console/numbers/{US_MOBILE}"))


def test_another_account_sees_nothing_of_this_accounts_numbers_and_messages(stack, service, stop):
    stop(US_MOBILE, "STOP")
    other = stack.app_state.accounts.create("other")
    as_other = (other.sid, other.auth_token)
    page = text(console(stack, f"/console/numbers/{US_MOBILE}", auth=as_other))
    assert "never opted out" in page and "Acme Dental" not in page and "STOP" not in page
    sid = stack.client().messages.list(to=US_MOBILE)[0].sid
    assert console(stack, f"/console/messages/{sid}", auth=as_other).status_code == 404
    assert sid not in console(stack, "/console/messages", auth=as_other).text


def test_the_overview_counts_todays_opt_out_and_shows_the_serving_revision(stack, service, stop):
    stop(FR_MOBILE, "Arrêt")
    page = text(console(stack))
    assert "Opt-outs: 1" in page and "Inbound: 1" in page
    revision = httpx.get(f"{stack.url}/v1/Policy", auth=(stack.account_sid, stack.auth_token)).json()["revision"]
    assert f"Serving revision: {revision}" in page and "No policy errors." in page


def test_a_message_page_shows_its_event_log(stack, service, stop):
    stop(US_MOBILE, "STOP")
    [reply] = wait_until(lambda: [m for m in stack.client().messages.list(to=US_MOBILE) if m.status == "delivered"])
    page = text(console(stack, f"/console/messages/{reply.sid}"))
    assert "Status delivered" in page
    assert "sent dispatch yes" in page and "delivered provider yes" in page


def test_a_message_page_shows_why_the_gateway_sent_it(stack, service):
    """The reasons the send kept (Explain's answer at that moment): outcome, route rule, each gate's verdict."""
    message = stack.client().messages.create(
        to=US_MOBILE, messaging_service_sid=service.sid, body="Your code is 123456"
    )
    page = text(console(stack, f"/console/messages/{message.sid}"))
    why = page.split("Why", 1)[1]
    assert why.startswith(" Sent on at once:")
    assert "route pass " in why and "opt_out pass " in why and "valid_number pass " in why


def test_an_inbound_message_page_says_no_reasons_were_kept(stack, service, stop):
    stop(US_MOBILE, "STOP")
    [inbound] = wait_until(
        lambda: [m for m in stack.client().messages.list(from_=US_MOBILE) if m.direction == "inbound"]
    )
    page = text(console(stack, f"/console/messages/{inbound.sid}"))
    assert "The gateway kept no reasons for this message" in page


def test_messages_filter_by_status(stack, service, stop):
    stop(US_MOBILE, "STOP")
    page = text(console(stack, "/console/messages", params={"direction": "inbound"}))
    assert "inbound +12015550123 +12015550124 received" in page and "outbound-reply" not in page.split("Filter")[1]


def test_the_queue_page_shows_a_senders_backlog(stack, service):
    stack.provider.throttle(50, retry_after=30)  # the provider holds everything back: messages stay queued
    for number in (US_MOBILE, FR_MOBILE):
        stack.client().messages.create(messaging_service_sid=service.sid, to=number, body="Reminder")
    page = text(console(stack, "/console/queues"))
    assert f"{US_SENDER} long_code 2 2 20" in page


@pytest.fixture
def dead_letter(stack):  # type: ignore[no-untyped-def]
    """A forward to the stand-in app that gave up (as after 24 hours of retries)."""
    now = utcnow()
    with stack.engine().begin() as connection:
        return connection.execute(
            insert(Delivery.__table__).values(  # type: ignore[attr-defined]
                kind="inbound_forward",
                account_sid=stack.account_sid,
                ordering_key=US_MOBILE,
                url=stack.app.url("/inbound"),
                params=json.dumps([["From", US_MOBILE], ["Body", "Hello"]]),
                state="dead",
                attempts=12,
                next_attempt_at=now,
                last_error="503 Service Unavailable",
                date_created=now,
                date_updated=now,
            )
        ).inserted_primary_key[0]


def test_replaying_a_dead_letter_delivers_it_again(stack, dead_letter):
    page = console(stack, "/console/queues")
    assert "503 Service Unavailable" in text(page)
    answer = post(stack, f"/console/queues/dead-letters/{dead_letter}/replay", {"csrf": csrf(page)})
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/queues?replayed={dead_letter}"
    [forward] = stack.app.wait_for(lambda r: r.path == "/inbound" and r.field("Body") == "Hello")
    assert forward.field("From") == US_MOBILE
    with stack.engine().connect() as connection:
        assert connection.execute(select(Delivery.state).where(Delivery.id == dead_letter)).scalar() != "dead"


def test_another_account_cannot_replay_this_accounts_dead_letter(stack, dead_letter):
    other = stack.app_state.accounts.create("other")
    token = csrf(console(stack, f"/console/numbers/{US_MOBILE}", auth=(other.sid, other.auth_token)))
    answer = post(
        stack, f"/console/queues/dead-letters/{dead_letter}/replay", {"csrf": token}, auth=(other.sid, other.auth_token)
    )
    assert answer.status_code == 404
    with stack.engine().connect() as connection:
        assert connection.execute(select(Delivery.state).where(Delivery.id == dead_letter)).scalar() == "dead"


def test_the_console_speaks_french_to_a_french_browser(stack):
    page = console(stack, headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in page.text and "Vue d’ensemble" in page.text and "Santé" in page.text


def test_lang_parameter_chooses_the_language_and_is_remembered(stack):
    chosen = console(stack, "/console/queues", params={"lang": "fr"})
    assert "Files d’attente" in chosen.text and chosen.cookies.get("console_lang") == "fr"
    later = console(stack, "/console/messages", cookies={"console_lang": "fr"})
    assert '<html lang="fr">' in later.text


def test_english_is_the_default_language(stack):
    page = console(stack, headers={"Accept-Language": "ja-JP"})
    assert '<html lang="en">' in page.text and "Overview" in page.text


@pytest.mark.parametrize("error", ["²", "9" * 30])
def test_an_error_filter_no_code_can_have_is_refused_not_a_500(stack, error):
    """A code written in other digits, or longer than any column holds, is an unknown filter value (400)."""
    assert console(stack, "/console/messages", params={"error": error}).status_code == 400


def test_a_page_cursor_out_of_range_reads_as_the_first_page(stack):
    """A `before` cursor whose sequence no row can have lists from the newest message instead of a 500."""
    cursor = base64.urlsafe_b64encode(f"2026-01-01T00:00:00|{'9' * 30}".encode()).decode()
    assert console(stack, "/console/messages", params={"before": cursor}).status_code == 200


@pytest.mark.parametrize("dead_id", ["²", "9" * 30])
def test_replaying_a_dead_letter_id_no_row_can_have_is_404(stack, dead_letter, dead_id):
    """The queue page's replay of an id in other digits or out of range is 404, not a 500."""
    page = console(stack, "/console/queues")  # its replay form carries the CSRF token
    assert post(stack, f"/console/queues/dead-letters/{dead_id}/replay", {"csrf": csrf(page)}).status_code == 404
