"""Scale-out: two API processes and two workers share senders without breaking MPS (PostgreSQL),
as do the two processes of `gateway serve --workers 2` on one SQLite file; a worker's graceful
stop hands its work back (both backends).

`gateway serve --workers 2` (API only) and two `gateway worker` processes on one database; the
stand-in Twilio (in this process) timestamps every send request it gets, repeats included.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlmodel import Session

from bench.harness import Gateway
from gateway.providers.simulator import Simulator, SimulatorConfig, create_simulator
from gateway.store.db import make_engine, utcnow
from gateway.store.tables import Message, SenderLease
from tests.flows.server import serve
from tests.poll import wait_until
from tests.postgres import new_database

TOKEN = "bench-token"
SENDERS = [f"+1201555{n:04d}" for n in range(300, 305)]
MPS, MESSAGES = 20, 1000
PEOPLE = [f"+1201555{n:04d}" for n in range(1000, 1000 + MESSAGES)]


def busiest_second(times: list[float]) -> int:
    """The most requests in any one-second window [t, t + 1)."""
    times = sorted(times)
    return max(sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times))


def lease_holders(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.execute(select(SenderLease.owner).order_by(SenderLease.sender_sid)).scalars())
    finally:
        engine.dispose()


def test_busiest_second_counts_a_half_open_window():
    assert busiest_second([0.0, 0.5, 0.99, 1.0, 1.5]) == 3


async def _send_all(gateway: Gateway, service_sid: str, count: int = MESSAGES) -> list[str]:
    url = f"{gateway.url}/2010-04-01/Accounts/{gateway.account_sid}/Messages.json"
    async with httpx.AsyncClient(timeout=30, auth=(gateway.account_sid, gateway.auth_token)) as client:

        async def one(to: str) -> str:
            response = await client.post(
                url, data={"MessagingServiceSid": service_sid, "To": to, "Body": "Your table is ready"}
            )
            assert response.status_code == 201, response.text
            return str(response.json()["sid"])

        sids: list[str] = []
        for start in range(0, count, 50):
            sids += await asyncio.gather(*(one(to) for to in PEOPLE[start : min(start + 50, count)]))
        return sids


def test_two_workers_keep_every_sender_within_its_mps_and_one_finishes_after_the_other_dies(postgres, tmp_path):
    simulator = create_simulator(SimulatorConfig(auth_token=TOKEN, delay=0.2))
    provider = simulator.state.sim
    with serve(simulator) as provider_url:
        gateway = Gateway(tmp_path, provider_url, new_database(postgres), env={"GATEWAY_LEASE_TTL": "3"})
        api = gateway.node(workers=False, processes=2)
        workers = {name: gateway.worker(worker_id=name) for name in ("worker-a", "worker-b")}
        try:
            api.start()
            service = gateway.post("/v1/Services", {"FriendlyName": "Bistro", "StickySender": "false"})
            for number in SENDERS:
                sender = gateway.register(number, mps=MPS)
                gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": sender["sid"]})
            for worker in workers.values():
                worker.start()
            with ThreadPoolExecutor(1) as background:
                sending = background.submit(asyncio.run, _send_all(gateway, service["sid"]))
                wait_until(lambda: len(provider.received) >= MESSAGES // 3 or sending.done(), 60)
                holders = lease_holders(gateway.database)
                workers[holders[0]].kill()  # mid-run, a worker pacing at least one sender
                at_kill = len(provider.received)
                sids = sending.result()
            wait_until(
                lambda: {r.idempotency_key for r in provider.received} >= set(sids),
                90,
                interval=0.2,
                message="every send reaching the provider",
            )
        finally:
            for node in (*workers.values(), api):
                node.stop()

    _assert_sent_once_within_mps(provider, sids)
    assert 0 < at_kill < MESSAGES, "the kill was not mid-run"


def test_two_serve_processes_on_one_sqlite_file_send_every_message_once_within_each_senders_mps(tmp_path):
    """`gateway serve --workers 2` on SQLite: both processes take sends and dispatch, sharing the
    senders through leases as on PostgreSQL."""
    simulator = create_simulator(SimulatorConfig(auth_token=TOKEN, delay=0.2))
    provider = simulator.state.sim
    with serve(simulator) as provider_url:
        gateway = Gateway(tmp_path, provider_url)
        with gateway.node(processes=2):
            service = gateway.post("/v1/Services", {"FriendlyName": "Bistro", "StickySender": "false"})
            for number in SENDERS:
                sender = gateway.register(number, mps=MPS)
                gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": sender["sid"]})
            sids = asyncio.run(_send_all(gateway, service["sid"]))
            wait_until(
                lambda: {r.idempotency_key for r in provider.received} >= set(sids),
                90,
                interval=0.2,
                message="every send reaching the provider",
            )
    _assert_sent_once_within_mps(provider, sids)


def _assert_sent_once_within_mps(provider: Simulator, sids: list[str]) -> None:
    keys = Counter(r.idempotency_key for r in provider.received)
    assert set(keys) == set(sids), f"{len(set(sids) - set(keys))} of {len(sids)} never reached the provider"
    assert max(keys.values()) == 1
    by_sender: defaultdict[str, list[float]] = defaultdict(list)
    for sender, at in provider.requests:
        by_sender[sender].append(at)
    assert set(by_sender) == set(SENDERS)
    worst = {sender: busiest_second(times) for sender, times in by_sender.items()}
    assert all(requests <= MPS for requests in worst.values()), worst


def test_a_stopped_worker_hands_back_its_senders_and_claims(postgres, tmp_path):
    """SIGTERM: sends in flight finish, claimed messages go back to the queue, the lease cools for a
    second instead of lapsing after GATEWAY_LEASE_TTL, so the next worker need not wait.  On
    PostgreSQL: `gateway worker` beside `serve` refuses SQLite."""
    database_url = new_database(postgres)
    simulator = create_simulator(SimulatorConfig(auth_token=TOKEN, delay=0.2))
    provider = simulator.state.sim
    with serve(simulator) as provider_url:
        gateway = Gateway(tmp_path, provider_url, database_url, env={"GATEWAY_LEASE_TTL": "30"})
        with gateway.node(workers=False):
            service = gateway.post("/v1/Services", {"FriendlyName": "Bistro"})
            sender = gateway.register(SENDERS[0], mps=5)
            gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": sender["sid"]})
            asyncio.run(_send_all(gateway, service["sid"], count=50))
            worker = gateway.worker(worker_id="worker-a")
            with worker:
                wait_until(lambda: len(provider.received) >= 5)
            stopped = utcnow()
            engine = make_engine(gateway.database)
            try:
                with Session(engine) as session:
                    lease = session.get(SenderLease, sender["sid"])
                    statuses = Counter(session.execute(select(Message.status)).scalars())
            finally:
                engine.dispose()
    assert lease is not None and lease.expires_at <= stopped + timedelta(seconds=1.5)
    assert statuses["sending"] == 0 and statuses["queued"] == 50 - len(provider.received)
