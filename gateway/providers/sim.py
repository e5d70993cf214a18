"""The built-in simulator (`providers/simulator.py`) speaks Twilio's wire format, so its adapter
is the Twilio adapter under its own name: same signatures, same fields, same status words."""

from __future__ import annotations

from gateway.providers.twilio import TwilioProvider

PROVIDER = TwilioProvider(name="sim")
