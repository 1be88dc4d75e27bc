"""Find collectors through the `newsletter.collectors` entry-point group, built-ins included.

Loading, broken plugins, duplicate names and which distribution provides each: newsletter/plugins.py.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint

from newsletter.collectors.base import Collector
from newsletter.plugins import PluginRegistry, Provider, provider_of_object

GROUP = "newsletter.collectors"


class CollectorRegistry(PluginRegistry[type[Collector]]):
    """Maps a source `type` to its Collector class. Tests build their own from a dict."""

    group = GROUP
    noun = "collector"

    def types(self) -> list[str]:
        return self.names()

    def accept(self, loaded: object, entry: EntryPoint) -> type[Collector]:
        if not (isinstance(loaded, type) and issubclass(loaded, Collector)):
            raise TypeError(f"{entry.value} is not a Collector subclass")
        return loaded


def describe_plugin(cls: type, provider: Provider | None = None) -> str:
    """'acme_desk.collector.Desk from the distribution acme-desk 1.2', or just the class when its
    distribution is unknown: what a message about a plugin's mistake names, so people know whom to ask.
    `provider`: the one its entry point declared, when known (a registry's `provider`)."""
    where = f"{cls.__module__}.{cls.__qualname__}"
    if provider is None or provider.distribution is None:
        provider = provider_of_object(cls)
    return f"{where} from the distribution {provider}" if provider.distribution else where
