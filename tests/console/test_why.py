"""A message's "why" in the reader's language: the message keeps its reasons as ids and parameters,
and the console says them in the page's language (here French), while Explain keeps English.
Messages kept before reasons were data (English sentences) still show, as they are."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update
from sqlmodel import Session

from gateway.compliance.reasons import readable
from gateway.store.tables import Message, core_table
from tests.conftest import US_MOBILE
from tests.console.conftest import console, text
from tests.poll import wait_until

MESSAGES = core_table(Message)


def send(stack, **params: str) -> str:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        data=params,
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def why_in_french(stack, sid: str) -> str:  # type: ignore[no-untyped-def]
    page = text(console(stack, f"/console/messages/{sid}?lang=fr"))
    return page.split("Pourquoi", 1)[1]


def kept(stack, sid: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with Session(stack.engine()) as session:
        reasons = session.connection().execute(select(MESSAGES.c.reasons).where(MESSAGES.c.sid == sid)).scalar_one()
    assert reasons is not None
    return dict(reasons)


def gate(reasons: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in reasons["gates"] if g["gate"] == name)


def test_a_sent_messages_why_reads_in_french(stack, service):
    sid = send(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    why = why_in_french(stack, sid)
    assert why.startswith(" Envoyé aussitôt : mis dans la file de son expéditeur maintenant")
    assert f"valid_number validé {US_MOBILE} est un numéro valide de US, indicatif régional 201" in why
    assert (
        f"opt_out validé {US_MOBILE} ne s’est désinscrit ni pour le Messaging Service {service.sid} (sms) "
        "ni pour tout le compte"
    ) in why
    assert "route validé un numéro avec l’indicatif régional du destinataire (Area Code Geomatch)" in why
    assert "has not opted out" not in why and " pass " not in why


def test_a_message_held_by_quiet_hours_says_why_in_french(clock, stack, service):
    clock.set(datetime(2026, 12, 1, 21, 30, tzinfo=ZoneInfo("America/New_York")))
    sid = send(
        stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body="Winter sale: 20% off", TrafficType="marketing"
    )
    page = text(console(stack, f"/console/messages/{sid}?lang=fr"))
    assert "Statut programmé" in page
    why = page.split("Pourquoi", 1)[1]
    assert why.startswith(
        " Retenu jusqu’à 2026-12-02T13:00:00Z par quiet_hours : hors de la plage d’envoi ; "
        "retenu jusqu’à son ouverture ("
    )
    assert "quiet_hours retenu hors de la plage d’envoi ; retenu jusqu’à son ouverture (" in why
    assert "queue sans objet retenu : il rejoint la file de son expéditeur à l’échéance" in why


def test_a_message_canceled_by_an_opt_out_says_so_in_french(clock, stack, service, stop):
    """An app's scheduled message whose recipient opts out before it goes is canceled with 21610."""
    clock.set(datetime(2026, 12, 1, 14, 0, tzinfo=ZoneInfo("America/New_York")))
    sid = send(
        stack,
        To=US_MOBILE,
        MessagingServiceSid=service.sid,
        Body="See you tomorrow",
        ScheduleType="fixed",
        SendAt="2026-12-01T16:00:00-05:00",
    )
    stop(US_MOBILE, "STOP")
    wait_until(lambda: stack.client().messages(sid).fetch().status == "canceled")
    page = text(console(stack, f"/console/messages/{sid}?lang=fr"))
    assert "Statut annulé · 21610 Le destinataire s’est désinscrit." in page
    why = page.split("Pourquoi", 1)[1]
    assert "schedule retenu l’application l’a programmé pour 2026-12-01T21:00:00Z" in why


def test_a_stop_confirmations_why_reads_in_french(stack, service, stop):
    """The confirmation goes to an opted-out number: its opt-out gate says why, in French."""
    stop(US_MOBILE, "STOP")
    [confirmation] = [m for m in stack.client().messages.list(to=US_MOBILE)]
    assert "opt_out sans objet la confirmation de la désinscription de la personne part toujours" in why_in_french(
        stack, confirmation.sid
    )


def test_a_message_keeps_its_reasons_as_ids_and_parameters(stack, service):
    sid = send(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    reasons = kept(stack, sid)
    assert gate(reasons, "opt_out")["reason"] == [
        "opt_out.clear",
        {"number": US_MOBILE, "scope": ["scope.service", {"sid": service.sid}], "channel": "sms"},
    ]
    assert reasons["outcome"]["message"] == ["outcome.now"]


def test_explain_of_a_message_still_says_its_reasons_in_english(stack, service):
    sid = send(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    explained = httpx.get(
        f"{stack.url}/v1/Messages/{sid}/Explain",
        auth=(stack.account_sid, stack.auth_token),
        headers={"Accept-Language": "fr"},
    ).json()
    assert gate(explained, "opt_out")["reason"] == (
        f"{US_MOBILE} has not opted out of the Messaging Service {service.sid} (sms) nor of the whole account"
    )
    assert explained["outcome"]["message"] == "queued for its sender now"


def test_a_message_kept_with_english_sentences_still_shows_them(stack, service):
    """A row written before reasons were data holds the sentences themselves: shown as they are."""
    sid = send(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    english = readable(kept(stack, sid))
    with Session(stack.engine()) as session:
        session.connection().execute(update(MESSAGES).where(MESSAGES.c.sid == sid).values(reasons=english))
        session.commit()
    why = why_in_french(stack, sid)
    assert why.startswith(" Envoyé aussitôt : queued for its sender now")
    assert f"{US_MOBILE} has not opted out of the Messaging Service {service.sid} (sms) nor of the whole account" in why
    explained = httpx.get(f"{stack.url}/v1/Messages/{sid}/Explain", auth=(stack.account_sid, stack.auth_token)).json()
    assert gate(explained, "opt_out")["reason"] == gate(english, "opt_out")["reason"]
