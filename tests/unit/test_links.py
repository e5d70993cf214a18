"""Link shortening and click classification (`gateway.links`), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.links import (
    HUMAN,
    PREVIEW,
    LinkDomain,
    click_kind,
    default_domain,
    domain_for,
    is_code,
    link_defaults,
    new_code,
    shorten,
)

GO = LinkDomain("go.acme.com")
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
DELIVERED = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def _codes(*codes: str):  # type: ignore[no-untyped-def]
    return iter(codes).__next__


def test_each_link_becomes_the_domain_and_a_code_and_sentence_punctuation_stays_outside():
    """A full stop or closing parenthesis after a link ends the sentence, not the link."""
    body, links = shorten("See https://acme.com/a?b=1. Or (http://acme.com/c)!", GO, _codes("AAAAAAAAAA", "BBBBBBBBBB"))
    assert body == "See https://go.acme.com/AAAAAAAAAA. Or (https://go.acme.com/BBBBBBBBBB)!"
    assert [(link.url, link.shortened) for link in links] == [
        ("https://acme.com/a?b=1", "https://go.acme.com/AAAAAAAAAA"),
        ("http://acme.com/c", "https://go.acme.com/BBBBBBBBBB"),
    ]


def test_a_body_without_links_is_unchanged():
    """Text that only mentions a domain (no scheme) is not a link Twilio would shorten."""
    assert shorten("Visit acme.com today", GO) == ("Visit acme.com today", ())


def test_disable_https_writes_links_without_a_scheme():
    """DisableHttps, as Twilio's domain option: `go.acme.com/code`."""
    chosen = domain_for(link_defaults(None, "https://gw.example.com", 90), "go.acme.com", disable_https=True)
    assert shorten("https://acme.com/x", chosen, _codes("CCCCCCCCCC"))[0] == "go.acme.com/CCCCCCCCCC"


def test_the_default_domain_is_the_public_url_and_l_in_its_own_scheme():
    """No domain set anywhere: the gateway's public URL + /l."""
    assert default_domain("http://127.0.0.1:8080/").prefix == "http://127.0.0.1:8080/l/"
    assert link_defaults(None, "https://gw.example.com", 90).lifetime == timedelta(days=90)
    assert link_defaults("links.acme.com", "https://gw.example.com", 30).domain.prefix == "https://links.acme.com/"


def test_codes_are_ten_alphanumeric_characters():
    assert all(is_code(new_code()) for _ in range(100))
    assert not is_code("short") and not is_code("abc/def-gh")


def test_a_phone_browser_long_after_delivery_is_a_human():
    assert click_kind(PHONE, "GET", DELIVERED + timedelta(minutes=3), DELIVERED) == HUMAN


def test_a_click_within_a_second_of_delivery_is_a_preview():
    """No one reads and taps that fast: a messaging app fetched the link for its card."""
    assert click_kind(PHONE, "GET", DELIVERED + timedelta(milliseconds=400), DELIVERED) == PREVIEW


def test_previewer_agents_head_requests_and_missing_agents_are_previews():
    later = DELIVERED + timedelta(minutes=3)
    assert click_kind("facebookexternalhit/1.1", "GET", later, DELIVERED) == PREVIEW
    assert click_kind("WhatsApp/2.23.20 A", "GET", later, DELIVERED) == PREVIEW
    assert click_kind(PHONE, "HEAD", later, DELIVERED) == PREVIEW
    assert click_kind(None, "GET", later, DELIVERED) == PREVIEW
