"""Link shortening with click tracking, end to end: the twilio SDK sends with `shorten_urls=True`,
the stand-in Twilio receives the short link, a click on it is redirected and reaches the app's
click callback, signed."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from gateway.encoding import segment
from tests.conftest import US_MOBILE
from tests.flows.test_outbound import US_SENDER, make_service, received_by
from tests.poll import wait_until

LONG_URL = "https://shop.example.com/offers/spring-sale/" + "a1b2c3d4e5" * 6 + "?utm_source=sms&utm_medium=text"
TEXT = "Hi Sam, your spring coupon is ready: 20% off every cleaning kit until Sunday. Tap to see it, then show it at the desk: "
FALLBACK = "https://shop.example.com/expired"


def _shortening_service(stack):  # type: ignore[no-untyped-def]
    service = make_service(stack, US_SENDER)
    response = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}",
        data={"ClickCallbackUrl": stack.app.url("/clicks"), "LinkFallbackUrl": FALLBACK},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 200, response.text
    return service


def _send(stack, service, body: str = TEXT + LONG_URL):  # type: ignore[no-untyped-def]
    message = stack.client().messages.create(
        messaging_service_sid=service.sid, to=US_MOBILE, body=body, shorten_urls=True
    )
    [sent] = wait_until(lambda: received_by(stack, US_MOBILE))
    return message, sent


def _short_link(body: str) -> str:
    return next(word for word in body.split() if "/l/" in word)


def _delivered(stack, sid: str) -> None:  # type: ignore[no-untyped-def]
    assert wait_until(lambda: stack.client().messages(sid).fetch().status == "delivered")


def test_a_long_link_is_shortened_so_the_message_fits_one_segment(stack):
    """A 235-character body with a long link goes out as about 150 characters: one segment, counted on the body as sent."""
    assert segment(TEXT + LONG_URL).segments == 2
    message, sent = _send(stack, _shortening_service(stack))
    assert sent.body.startswith(TEXT) and LONG_URL not in sent.body
    assert _short_link(sent.body).startswith(f"{stack.url}/l/") and len(sent.body) <= 160
    assert message.num_segments == "1" == str(segment(sent.body).segments)


def test_the_short_link_redirects_to_the_long_one_and_the_click_reaches_the_app_signed_once(stack, clock):
    """GET on the short link answers 302 to the app's link; one click event arrives at ClickCallbackUrl, signed."""
    service = _shortening_service(stack)
    message, sent = _send(stack, service)
    _delivered(stack, message.sid)
    clock.advance(60)  # a person reads before tapping
    link = _short_link(sent.body)
    response = httpx.get(link, headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile/15E148 Safari/604.1"})
    assert (response.status_code, response.headers["location"]) == (302, LONG_URL)
    [click] = stack.app.wait_for(lambda r: r.path == "/clicks")
    validator = RequestValidator(stack.auth_token)
    assert validator.validate(stack.app.url("/clicks"), dict(click.form), click.headers["x-twilio-signature"])
    assert dict(click.form) | {"link_create_time": "", "click_time": ""} == {
        "message_sid": message.sid,
        "account_sid": stack.account_sid,
        "messaging_service_sid": service.sid,
        "to": US_MOBILE,
        "from": US_SENDER,
        "link": LONG_URL,
        "shortened_link": link,
        "link_create_time": "",
        "click_time": "",
        "user_agent": "Mozilla/5.0 (iPhone) Mobile/15E148 Safari/604.1",
        "click_kind": "human",
        "is_preview": "false",
    }


def test_a_link_previewers_click_is_counted_as_a_preview(stack, clock):
    """Google-PageRenderer (Twilio's own sample agent) is redirected, and its click is a preview, apart from human clicks."""
    message, sent = _send(stack, _shortening_service(stack))
    _delivered(stack, message.sid)
    clock.advance(60)
    response = httpx.get(_short_link(sent.body), headers={"User-Agent": "Google-PageRenderer Google (+https://g.co/p)"})
    assert response.status_code == 302
    [click] = stack.app.wait_for(lambda r: r.path == "/clicks")
    assert (click.field("click_kind"), click.field("is_preview")) == ("preview", "true")
    metrics = httpx.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {stack.settings.metrics_token}"})
    assert 'gateway_link_clicks_total{kind="preview"}' in metrics.text


def test_a_head_request_is_a_preview(stack, clock):
    """A HEAD on the short link (a scanner checking it) answers 302 too, and counts as a preview."""
    message, sent = _send(stack, _shortening_service(stack))
    _delivered(stack, message.sid)
    clock.advance(60)
    response = httpx.head(_short_link(sent.body), headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
    assert (response.status_code, response.headers["location"]) == (302, LONG_URL)
    [click] = stack.app.wait_for(lambda r: r.path == "/clicks")
    assert click.field("click_kind") == "preview"


def test_an_expired_link_serves_the_services_fallback_url(stack, clock):
    """91 days later (links live 90), the short link redirects to LinkFallbackUrl."""
    _, sent = _send(stack, _shortening_service(stack))
    clock.advance(timedelta(days=91))
    response = httpx.get(_short_link(sent.body))
    assert (response.status_code, response.headers["location"]) == (302, FALLBACK)


def test_an_unknown_code_is_not_found(stack):
    """A code no send made answers 404 in Twilio's JSON shape."""
    response = httpx.get(f"{stack.url}/l/Zz9Zz9Zz9Z")
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_shorten_urls_without_a_messaging_service_is_refused(stack):
    """ShortenUrls is a Messaging Service feature, as at Twilio: with only a From it is a 400."""
    make_service(stack, US_SENDER)
    with pytest.raises(TwilioRestException) as refused:
        stack.client().messages.create(from_=US_SENDER, to=US_MOBILE, body=LONG_URL, shorten_urls=True)
    assert refused.value.status == 400
    assert received_by(stack, US_MOBILE) == []
