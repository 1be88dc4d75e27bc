"""The body's sections: what `newsletter.sections` may list, and the order they come in by default.

Each is a block of the theme's newsletter.mjml.j2 (the header and the footer always show). Both the
configuration (the key's default) and the composer (what it renders) read them here, so composing
an edition loads neither the configuration nor the collector registry.
"""

from __future__ import annotations

DEFAULT_SECTIONS = ("lead", "hero", "highlights", "ticketing", "mail_security", "uptime", "backup", "devices",
                    "awareness", "trends", "metrics", "thanks", "tip")
