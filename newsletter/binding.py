"""Bind a TOML table to a frozen dataclass, with one-line errors that name file, key and expectation.

Collector `Settings` and the workspace config both go through `bind`, so every key in every file is
checked the same way: unknown keys, missing keys, wrong types, plaintext secrets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
import stat
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from newsletter.errors import ConfigError

T = TypeVar("T")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # what a shell, cron and systemd can set


@dataclass(frozen=True)
class Secret:
    """A secret named by an environment variable or a file. The value is read only on `reveal()`."""

    env: str | None = None
    file: Path | None = None

    @property
    def hint(self) -> str:
        """What a person should check when the secret is refused: the variable or the file."""
        return self.env if self.env else str(self.file)

    def reveal(self) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"environment variable {self.env} is not set (it holds a secret)")
            return value
        assert self.file is not None
        try:
            value = self.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{self.file}: cannot read secret file ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{self.file}: the secret file is not UTF-8 text; write the secret as text") from None
        if not value:  # as an empty variable is: a server would be sent an empty password
            raise ConfigError(f"{self.file}: the secret file is empty; write the secret in it")
        return value

    def __repr__(self) -> str:
        return f"Secret(env={self.env!r})" if self.env else f"Secret(file={str(self.file)!r})"


def expand_home(value: str, error: Callable[[str], Exception]) -> Path:
    """`value` as a path, `~` and `~user` expanded; `error(why)` is raised for a home that cannot be found."""
    try:
        return Path(value).expanduser()
    except RuntimeError:  # "Could not determine home directory"
        home = value.split("/", 1)[0]
        raise error(f"{value!r}: no home folder is known for {home!r}; write the path in full") from None


def key_of(field: dataclasses.Field) -> str:
    """The TOML key of a field: `from_` is written `from`."""
    return field.metadata.get("key", field.name)


@dataclass(frozen=True)
class Where:
    """Where a table came from, for error messages: file and dotted prefix."""

    file: Path
    prefix: str = ""
    base_dir: Path | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, message: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.key(name)}: {message}")

    def child(self, name: str) -> Where:
        return Where(self.file, self.key(name), self.base_dir)

    def path(self, value: str) -> Path:
        path = expand_home(value, lambda why: ConfigError(f"{self.file}: {self.prefix or 'path'}: {why}"))
        base = self.base_dir or self.file.parent
        return path if path.is_absolute() else base / path


def bind(cls: type[T], table: dict[str, Any], where: Where) -> T:
    """Build `cls` from `table`; raise ConfigError for any unknown, missing or mistyped key."""
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    accepted: set[str] = set()
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        key, hint = key_of(field), hints[field.name]
        if _is_secret(hint):
            accepted |= {key, f"{key}_env", f"{key}_file"}
            secret = _bind_secret(key, table, where)
            if secret is not None:
                values[field.name] = secret
            elif _required(field) and not _optional(hint):
                raise where.error(f"{key}_env", f"missing: set {key}_env = \"VAR\" or {key}_file = \"path\"")
            continue
        accepted.add(key)
        if key in table:
            values[field.name] = _coerce(hint, table[key], where, key)
        elif _required(field):
            raise where.error(key, f"missing required key ({_describe(hint)})")
        elif isinstance(field.default, Path):  # defaults are relative to the file, like given values
            values[field.name] = where.path(str(field.default))
    unknown = [k for k in table if k not in accepted]
    if unknown:
        raise where.error(unknown[0], _unknown_message(unknown[0], accepted))
    return cls(**values)


def _unknown_message(key: str, accepted: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(accepted), n=1)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return "unknown key; expected one of: " + ", ".join(sorted(accepted)) if accepted else "unknown key"


def _required(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _is_secret(hint: Any) -> bool:
    return hint is Secret or Secret in get_args(hint)


def _optional(hint: Any) -> bool:
    return type(None) in get_args(hint)


def _bind_secret(key: str, table: dict[str, Any], where: Where) -> Secret | None:
    if key in table:
        raise where.error(
            key, f"secrets are not written in config files; use {key}_env = \"VAR\" or {key}_file = \"path\""
        )
    env, file = table.get(f"{key}_env"), table.get(f"{key}_file")
    if env is not None and file is not None:
        raise where.error(key, f"set either {key}_env or {key}_file, not both")
    if env is not None:
        if not isinstance(env, str) or not env:
            raise where.error(f"{key}_env", "expected the name of an environment variable")
        if not _ENV_NAME.fullmatch(env):  # the secret itself, pasted: never echo it in "is not set"
            raise where.error(f"{key}_env", "expected the name of an environment variable (letters, digits and _, "
                              "such as NEWSLETTER_TOKEN), not the secret itself: put the secret in that variable")
        return Secret(env=env)
    if file is not None:
        if not isinstance(file, str):
            raise where.error(f"{key}_file", "expected a file path")
        path = where.path(file)
        check_secret_file(path, where, f"{key}_file")
        return Secret(file=path)
    return None


def check_secret_file(path: Path, where: Where, key: str) -> None:
    """Refuse a secret file that is missing or readable by group or others."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise where.error(key, f"cannot read {path} ({exc.strerror})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise where.error(
            key, f"{path} is readable by group or others (mode {stat.S_IMODE(mode):o}); run chmod 600 {path}"
        )


def _coerce(hint: Any, value: Any, where: Where, key: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _coerce(option, value, where, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if len(options) == 1 else where.error(key, f"expected {_describe(hint)}")
    if origin is Literal:
        if value not in args:
            raise where.error(key, f"expected one of {', '.join(repr(a) for a in args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise where.error(key, f"expected a list ({_describe(hint)}), got {_typename(value)}")
        item = args[0] if args else Any
        items = [_coerce(item, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise where.error(key, f"expected a table, got {_typename(value)}")
        return {str(k): _coerce(args[1], v, where, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise where.error(key, f"expected a table [{where.key(key)}], got {_typename(value)}")
        return bind(hint, value, where.child(key))
    return _coerce_scalar(hint, value, where, key)


def _coerce_scalar(hint: Any, value: Any, where: Where, key: str) -> Any:
    if hint is Any:
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise where.error(key, f"expected a path string, got {_typename(value)}")
        return where.path(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise where.error(key, f"expected {hint.__name__}, got a boolean")
    if hint in (str, int, float, bool) and not isinstance(value, hint):
        raise where.error(key, f"expected {_describe(hint)}, got {_typename(value)} {value!r}")
    return value


def _describe(hint: Any) -> str:
    origin, args = get_origin(hint), get_args(hint)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", Path: "a path"}
    if hint in names:
        return names[hint]
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple):
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is dict:
        return "a table"
    return getattr(hint, "__name__", str(hint))


def _typename(value: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def secrets_in(settings: object, prefix: str = "") -> Iterator[tuple[str, Secret]]:
    """Every Secret in a bound settings object, nested tables included, with its dotted key."""
    if not dataclasses.is_dataclass(settings):
        return
    for field in dataclasses.fields(settings):
        value, key = getattr(settings, field.name), prefix + key_of(field)
        if isinstance(value, Secret):
            yield key, value
        elif dataclasses.is_dataclass(value):
            yield from secrets_in(value, key + ".")


def secret_values(settings: object) -> list[str]:
    """The values of the secrets in `settings` that can be read now, to keep out of messages and
    stored readings (one that cannot be read cannot have got into them)."""
    values = []
    for _, secret in secrets_in(settings):
        with contextlib.suppress(ConfigError):
            values.append(secret.reveal())
    return values


def unset_secrets(settings: object, prefix: str = "") -> list[str]:
    """The secrets (keys after `prefix`, "delivery.smtp.") that cannot be read right now: a variable
    not set, a file that is empty or not text. Never their values."""
    found = []
    for key, secret in secrets_in(settings, prefix):
        if secret.env and not os.environ.get(secret.env):
            found.append(f"{key}_env: {secret.env} is not set")
        elif secret.file is not None:
            try:
                secret.reveal()
            except ConfigError as exc:
                found.append(f"{key}_file: {exc}")
    return found
