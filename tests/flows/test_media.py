"""Media on sends, end to end: MediaUrl through the twilio SDK to the stand-in Twilio, the Media
subresource, the media check's HEAD requests, and the MMS Converter."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from gateway.encoding import segment
from tests.conftest import GB_MOBILE, ROOT, US_MOBILE
from tests.flows.conftest import PROVIDER_TOKEN
from tests.flows.server import serve
from tests.flows.test_inbound import forwards, service  # noqa: F401 (service is a fixture)
from tests.flows.test_outbound import US_SENDER, make_service, received_by
from tests.poll import wait_until

PICTURES = [f"https://media.example/visit/{n}.jpg" for n in range(3)]
VISIT = "Your X-rays from Tuesday's visit are ready; Dr Martin will call you about them this week."  # one segment


def _create(stack, **params: object) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        data=params,
        auth=(stack.account_sid, stack.auth_token),
    )


def test_three_media_urls_are_queued_and_reach_the_provider(stack):
    """A send with three MediaUrl is queued with num_media 3, and the provider's request carries the three."""
    acme = make_service(stack, US_SENDER)
    message = stack.client().messages.create(
        messaging_service_sid=acme.sid, to=US_MOBILE, body="Your X-rays", media_url=PICTURES
    )
    assert (message.status, message.num_media) == ("accepted", "3")
    [sent] = wait_until(lambda: received_by(stack, US_MOBILE))
    assert (sent.body, list(sent.media)) == ("Your X-rays", PICTURES)


def test_media_without_a_body_is_a_send(stack):
    """MediaUrl alone is enough: only a send with neither Body nor MediaUrl is refused (21602)."""
    acme = make_service(stack, US_SENDER)
    message = stack.client().messages.create(messaging_service_sid=acme.sid, to=US_MOBILE, media_url=PICTURES[:1])
    assert message.num_media == "1"
    response = _create(stack, MessagingServiceSid=acme.sid, To=US_MOBILE)
    assert (response.status_code, response.json()["code"]) == (400, 21602)


def test_eleven_media_urls_are_refused_with_21623(stack):
    acme = make_service(stack, US_SENDER)
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(
            messaging_service_sid=acme.sid,
            to=US_MOBILE,
            body="too many",
            media_url=[f"https://media.example/{n}.png" for n in range(11)],
        )
    assert (error.value.status, error.value.code) == (400, 21623)
    assert stack.client().messages.list() == []


@pytest.mark.parametrize(
    "url", ["ftp://media.example/a.png", "/visit/a.png", "https://", "https://media.example/a b.png"]
)
def test_a_media_url_that_is_no_absolute_http_url_is_refused_with_21620(stack, url):
    acme = make_service(stack, US_SENDER)
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=acme.sid, to=US_MOBILE, body="x", media_url=[url])
    assert (error.value.status, error.value.code) == (400, 21620)


def test_the_media_subresource_lists_and_fetches_each_item(stack):
    """Media.json lists the message's three items with their ME sids; each fetches by its sid."""
    acme = make_service(stack, US_SENDER)
    client = stack.client()
    message = client.messages.create(messaging_service_sid=acme.sid, to=US_MOBILE, body="x", media_url=PICTURES)
    listed = client.messages(message.sid).media.list()
    assert len(listed) == 3 and all(m.sid.startswith("ME") and m.parent_sid == message.sid for m in listed)
    fetched = client.messages(message.sid).media(listed[1].sid).fetch()
    assert (fetched.sid, fetched.account_sid) == (listed[1].sid, stack.account_sid)
    with pytest.raises(TwilioRestException) as error:
        client.messages(message.sid).media("ME" + "0" * 32).fetch()
    assert (error.value.status, error.value.code) == (404, 20404)


def test_another_accounts_message_media_are_not_found(stack):
    acme = make_service(stack, US_SENDER)
    message = stack.client().messages.create(messaging_service_sid=acme.sid, to=US_MOBILE, media_url=PICTURES)
    other = stack.app_state.accounts.create("other")
    response = httpx.get(
        f"{stack.url}/2010-04-01/Accounts/{other.sid}/Messages/{message.sid}/Media.json",
        auth=(other.sid, other.auth_token),
    )
    assert (response.status_code, response.json()["code"]) == (404, 20404)


# --- the MMS Converter ------------------------------------------------------------------------


@pytest.fixture
def gateway_overrides(tmp_path: Path) -> dict[str, object]:
    """The shipped policies, with GB numbers taking no MMS."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    gb = policies / "countries" / "GB.toml"
    gb.write_text(gb.read_text("utf-8").replace('country = "GB"\n', 'country = "GB"\nmms = false\n'), "utf-8")
    return {"policies_dir": policies}


def test_media_to_an_sms_only_country_goes_as_sms_ending_with_a_link_per_item(stack):
    """With the converter on (the default) and GB taking no MMS, the provider gets an SMS whose body
    ends with the three links, counted in segments as `gateway.encoding.segment` counts it."""
    acme = make_service(stack, US_SENDER)
    message = stack.client().messages.create(
        messaging_service_sid=acme.sid, to=GB_MOBILE, body=VISIT, media_url=PICTURES
    )
    [sent] = wait_until(lambda: received_by(stack, GB_MOBILE))
    assert sent.media == () and sent.body == VISIT + "\n" + "\n".join(PICTURES)
    assert message.num_segments == str(segment(sent.body).segments) == "2"
    assert message.num_media == "0"


def test_media_from_a_sender_that_cannot_send_mms_goes_as_sms(stack):
    """A number registered with Mms=false: the converter sends its media as links."""
    acme = stack.client().messaging.v1.services.create(friendly_name="Acme Dental")
    number = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": US_SENDER, "Mms": "false"},
        auth=(stack.account_sid, stack.auth_token),
    ).json()
    assert number["capabilities"]["mms"] is False
    stack.client().messaging.v1.services(acme.sid).phone_numbers.create(phone_number_sid=number["sid"])
    stack.client().messages.create(messaging_service_sid=acme.sid, to=US_MOBILE, media_url=PICTURES[:1])
    [sent] = wait_until(lambda: received_by(stack, US_MOBILE))
    assert (sent.body, sent.media) == (PICTURES[0], ())


def test_the_converters_links_are_shortened_like_any_other_when_the_send_shortens_urls(stack):
    """Conversion comes before shortening: with ShortenUrls each media item's line is a short link
    that redirects to the item, and the segments are counted on the body as sent."""
    acme = make_service(stack, US_SENDER)
    message = stack.client().messages.create(
        messaging_service_sid=acme.sid, to=GB_MOBILE, body=VISIT, media_url=PICTURES[:2], shorten_urls=True
    )
    [sent] = wait_until(lambda: received_by(stack, GB_MOBILE))
    first_line, *links = sent.body.split("\n")
    assert first_line == VISIT and len(links) == 2 and all(link.startswith(f"{stack.url}/l/") for link in links)
    assert [httpx.get(link).headers["location"] for link in links] == PICTURES[:2]
    assert message.num_segments == str(segment(sent.body).segments)


def test_with_the_converter_off_media_to_an_sms_only_country_is_refused_with_21612(stack):
    acme = make_service(stack, US_SENDER)
    stack.client().messaging.v1.services(acme.sid).update(mms_converter=False)
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=acme.sid, to=GB_MOBILE, body="x", media_url=PICTURES)
    assert (error.value.status, error.value.code) == (400, 21612)


# --- the media check --------------------------------------------------------------------------

TYPES = {
    "/x-ray.jpg": ("image/jpeg", 200_000),
    "/scan.png": ("image/png", 4_000_000),
    "/huge.mp4": ("video/mp4", 6_000_000),
    "/clip.mp4": ("video/mp4", 600_000),
    "/page.html": ("text/html", 10),
}


@pytest.fixture
def media_server() -> Iterator[str]:
    """A media host on 127.0.0.1 (a network the tests' callback policy allows) answering HEAD."""

    async def head(request: Request) -> Response:
        found = TYPES.get(request.url.path)
        if found is None:
            return Response(status_code=404)
        return Response(headers={"content-type": found[0], "content-length": str(found[1])})

    with serve(Starlette(routes=[Route("/{path:path}", head, methods=["HEAD"])])) as base:
        yield base


def _checking_service(stack):  # type: ignore[no-untyped-def]
    acme = make_service(stack, US_SENDER)
    response = httpx.post(
        f"{stack.url}/v1/Services/{acme.sid}",
        data={"MediaCheck": "true"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.json()["media_check"] is True
    return acme


def test_the_media_check_keeps_each_items_content_type(stack, media_server):
    acme = _checking_service(stack)
    client = stack.client()
    message = client.messages.create(
        messaging_service_sid=acme.sid, to=US_MOBILE, media_url=[f"{media_server}/x-ray.jpg"]
    )
    [item] = client.messages(message.sid).media.list()
    assert item.content_type == "image/jpeg"


@pytest.mark.parametrize(
    ("path", "code"),
    [("/page.html", 12300), ("/huge.mp4", 11751), ("/clip.mp4", 11751), ("/missing.png", 63019)],
    ids=str,
)
def test_the_media_check_refuses_what_mms_cannot_carry(stack, media_server, path, code):
    acme = _checking_service(stack)
    response = _create(stack, MessagingServiceSid=acme.sid, To=US_MOBILE, MediaUrl=f"{media_server}{path}")
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_the_media_check_takes_an_image_over_500_kb_that_is_refused_for_other_types(stack, media_server):
    """The 500 KB limit of one item is for types Twilio does not resize: a 4 MB PNG goes (a 600 KB
    video is refused with 11751 above)."""
    acme = _checking_service(stack)
    response = _create(stack, MessagingServiceSid=acme.sid, To=US_MOBILE, MediaUrl=f"{media_server}/scan.png")
    assert (response.status_code, response.json()["num_media"]) == (201, "1")


def test_the_media_check_never_requests_the_gateway_itself(stack):
    """A media URL on the gateway's own address and port is refused (21620) before any request."""
    acme = _checking_service(stack)
    response = _create(stack, MessagingServiceSid=acme.sid, To=US_MOBILE, MediaUrl=f"{stack.url}/metrics")
    assert (response.status_code, response.json()["code"]) == (400, 21620)


def test_media_the_provider_refuses_as_mms_go_once_as_sms(stack):
    """The provider answers 21621 (its sender is not enabled for MMS): the message goes again, once,
    as the converter's SMS, its segments counted again and the conversion kept in its reasons."""
    acme = make_service(stack, US_SENDER)
    stack.provider.sms_only.add(US_SENDER)
    message = stack.client().messages.create(
        messaging_service_sid=acme.sid, to=US_MOBILE, body=VISIT, media_url=PICTURES
    )
    [sent] = wait_until(lambda: received_by(stack, US_MOBILE))
    assert (sent.body, sent.media) == (VISIT + "\n" + "\n".join(PICTURES), ())
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")
    fetched = stack.client().messages(message.sid).fetch()
    assert (fetched.num_segments, fetched.num_media) == (str(segment(sent.body).segments), "0")
    reasons = httpx.get(f"{stack.url}/v1/Messages/{message.sid}/Explain", auth=(stack.account_sid, stack.auth_token))
    [media] = [gate for gate in reasons.json()["gates"] if gate["gate"] == "media"][-1:]
    assert (media["converted"], media["because"]) == (True, "provider")
    assert len(received_by(stack, US_MOBILE)) == 1


def test_media_the_provider_refuses_as_mms_go_as_sms_with_short_links_when_the_send_shortens_urls(stack):
    """ShortenUrls is kept on the message: the converter's SMS after the provider's 21621 carries a
    short link per item, each redirecting (302) to the item, its segments counted on that body."""
    acme = make_service(stack, US_SENDER)
    stack.provider.sms_only.add(US_SENDER)
    message = stack.client().messages.create(
        messaging_service_sid=acme.sid, to=US_MOBILE, body=VISIT, media_url=PICTURES[:2], shorten_urls=True
    )
    [sent] = wait_until(lambda: received_by(stack, US_MOBILE))
    first_line, *links = sent.body.split("\n")
    assert sent.media == () and first_line == VISIT
    assert len(links) == 2 and all(link.startswith(f"{stack.url}/l/") for link in links)
    redirects = [httpx.get(link) for link in links]
    assert [(r.status_code, r.headers["location"]) for r in redirects] == [(302, url) for url in PICTURES[:2]]
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")
    assert stack.client().messages(message.sid).fetch().num_segments == str(segment(sent.body).segments)


def test_with_the_converter_off_a_provider_refusal_as_mms_fails_the_message(stack):
    acme = make_service(stack, US_SENDER)
    stack.client().messaging.v1.services(acme.sid).update(mms_converter=False)
    stack.provider.sms_only.add(US_SENDER)
    message = stack.client().messages.create(messaging_service_sid=acme.sid, to=US_MOBILE, media_url=PICTURES)
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "failed")
    assert stack.client().messages(message.sid).fetch().error_code == 21621


# --- inbound media ----------------------------------------------------------------------------


def test_inbound_media_fields_reach_the_app_unchanged(stack, service):  # noqa: F811
    """NumMedia, MediaUrl{N} and MediaContentType{N} of Twilio's webhook are forwarded as received,
    and the inbound message's Media subresource lists the items with their types."""
    url = f"{stack.settings.public_url}/webhooks/twilio/inbound"
    media = {
        "NumMedia": "2",
        "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2",
        "MediaContentType1": "video/mp4",
    }
    params = {
        "MessageSid": "MM" + "1" * 32,
        "AccountSid": stack.settings.twilio_account_sid,
        "From": US_MOBILE,
        "To": US_SENDER,
        "Body": "my insurance card",
        **media,
    }
    signature = RequestValidator(PROVIDER_TOKEN).compute_signature(url, params)
    assert httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}).status_code == 200
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert {name: forward.field(name) for name in media} == media
    [message] = stack.client().messages.list(to=US_SENDER)
    items = stack.client().messages(message.sid).media.list()
    assert [(m.parent_sid, m.content_type) for m in items] == [(message.sid, "image/jpeg"), (message.sid, "video/mp4")]
