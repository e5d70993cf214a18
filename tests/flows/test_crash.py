"""Crash safety: kill -9 at random moments under load, restart, drain; nothing lost, nothing doubled.

The gateway runs as real processes (`gateway serve`, `gateway worker`); the stand-in Twilio (the
simulator, which honours `I-Twilio-Idempotency-Token`) and the stand-in app run in this process,
so they outlive every kill.  The load is 2,000 API sends and 500 inbound STOPs from different
people, 32 at a time.  A request refused at connect time (the process is down) is tried again: it
never reached the gateway.  A request cut off mid-way is not answered, so the test promises
nothing about it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import phonenumbers
import pytest
from sqlalchemy import select
from sqlmodel import Session

from bench.harness import Gateway, Node
from gateway.providers.simulator import Simulator, SimulatorConfig, create_simulator
from gateway.providers.twilio import compute_signature
from gateway.store.db import make_engine
from gateway.store.tables import OptOut
from tests.flows.server import serve
from tests.flows.standins import AppServer, app_server
from tests.poll import wait_until
from tests.postgres import new_database

TOKEN = "bench-token"  # the harness gives the gateway this Twilio auth token
SENDERS = [f"+1201555{n:04d}" for n in range(200, 205)]
SENDS, STOPS, CONCURRENCY, KILLS = 2000, 500, 32, 2
PEOPLE = [
    number
    for number in (f"+1{area}555{n:04d}" for area in range(202, 300) for n in range(100, 200))
    if phonenumbers.is_valid_number(phonenumbers.parse(number))
]


@dataclass
class Outcome:
    sends: dict[str, str] = field(default_factory=dict)  # answered 2xx: message sid → To
    stops: list[str] = field(default_factory=list)  # people whose STOP was answered 200
    unanswered: int = 0


@dataclass
class Deployment:
    gateway: Gateway
    provider: Simulator
    app: AppServer
    nodes: list[Node]
    service_sid: str = ""


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path) -> Iterator[Deployment]:  # type: ignore[no-untyped-def]
    kind, store = request.param
    database_url = (
        f"sqlite:///{tmp_path / 'gateway.db'}"
        if store == "sqlite"
        else new_database(request.getfixturevalue("postgres"))
    )
    simulator = create_simulator(SimulatorConfig(auth_token=TOKEN, delay=0.2))
    with serve(simulator) as provider_url, app_server() as app:
        gateway = Gateway(tmp_path, provider_url, database_url, env={"GATEWAY_LEASE_TTL": "3"})
        if kind == "gateway":
            nodes = [gateway.node(worker_id="gateway-1")]
        elif kind == "processes":  # `serve --workers 2`, killed with both its processes
            nodes = [gateway.node(processes=2)]
        else:
            nodes = [gateway.node(workers=False), gateway.worker(worker_id="worker-1")]
        try:
            for node in nodes:
                node.start()
            deployment = Deployment(gateway, simulator.state.sim, app, nodes)
            deployment.service_sid = _service(gateway, app)
            yield deployment
        finally:
            for node in nodes:
                node.stop()


def _service(gateway: Gateway, app: AppServer) -> str:
    service = gateway.post("/v1/Services", {"FriendlyName": "Crash Dental", "InboundRequestUrl": app.url("/inbound")})
    for number in SENDERS:
        sender = gateway.register(number, mps=200)
        gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": sender["sid"]})
    return str(service["sid"])


async def _load(deployment: Deployment, victim: Node, rng: random.Random) -> Outcome:
    gateway, outcome = deployment.gateway, Outcome()
    people = rng.sample(PEOPLE, SENDS + STOPS)
    work = [("send", to) for to in people[:SENDS]] + [("stop", person) for person in people[SENDS:]]
    rng.shuffle(work)
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    inbound_url = f"{gateway.url}/webhooks/twilio/inbound"

    async def one(client: httpx.AsyncClient, kind: str, person: str) -> None:
        if kind == "send":
            data = {"MessagingServiceSid": deployment.service_sid, "To": person, "Body": f"Reminder for {person}"}
            url = f"{gateway.url}/2010-04-01/Accounts/{gateway.account_sid}/Messages.json"
            headers: dict[str, str] = {}
        else:
            data = {
                "MessageSid": "SM" + uuid.uuid4().hex,
                "AccountSid": "AC" + "1" * 32,
                "From": person,
                "To": rng.choice(SENDERS),
                "Body": "STOP",
                "NumMedia": "0",
            }
            url, headers = inbound_url, {"X-Twilio-Signature": compute_signature(inbound_url, data.items(), TOKEN)}
        while True:
            try:
                response = await client.post(
                    url, data=data, headers=headers, auth=(gateway.account_sid, gateway.auth_token)
                )
            except httpx.ConnectError:  # down: the request never arrived, so sending it again is safe
                await asyncio.sleep(0.05)
                continue
            except httpx.HTTPError:  # cut off mid-way: no answer, no promise
                outcome.unanswered += 1
                return
            break
        if kind == "send" and response.status_code == 201:
            outcome.sends[response.json()["sid"]] = person
        elif kind == "stop" and response.status_code == 200:
            outcome.stops.append(person)
        else:
            outcome.unanswered += 1

    async def client_loop() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            while not queue.empty():
                kind, person = queue.get_nowait()
                await one(client, kind, person)

    async def killer() -> None:
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await asyncio.to_thread(victim.kill)
            await asyncio.to_thread(victim.start)

    await asyncio.gather(killer(), *(client_loop() for _ in range(CONCURRENCY)))
    return outcome


def _drain(missing: Callable[[], str], context: str, timeout: float = 120.0) -> None:
    """Wait until `missing()` names nothing."""
    wait_until(
        lambda: not missing(),
        timeout,
        interval=0.2,
        message=lambda: f"the gateway did not drain in time: {missing()} ({context})",
    )


# `gateway worker` beside `serve` needs PostgreSQL (on SQLite the worker refuses: `serve`'s processes dispatch).
@pytest.mark.parametrize(
    "deployment",
    [("gateway", "sqlite"), ("processes", "sqlite"), ("gateway", "postgresql"), ("worker", "postgresql")],
    ids=["sqlite-gateway", "sqlite-2-processes", "postgresql-gateway", "postgresql-worker"],
    indirect=True,
)
def test_kill_9_under_load_loses_nothing_and_repeats_nothing(deployment: Deployment) -> None:
    seed = random.randrange(1 << 30)
    victim = deployment.nodes[-1]
    outcome = asyncio.run(_load(deployment, victim, random.Random(seed)))
    context = (
        f"seed {seed}, {len(outcome.sends)} sends and {len(outcome.stops)} STOPs answered, "
        f"{outcome.unanswered} unanswered, logs in {deployment.gateway.directory}"
    )
    provider, app = deployment.provider, deployment.app
    assert len(outcome.sends) > SENDS // 2 and len(outcome.stops) > STOPS // 2, context

    def keys() -> Counter[str | None]:
        return Counter(r.idempotency_key for r in provider.received)

    def forwarded() -> dict[str, set[str | None]]:
        found: dict[str, set[str | None]] = {}
        for r in list(app.received):
            if r.path == "/inbound":
                found.setdefault(r.field("From") or "", set()).add(r.field("MessageSid"))
        return found

    def missing() -> str:
        sends = len(set(outcome.sends) - set(keys()))
        replies = len(set(outcome.stops) - {r.to for r in provider.received})
        forwards = len(set(outcome.stops) - set(forwarded()))
        return (
            f"{sends} sends, {replies} confirmations, {forwards} forwards missing" if sends + replies + forwards else ""
        )

    _drain(missing, context)
    context += f", {len(provider.requests) - len(provider.received)} re-sends absorbed by the idempotency key"

    # Every answered send reached the provider once (the key absorbed any re-send after a kill).
    counts = keys()
    assert None not in counts, context
    assert all(counts[sid] == 1 for sid in outcome.sends), context
    received_to = {r.idempotency_key: r.to for r in provider.received}
    assert all(received_to[sid] == to for sid, to in outcome.sends.items()), context
    # Every answered STOP is in effect, and its confirmation went out once (nobody else is sent to).
    replies = Counter(r.to for r in provider.received if r.to in set(outcome.stops))
    assert all(replies[person] == 1 for person in outcome.stops), context
    engine = make_engine(deployment.gateway.database)
    try:
        with Session(engine) as session:
            opted_out = set(session.execute(select(OptOut.number).where(OptOut.opted_out)).scalars())
    finally:
        engine.dispose()
    assert set(outcome.stops) <= opted_out, context
    # Every STOP reached the app at least once; repeats carry the same MessageSid.
    forwards = forwarded()
    assert all(len(forwards[person]) == 1 for person in outcome.stops), context
