"""The one address check, for every address that enters: the recipients CSV, `to`, `from`,
`reply_to`, `reviewers`, `owners`, `send --test-to` and the preview's test-send form.

It returns a verdict and never raises, whatever the text: the email package raises
HeaderParseError, AttributeError or IndexError on some junk (`user@corp.test.`, `user@[corp`),
and an uncaught one would stop the whole edition over one row. What passes is an address that
SMTP, the email package and the ledger all take as it is: ASCII, one line, a dot-atom before
the @ and a host name after it. Quoted local parts and address literals are legal but so rare in
a company directory that a typo is the likelier story: they are refused with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.policy import default as DEFAULT_POLICY
from email.utils import formataddr

NOT_AN_ADDRESS = "is not an email address"
_BREAKS = "\r\n\0\u2028\u2029\x85"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")  # RFC 5322 atext
_LABEL = re.compile(r"[A-Za-z0-9-]+")  # a host name's label (RFC 1123)


@dataclass(frozen=True)
class Checked:
    """The verdict: the normalised `address` (and display `name`), or why not (`reason`).

    `reason` reads after the value itself: f"{value!r} {reason}"."""

    address: str = ""
    name: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


def check_address(value: object, *, named: bool = False) -> Checked:
    """Check one address. `named=True` also takes `Name <user@example.com>` (config keys,
    --test-to); without it only the bare address (the CSV's email column) passes."""
    try:
        if not isinstance(value, str):
            return Checked(reason=f"{NOT_AN_ADDRESS} (expected text)")
        return _check_named(value) if named else _check_bare(value)
    except Exception as exc:  # the contract: a verdict, never an exception
        return Checked(reason=f"{NOT_AN_ADDRESS} (the email package refuses it: {type(exc).__name__})")


def _check_bare(value: str) -> Checked:
    text = value.strip()
    reason = _control(text) or _addr_spec(text) or _library_takes(text, "")
    return Checked(reason=reason) if reason else Checked(text)


def _check_named(value: str) -> Checked:
    text = value.strip()
    problem = _control(text)
    if problem:
        return Checked(reason=problem)
    if not (text.endswith(">") and "<" in text):
        return _check_bare(text)
    spec = text[text.rindex("<") + 1:-1].strip()
    problem = _addr_spec(spec)
    if problem:
        return Checked(reason=problem)
    try:
        header = DEFAULT_POLICY.header_factory("To", text)
    except ValueError:  # the email package refuses a name whose encoded words decode to CR or LF
        return Checked(reason="has a name that contains a line break or NUL (in an encoded word)")
    found = [a for group in header.groups for a in group.addresses]
    if len(found) > 1:
        return Checked(reason="is more than one address: give one")
    name = found[0].display_name if found else ""
    problem = _control(name)
    if problem:
        return Checked(reason=f"has a name that {problem}")
    if header.defects or len(found) != 1 or found[0].addr_spec != spec or any(g.display_name for g in header.groups):
        return Checked(reason=f"{NOT_AN_ADDRESS} (write it as Name <{spec}>, or the address alone)")
    problem = _library_takes(spec, name)
    return Checked(reason=problem) if problem else Checked(spec, name)


def _control(text: str) -> str | None:
    if any(c in text for c in _BREAKS):
        return "contains a line break or NUL"
    found = _CONTROL.search(text)
    return f"contains a control character (U+{ord(found.group()):04X})" if found else None


def _addr_spec(text: str) -> str | None:
    """Why `text` is not a bare dot-atom@host-name address, or None."""
    if not text:
        return f"{NOT_AN_ADDRESS} (empty)"
    if "@" not in text:
        return f"{NOT_AN_ADDRESS} (no @)"
    if "<" in text or ">" in text:
        return "has angle brackets: write the address alone, without the < >"
    for mark, word in ((",", "comma"), (";", "semicolon")):
        if mark in text:
            return f"has a {word}: give one address, nothing else"
    if text.startswith('"'):
        return "has a quoted part before the @ (not supported)"
    if any(c.isspace() for c in text):
        return "contains a space"
    if not text.isascii():
        return "has non-ASCII characters (internationalized addresses need SMTPUTF8, not supported)"
    if text.count("@") > 1:
        return f"{NOT_AN_ADDRESS} (more than one @)"
    if len(text) > 254:
        return "is longer than 254 characters (the SMTP limit)"
    local, _, domain = text.partition("@")
    return _local_part(local) or _domain(domain)


def _local_part(local: str) -> str | None:
    if not local:
        return f"{NOT_AN_ADDRESS} (nothing before the @)"
    if len(local) > 64:
        return "has more than 64 characters before the @ (the SMTP limit)"
    atoms = local.split(".")
    if any(not atom for atom in atoms):
        return "has a dot at the start or end of the part before the @, or two dots in a row"
    bad = sorted({c for atom in atoms for c in _ATEXT.sub("", atom)})
    if bad:
        return f"has {', '.join(map(repr, bad))} before the @, which an address cannot have unquoted"
    return None


def _domain(domain: str) -> str | None:
    if not domain:
        return f"{NOT_AN_ADDRESS} (nothing after the @)"
    if domain.startswith("[") or domain.endswith("]"):
        return "has an address literal ([...]) after the @: give the domain name"
    if domain.endswith("."):
        return "has a domain that ends with a dot: remove the dot"
    labels = domain.split(".")
    if any(not label for label in labels):
        return "has two dots in a row, or a dot at the start, in its domain"
    if len(labels) < 2:
        return "has no dot in its domain (such as example.com)"
    bad = sorted({c for label in labels for c in _LABEL.sub("", label)})
    if bad:
        return f"has {', '.join(map(repr, bad))} in its domain, which a host name cannot have"
    if any(label.startswith("-") or label.endswith("-") for label in labels):
        return "has a domain label that starts or ends with a hyphen"
    if any(len(label) > 63 for label in labels):
        return "has a domain label longer than 63 characters"
    return None


def _library_takes(spec: str, name: str) -> str | None:
    """The email package must take what we pass, in each form delivery uses it."""
    address = Address(display_name=name, addr_spec=spec)
    formataddr((name, spec), charset="utf-8").encode("ascii")
    if address.addr_spec != spec:
        return f"{NOT_AN_ADDRESS} (the email package reads it as {address.addr_spec!r})"
    return None
