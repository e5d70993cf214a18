"""Channels: the address prefix that marks a WhatsApp number (`whatsapp:+1555…`), SMS having none.

It sits at the bottom of the package because every layer reads it: the gates parse it, routing
picks senders by it, and the store's statements match a number on both channels.
"""

from __future__ import annotations

WHATSAPP = "whatsapp:"
