"""The database tables.  Every schema change comes with an Alembic migration.

Times are aware UTC `datetime`s (SQLModel stores them as UTC; `store.db.utcnow()`
makes them).  Sids are Twilio-shaped: two letters and 32 hex digits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import Column, Dialect, Index, Table, Text, UniqueConstraint, text
from sqlalchemy.engine import Row
from sqlalchemy.orm import class_mapper
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class JSONText(TypeDecorator[dict[str, Any]]):
    """A JSON object kept as compact text.  A message's reasons (reason ids, their parameters, sids)
    are written with every outbound message and read only when someone asks why; deflating them
    cost about 60 µs a message in the writer (zlib's setup dominates at 2 KB), while the text lets
    staff query them where they are (`json_extract`, `->>`).  Hot inserts write `dump`'s text
    straight to the driver (`store.rows`); this decorator serves the ORM's reads and writes."""

    impl = Text
    cache_ok = True

    @property
    def python_type(self) -> type[dict[str, Any]]:
        return dict

    @staticmethod
    def dump(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        return None if value is None else self.dump(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> dict[str, Any] | None:
        return None if value is None else cast(dict[str, Any], json.loads(value))


class PolicyRevision(SQLModel, table=True):
    """Each policy revision that ever served, with its files, so that an audited
    decision's `policy_revision` can always be turned back into the exact rules."""

    __tablename__ = "policy_revision"

    id: str = Field(primary_key=True, max_length=64)
    loaded_at: datetime
    files: str  # JSON object: relative path → file text


class Account(SQLModel, table=True):
    """An app's credentials.  Tokens are stored sealed (Fernet, `gateway.tokens`), never in clear;
    after a rotation the previous token keeps authenticating until `previous_token_expires`."""

    __tablename__ = "account"

    sid: str = Field(primary_key=True, max_length=34)
    auth_token: str = Field(max_length=255)
    friendly_name: str = Field(default="", max_length=64)
    date_created: datetime
    previous_token: str | None = Field(default=None, max_length=255)
    previous_token_expires: datetime | None = None


class Service(SQLModel, table=True):
    """A Messaging Service: a sender pool plus the features Twilio attaches to it."""

    __tablename__ = "service"

    sid: str = Field(primary_key=True, max_length=34)
    account_sid: str = Field(foreign_key="account.sid", index=True, max_length=34)
    friendly_name: str = Field(max_length=64)
    inbound_request_url: str | None = None
    inbound_method: str = Field(default="POST", max_length=4)
    fallback_url: str | None = None
    fallback_method: str = Field(default="POST", max_length=4)
    status_callback: str | None = None
    sticky_sender: bool = True
    area_code_geomatch: bool = True
    smart_encoding: bool = True
    validity_period: int = 36000
    use_inbound_webhook_on_number: bool = False
    allowed_countries: str | None = None  # comma-separated ISO codes; None = every country
    brand: str | None = None  # the name confirmations carry; FriendlyName when unset
    help_contact: str | None = None  # where HELP replies send people
    inbound_format: str = Field(default="twilio", max_length=8)  # twilio | json
    webhook_secret: str | None = None  # Standard Webhooks secret (whsec_…) for the json format
    traffic_type: str = Field(default="transactional", max_length=16)  # TrafficType of sends that name none
    quiet_hours: str | None = None  # the service's own send windows for marketing, one per line
    mms_converter: bool = True  # media that cannot go as MMS goes as SMS with links (gateway.media)
    media_check: bool = False  # HEAD each MediaUrl before queueing: type and size (gateway.media)
    # Link shortening (`ShortenUrls`): the branded domain (None: the gateway's), where an expired
    # link goes, whether links are written without https://, and where click events are posted.
    link_domain: str | None = None
    link_fallback_url: str | None = None
    disable_https: bool = False
    click_callback_url: str | None = None
    date_created: datetime
    date_updated: datetime


RECEIVING = "kind <> 'alpha'"


class Sender(SQLModel, table=True):
    """A number, short code, alpha sender or WhatsApp sender the account sends from."""

    __tablename__ = "sender"
    #: A number or short code belongs to one account per provider, so an inbound webhook finds one
    #: owner; alpha senders receive nothing, and several accounts may send under one name.
    __table_args__ = (
        UniqueConstraint("account_sid", "address"),
        Index(
            "uq_sender_receiving",
            "address",
            "provider",
            unique=True,
            sqlite_where=text(RECEIVING),
            postgresql_where=text(RECEIVING),
        ),
    )

    sid: str = Field(primary_key=True, max_length=34)  # PN…, SC…, AI…, XE… (WhatsApp)
    account_sid: str = Field(foreign_key="account.sid", index=True, max_length=34)
    address: str = Field(max_length=64)  # +E164, short code digits, alpha text, whatsapp:+E164
    kind: str = Field(max_length=16)  # routing.SenderKind
    country: str | None = Field(default=None, max_length=2)
    provider: str = Field(default="sim", max_length=32)
    mps: int
    service_sid: str | None = Field(default=None, foreign_key="service.sid", index=True, max_length=34)
    sms_url: str | None = None  # the number's own inbound webhook
    registered_countries: str | None = None  # alpha: comma-separated ISO codes it is registered for
    mms: bool | None = None  # can it send MMS; None: as its kind can (`senders.sends_mms`)
    date_created: datetime
    date_updated: datetime


class StickyMapping(SQLModel, table=True):
    __tablename__ = "sticky_mapping"

    service_sid: str = Field(primary_key=True, foreign_key="service.sid", max_length=34)
    recipient: str = Field(primary_key=True, max_length=64)
    sender_sid: str = Field(foreign_key="sender.sid", index=True, max_length=34)
    pinned: bool = False
    date_updated: datetime


class OptOut(SQLModel, table=True):
    """Current consent state of a number, per scope: a service, or the whole account
    (`service_sid` = "*"), and per channel.  Derived from consent events."""

    __tablename__ = "opt_out"
    #: Reads by number (an inbound batch's numbers; a staff lookup by account and number) use it.
    __table_args__ = (Index("ix_opt_out_number", "number", "account_sid"),)

    account_sid: str = Field(primary_key=True, foreign_key="account.sid", max_length=34)
    service_sid: str = Field(primary_key=True, max_length=34)  # "*" = account-wide
    number: str = Field(primary_key=True, max_length=64)  # E.164, without channel prefix
    channel: str = Field(primary_key=True, max_length=16)  # sms | whatsapp
    opted_out: bool
    date_updated: datetime


class ConsentEvent(SQLModel, table=True):
    """Append-only audit of every consent change; `opt_out` rows are derived from these."""

    __tablename__ = "consent_event"
    __table_args__ = (Index("ix_consent_event_number", "account_sid", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    account_sid: str = Field(max_length=34)
    scope: str = Field(max_length=34)  # service sid, sender sid (plain number) or "*" (account)
    number: str = Field(max_length=64)
    channel: str = Field(max_length=16)
    opted_out: bool
    keyword: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    inbound_message_sid: str | None = Field(default=None, max_length=34)
    policy_revision: str | None = Field(default=None, max_length=64)
    source: str = Field(max_length=16)  # keyword | api | import
    reason: str | None = None
    at: datetime
    match: str | None = Field(default=None, max_length=16)  # exact | phrase | embedded (keyword changes)
    exception: str | None = Field(default=None, max_length=64)  # the policy exception that applied


class InboundReceipt(SQLModel, table=True):
    """One row per provider message id: a retried webhook finds it and is not processed again."""

    __tablename__ = "inbound_receipt"

    provider: str = Field(primary_key=True, max_length=32)
    provider_sid: str = Field(primary_key=True, max_length=64)
    message_sid: str = Field(max_length=34)
    date_created: datetime


class Confirmation(SQLModel, table=True):
    """When a number last got each kind of confirmation, so repeats within the window send nothing."""

    __tablename__ = "confirmation"
    __table_args__ = (Index("ix_confirmation_number", "number"),)  # an inbound batch reads its numbers' slots

    account_sid: str = Field(primary_key=True, max_length=34)
    number: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=8)  # STOP | START | HELP
    at: datetime


class Message(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_queue", "sender_sid", "status", "priority", "seq"),
        Index("ix_message_account_created", "account_sid", "date_created"),
        Index("ix_message_expiry", "status", "expires_at"),
        Index("ix_message_recipient", "account_sid", "to", "status"),  # what an opt-out cancels
        Index("ix_message_due", "status", "send_at"),  # held messages coming due
    )

    seq: int | None = Field(default=None, primary_key=True)  # arrival order, for queues and paging
    sid: str = Field(unique=True, max_length=34)
    account_sid: str = Field(foreign_key="account.sid", max_length=34)
    service_sid: str | None = Field(default=None, max_length=34)
    sender_sid: str | None = Field(default=None, max_length=34)
    direction: str = Field(default="outbound-api", max_length=16)
    sender: str | None = Field(default=None, max_length=64)  # "from"
    to: str = Field(max_length=64)
    body: str = ""
    media: str = ""  # one item a line: URL, and a tab and its Content-Type when known (gateway.media)
    status: str = Field(max_length=16)
    priority: int = 1  # 0: replies and confirmations, 1: bulk
    num_segments: int = 1
    encoding: str = Field(default="GSM-7", max_length=8)
    error_code: int | None = None
    error_message: str | None = None
    status_callback: str | None = None
    opt_out_type: str | None = Field(default=None, max_length=8)  # inbound: the keyword kind matched
    provider: str | None = Field(default=None, max_length=32)
    provider_sid: str | None = Field(default=None, index=True, max_length=64)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    expires_at: datetime
    send_at: datetime | None = None  # a held (`scheduled`) message is queued at this moment
    hold_reason: str | None = None  # what held it: the app's SendAt, or the rule (quiet hours)
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    # Why the gateway did what it did with an outbound message: each gate's verdict, the route, the
    # encoding, the outcome (`dispatch.submit.Plan.reasons`); served at /v1/Messages/{Sid}/Explain.
    reasons: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONText))
    request_id: str | None = Field(default=None, max_length=128)  # the HTTP request that caused it (X-Request-Id)
    shorten_urls: bool | None = None  # the send asked for ShortenUrls (the MMS Converter's later SMS shortens too)


class MessageEvent(SQLModel, table=True):
    """Every status report about a message, applied or not (a late `sent` after `delivered`)."""

    __tablename__ = "message_event"

    id: int | None = Field(default=None, primary_key=True)
    message_sid: str = Field(index=True, max_length=34)
    status: str = Field(max_length=16)
    error_code: int | None = None
    source: str = Field(max_length=16)  # api | dispatch | provider | expiry
    applied: bool
    at: datetime


class Delivery(SQLModel, table=True):
    """Outbox of HTTP requests to apps (status callbacks now, inbound forwards later)."""

    __tablename__ = "delivery"
    __table_args__ = (Index("ix_delivery_due", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # status_callback
    account_sid: str = Field(max_length=34)
    ordering_key: str = Field(index=True, max_length=64)  # one at a time, in id order, per account and key
    url: str
    method: str = Field(default="POST", max_length=4)
    params: str  # JSON list of [name, value]
    fallback_url: str | None = None  # tried when the primary URL fails
    fallback_method: str = Field(default="POST", max_length=4)
    format: str = Field(default="twilio", max_length=8)  # twilio (form, X-Twilio-Signature) | json (Standard Webhooks)
    state: str = Field(default="pending", max_length=16)  # pending | delivered | dead
    attempts: int = 0
    next_attempt_at: datetime
    last_error: str | None = None
    claimed_by: str | None = Field(default=None, max_length=64)  # the worker delivering it now
    date_created: datetime
    date_updated: datetime
    request_id: str | None = Field(default=None, max_length=128)  # sent along as X-Request-Id


class Link(SQLModel, table=True):
    """A short link of a sent message (`ShortenUrls`): its code, the app's link, until when it redirects."""

    __tablename__ = "link"

    code: str = Field(primary_key=True, max_length=16)
    account_sid: str = Field(max_length=34)
    service_sid: str = Field(max_length=34)
    message_sid: str = Field(index=True, max_length=34)
    url: str
    shortened: str  # as the body says it
    date_created: datetime
    expires_at: datetime


class LinkClick(SQLModel, table=True):
    """Every request for a short link: when, by what, and whether it looked like a person."""

    __tablename__ = "link_click"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, max_length=16)
    message_sid: str = Field(index=True, max_length=34)
    at: datetime
    method: str = Field(max_length=8)
    user_agent: str | None = None
    kind: str = Field(max_length=8)  # human | preview (`gateway.links.click_kind`)


class SenderLease(SQLModel, table=True):
    """Which worker paces a sender, until when: one pacer per sender across every process.

    The holder renews it while it has work; a dead worker's lease lapses and another takes over."""

    __tablename__ = "sender_lease"

    sender_sid: str = Field(primary_key=True, max_length=34)
    owner: str = Field(max_length=64)
    expires_at: datetime
    acquired_at: datetime


class Generation(SQLModel, table=True):
    """Counters that processes compare to notice another process's change (`config`: services,
    pools and senders), so that per-process caches are dropped in time."""

    __tablename__ = "generation"

    name: str = Field(primary_key=True, max_length=32)
    value: int = 0


class ProviderOutage(SQLModel, table=True):
    """A provider every process routes around: written by the first process whose requests to it
    did nothing but fail for the failure window, deleted by the probe that found it answering.
    `next_probe` is the probe claim's expiry: one process moves it on and sends the one probe of
    the interval (`probing` until that probe's answer is in)."""

    __tablename__ = "provider_outage"

    provider: str = Field(primary_key=True, max_length=32)
    since: datetime
    next_probe: datetime
    probing: bool = False


class RateBudget(SQLModel, table=True):
    """An account's API rate limit as one token bucket for every process: each takes a share of it
    (`store.rate_budgets.lease`).  `updated` is wall-clock seconds since the epoch, so the refill is
    one expression on both backends; `granted` is what the last lease got."""

    __tablename__ = "rate_budget"

    account_sid: str = Field(primary_key=True, max_length=34)
    tokens: float
    updated: float
    granted: float


class InboundPart(SQLModel, table=True):
    """One part of a long inbound message that its provider does not join (Vonage), kept until all
    parts are in or the wait ends; `joined_at` marks a group already handed on as one message."""

    __tablename__ = "inbound_part"
    __table_args__ = (Index("ix_inbound_part_pending", "joined_at", "received_at"),)

    provider: str = Field(primary_key=True, max_length=32)
    sender: str = Field(primary_key=True, max_length=64)  # the person
    to: str = Field(primary_key=True, max_length=64)  # our number
    ref: str = Field(primary_key=True, max_length=32)
    number: int = Field(primary_key=True)
    total: int
    provider_sid: str = Field(max_length=64)
    body: str
    raw: str  # the part's fields as JSON, for the audit
    received_at: datetime
    joined_at: datetime | None = None


def core_table(model: type[SQLModel]) -> Table:
    """The model's Core `Table` (its `__table__`, which SQLModel sets without declaring it to type
    checkers), for the statements written in SQLAlchemy Core."""
    return cast(Table, class_mapper(model, configure=False).local_table)


#: A Core result row of any number of columns (SQLAlchemy 2.1 types a row by its columns: `Row[Any]`
#: is a row of one).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
