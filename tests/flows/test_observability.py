"""Observability through real flows: /metrics counts what happened, one request id follows a message
from the webhook or API request to the provider and the app, log lines mask phone numbers, and
/readyz reports the workers.

Counters are kept per process and several gateways run in this one, so each test compares a
scrape after its action with one before it.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from bench.harness import Gateway, Node
from gateway.observability import logs
from gateway.store.tables import Message
from tests.conftest import FR_MOBILE, GB_MOBILE, US_MOBILE
from tests.flows.conftest import METRICS_TOKEN
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
UNKNOWN_NUMBER = "+12015550199"  # no account registered it
REJECTED = "+33699100000"  # the stand-in Twilio refuses numbers starting +336991 with 21614
SIM_TOKEN = "observed-simulator-token"  # signs webhooks for the simulator, which holds no number of the stack


def scrape(stack) -> Samples:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def grows(stack, name: str, by: float = 1.0, **labels: str):  # type: ignore[no-untyped-def]
    """A check, taken now, that the series `name{labels}` grew by at least `by` (waits for it)."""
    before = value(scrape(stack), name, **labels)

    def grown() -> float:
        delta = value(scrape(stack), name, **labels) - before
        return delta if delta >= by else 0.0

    return lambda: wait_until(grown, message=lambda: f"{name}{labels} did not grow by {by} from {before}")


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
    return {"sid": created.sid, "sender_sid": number["sid"]}


@pytest.fixture
def gateway_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """caplog's handler with the gateway's filters, as `gateway serve` installs them on its own."""
    logs.install(caplog.handler)
    caplog.set_level(logging.DEBUG, logger="gateway")
    return caplog


def send(stack, service, to: str, *, request_id: str | None = None) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        data={"MessagingServiceSid": service["sid"], "To": to, "Body": "Your table is ready"},
        auth=(stack.account_sid, stack.auth_token),
        headers={"X-Request-Id": request_id} if request_id else {},
    )


# /metrics: access


def test_metrics_refuse_a_scrape_without_the_bearer_token(stack):
    """An account's Basic credentials are not the scraper's token: 401 in Twilio's shape."""
    response = httpx.get(f"{stack.url}/metrics", auth=(stack.account_sid, stack.auth_token))
    assert response.status_code == 401
    assert response.json()["code"] == 20003 and "GATEWAY_METRICS_TOKEN" in response.json()["message"]


@pytest.mark.gateway(metrics_token=None)
def test_metrics_are_refused_with_403_naming_the_setting_when_no_token_is_configured(stack):
    response = httpx.get(f"{stack.url}/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403
    assert set(response.json()) == {"code", "message", "more_info", "status"}
    assert "set GATEWAY_METRICS_TOKEN" in response.json()["message"]


# /metrics: what is counted


def test_an_inbound_stop_counts_by_provider_kind_and_language_and_as_a_service_opt_out(stack, service):
    inbound_stops = grows(stack, "gateway_inbound_messages_total", provider="twilio", kind="STOP", language="en")
    opt_outs = grows(stack, "gateway_opt_outs_total", scope="service", source="keyword")
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    assert inbound_stops() == 1 and opt_outs() == 1


def test_a_start_after_a_stop_counts_an_opt_in(stack, service):
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    opt_ins = grows(stack, "gateway_opt_ins_total", scope="service", source="keyword")
    assert inbound(stack, US_MOBILE, "START").status_code == 200
    assert opt_ins() == 1


def test_a_staff_opt_out_counts_with_its_source(stack, service):
    opt_outs = grows(stack, "gateway_opt_outs_total", scope="service", source="api")
    response = httpx.post(
        f"{stack.url}/v1/OptOuts",
        auth=(stack.account_sid, stack.auth_token),
        data={"PhoneNumber": FR_MOBILE, "ServiceSid": service["sid"], "Reason": "asked by phone"},
    )
    assert response.status_code == 201, response.text
    assert opt_outs() == 1


def test_a_send_counts_queued_then_sent_the_senders_segments_and_the_provider_request(stack, service):
    queued = grows(stack, "gateway_outbound_messages_total", status="queued", error_code="")
    sent = grows(stack, "gateway_outbound_messages_total", status="sent", error_code="")
    segments = grows(stack, "gateway_sender_sent_segments_total", sender=service["sender_sid"])
    requests = grows(stack, "gateway_provider_request_duration_seconds_count", provider="twilio")
    assert send(stack, service, US_MOBILE).status_code == 201
    assert queued() == 1 and sent() == 1 and segments() == 1 and requests() >= 1


def test_a_send_the_provider_refuses_counts_failed_with_its_code_and_a_provider_error(stack, service):
    failed = grows(stack, "gateway_outbound_messages_total", status="failed", error_code="21614")
    refused = grows(stack, "gateway_provider_errors_total", provider="twilio", reason="rejected")
    assert send(stack, service, REJECTED).status_code == 201
    assert failed() == 1 and refused() == 1


def test_a_throttled_provider_counts_as_a_throttled_error(stack, service):
    throttled = grows(stack, "gateway_provider_errors_total", provider="twilio", reason="throttled")
    stack.provider.throttle(1, retry_after=0.1)
    assert send(stack, service, US_MOBILE).status_code == 201
    assert throttled() == 1


def test_an_app_that_keeps_failing_counts_attempts_and_a_dead_letter(stack, service):
    stack.app_state.forwarder.max_age = timedelta(seconds=0)  # the first failure is the last
    stack.app.failing_paths.add("/inbound")
    attempts = grows(stack, "gateway_app_delivery_attempts_total", kind="inbound_forward", result="http_5xx")
    dead = grows(stack, "gateway_app_dead_letters_total", kind="inbound_forward")
    assert inbound(stack, US_MOBILE, "Running late").status_code == 200
    assert attempts() == 1 and dead() == 1


def test_an_app_delivery_that_arrives_counts_as_delivered_with_its_duration(stack, service):
    delivered = grows(stack, "gateway_app_delivery_attempts_total", kind="inbound_forward", result="delivered")
    timed = grows(stack, "gateway_app_delivery_duration_seconds_count", kind="inbound_forward")
    assert inbound(stack, US_MOBILE, "Running late").status_code == 200
    assert delivered() == 1 and timed() == 1


@pytest.mark.gateway(workers=False)
def test_queue_depth_oldest_age_and_mps_are_read_per_sender_sid(stack, service):
    """With no worker running, three sends wait: the sender's series say so, by sid, never by number."""
    for _ in range(3):
        assert send(stack, service, US_MOBILE).status_code == 201
    samples = scrape(stack)
    sender = service["sender_sid"]
    assert value(samples, "gateway_queue_messages", sender=sender) == 3
    assert value(samples, "gateway_queue_oldest_age_seconds", sender=sender) >= 0
    assert value(samples, "gateway_sender_mps", sender=sender) == 20
    assert value(samples, "gateway_database_up") == 1


def test_http_latency_is_labelled_by_route_template_never_by_sid_or_number(stack, service):
    sid = send(stack, service, US_MOBILE).json()["sid"]
    fetched = httpx.get(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages/{sid}.json",
        auth=(stack.account_sid, stack.auth_token),
    )
    assert fetched.status_code == 200
    assert httpx.get(f"{stack.url}/nowhere/{sid}").status_code == 404
    console = httpx.get(f"{stack.url}/console/numbers/{US_MOBILE}")  # under a mount; no console login
    assert httpx.get(f"{stack.url}/console/nowhere/{sid}").status_code == 404  # the mount, no route in it
    text = httpx.get(f"{stack.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    samples = scrape(stack)
    assert (
        value(
            samples,
            "gateway_http_request_duration_seconds_count",
            method="GET",
            status="200",
            route="/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        )
        >= 1
    )
    assert (
        value(samples, "gateway_http_request_duration_seconds_count", method="GET", status="404", route="unmatched")
        >= 1
    )
    assert (
        value(
            samples,
            "gateway_http_request_duration_seconds_count",
            method="GET",
            status=str(console.status_code),
            route="/console/numbers/{number}",
        )
        >= 1
    )
    assert (
        value(samples, "gateway_http_request_duration_seconds_count", method="GET", status="404", route="/console") >= 1
    )
    assert sid not in text and stack.account_sid not in text
    assert US_MOBILE not in text and US_SENDER not in text


def test_the_serving_policy_revision_is_an_info_series(stack):
    revision = httpx.get(f"{stack.url}/readyz").json()["policy"]["revision"]
    samples = scrape(stack)
    assert value(samples, "gateway_policy_revision_info", revision=revision) == 1
    assert value(samples, "gateway_policy_errors") == 0


# Request ids


def test_one_request_id_follows_an_inbound_stop_to_its_reply_the_provider_and_the_app(stack, service, gateway_logs):
    """The webhook's X-Request-Id is on the stored message, the dispatch log line of the
    confirmation, the confirmation's request to the provider and the forward to the app."""
    request_id = f"carrier-{uuid.uuid4().hex}"
    answer = inbound(stack, US_MOBILE, "STOP", headers={"X-Request-Id": request_id})
    assert answer.headers["x-request-id"] == request_id
    forward = stack.app.wait_for(lambda r: r.path == "/inbound" and r.field("From") == US_MOBILE)[0]
    assert forward.headers["x-request-id"] == request_id
    reply = wait_until(lambda: [r for r in stack.provider.received if r.to == US_MOBILE])[0]
    assert reply.request_id == request_id
    with Session(stack.engine()) as session:
        rows = session.execute(
            select(Message.direction, Message.request_id).where(
                (Message.to == US_MOBILE) | (Message.sender == US_MOBILE)
            )
        ).all()
    assert sorted(rows) == [("inbound", request_id), ("outbound-reply", request_id)]
    dispatched = wait_until(
        lambda: [r for r in gateway_logs.records if r.name == "gateway.dispatch" and " sent to " in r.getMessage()]
    )
    assert dispatched[0].request_id == request_id


def test_an_api_send_carries_its_request_id_to_the_provider_and_the_status_callbacks(stack, service):
    request_id = f"app-{uuid.uuid4().hex}"
    response = send(stack, service, US_MOBILE, request_id=request_id)
    assert response.status_code == 201 and response.headers["x-request-id"] == request_id
    sent = wait_until(lambda: [r for r in stack.provider.received if r.to == US_MOBILE])[0]
    assert sent.request_id == request_id
    callbacks = stack.app.wait_for(lambda r: r.path == "/status" and r.field("MessageStatus") == "delivered")
    assert callbacks[0].headers["x-request-id"] == request_id


def test_a_request_without_a_usable_id_gets_a_fresh_one(stack):
    given = httpx.get(f"{stack.url}/healthz").headers["x-request-id"]
    replaced = httpx.get(f"{stack.url}/healthz", headers={"X-Request-Id": "not a token; " + "x" * 200})
    assert len(given) == 32 and int(given, 16) >= 0
    assert replaced.headers["x-request-id"] != given and len(replaced.headers["x-request-id"]) == 32


# Logs


def test_numbers_are_masked_in_log_lines_at_info_and_above(stack, service, gateway_logs):
    """The refusal of a webhook to an unknown number is logged (WARNING) with that number masked."""
    assert inbound(stack, US_MOBILE, "Hello", to=UNKNOWN_NUMBER).status_code == 404
    refused = [r for r in gateway_logs.records if "unknown number" in r.getMessage()]
    assert refused and refused[0].levelno == logging.WARNING
    assert "+1******0199" in refused[0].getMessage()
    assert UNKNOWN_NUMBER not in gateway_logs.text


def test_numbers_are_shown_whole_in_debug_lines(stack, service, gateway_logs):
    assert send(stack, service, US_MOBILE).status_code == 201
    dispatched = wait_until(
        lambda: [r for r in gateway_logs.records if r.name == "gateway.dispatch" and " sent to " in r.getMessage()]
    )
    assert dispatched[0].levelno == logging.DEBUG and US_MOBILE in dispatched[0].getMessage()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The process's logging as `GATEWAY_LOG_FORMAT=json` sets it up, into a buffer; put back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    logs.configure("json", stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_json_log_lines_carry_the_request_id_and_masked_numbers(stack, service, json_log):
    request_id = f"lb-{uuid.uuid4().hex}"
    assert (
        inbound(stack, US_MOBILE, "Hello", to=UNKNOWN_NUMBER, headers={"X-Request-Id": request_id}).status_code == 404
    )
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    refused = [line for line in lines if "unknown number" in line["message"]]
    assert refused[0]["request_id"] == request_id and refused[0]["level"] == "WARNING"
    assert refused[0]["logger"] == "gateway.webhooks" and refused[0]["time"].endswith("+00:00")
    assert UNKNOWN_NUMBER not in json_log.getvalue()


def sim_signed(
    stack,
    kind: str,
    params: dict[str, str],
    request_id: str,  # type: ignore[no-untyped-def]
    query: str = "",
) -> tuple[str, dict[str, str], dict[str, str]]:
    """A webhook as the simulator signs it: url, form and headers (with the caller's request id)."""
    url = f"{stack.settings.public_url}/webhooks/sim/{kind}{query}"
    signature = RequestValidator(SIM_TOKEN).compute_signature(url, params)
    return url, params, {"X-Twilio-Signature": signature, "X-Request-Id": request_id}


def text_to_the_twilio_number(stack, request_id: str):  # type: ignore[no-untyped-def]
    return sim_signed(
        stack,
        "inbound",
        {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": "AC" + "0" * 32,
            "From": US_MOBILE,
            "To": US_SENDER,
            "Body": "STOP",
            "NumMedia": "0",
        },
        request_id,
    )


def json_lines(stream: io.StringIO, containing: str) -> list[dict[str, str]]:
    return [line for line in map(json.loads, stream.getvalue().splitlines()) if containing in line["message"]]


@pytest.mark.gateway(simulator=True, simulator_token=SIM_TOKEN)
def test_an_inbound_refused_with_20403_is_logged_with_its_request_id(stack, service, json_log):
    """The refusal is decided in the writer's thread, away from the request: its line still carries the id."""
    request_id = f"carrier-{uuid.uuid4().hex}"
    url, form, headers = text_to_the_twilio_number(stack, request_id)
    response = httpx.post(url, data=form, headers=headers)
    assert (response.status_code, response.json()["code"]) == (403, 20403)
    assert response.headers["x-request-id"] == request_id
    refused = json_lines(json_log, "is registered with provider twilio")
    assert [line["request_id"] for line in refused] == [request_id]


@pytest.mark.gateway(simulator=True, simulator_token=SIM_TOKEN)
def test_inbound_refusals_written_in_one_batch_each_carry_their_own_request_id(stack, service, json_log):
    """Webhooks arriving together are decided in one call for the batch; each line names its own request."""
    ids = [f"carrier-{n}-{uuid.uuid4().hex}" for n in range(32)]

    async def post_all() -> list[int]:
        async with httpx.AsyncClient() as client:
            posts = [text_to_the_twilio_number(stack, request_id) for request_id in ids]
            answers = await asyncio.gather(
                *(client.post(url, data=form, headers=headers) for url, form, headers in posts)
            )
        return [answer.status_code for answer in answers]

    assert asyncio.run(post_all()) == [403] * len(ids)
    refused = json_lines(json_log, "is registered with provider twilio")
    assert sorted(line["request_id"] for line in refused) == sorted(ids)


@pytest.mark.gateway(simulator=True, simulator_token=SIM_TOKEN)
def test_a_status_report_refused_with_20403_is_logged_with_its_request_id(stack, service, json_log):
    sent = send(stack, service, GB_MOBILE).json()["sid"]
    wait_until(lambda: [r for r in stack.provider.received if r.to == GB_MOBILE])
    request_id = f"carrier-{uuid.uuid4().hex}"
    url, form, headers = sim_signed(
        stack,
        "status",
        {"MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "undelivered", "ErrorCode": "30003"},
        request_id,
        query=f"?ref={sent}",
    )
    response = httpx.post(url, data=form, headers=headers)
    assert (response.status_code, response.json()["code"]) == (403, 20403)
    refused = json_lines(json_log, "is carried by provider twilio")
    assert [line["request_id"] for line in refused] == [request_id]


def test_a_json_log_start_with_the_simulator_is_all_json_and_names_its_token_file_not_the_token(tmp_path):
    """Every line `gateway serve` writes is one JSON object; the simulator's token stays in its owner-only file."""
    gateway = Gateway(tmp_path, env={"GATEWAY_SIMULATOR": "true", "GATEWAY_LOG_FORMAT": "json"})
    node = gateway.node()
    with node:
        token = (tmp_path / "gateway.db.sim-token").read_text()
    lines = [json.loads(line) for line in node.log.read_text().splitlines()]
    assert [line["message"] for line in lines if line["message"].startswith("provider simulator on")] == [
        f"provider simulator on at /sim; it signs with the token in {tmp_path / 'gateway.db.sim-token'}"
    ]
    secrets = [token, gateway.env["GATEWAY_SECRET_KEY"], gateway.env["GATEWAY_TWILIO_AUTH_TOKEN"]]
    assert not [secret for secret in secrets if secret in node.log.read_text()]


def test_a_json_log_demo_start_writes_only_json_lines(tmp_path):
    """`serve --demo` under GATEWAY_LOG_FORMAT=json: its banner is one JSON object (the demo's
    account, to try it with), every other line a log record; the simulator's token is in no line."""
    gateway = Gateway(tmp_path, env={"GATEWAY_LOG_FORMAT": "json"})
    node = Node([*gateway.node().args, "--demo"], gateway.env, tmp_path / "demo.log", f"{gateway.url}/healthz")
    with node:
        token = (tmp_path / "gateway.db.sim-token").read_text()
    lines = [json.loads(line) for line in node.log.read_text().splitlines() if line]
    demo = [line["demo"] for line in lines if "demo" in line]
    assert len(demo) == 1 and demo[0]["account_sid"].startswith("AC") and demo[0]["url"] == gateway.url
    assert any(line.get("message") == f"Listening on {gateway.url}" for line in lines)
    assert token not in node.log.read_text()


# Readiness


def test_readyz_reports_the_workers_running(stack):
    assert httpx.get(f"{stack.url}/readyz").json()["workers"] == "running"


@pytest.mark.gateway(workers=False)
def test_readyz_reports_workers_off_when_other_processes_run_them(stack):
    response = httpx.get(f"{stack.url}/readyz")
    assert response.status_code == 200 and response.json()["workers"] == "off"


def test_readyz_is_503_when_this_processs_forwarder_stopped(stack):
    task = stack.app_state.forwarder._task
    task.get_loop().call_soon_threadsafe(task.cancel)
    wait_until(task.done)
    response = httpx.get(f"{stack.url}/readyz")
    assert response.status_code == 503 and response.json()["workers"] == "stopped"
    assert any("forwarding worker of this process stopped" in reason for reason in response.json()["reasons"])
