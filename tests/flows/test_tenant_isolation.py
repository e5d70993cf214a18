"""Tenant isolation: every authenticated operation of openapi.yaml, called with account B's
credentials on account A's resources, answers 401 (20003) or 404 (20404) and never shows or
changes A's data; B's own collections (lists, creates, exports) answer without A's data."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import yaml

from gateway.media import media_sid
from tests.conftest import GB_MOBILE, ROOT, US_MOBILE
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
OPERATIONS = [
    (path, method)
    for path, item in SPEC["paths"].items()
    for method, operation in item.items()
    if method in ("get", "post", "delete") and operation.get("security")
]
A_BODY = "Tenant A's private appointment reminder"


@pytest.fixture
def tenant_a(stack) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Account A with one of everything the API can address: message (with a media item), service, pool members, sticky
    mapping, opt-out and dead letter."""
    client = stack.client()
    number = _register(stack, US_SENDER, mps=50)
    service = client.messaging.v1.services.create(
        friendly_name="Tenant A", sticky_sender=True, inbound_request_url=stack.app.url("/a-inbound")
    )
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number["sid"])
    auth = (stack.account_sid, stack.auth_token)
    members = {
        pool: httpx.post(f"{stack.url}/v1/Services/{service.sid}/{pool}", data=data, auth=auth).json()["sid"]
        for pool, data in (
            ("ShortCodes", {"ShortCode": "894546", "CountryCode": "US"}),
            ("AlphaSenders", {"AlphaSender": "TenantA"}),
        )
    }
    members["PhoneNumbers"] = number["sid"]
    message = client.messages.create(
        messaging_service_sid=service.sid, to=GB_MOBILE, body=A_BODY, media_url=["https://example.com/a.jpg"]
    )
    stack.app_state.forwarder.max_age = timedelta(seconds=0)
    stack.app.failing_paths.add("/a-inbound")
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    dead = wait_until(lambda: httpx.get(f"{stack.url}/v1/DeadLetters", auth=auth).json()["dead_letters"])
    return {
        "AccountSid": stack.account_sid,
        "ServiceSid": service.sid,
        "MessageSid": message.sid,
        "MediaSid": media_sid(message.sid, 0),
        "NumberSid": number["sid"],
        "members": members,
        "To": GB_MOBILE,
        "PhoneNumber": US_MOBILE,
        "Id": str(dead[0]["id"]),
    }


def _url(stack, path: str, a: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "Sid":
            if "/Messages/" in path:
                return str(a["MessageSid"])
            if "/IncomingPhoneNumbers/" in path:
                return str(a["NumberSid"])
            return str(a["ServiceSid"])
        if name == "MemberSid":
            return str(a["members"][path.split("/")[4]])
        return str(a[name])

    return stack.url + re.sub(r"\{(\w+)\}", value, path)


def _form(a: dict[str, Any]) -> dict[str, str]:
    """Parameters that name A's resources wherever an operation takes one."""
    return {
        "ServiceSid": a["ServiceSid"],
        "MessagingServiceSid": a["ServiceSid"],
        "PhoneNumberSid": a["NumberSid"],
        "PhoneNumber": a["PhoneNumber"],
        "To": a["To"],
        "Body": "from B",
        "ToBinding": f'{{"binding_type": "sms", "address": "{a["To"]}"}}',
        "Reason": "tenant B",
        "FriendlyName": "B",
        "ShortCode": "894546",
        "AlphaSender": "TenantA",
        "Sid": a["MessageSid"],
    }


def _leaks(text: str, a: dict[str, Any]) -> list[str]:
    secrets = [a["MessageSid"], a["NumberSid"], *a["members"].values(), A_BODY, US_SENDER]
    return [secret for secret in secrets if secret in text]


def test_every_operation_refuses_account_b_on_account_a_resources(stack, tenant_a):
    other = stack.app_state.accounts.create("tenant B")
    auth = (other.sid, other.auth_token)
    answers = []
    for path, method in OPERATIONS:
        url = _url(stack, path, tenant_a)
        form = _form(tenant_a)
        if method == "get":
            response = httpx.get(url, params={"ServiceSid": tenant_a["ServiceSid"]}, auth=auth)
        elif method == "delete":
            response = httpx.delete(url, params={"ServiceSid": tenant_a["ServiceSid"], "Reason": "B"}, auth=auth)
        else:
            response = httpx.post(url, data=form, auth=auth)
        answers.append((method.upper(), path, response.status_code))
        assert _leaks(response.text, tenant_a) == [], (method, path, response.text)
        if "{" not in path and response.status_code < 400:
            continue  # B's own collection (list, create, export): served, without A's data
        code = response.json().get("code") if response.status_code >= 400 else None
        assert (response.status_code, code) in ((401, 20003), (404, 20404)), (method, path, response.text)
    assert len(answers) == len(OPERATIONS) >= 25


def test_account_a_keeps_everything_after_account_b_tried(stack, tenant_a):
    other = stack.app_state.accounts.create("tenant B")
    for path, method in OPERATIONS:
        if method in ("post", "delete"):
            httpx.request(
                method.upper(),
                _url(stack, path, tenant_a),
                auth=(other.sid, other.auth_token),
                **(
                    {"data": _form(tenant_a)}
                    if method == "post"
                    else {"params": {"ServiceSid": tenant_a["ServiceSid"], "Reason": "B"}}
                ),
            )
    auth = (stack.account_sid, stack.auth_token)
    base = f"{stack.url}/v1/Services/{tenant_a['ServiceSid']}"
    assert httpx.get(base, auth=auth).json()["friendly_name"] == "Tenant A"
    for pool, sid in tenant_a["members"].items():
        assert httpx.get(f"{base}/{pool}/{sid}", auth=auth).status_code == 200
    assert httpx.get(f"{base}/StickySenders/{GB_MOBILE}", auth=auth).status_code == 200
    optout = httpx.get(f"{stack.url}/v1/OptOuts/{US_MOBILE}", auth=auth).json()
    assert [entry["state"] for entry in optout["opt_outs"]] == ["opted_out"]
    assert len(httpx.get(f"{stack.url}/v1/DeadLetters", auth=auth).json()["dead_letters"]) == 1
