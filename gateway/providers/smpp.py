"""SMPP 3.4 to a carrier's or aggregator's SMSC, the gateway as an ESME: a provider reached over a
bind the workers hold open instead of HTTP requests and webhooks.

The wire work (framing, sequence numbers, the window of outstanding `submit_sm`, `enquire_link`
keep-alive, TLS) is the `smpp34` library's.  This module decides what goes in each PDU and what
each PDU that comes back means (pure functions, tested with values), and `SmppLink` holds the bind:
one transceiver bind per process running workers, or a transmitter and a receiver
(GATEWAY_SMPP_BIND=pair), each re-bound with backoff when it drops.

Sending.  A message goes in the parts `gateway.encoding` counted when it was queued: GSM-7 as
unpacked septets with data_coding 0 (the SMSC's default alphabet), anything else UCS-2 with
data_coding 8; a long one carries a UDH with an 8-bit reference, or the SAR TLVs
(GATEWAY_SMPP_CONCATENATION).  The source TON/NPI follow the sender: alphanumeric 5/0, short code
3/0, E.164 number 1/1.  Only the last part asks for a delivery receipt (registered_delivery 1),
and its message_id is the message's provider id, so one receipt moves one message.  Which worker
submits a sender's messages is the sender's lease (`store.leases`), so its MPS holds across the
binds of all workers.

A refusal's command_status is mapped by `ERRORS` (docs/provider-error-codes.md): ESME_RTHROTTLED
and ESME_RMSGQFUL pause the bind like a 429 (GATEWAY_SMPP_THROTTLE_PAUSE seconds), a system error
or a lost bind is retried, anything else fails the message.  A part refused after earlier parts
were accepted fails the message too: sending it again would repeat those parts.

Receiving.  Every `deliver_sm` is acknowledged by the library before the gateway has recorded it,
unlike a webhook, answered only once its effects are committed: smpp34 (1.5) answers
deliver_sm_resp itself as it queues the event for `Smsc.next()` (its `ClientForwarder.on_deliver_sm`
returns `accept()` once `try_send` succeeds, ESME_RMSGQFUL only when the queue is full), and its
`DeliverSmEvent` has no accept/reject to answer later.  So a crash between the two loses that
message or receipt, and a database that refuses the write logs it instead of having the SMSC
deliver it again.  A delivery receipt (the esm_class receipt bit) moves its message (the
`receipted_message_id` / `message_state` TLVs, else the `id:… stat:… err:…` text); any other is a
person's message, its parts (UDH or SAR) joined by `providers.reassembly` before it goes through
the inbound path webhooks take.  SMPP gives an MO no id: the gateway gives it one.  A receipt can
come before the submit's answer is recorded: it is applied again a few times (`REPORT_RETRIES`)
until its message is known.

Specification: SMPP v3.4 Issue 1.2 (SMPP Developers Forum, 1999), §4.4 submit_sm, §4.6 deliver_sm,
§5.1.3 command_status, §5.2.12 esm_class, §5.2.17 registered_delivery, §5.3.2 TLVs, Appendix B
(the receipt text).  Library: https://github.com/Real-Time-Telecom-B-V/smpp34
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import smpp34

from gateway.encoding import GSM7, gsm7_bytes, gsm7_text, split
from gateway.providers.base import (
    UNKNOWN_ERROR,
    Credentials,
    Deliveries,
    InboundMessage,
    MalformedWebhook,
    OutboundMessage,
    Part,
    RawRequest,
    Rejected,
    Retryable,
    SendResult,
    Status,
    StatusEvent,
    Throttled,
    WebhookRejected,
    map_code,
    status_of,
    twilio_fields,
)
from gateway.providers.module import ProviderModule, setting

log = logging.getLogger("gateway.providers.smpp")

NAME = "smpp"
DEFAULT_PORT = 2775

# command_status values (§5.1.3) the adapter tells apart by meaning.
ESME_ROK = 0x00
ESME_RINVBNDSTS = 0x04
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64
#: Try again later: the SMSC's own trouble, a bind not (yet) in a state to submit.
TRANSIENT = frozenset({ESME_RINVBNDSTS, ESME_RSYSERR, ESME_RX_T_APPN})
#: Slow down: the bind pauses as for a 429.
THROTTLING = frozenset({ESME_RTHROTTLED, ESME_RMSGQFUL})

#: Permanent command_status → Twilio code (docs/provider-error-codes.md, table smpp); any other
#: permanent one is 30008.
ERRORS = {
    0x0A: 21606,  # ESME_RINVSRCADR: invalid source address
    0x0B: 21211,  # ESME_RINVDSTADR: invalid destination address
    0x48: 21606,  # ESME_RINVSRCTON
    0x49: 21606,  # ESME_RINVSRCNPI
    0x50: 21211,  # ESME_RINVDSTTON
    0x51: 21211,  # ESME_RINVDSTNPI
}

# TLV tags (§5.3.2).
SAR_MSG_REF_NUM = 0x020C
SAR_TOTAL_SEGMENTS = 0x020E
SAR_SEGMENT_SEQNUM = 0x020F
RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_STATE = 0x0427
MESSAGE_PAYLOAD = 0x0424

ESM_UDHI = 0x40  # esm_class: the short message starts with a user data header
ESM_RECEIPT = 0x04  # esm_class message type: SMSC delivery receipt
ESM_TYPE = 0x3C  # esm_class bits 2-5: the message type

#: message_state (§5.2.28) as the receipt text words of Appendix B.
STATES = {
    1: "enroute",
    2: "delivrd",
    3: "expired",
    4: "deleted",
    5: "undeliv",
    6: "acceptd",
    7: "unknown",
    8: "rejectd",
}
#: The receipt's `stat:` words (Appendix B).
STATUS = {
    "enroute": Status.SENT,
    "acceptd": Status.SENT,
    "delivrd": Status.DELIVERED,
    "expired": Status.UNDELIVERED,
    "undeliv": Status.UNDELIVERED,
    "deleted": Status.FAILED,
    "rejectd": Status.UNDELIVERED,
}
#: The Twilio code a receipt's failed state is recorded with; the SMSC's own `err:` is network
#: specific and stays in `raw`.
STATE_ERRORS = {"expired": 30036, "undeliv": 30008, "deleted": 30008, "rejectd": 30008}
_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err|text):(\S*)", re.IGNORECASE)

#: Seconds between applications of a receipt whose message is not known yet, the last one given up.
REPORT_RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0)
#: Seconds before the first re-bind, doubling up to RECONNECT_CAP.
RECONNECT, RECONNECT_CAP = 0.5, 30.0


# --- sending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submit:
    """One submit_sm's fields, as `Smsc.submit_sm` takes them (TLVs as (tag, value))."""

    destination_addr: str
    short_message: bytes
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    dest_addr_ton: int
    dest_addr_npi: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    validity_period: str
    tlvs: tuple[tuple[int, bytes], ...] = ()


def source_type(address: str) -> tuple[str, int, int]:
    """The sender as SMPP writes it, with its TON/NPI: an E.164 number international/ISDN (1/1), a
    short code national... of its network: network-specific/unknown (3/0), an alphanumeric sender
    ID alphanumeric/unknown (5/0)."""
    if address.startswith("+") and address[1:].isdigit():
        return address[1:], 1, 1
    if address.isdigit():
        return address, 3, 0
    return address, 5, 0


def relative_validity(seconds: int | None) -> str:
    """A validity period as SMPP's relative time (§7.1.1: YYMMDDhhmmss000R), capped at 99 days."""
    if seconds is None:
        return ""
    days, rest = divmod(max(1, seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{min(days, 99):02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def submits(message: OutboundMessage, *, concatenation: str, ref: int) -> list[Submit]:
    """The submit_sm PDUs of one message, in order: its parts as `gateway.encoding` cut them, joined
    by a UDH with the 8-bit reference `ref` or by SAR TLVs, the last asking for a receipt."""
    encoding, parts = split(message.body)
    coding = 0 if encoding == GSM7 else 8
    payloads = [gsm7_bytes(part) if encoding == GSM7 else part.encode("utf-16-be") for part in parts]
    source, ton, npi = source_type(message.sender)
    total = len(payloads)
    out = []
    for number, payload in enumerate(payloads, start=1):
        esm_class, short_message = 0, payload
        tlvs: tuple[tuple[int, bytes], ...] = ()
        if total > 1 and concatenation == "udh":
            esm_class, short_message = ESM_UDHI, bytes((5, 0, 3, ref & 0xFF, total, number)) + payload
        elif total > 1:
            tlvs = (
                (SAR_MSG_REF_NUM, (ref & 0xFFFF).to_bytes(2, "big")),
                (SAR_TOTAL_SEGMENTS, bytes((total,))),
                (SAR_SEGMENT_SEQNUM, bytes((number,))),
            )
        out.append(
            Submit(
                destination_addr=message.to.removeprefix("+"),
                short_message=short_message,
                source_addr=source,
                source_addr_ton=ton,
                source_addr_npi=npi,
                dest_addr_ton=1,
                dest_addr_npi=1,
                esm_class=esm_class,
                data_coding=coding,
                registered_delivery=1 if number == total else 0,
                validity_period=relative_validity(message.validity_period),
                tlvs=tlvs,
            )
        )
    return out


def read_submit(command_status: int, message_id: str | None, *, pause: float) -> str:
    """The SMSC's message_id of an accepted submit_sm; or `Throttled` (pause `pause` seconds),
    `Retryable` or `Rejected` with the mapped Twilio code."""
    if command_status == ESME_ROK:
        if not message_id:
            raise Retryable("smpp: submit_sm_resp without a message_id")
        return message_id
    text = f"smpp command_status 0x{command_status:08X}"
    if command_status in THROTTLING:
        raise Throttled(f"{text}: the SMSC asks to slow down", pause)
    if command_status in TRANSIENT:
        raise Retryable(text)
    raise Rejected(map_code(ERRORS, command_status, provider=NAME), text)


# --- receiving -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deliver:
    """A deliver_sm as it arrived (the library's event, as values)."""

    source_addr: str
    source_addr_ton: int
    destination_addr: str
    dest_addr_ton: int
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, tag: int) -> bytes | None:
        return next((value for t, value in self.tlvs if t == tag), None)

    def is_receipt(self) -> bool:
        return self.esm_class & ESM_TYPE == ESM_RECEIPT

    def fields(self) -> list[tuple[str, str]]:
        """Every field as received, for `raw` (the bytes in hex: they are what the SMSC sent)."""
        return [
            ("smpp.source_addr", self.source_addr),
            ("smpp.source_addr_ton", str(self.source_addr_ton)),
            ("smpp.destination_addr", self.destination_addr),
            ("smpp.dest_addr_ton", str(self.dest_addr_ton)),
            ("smpp.esm_class", str(self.esm_class)),
            ("smpp.data_coding", str(self.data_coding)),
            ("smpp.short_message", self.short_message.hex()),
            *((f"smpp.tlv.0x{tag:04X}", value.hex()) for tag, value in self.tlvs),
        ]


def address(number: str, ton: int) -> str:
    """An address as the gateway keys it: international (TON 1), and unknown-type numbers too long
    to be short codes, in E.164 with "+"; short codes and alphanumeric IDs as written."""
    if number.isdigit() and (ton == 1 or len(number) > 8):
        return f"+{number}"
    return number


def decode(data: bytes, data_coding: int) -> str:
    """The text of a short message by its data_coding (§5.2.19): 0 the SMSC default alphabet
    (GSM-7, unpacked), 8 UCS-2 (UTF-16 here, for emoji), 3 Latin-1, 1 ASCII; others are read as
    Latin-1 and logged."""
    if data_coding == 8:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == 0:
        return gsm7_text(data)
    if data_coding not in (1, 3):
        log.warning("smpp: data_coding %s read as Latin-1", data_coding)
    return data.decode("latin-1")


def inbound_of(deliver: Deliver, provider_sid: str) -> InboundMessage:
    """A person's message (or one part of it) from a deliver_sm; `provider_sid` is the id the
    gateway gives it (SMPP has none)."""
    data = deliver.tlv(MESSAGE_PAYLOAD) or deliver.short_message
    part = None
    if deliver.esm_class & ESM_UDHI and data:
        header, data = data[1 : 1 + data[0]], data[1 + data[0] :]
        part = _udh_part(header, deliver.source_addr)
    elif (ref := deliver.tlv(SAR_MSG_REF_NUM)) is not None:
        total, number = deliver.tlv(SAR_TOTAL_SEGMENTS), deliver.tlv(SAR_SEGMENT_SEQNUM)
        if total and number:
            part = Part(f"{deliver.source_addr}:{int.from_bytes(ref, 'big')}", number[0], total[0])
    sender = address(deliver.source_addr, deliver.source_addr_ton)
    to = address(deliver.destination_addr, deliver.dest_addr_ton)
    body = decode(data, deliver.data_coding)
    raw = tuple(twilio_fields(sender, to, body) + deliver.fields())
    return InboundMessage(provider_sid, sender, to, body, (), raw, part)


def _udh_part(header: bytes, source: str) -> Part | None:
    """The concatenation element of a UDH (IEI 0x00, 8-bit reference; 0x08, 16-bit), if any."""
    at = 0
    while at + 1 < len(header):
        iei, length = header[at], header[at + 1]
        element = header[at + 2 : at + 2 + length]
        if iei == 0x00 and length == 3:
            return Part(f"{source}:{element[0]}", element[2], element[1])
        if iei == 0x08 and length == 4:
            return Part(f"{source}:{int.from_bytes(element[:2], 'big')}", element[3], element[2])
        at += 2 + length
    return None


def receipt_of(deliver: Deliver) -> StatusEvent:
    """A delivery receipt: the TLVs when the SMSC sets them, else the Appendix B text; one without a
    message id is malformed."""
    text = decode(deliver.tlv(MESSAGE_PAYLOAD) or deliver.short_message, deliver.data_coding)
    found = {key.lower(): value for key, value in _RECEIPT_FIELD.findall(text)}
    receipted = deliver.tlv(RECEIPTED_MESSAGE_ID)
    message_id = receipted.rstrip(b"\x00").decode("ascii", errors="replace") if receipted else found.get("id", "")
    if not message_id:
        raise MalformedWebhook("a delivery receipt without a message id")
    state = deliver.tlv(MESSAGE_STATE)
    word = STATES.get(state[0], "unknown") if state else found.get("stat", "unknown").lower()
    status = status_of(STATUS, word, provider=NAME, about=message_id)
    raw = {key: value for key, value in deliver.fields()} | {f"smpp.receipt.{k}": v for k, v in found.items()}
    return StatusEvent(message_id, status, STATE_ERRORS.get(word), raw)


# --- the adapter: SMPP has no webhooks and no HTTP requests ----------------------------------


@dataclass(frozen=True)
class SmppProvider:
    """The `Provider` face of SMPP: it has no webhooks (receipts and messages come over the bind,
    which its own credentials authenticate) and sends over `SmppLink`, never an HTTP request."""

    name: str = NAME
    reference_in_callback: bool = False

    def verify(self, raw: RawRequest, secret: str) -> None:
        raise WebhookRejected("SMPP reports and messages arrive over the bind, never as webhooks")

    def parse_status(self, raw: RawRequest) -> list[StatusEvent]:
        raise MalformedWebhook("SMPP has no status webhooks")

    def parse_inbound(self, raw: RawRequest) -> list[InboundMessage]:
        raise MalformedWebhook("SMPP has no inbound webhooks")

    def build_send(self, message: OutboundMessage, credentials: Credentials) -> httpx2.Request:
        raise Retryable("SMPP sends over its bind (SmppLink.send), not HTTP")

    def read_send(self, response: httpx2.Response) -> SendResult:
        raise Retryable("SMPP sends over its bind (SmppLink.send), not HTTP")


# --- the bind --------------------------------------------------------------------------------


def endpoint(url: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of GATEWAY_SMPP_URL: smpp://host[:port], or smpps:// for TLS; the port
    defaults to 2775."""
    parts = urlsplit(url)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError("its port is not a number from 0 to 65535") from None
    if parts.scheme not in ("smpp", "smpps") or not parts.hostname:
        raise ValueError("must be smpp://host:port, or smpps://host:port for TLS")
    return parts.hostname, port, parts.scheme == "smpps"


#: GATEWAY_SMPP_BIND → the binds held: one transceiver, or a transmitter for submit_sm and a
#: receiver for deliver_sm (for SMSCs that offer no transceiver).
BINDS = {"transceiver": ("TRX",), "pair": ("TX", "RX")}


class SmppLink:
    """The bind (or transmitter and receiver pair of binds) to the SMSC, held while the workers
    run: bound at `start` and each re-bound with backoff whenever it drops; `send` submits over the
    one that transmits, and what the SMSC delivers over the one that receives is read as it comes
    and handed to `deliveries`."""

    def __init__(self, settings: SmppSettings) -> None:
        self.host, self.port, self.tls = endpoint(settings.smpp_url)
        self.settings = settings
        self._smsc: smpp34.Smsc | None = None  # the bound transmitting session
        self._bound: set[str] = set()  # the bind types bound now
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._paused_until = 0.0
        self._ref = uuid.uuid4().int & 0xFF

    async def start(self, deliveries: Deliveries) -> None:
        self._tasks = [asyncio.create_task(self._hold(kind, deliveries)) for kind in BINDS[self.settings.smpp_bind]]

    async def stop(self) -> None:
        tasks = [*self._pending, *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def state(self) -> str:
        """`bound` while every bind is; `binding` while one is being bound, at start or again."""
        return "bound" if self._bound >= set(BINDS[self.settings.smpp_bind]) else "binding"

    def _client(self, kind: str) -> smpp34.Client:
        s = self.settings
        return smpp34.Client(
            self.host,
            self.port,
            s.smpp_system_id,
            s.smpp_password,
            bind_type=kind,
            system_type=s.smpp_system_type,
            tls=self.tls,
            window_size=int(s.smpp_window),
            connect_timeout_ms=5000,
        )

    async def _hold(self, kind: str, deliveries: Deliveries) -> None:
        """Bind as `kind`, read until the bind ends, bind again (waiting RECONNECT, doubling, between
        failures)."""
        delay = RECONNECT
        while True:
            client = self._client(kind)
            try:
                smsc = await client.connect()
            except smpp34.SmppError as exc:
                log.warning(
                    "smpp: %s bind to %s:%s failed (%s); again in %.1fs", kind, self.host, self.port, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(2 * delay, RECONNECT_CAP)
                continue
            delay = RECONNECT
            if kind != "RX":
                self._smsc = smsc
            self._bound.add(kind)
            log.info("smpp: %s bound to %s:%s as %s", kind, self.host, self.port, self.settings.smpp_system_id)
            try:
                while not isinstance(event := await smsc.next(), smpp34.Disconnected):
                    await self._arrived(event, deliveries)
            finally:
                if kind != "RX":
                    self._smsc = None
                self._bound.discard(kind)
                with contextlib.suppress(Exception):
                    await client.stop()
            log.warning("smpp: the %s bind to %s:%s ended; binding again", kind, self.host, self.port)

    async def _arrived(self, event: smpp34.DeliverSmEvent, deliveries: Deliveries) -> None:
        deliver = Deliver(
            event.source_addr,
            event.source_addr_ton,
            event.destination_addr,
            event.dest_addr_ton,
            event.esm_class,
            event.data_coding,
            event.short_message,
            tuple((tlv.tag, tlv.value) for tlv in event.tlvs),
        )
        try:
            if deliver.is_receipt():
                self._report(receipt_of(deliver), deliveries)
            else:
                await deliveries.inbound(NAME, inbound_of(deliver, f"SMPP{uuid.uuid4().hex}"))
        except Exception:  # one bad PDU must not end the bind
            log.exception("smpp: a deliver_sm from %s could not be recorded", deliver.source_addr)

    def _report(self, event: StatusEvent, deliveries: Deliveries) -> None:
        """Apply a receipt in the background, again while its message is not known (the submit's
        answer may not be recorded yet), so reading the bind never waits for it."""

        async def apply() -> None:
            for wait in (0.0, *REPORT_RETRIES):
                await asyncio.sleep(wait)
                if await deliveries.reports(NAME, [event]):
                    return
            log.warning("smpp: receipt for unknown message id %s dropped", event.provider_sid)

        task = asyncio.create_task(apply())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def send(self, message: OutboundMessage) -> SendResult:
        """Submit every part of `message`; the last part's message_id is the message's."""
        loop = asyncio.get_running_loop()
        if loop.time() < self._paused_until:
            raise Throttled("smpp: the bind is paused by the SMSC's throttling", self._paused_until - loop.time())
        smsc = self._smsc
        if smsc is None:
            raise Retryable("smpp: not bound (binding again)")
        self._ref = (self._ref + 1) & 0xFFFF
        parts = submits(message, concatenation=self.settings.smpp_concatenation, ref=self._ref)
        message_id = ""
        for number, part in enumerate(parts, start=1):
            try:
                try:
                    response = await smsc.submit_sm(
                        part.destination_addr,
                        part.short_message,
                        source_addr=part.source_addr,
                        source_addr_ton=part.source_addr_ton,
                        source_addr_npi=part.source_addr_npi,
                        dest_addr_ton=part.dest_addr_ton,
                        dest_addr_npi=part.dest_addr_npi,
                        esm_class=part.esm_class,
                        data_coding=part.data_coding,
                        registered_delivery=part.registered_delivery,
                        validity_period=part.validity_period,
                        tlvs=[smpp34.Tlv(tag, value) for tag, value in part.tlvs],
                    )
                except smpp34.SmppError as exc:  # the bind went away under the submit
                    raise Retryable(f"smpp: {exc}") from exc
                message_id = read_submit(
                    response.command_status, response.message_id, pause=self.settings.smpp_throttle_pause
                )
            except Throttled as exc:
                self._paused_until = loop.time() + (exc.retry_after or 0.0)
                if number == 1:
                    raise
                raise Rejected(UNKNOWN_ERROR, _partial(number, exc)) from exc
            except Retryable as exc:
                if number == 1:
                    raise
                raise Rejected(UNKNOWN_ERROR, _partial(number, exc)) from exc
        return SendResult(message_id, Status.SENT)


def _partial(number: int, exc: Exception) -> str:
    return f"part {number} not taken after earlier parts were ({exc}); sending again would repeat them"


@dataclass(frozen=True)
class SmppSettings:
    smpp_url: str = setting("", send=True, url=True, check=endpoint)
    smpp_system_id: str = setting("", send=True)
    smpp_password: str = setting("", send=True, secret=True)
    smpp_system_type: str = setting("")
    smpp_bind: str = setting("transceiver", choices=tuple(BINDS))
    smpp_concatenation: str = setting("udh", choices=("udh", "sar"))
    smpp_window: float = setting(10.0)
    smpp_throttle_pause: float = setting(1.0)
    smpp_concat_wait: float = setting(60.0)


def _credentials(settings: SmppSettings) -> Credentials:
    return Credentials(settings.smpp_system_id, settings.smpp_password, settings.smpp_url)


PROVIDER = SmppProvider()
MODULE = ProviderModule(
    PROVIDER,
    _credentials,
    SmppSettings,
    reassembly_wait=lambda settings: settings.smpp_concat_wait,
    link=SmppLink,
    sends_media=False,  # submit_sm carries text
)
