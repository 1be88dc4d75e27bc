"""Paths to what ships inside the package: the built-in theme and the demo workspace.

In a checkout these are links to the repository's own `templates/`, `sources/` and
`newsletter.toml` (the reference workspace); a built wheel holds real copies.
"""

from __future__ import annotations

from pathlib import Path

BUILTIN = Path(__file__).parent / "builtin"


def builtin_templates() -> Path:
    return BUILTIN / "templates"


def builtin_theme(name: str = "default") -> Path:
    return builtin_templates() / name


def demo_config() -> Path:
    return BUILTIN / "newsletter.toml"
