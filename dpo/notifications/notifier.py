"""How a message leaves: the Notifier protocol, and the Omnisend implementation of it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from dpo.providers.omnisend import OmnisendClient


@dataclass(frozen=True)
class Message:
    """One message to deliver; `key` is stable across every attempt at it."""

    key: str
    event: str
    email: str
    fields: Mapping[str, str | int | bool]


class Notifier(Protocol):
    """Delivers a message or raises: ProviderRejected (never retried), anything else (retried)."""

    async def send(self, message: Message) -> None:
        """Deliver one message."""


class OmnisendNotifier:
    """Messages as Omnisend custom events; the key travels along as the `messageKey` field.

    Omnisend's v3 events are not de-duplicated on its side, so the key is what lets anyone
    (an automation's filter, support) tell a repeat from a new message.
    """

    def __init__(self, client: OmnisendClient) -> None:
        self.client = client

    async def send(self, message: Message) -> None:
        """Trigger the message's event for its recipient."""
        await self.client.send_event(
            message.event, email=message.email, fields={**message.fields, "messageKey": message.key}
        )
