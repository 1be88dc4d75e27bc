"""Find transports through the `newsletter.transports` entry-point group, built-ins included, and
build the one in use for a batch.

Loading, broken plugins, duplicate names and which distribution provides each: newsletter/plugins.py.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING

from newsletter.delivery.base import DONE_STATUSES, Transport, TransportContext
from newsletter.plugins import PluginRegistry

if TYPE_CHECKING:
    from newsletter.config import Config

GROUP = "newsletter.transports"


class TransportRegistry(PluginRegistry[type[Transport]]):
    """Maps a `delivery.transport` name to its Transport class. Tests build their own from a dict."""

    group = GROUP
    noun = "transport"

    def accept(self, loaded: object, entry: EntryPoint) -> type[Transport]:
        if not (isinstance(loaded, type) and issubclass(loaded, Transport)):
            raise TypeError(f"{entry.value} is not a Transport subclass")
        if getattr(loaded, "done_status", None) not in DONE_STATUSES:
            raise TypeError(f"{entry.value}.done_status must be one of {', '.join(map(repr, DONE_STATUSES))}")
        return loaded


def make_transport(config: Config, batch: str) -> Transport:
    """The configured transport for one batch: an edition ("2026-10"), "tests", "reviews" or
    "notifications" (the outbox keeps each in its own folder)."""
    from newsletter.delivery.addresses import check_address  # the email package: only once there is mail

    chosen = config.transport
    context = TransportContext(sender=check_address(config.delivery.sender, named=True).address,
                               batch=batch, state_dir=config.state_dir)
    return chosen.cls.create(chosen.settings, context)
