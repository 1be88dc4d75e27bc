"""theme.toml: read (a byte order mark allowed), checked against the built-in theme's shape (a
table stays a table, colours are colours, a misspelt key is said once), and laid over it."""

from __future__ import annotations

import difflib
import logging
import re
import tomllib
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigError

log = logging.getLogger(__name__)
_FONT_STACK = re.compile(r"""[\w\s,'".-]*""")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}|")  # fullmatch; empty: no colour (the checks say so)
LAYOUTS = ("short", "full")  # theme.toml [layout] detail: the few figures that matter, or every one


def _check_shape(own: dict[str, Any], builtin: dict[str, Any], path: Path, prefix: str = "") -> None:
    """Each key the built-in theme.toml has keeps its kind: a table, text, a list of lines. A key it
    lacks may be a theme's own (its templates read it), but one a letter or two from a known key is
    a misspelling whose setting would never apply: said."""
    for key, value in own.items():
        name, known = f"{prefix}{key}", builtin.get(key)
        if key not in builtin:
            near = difflib.get_close_matches(key, list(builtin), n=1, cutoff=0.75)
            if near:
                log.warning("warning: %s: %s: the theme has no such key; did you mean %s%s?", path, name, prefix,
                            near[0])
        elif isinstance(known, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: {name}: expected a table [{name}], got {value!r}")
            _check_shape(value, known, path, f"{name}.")
        elif isinstance(known, list) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"{path}: {name}: expected a list of lines in quotes, such as [\"...\"], got {value!r}")
        elif isinstance(known, str) and not isinstance(value, str):
            raise ConfigError(f"{path}: {name}: expected text in quotes, got {value!r}")


def check_theme(own: dict[str, Any], builtin: dict[str, Any], path: Path) -> None:
    """A theme.toml keeps the built-in's shape: tables stay tables, colours are colours, widths numbers."""
    _check_shape(own, builtin, path)
    colors = own.get("colors", {})
    dark = colors.get("dark", {})
    if not isinstance(dark, dict):
        raise ConfigError(f"{path}: colors.dark: expected a table [colors.dark] of dark-mode colours, got {dark!r}")
    named = [(f"colors.{k}", v) for k, v in colors.items() if k != "dark"]
    for key, value in [*named, *((f"colors.dark.{k}", v) for k, v in dark.items())]:
        if not (isinstance(value, str) and _COLOR.fullmatch(value)):
            raise ConfigError(f"{path}: {key}: expected a colour as #rrggbb, got {value!r}")
    for key, filled, what in (("title", "{month}", "the month's name"), ("year_title", "{year}", "the year")):
        unknown = [p for p in re.findall(r"{[^{}]*}", str(own.get(key, ""))) if p != filled]
        if unknown:  # shown as written, braces and all, in every email's header
            raise ConfigError(f"{path}: {key}: {unknown[0]} is not filled in; write {filled} ({what})")
    family = own.get("fonts", {}).get("family", "")
    if not _FONT_STACK.fullmatch(family):
        raise ConfigError(f"{path}: fonts.family: expected a font stack such as \"'Segoe UI', Arial, sans-serif\" "
                          f"(font names, quotes and commas), got {family!r}")
    detail = own.get("layout", {}).get("detail", "short")
    if detail not in LAYOUTS:
        raise ConfigError(f"{path}: layout.detail: expected \"short\" (the few figures that matter) or \"full\" "
                          f"(every figure, as a table), got {detail!r}")
    width = own.get("logo", {}).get("width", 1)
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= 600:
        raise ConfigError(f"{path}: logo.width: expected the shown width in pixels (1 to 600), got {width!r}")


def read_theme_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))  # Notepad writes a byte order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read theme settings ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def merge(base: dict[str, Any], over: dict[str, Any]) -> None:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
