"""Scale-out without per-process blind spots (PostgreSQL): `gateway serve --workers 2` (API only)
and two `gateway worker` processes share provider health and each account's API rate limit.

Requests go to the shared port on a new connection each, so both API processes take their part;
each test checks that both did, from the metrics files every process writes under
GATEWAY_METRICS_DIR (prometheus_client's multiprocess mode: one `histogram_<pid>.db` per process).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from sqlalchemy import select
from sqlmodel import Session

from bench.harness import Gateway
from gateway.store import leases
from gateway.store.db import make_engine, unit_of_work, utcnow
from gateway.store.tables import Message, ProviderOutage, Sender, SenderLease
from tests.flows.provider_standins import (
    PLIVO_AUTH_ID,
    PLIVO_AUTH_TOKEN,
    TELNYX_API_KEY,
    StandIn,
    TelnyxKeys,
    standin,
)
from tests.poll import wait_until
from tests.postgres import new_database

WINDOW, PROBE_INTERVAL = 1.0, 1.0
PLIVO_NUMBERS = ["+12015550124", "+12015550125", "+12015550126"]
#: Which worker starts out holding each Plivo number: both pace Plivo senders, so both would probe.
PLIVO_HOLDERS = ["worker-a", "worker-b", "worker-a"]
#: Seconds the test's leases last: past them, a lease is one its worker renewed.
GIVEN_LEASES = 5.0
TELNYX_NUMBER = "+12125550100"  # all US long codes: one tier for a French recipient (US fallback)
RATE = 50
SECONDS = 10


def person(n: int) -> str:
    return f"+336123{n:05d}"


@pytest.fixture
def plivo() -> Iterator[StandIn]:
    with standin("plivo") as state:
        yield state


@pytest.fixture
def telnyx() -> Iterator[StandIn]:
    with standin("telnyx") as state:
        yield state


def answered_by(directory: Path, method: str, route: str) -> dict[str, float]:
    """Requests to `route` each process answered, by pid, read from each process's metrics file."""
    answered: dict[str, float] = {}
    for path in directory.glob("histogram_*.db"):
        pid = path.stem.rsplit("_", 1)[-1]
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):
            metric, sample, labels, _ = json.loads(key)
            if (
                metric == "gateway_http_request_duration_seconds"
                and sample.endswith("_bucket")
                and (labels["method"], labels["route"]) == (method, route)
            ):
                answered[pid] = answered.get(pid, 0.0) + value  # stored per bucket, not cumulative
    return {pid: count for pid, count in answered.items() if count}


def fresh(method: str, url: str, auth: tuple[str, str] | None = None, **kwargs: object) -> httpx.Response:
    """One request on its own connection: the kernel hands it to either API process."""
    with httpx.Client(auth=auth, timeout=30) as client:
        return client.request(method, url, **kwargs)  # type: ignore[arg-type]


class Sending:
    """Sends to a new French recipient every 0.15 s from a thread, noting when each was accepted."""

    def __init__(self, gateway: Gateway, service_sid: str) -> None:
        self.gateway, self.service_sid = gateway, service_sid
        self.accepted: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        url = f"{self.gateway.url}/2010-04-01/Accounts/{self.gateway.account_sid}/Messages.json"
        n = 0
        while not self._stop.wait(0.15):
            n += 1
            data = {"MessagingServiceSid": self.service_sid, "To": person(n), "Body": "Rappel : mardi 9h"}
            response = fresh("POST", url, (self.gateway.account_sid, self.gateway.auth_token), data=data)
            assert response.status_code == 201, response.text
            self.accepted.append((time.monotonic(), response.json()["sid"]))

    def __enter__(self) -> Sending:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def senders_of(database: str, sids: list[str]) -> dict[str, str]:
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(Message.sid, Sender.address)
                .join(Sender, Sender.sid == Message.sender_sid)  # type: ignore[arg-type]
                .where(Message.sid.in_(sids))  # type: ignore[attr-defined]
            ).all()
    finally:
        engine.dispose()
    return {sid: sender for sid, sender in rows}


def delivered(*standins: StandIn) -> Counter[str]:
    """Sends the providers accepted, by recipient (each message has its own)."""
    return Counter(sent.to for state in standins for sent in state.sent)


def hand_out(database: str, holders: dict[str, str]) -> None:
    """Give each sender's lease (by sid) to a worker, as a worker restarted under its name finds it:
    the other worker cannot take it until it lapses, its holder takes it as soon as it has work."""
    engine = make_engine(database)
    try:
        with unit_of_work(engine) as session:
            for sender_sid, owner in holders.items():
                assert leases.acquire(session, [sender_sid], owner=owner, now=utcnow(), ttl=GIVEN_LEASES)
    finally:
        engine.dispose()


def holders(database: str, sender_sids: list[str]) -> set[str]:
    """The workers holding a live lease of any of `sender_sids`."""
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(SenderLease.owner).where(
                    SenderLease.sender_sid.in_(sender_sids),  # type: ignore[attr-defined]
                    SenderLease.expires_at > utcnow(),  # type: ignore[arg-type]
                )
            )
            return set(rows.scalars())
    finally:
        engine.dispose()


def outage_recorded(database: str) -> bool:
    engine = make_engine(database)
    try:
        with Session(engine) as session:
            return session.get(ProviderOutage, "plivo") is not None
    finally:
        engine.dispose()


def test_every_process_routes_around_an_unhealthy_provider_probes_it_once_per_interval_and_uses_it_again(
    postgres, tmp_path, plivo, telnyx
):
    """Plivo answers 503: within the window plus 2 s every API process routes new sends to the Telnyx
    number and every /readyz says so; while it stays down it gets one request per probe interval from
    the whole deployment, though both workers pace Plivo senders; once it answers, new sends go to it
    again, and every message is accepted by a provider exactly once."""
    keys = TelnyxKeys()
    metrics = tmp_path / "metrics"
    env = {
        "GATEWAY_PLIVO_AUTH_ID": PLIVO_AUTH_ID,
        "GATEWAY_PLIVO_AUTH_TOKEN": PLIVO_AUTH_TOKEN,
        "GATEWAY_PLIVO_BASE_URL": plivo.base,
        "GATEWAY_TELNYX_API_KEY": TELNYX_API_KEY,
        "GATEWAY_TELNYX_PUBLIC_KEY": keys.public_base64,
        "GATEWAY_TELNYX_BASE_URL": telnyx.base,
        "GATEWAY_PROVIDER_FAILURE_WINDOW": str(WINDOW),
        "GATEWAY_PROVIDER_PROBE_INTERVAL": str(PROBE_INTERVAL),
        "GATEWAY_METRICS_DIR": str(metrics),
    }
    gateway = Gateway(tmp_path, None, new_database(postgres), env=env)
    api = gateway.node(workers=False, processes=2)
    workers = [gateway.worker(worker_id=name) for name in ("worker-a", "worker-b")]
    try:
        api.start()
        service = gateway.post("/v1/Services", {"FriendlyName": "Cabinet", "StickySender": "false"})
        numbers = [(number, "plivo") for number in PLIVO_NUMBERS] + [(TELNYX_NUMBER, "telnyx")]
        sids = {}
        for number, provider in numbers:
            sids[number] = gateway.post(
                f"/2010-04-01/Accounts/{gateway.account_sid}/IncomingPhoneNumbers.json",
                {"PhoneNumber": number, "Mps": "10", "Provider": provider},
            )["sid"]
            gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": sids[number]})
        for worker in workers:
            worker.start()
        plivo_senders = [sids[number] for number in PLIVO_NUMBERS]
        hand_out(gateway.database, dict(zip(plivo_senders, PLIVO_HOLDERS, strict=True)))
        given_until = time.monotonic() + GIVEN_LEASES
        plivo.down = True
        with Sending(gateway, service["sid"]) as sending:
            wait_until(lambda: plivo.arrivals, 20, message="a send to Plivo")
            first_failure = plivo.arrivals[0][0]
            wait_until(lambda: outage_recorded(gateway.database), 20, message="the outage recorded")
            routed_around = first_failure + WINDOW + 2.0
            wait_until(lambda: time.monotonic() > max(routed_around + 4 * PROBE_INTERVAL, given_until), 30)
            pacing_plivo = holders(gateway.database, plivo_senders)
            ready = [fresh("GET", f"{gateway.url}/readyz").json()["providers"]["plivo"] for _ in range(6)]
            plivo.down = False
            back = time.monotonic()
            wait_until(lambda: not outage_recorded(gateway.database), 20, message="the outage ended")
            wait_until(lambda: time.monotonic() > back + PROBE_INTERVAL + 2.0, 10)
            healed = time.monotonic()
            wait_until(lambda: sum(1 for at, _ in sending.accepted if at > healed) >= 10, 20)
        accepted = [sid for _, sid in sending.accepted]
        wait_until(lambda: len(delivered(plivo, telnyx)) >= len(accepted), 60, message="every message sent")
    finally:
        for node in (*workers, api):
            node.stop()

    by_sid = senders_of(gateway.database, accepted)
    after_window = [by_sid[sid] for at, sid in sending.accepted if routed_around < at < back]
    assert after_window and set(after_window) == {TELNYX_NUMBER}
    assert all(report["state"] in ("unhealthy", "probing") and report["since"] for report in ready)
    # Leases they renewed (each would probe on its own).  Both workers start with Plivo senders
    # (`PLIVO_HOLDERS`), but a pacer left without work gives its lease back, so by now one worker
    # may hold them all: the deployment-wide probe rule below holds either way.
    assert pacing_plivo and pacing_plivo <= {"worker-a", "worker-b"}
    probes = [at for at, down in plivo.arrivals if down and routed_around < at]
    assert 1 <= len(probes) <= (back - routed_around) / PROBE_INTERVAL + 1
    assert set(PLIVO_NUMBERS) & {by_sid[sid] for at, sid in sending.accepted if at > healed}
    assert max(delivered(plivo, telnyx).values()) == 1
    assert len(answered_by(metrics, "POST", "/2010-04-01/Accounts/{account_sid}/Messages.json")) == 2


async def _hammer(gateway: Gateway, seconds: float) -> list[tuple[float, int]]:
    """Requests from 16 clients for `seconds`, each on a new connection: (when answered, status)."""
    url = f"{gateway.url}/v1/Services"
    answers: list[tuple[float, int]] = []
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(auth=(gateway.account_sid, gateway.auth_token), timeout=30, limits=limits) as client:

        async def one_client() -> None:
            while time.monotonic() < end:
                response = await client.get(url)
                answers.append((time.monotonic(), response.status_code))

        await asyncio.gather(*(one_client() for _ in range(16)))
    return answers


def test_an_accounts_rate_limit_holds_across_two_api_processes(postgres, tmp_path):
    """Limited to 50 requests a second (burst 50), an account hammering both API processes gets
    50 ± 5 accepted a second over 10 s, after its first second's burst."""
    metrics = tmp_path / "metrics"
    env = {
        "GATEWAY_API_RATE_LIMIT": str(RATE),
        "GATEWAY_API_RATE_BURST": str(RATE),
        "GATEWAY_METRICS_DIR": str(metrics),
    }
    gateway = Gateway(tmp_path, None, new_database(postgres), env=env)
    with gateway.node(workers=False, processes=2):
        start = time.monotonic()
        answers = asyncio.run(_hammer(gateway, SECONDS + 1))
    measured = [status for at, status in answers if start + 1 <= at < start + 1 + SECONDS]
    accepted = measured.count(200)
    assert measured.count(429) > accepted, "the clients did not ask for more than the limit"
    assert RATE * SECONDS * 0.9 <= accepted <= RATE * SECONDS * 1.1
    assert len(answered_by(metrics, "GET", "/v1/Services")) == 2
